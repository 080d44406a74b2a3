//! Limit policies: `[[rate_limits]]` (named, attached to routes by name or
//! to every route of a service) and `rate_limit = { ... }` on a route. A
//! policy is a GCRA rate, a quota over a calendar or rolling period, or a
//! cap on requests in flight, counted per key, on this host or (rates) in
//! Redis across hosts. `[redis]` says where Redis is.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::checker::Checker;
use crate::file::{FileConfig, KeyFile, RateLimitFile, RedisFile};
use crate::route_fields::At;

/// What a limit counts requests by; a policy's key is one or several.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The client's address, or its network of this prefix length.
    Ip(Option<u8>),
    /// The calling app (a route of a service with auth).
    App,
    /// The calling app's team.
    Team,
    /// A request header's value.
    Header(String),
    /// The route itself: one budget for every caller.
    Route,
}

/// What a policy limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKind {
    /// A GCRA rate with a burst.
    Rate(Rate),
    /// Units per period, counted in calendar or rolling windows.
    Quota(Quota),
    /// Requests in flight at once.
    Concurrency(u32),
}

/// A GCRA rate: `rate = "100/s"`, `burst = 20`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// The interval between two requests at the sustained rate.
    pub interval: Duration,
    /// Requests allowed at once beyond the rate.
    pub burst: u32,
    /// The window the rate is written over (`100/s`: 1 s), for headers.
    pub window: Duration,
    /// Requests per window.
    pub per_window: u64,
}

/// A quota: `quota = "10000/day"`, `window = "calendar"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Units allowed per period.
    pub limit: u64,
    /// The period.
    pub period: Period,
    /// A rolling window (the last period, in 1/20ths of it) rather than
    /// calendar periods (UTC).
    pub rolling: bool,
}

/// A quota's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// 60 s.
    Minute,
    /// 3,600 s.
    Hour,
    /// 86,400 s (UTC days).
    Day,
    /// Seven days (UTC weeks from Monday).
    Week,
    /// Calendar months (UTC); a rolling month is 30 days.
    Month,
}

impl Period {
    /// Its length; a month's is 30 days (the rolling month).
    pub fn seconds(self) -> u64 {
        match self {
            Period::Minute => 60,
            Period::Hour => 3_600,
            Period::Day => 86_400,
            Period::Week => 7 * 86_400,
            Period::Month => 30 * 86_400,
        }
    }
}

/// What a request that lacks a part of the key (no app on an open route,
/// no such header) is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKey {
    /// Its client address (the default).
    Ip,
    /// Nothing: the policy does not apply to it.
    Skip,
}

/// Where a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalSync {
    /// A Redis round trip per request.
    Exact,
    /// This many units taken from Redis at a time, spent locally.
    Lease(u32),
}

/// A limit policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitPolicy {
    /// Its name, in the `RateLimit` headers, metrics and the access log.
    pub name: String,
    /// What it limits.
    pub kind: LimitKind,
    /// What requests are counted by (all parts together).
    pub key: Vec<LimitKey>,
    /// What a request lacking a part of the key is counted by.
    pub missing: MissingKey,
    /// Header values longer than this (bytes) are hashed, or refused
    /// (`400`) with `reject_long_keys`.
    pub key_max: usize,
    /// Refuse (`400`) rather than hash a header key longer than `key_max`.
    pub reject_long_keys: bool,
    /// Keys tracked at once (the table's size).
    pub capacity: usize,
    /// Whether admitted requests get the `RateLimit` headers too.
    pub headers: bool,
    /// The response header whose number is charged to the key after the
    /// response (token usage), instead of one unit per request.
    pub cost_header: Option<String>,
    /// Counts AI tokens (`unit = "tokens"`): on an AI route, a request's
    /// most possible tokens are reserved before the call and settled
    /// with the provider's count after it.
    pub tokens: bool,
    /// Counted in Redis across hosts, and how; `None`: on this host.
    pub global: Option<GlobalSync>,
    /// When Redis is down or slow, refuse (`503`) rather than admit.
    pub fail_closed: bool,
}

/// `[redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://` (TLS).
    pub url: String,
    /// A reply later than this counts as Redis being down.
    pub timeout: Duration,
    /// CA certificates (PEM) for `rediss://`; the system's roots if unset.
    pub ca: Option<PathBuf>,
    /// Requests waiting for Redis per shard before more are failed.
    pub queue: usize,
}

/// The largest quota (a count is 40 bits of an atomic word).
const QUOTA_MAX: u64 = (1 << 40) - 1;
/// The longest burst, as time at the rate: 2^52 ns (52 days), which keeps
/// every sum of times exact in Redis's Lua and far from overflow here.
const BURST_TIME_MAX: u128 = 1 << 52;
/// Policies that may apply to one route.
const MAX_PER_ROUTE: usize = 8;
/// Keys tracked by default.
const DEFAULT_CAPACITY: usize = 65_536;
/// Header key bytes kept as they are by default.
const DEFAULT_KEY_MAX: usize = 256;

/// The `[[rate_limits]]` policies: the valid ones, with the service each
/// attaches to.
pub(crate) struct Named {
    pub(crate) valid: Vec<(Option<String>, LimitPolicy)>,
    /// Every name declared, valid or not (a route naming an invalid one
    /// is not told it does not exist).
    pub(crate) declared: Vec<String>,
}

/// The named `[[rate_limits]]` policies.
pub(crate) fn named(c: &mut Checker<'_>, raw: &FileConfig) -> Named {
    let declared = raw
        .rate_limits
        .iter()
        .filter_map(|p| p.get_ref().name.as_ref().map(|n| n.get_ref().clone()))
        .collect();
    let mut out: Vec<(Option<String>, LimitPolicy)> = Vec::new();
    for (i, p) in raw.rate_limits.iter().enumerate() {
        let field = format!("rate_limits[{i}]");
        let f = p.get_ref();
        if f.name.is_none() {
            c.fail_at(
                p.span(),
                format!("{field}.name"),
                "a named policy needs a `name`",
            );
            continue;
        }
        let service = f.service.as_ref().map(|s| s.get_ref().clone());
        let Some(policy) = policy(c, &field, p, "") else {
            continue;
        };
        if out.iter().any(|(_, o)| o.name == policy.name) {
            if let Some(n) = &f.name {
                c.fail_at(
                    n.span(),
                    format!("{field}.name"),
                    "a policy of this name exists",
                );
            }
            continue;
        }
        out.push((service, policy));
    }
    Named {
        valid: out,
        declared,
    }
}

/// A route's policies: its own `rate_limit`, those it names in
/// `rate_limits`, then those attached to its service.
pub(crate) fn for_route(c: &mut Checker<'_>, at: &At<'_>, all: &Named) -> Vec<LimitPolicy> {
    let named = &all.valid;
    let mut out = Vec::new();
    if let Some(raw) = &at.route.rate_limit {
        let field = format!("{}.rate_limit", at.field);
        if let Some(s) = &raw.get_ref().service {
            c.fail_at(
                s.span(),
                format!("{field}.service"),
                "only a [[rate_limits]] policy attaches to a service",
            );
        }
        let own = policy(c, &field, raw, at.field);
        if let Some(p) = own
            .as_ref()
            .filter(|p| named.iter().any(|(_, n)| n.name == p.name))
        {
            let message = format!(
                "{:?} names a [[rate_limits]] policy: give this one its own name",
                p.name
            );
            c.fail_at(raw.span(), format!("{field}.name"), message);
        }
        out.extend(own);
    }
    for n in at.route.rate_limits.iter().flat_map(|l| l.get_ref()) {
        match named.iter().find(|(_, p)| p.name == *n.get_ref()) {
            Some((_, p)) => out.push(p.clone()),
            None if all.declared.contains(n.get_ref()) => {}
            None => c.fail_at(
                n.span(),
                format!("{}.rate_limits", at.field),
                format!("no [[rate_limits]] policy named {:?}", n.get_ref()),
            ),
        }
    }
    let service = at.route.service.as_ref().map(|s| s.get_ref());
    for (_, p) in named
        .iter()
        .filter(|(s, _)| s.is_some() && s.as_ref() == service)
    {
        if !out.iter().any(|o| o.name == p.name) {
            out.push(p.clone());
        }
    }
    if out.len() > MAX_PER_ROUTE {
        let message = format!(
            "{} limit policies: at most {MAX_PER_ROUTE} apply to a route",
            out.len()
        );
        let location = match (&at.route.rate_limits, &at.route.service) {
            (Some(l), _) => c.at(l.span()),
            (None, Some(s)) => c.at(s.span()),
            (None, None) => c.whole_file(),
        };
        c.fail(location, format!("{}.rate_limits", at.field), message);
    }
    out
}

/// Two inline policies of one name on different routes would share a
/// table without meaning to.
pub(crate) fn check_inline_names(c: &mut Checker<'_>, raw: &FileConfig) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let Some(name) = r
            .get_ref()
            .rate_limit
            .as_ref()
            .and_then(|l| l.get_ref().name.as_ref())
        else {
            continue;
        };
        if seen.contains(&name.get_ref().as_str()) {
            let message = "another route's rate_limit has this name: name a shared policy under [[rate_limits]]";
            c.fail_at(name.span(), format!("routes[{i}].rate_limit.name"), message);
        }
        seen.push(name.get_ref());
    }
}

/// One policy, inline or named; `default_name` for an unnamed inline one.
fn policy(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<RateLimitFile>,
    default_name: &str,
) -> Option<LimitPolicy> {
    let f = raw.get_ref();
    let kind = kind(c, field, raw);
    let key = match &f.key {
        Some(k) => c.field(&format!("{field}.key"), Some(k), parse_keys),
        None => Some(vec![LimitKey::Ip(None)]),
    };
    let missing = c.field(
        &format!("{field}.missing_key"),
        f.missing_key.as_ref(),
        |t| match t.as_str() {
            "ip" => Ok(MissingKey::Ip),
            "skip" => Ok(MissingKey::Skip),
            _ => Err(format!("expected \"ip\" or \"skip\", got {t:?}")),
        },
    );
    let long = c.field(
        &format!("{field}.long_key"),
        f.long_key.as_ref(),
        |t| match t.as_str() {
            "hash" => Ok(false),
            "reject" => Ok(true),
            _ => Err(format!("expected \"hash\" or \"reject\", got {t:?}")),
        },
    );
    let key_max = c.field_int(&format!("{field}.key_max"), f.key_max.as_ref(), 1..=65_536);
    let capacity = c.field_int(
        &format!("{field}.capacity"),
        f.capacity.as_ref(),
        16..=16_777_216,
    );
    let cost_header = c.field(
        &format!("{field}.cost_header"),
        f.cost_header.as_ref(),
        |h| match crate::route_fields::is_token(h) {
            true => Ok(h.to_ascii_lowercase()),
            false => Err(format!("{h:?} is not a header name")),
        },
    );
    let tokens = c.field(&format!("{field}.unit"), f.unit.as_ref(), |t| {
        match t.as_str() {
            "requests" => Ok(false),
            "tokens" => Ok(true),
            _ => Err(format!("expected \"requests\" or \"tokens\", got {t:?}")),
        }
    });
    let fail_closed = c.field(&format!("{field}.fail"), f.fail.as_ref(), |t| {
        match t.as_str() {
            "open" => Ok(false),
            "closed" => Ok(true),
            _ => Err(format!("expected \"open\" or \"closed\", got {t:?}")),
        }
    });
    let kind = kind?;
    let tokens = tokens.unwrap_or(false);
    if tokens && (f.cost_header.is_some() || f.concurrency.is_some() || f.global.is_some()) {
        let message =
            "a token budget is a `rate` or a `quota` counted on this host, with no `cost_header`";
        let span = f.unit.as_ref().map_or(raw.span(), Spanned::span);
        c.fail_at(span, format!("{field}.unit"), message);
        return None;
    }
    let global = global(c, field, f, &kind);
    Some(LimitPolicy {
        name: f
            .name
            .as_ref()
            .map_or_else(|| default_name.to_owned(), |n| n.get_ref().clone()),
        kind,
        key: key?,
        missing: missing.unwrap_or(MissingKey::Ip),
        key_max: key_max.map_or(DEFAULT_KEY_MAX, |n| n as usize),
        reject_long_keys: long.unwrap_or(false),
        capacity: capacity.map_or(DEFAULT_CAPACITY, |n| n as usize),
        headers: f.headers.as_ref().is_some_and(|h| *h.get_ref()),
        cost_header,
        tokens,
        global: global?,
        fail_closed: fail_closed.unwrap_or(false),
    })
}

/// Exactly one of `rate` (with `burst`), `quota` (with `window`) and
/// `concurrency`.
fn kind(c: &mut Checker<'_>, field: &str, raw: &Spanned<RateLimitFile>) -> Option<LimitKind> {
    let f = raw.get_ref();
    let given = [f.rate.is_some(), f.quota.is_some(), f.concurrency.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        c.fail_at(
            raw.span(),
            field,
            "give exactly one of `rate`, `quota` and `concurrency`",
        );
        return None;
    }
    if let (Some(b), None) = (&f.burst, &f.rate) {
        c.fail_at(
            b.span(),
            format!("{field}.burst"),
            "`burst` goes with `rate`",
        );
    }
    if let (Some(w), None) = (&f.window, &f.quota) {
        c.fail_at(
            w.span(),
            format!("{field}.window"),
            "`window` goes with `quota`",
        );
    }
    if let (Some(h), Some(_)) = (&f.cost_header, &f.concurrency) {
        c.fail_at(
            h.span(),
            format!("{field}.cost_header"),
            "a concurrency limit counts requests, not units",
        );
    }
    if let Some(rate) = &f.rate {
        let parsed = c.field(&format!("{field}.rate"), Some(rate), |t| parse_rate(t));
        let burst = c.field(&format!("{field}.burst"), f.burst.as_ref(), |&b| {
            u32::try_from(b).map_err(|_| format!("must be from 0 to {}, got {b}", u32::MAX))
        });
        let (per_window, window) = parsed?;
        let interval = window / u32::try_from(per_window).unwrap_or(u32::MAX);
        if let (Some(b), Some(raw)) = (burst, &f.burst) {
            if interval.as_nanos() * u128::from(b) > BURST_TIME_MAX {
                let message = "too large: a burst may be at most 52 days' worth of the rate";
                c.fail_at(raw.span(), format!("{field}.burst"), message);
                return None;
            }
        }
        return Some(LimitKind::Rate(Rate {
            interval,
            burst: burst.unwrap_or(0),
            window,
            per_window,
        }));
    }
    if let Some(quota) = &f.quota {
        let parsed = c.field(&format!("{field}.quota"), Some(quota), |t| parse_quota(t));
        let rolling = c.field(&format!("{field}.window"), f.window.as_ref(), |t| {
            match t.as_str() {
                "calendar" => Ok(false),
                "rolling" => Ok(true),
                _ => Err(format!("expected \"calendar\" or \"rolling\", got {t:?}")),
            }
        });
        let (limit, period) = parsed?;
        return Some(LimitKind::Quota(Quota {
            limit,
            period,
            rolling: rolling.unwrap_or(false),
        }));
    }
    c.field_int(
        &format!("{field}.concurrency"),
        f.concurrency.as_ref(),
        1..=1_000_000,
    )
    .map(|n| LimitKind::Concurrency(n as u32))
}

/// `global = "exact" | "lease"` with `lease = N` units: rates only.
fn global(
    c: &mut Checker<'_>,
    field: &str,
    f: &RateLimitFile,
    kind: &LimitKind,
) -> Option<Option<GlobalSync>> {
    let lease = c.field_int(&format!("{field}.lease"), f.lease.as_ref(), 1..=100_000);
    if let (Some(l), Some(g)) = (&f.lease, &f.global) {
        if g.get_ref() != "lease" {
            let message = "`lease` goes with global = \"lease\"";
            c.fail_at(l.span(), format!("{field}.lease"), message);
        }
    }
    let Some(g) = &f.global else {
        if let Some(l) = &f.lease {
            c.fail_at(
                l.span(),
                format!("{field}.lease"),
                "`lease` goes with global = \"lease\"",
            );
        }
        return Some(None);
    };
    if let Some(h) = &f.cost_header {
        let message = "a charged policy counts on this host: no `global`";
        c.fail_at(h.span(), format!("{field}.cost_header"), message);
        return None;
    }
    let default_lease = match kind {
        // 50 ms of the rate, at least one unit.
        LimitKind::Rate(r) => {
            let per_sec = r.per_window as f64 / r.window.as_secs_f64();
            (per_sec / 20.0).clamp(1.0, 1000.0) as u32
        }
        // A hundredth of the quota, from 1 to 1,000 units.
        LimitKind::Quota(q) if !q.rolling => (q.limit / 100).clamp(1, 1000) as u32,
        _ => {
            let message = "only a `rate` or a calendar `quota` is counted across hosts; rolling quotas and concurrency are per host";
            c.fail_at(g.span(), format!("{field}.global"), message);
            return None;
        }
    };
    match g.get_ref().as_str() {
        "exact" => Some(Some(GlobalSync::Exact)),
        "lease" => Some(Some(GlobalSync::Lease(
            lease.map_or(default_lease, |n| n as u32),
        ))),
        other => {
            let message = format!("expected \"exact\" or \"lease\", got {other:?}");
            c.fail_at(g.span(), format!("{field}.global"), message);
            None
        }
    }
}

/// Quick mode's `--rate-limit` policies, on every route (the one
/// catch-all); an error in one names the flag.
pub(crate) fn quick(
    c: &mut Checker<'_>,
    cli: &crate::Cli,
    source: &crate::ConfigSource,
    mut routes: Vec<crate::Route>,
) -> Vec<crate::Route> {
    if cli.rate_limit.is_empty() {
        return routes;
    }
    if *source != crate::ConfigSource::Quick {
        let message = "quick mode (--upstream) only: with --config, write [[rate_limits]]";
        c.fail(crate::error::Location::CommandLine, "--rate-limit", message);
        return routes;
    }
    #[derive(serde::Deserialize)]
    struct One {
        rate_limit: Spanned<RateLimitFile>,
    }
    for (i, text) in cli.rate_limit.iter().enumerate() {
        let field = format!("--rate-limit[{i}]");
        let parsed: Result<One, _> = toml::from_str(&format!("rate_limit = {text}"));
        let policy = match parsed {
            Ok(one) => policy(c, &field, &one.rate_limit, &format!("quick-{i}")),
            Err(e) => {
                let why = e.message().replace('\n', "; ");
                let message = format!("not an inline table of a limit policy: {why}");
                c.fail(crate::error::Location::CommandLine, field, message);
                None
            }
        };
        for r in routes.iter_mut() {
            r.limits.extend(policy.clone());
        }
    }
    routes
}

/// `[redis]` (its url from `--redis` first), and a check that every
/// global policy has it.
pub(crate) fn redis(
    c: &mut Checker<'_>,
    cli: &crate::Cli,
    raw: &FileConfig,
    policies: &[&LimitPolicy],
) -> Option<RedisConfig> {
    let r: &RedisFile = &raw.redis;
    let key = crate::checker::Key {
        flag: "redis",
        field: "redis.url",
    };
    let url = c.pick(cli.redis.clone(), key, r.url.as_ref(), |u| Ok(u.clone()));
    let url = c
        .accept(url, |u| {
            match u.starts_with("redis://") || u.starts_with("rediss://") {
                true => Ok(()),
                false => {
                    Err("expected redis://[:password@]host:port[/db] or rediss://...".to_owned())
                }
            }
        })
        .map(|g| g.value);
    let timeout = c.field_duration("redis.timeout", r.timeout.as_ref());
    let queue = c.field_int("redis.queue", r.queue.as_ref(), 16..=1_000_000);
    let ca = r.ca.as_ref().map(|p| match c.base_dir() {
        Some(base) => base.join(p.get_ref()),
        None => PathBuf::from(p.get_ref()),
    });
    if url.is_none() && r.url.is_none() && cli.redis.is_none() {
        if let Some(p) = policies.iter().find(|p| p.global.is_some()) {
            let location = c.whole_file();
            let message = format!("policy {:?} is global: give [redis] url", p.name);
            c.fail(location, "redis.url", message);
        }
        return None;
    }
    Some(RedisConfig {
        url: url?,
        timeout: timeout.unwrap_or(Duration::from_millis(50)),
        ca,
        queue: queue.map_or(4096, |n| n as usize),
    })
}

/// `"app"` or `["app", "header:x-user"]`: each part once.
fn parse_keys(k: &KeyFile) -> Result<Vec<LimitKey>, String> {
    let parts: Vec<&str> = match k {
        KeyFile::One(t) => vec![t.as_str()],
        KeyFile::Many(v) => v.iter().map(String::as_str).collect(),
    };
    if parts.is_empty() || parts.len() > 4 {
        return Err("give one to four key parts".to_owned());
    }
    let keys = parts
        .into_iter()
        .map(parse_key)
        .collect::<Result<Vec<_>, _>>()?;
    match (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
        true => Err("a key part is given twice".to_owned()),
        false => Ok(keys),
    }
}

/// `N/s`, `N/m`, `N/h`: at least 1, at most 1,000,000 per second.
fn parse_rate(t: &str) -> Result<(u64, Duration), String> {
    let bad = || format!("invalid rate {t:?}: expected N/s, N/m or N/h, e.g. \"100/s\"");
    let (n, unit) = t.split_once('/').ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let window = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    let per_sec = n as f64 / window.as_secs_f64();
    match n >= 1 && per_sec <= 1_000_000.0 {
        true => Ok((n, window)),
        false => Err(format!(
            "{t:?}: must be at least 1 per window and at most 1000000/s"
        )),
    }
}

/// `N/minute`, `N/hour`, `N/day`, `N/week`, `N/month`: 1 to 10^15.
fn parse_quota(t: &str) -> Result<(u64, Period), String> {
    let bad =
        || format!("invalid quota {t:?}: expected N/minute, N/hour, N/day, N/week or N/month");
    let (n, unit) = t.split_once('/').ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let period = match unit.trim() {
        "minute" => Period::Minute,
        "hour" => Period::Hour,
        "day" => Period::Day,
        "week" => Period::Week,
        "month" => Period::Month,
        _ => return Err(bad()),
    };
    match (1..=QUOTA_MAX).contains(&n) {
        true => Ok((n, period)),
        false => Err(format!("{t:?}: must be from 1 to {QUOTA_MAX} per period")),
    }
}

/// `ip`, `ip/24`, `app`, `team`, `route`, `header:NAME`.
fn parse_key(t: &str) -> Result<LimitKey, String> {
    match t {
        "ip" => Ok(LimitKey::Ip(None)),
        "app" => Ok(LimitKey::App),
        "team" => Ok(LimitKey::Team),
        "route" => Ok(LimitKey::Route),
        _ => match (t.strip_prefix("ip/"), t.strip_prefix("header:")) {
            (Some(p), _) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= 128)
                .map(|p| LimitKey::Ip(Some(p)))
                .ok_or_else(|| format!("invalid prefix length in {t:?}")),
            (_, Some(h)) if crate::route_fields::is_token(h) => {
                Ok(LimitKey::Header(h.to_ascii_lowercase()))
            }
            _ => Err(format!(
                "unknown key {t:?}: expected ip, ip/N, app, team, route or header:NAME"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_quotas_and_keys_parse_strictly() {
        assert_eq!(parse_rate("200/s"), Ok((200, Duration::from_secs(1))));
        assert_eq!(
            parse_rate("10000/h"),
            Ok((10000, Duration::from_secs(3600)))
        );
        assert!(
            parse_rate("0/s").is_err() && parse_rate("5/d").is_err() && parse_rate("x").is_err()
        );
        assert!(parse_rate("2000000/s").is_err());
        assert_eq!(parse_quota("10000/day"), Ok((10000, Period::Day)));
        assert!(parse_quota("0/day").is_err() && parse_quota("5/year").is_err());
        assert_eq!(parse_key("ip/24"), Ok(LimitKey::Ip(Some(24))));
        assert_eq!(
            parse_key("header:X-Tenant"),
            Ok(LimitKey::Header("x-tenant".into()))
        );
        assert!(parse_key("cookie:x").is_err() && parse_key("ip/200").is_err());
        let both = KeyFile::Many(vec!["app".into(), "header:x-user".into()]);
        assert_eq!(
            parse_keys(&both),
            Ok(vec![LimitKey::App, LimitKey::Header("x-user".into())])
        );
        assert!(parse_keys(&KeyFile::Many(vec!["app".into(), "app".into()])).is_err());
        assert!(parse_keys(&KeyFile::Many(vec![])).is_err());
    }
}
