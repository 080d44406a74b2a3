//! `[upstreams.*]`: backends, the balancing algorithm, circuit-breaker
//! caps, `[upstreams.*.health_check]`, `[upstreams.*.outlier]` and
//! `[upstreams.*.tls]`.

use std::time::Duration;

use toml::Spanned;

use crate::checker::{non_negative, Checker};
use crate::defaults::*;
use crate::file::{BackendFile, Code, HealthCheckFile, OutlierFile, UpstreamFile};
use crate::units::format_duration;
use crate::upstream::{Algorithm, BackendAddr, HealthCheck, Outlier, UpstreamGroup};
use crate::validate::parse_addr;

/// One `[upstreams.<name>]` table, checked.
pub(crate) fn group(c: &mut Checker<'_>, name: &str, up: &Spanned<UpstreamFile>) -> UpstreamGroup {
    let u = up.get_ref();
    let field = format!("upstreams.{name}");
    let backends = backends(c, &field, u);
    let algorithm = algorithm(c, &field, u, &backends);
    let cap = |c: &mut Checker<'_>, key: &str, raw: Option<&Spanned<i64>>| {
        let n = c.field_int(&format!("{field}.{key}"), raw, 0..=u32::MAX.into());
        n.filter(|&n| n > 0).and_then(|n| usize::try_from(n).ok())
    };
    let max_connections = cap(c, "max_connections", u.max_connections.as_ref());
    let max_pending = cap(c, "max_pending", u.max_pending.as_ref());
    let health_check = u
        .health_check
        .as_ref()
        .map(|h| health_check(c, &format!("{field}.health_check"), h));
    let outlier = u.outlier.as_ref().map_or_else(Outlier::default, |o| {
        outlier(c, &format!("{field}.outlier"), o.get_ref())
    });
    let tls = u
        .tls
        .as_ref()
        .map(|t| crate::tls_fields::upstream_tls(c, &format!("{field}.tls"), t));
    UpstreamGroup {
        name: name.to_owned(),
        backends,
        algorithm,
        max_connections,
        max_pending,
        health_check,
        outlier,
        tls,
    }
}

fn backends(c: &mut Checker<'_>, group: &str, u: &UpstreamFile) -> Vec<BackendAddr> {
    let field = format!("{group}.backends");
    let list = &u.backends;
    if list.get_ref().is_empty() {
        c.fail_at(
            list.span(),
            &field,
            "no backends: list at least one \"IP:port\"",
        );
    }
    let mut backends: Vec<BackendAddr> = Vec::new();
    for (i, item) in list.get_ref().iter().enumerate() {
        let field = format!("{field}[{i}]");
        let Some(backend) = backend(c, &field, item) else {
            continue;
        };
        if backends.iter().any(|b| b.address == backend.address) {
            let message = format!(
                "{} is listed twice; use `weight` to favour a backend",
                backend.address
            );
            c.fail_at(item.span(), field, message);
        }
        backends.push(backend);
    }
    backends
}

fn backend(c: &mut Checker<'_>, field: &str, item: &Spanned<BackendFile>) -> Option<BackendAddr> {
    match item.get_ref() {
        BackendFile::Address(text) => match parse_addr(text) {
            Ok(address) => Some(BackendAddr { address, weight: 1 }),
            Err(message) => {
                c.fail_at(item.span(), field, message);
                None
            }
        },
        BackendFile::Table(t) => {
            let address = parse_addr(t.address.get_ref())
                .map_err(|message| c.fail_at(t.address.span(), format!("{field}.address"), message))
                .ok();
            let weight = match &t.weight {
                None => Some(1),
                Some(w) => weight(*w.get_ref())
                    .map_err(|message| c.fail_at(w.span(), format!("{field}.weight"), message))
                    .ok(),
            };
            Some(BackendAddr {
                address: address?,
                weight: weight?,
            })
        }
    }
}

fn weight(n: i64) -> Result<u32, String> {
    match non_negative(n).map(u32::try_from) {
        Ok(Ok(w)) if w > 0 => Ok(w),
        _ => Err(format!("must be from 1 to {}, got {n}", u32::MAX)),
    }
}

/// The algorithm as written, else `round_robin` or `weighted` by the weights.
fn algorithm(
    c: &mut Checker<'_>,
    group: &str,
    u: &UpstreamFile,
    backends: &[BackendAddr],
) -> Algorithm {
    let default = Algorithm::default_for(backends);
    let field = format!("{group}.algorithm");
    let chosen = c.field(&field, u.algorithm.as_ref(), |name| {
        Algorithm::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
            format!(
                "unknown algorithm {name:?}: expected one of {}",
                names.join(", ")
            )
        })
    });
    if let (Some(Algorithm::RoundRobin), Some(raw)) = (chosen, &u.algorithm) {
        if default == Algorithm::Weighted {
            let message = "round_robin ignores weights: use \"weighted\" (the default when a backend has a weight other than 1)";
            c.fail_at(raw.span(), field, message);
        }
    }
    chosen.unwrap_or(default)
}

fn health_check(c: &mut Checker<'_>, field: &str, raw: &Spanned<HealthCheckFile>) -> HealthCheck {
    let h = raw.get_ref();
    let mut check = HealthCheck::new("/");
    match &h.path {
        Some(p) => match check_health_path(p.get_ref()) {
            Ok(()) => check.path = p.get_ref().clone(),
            Err(message) => c.fail_at(p.span(), format!("{field}.path"), message),
        },
        None => c.fail_at(
            raw.span(),
            format!("{field}.path"),
            "required: the path to request, e.g. path = \"/healthz\"",
        ),
    }
    let interval_field = format!("{field}.interval");
    let interval = c.field(&interval_field, h.interval.as_ref(), |t| {
        min_duration(t, MIN_HEALTH_INTERVAL)
    });
    check.interval = interval.unwrap_or(DEFAULT_HEALTH_INTERVAL);
    let timeout = c.field_duration(&format!("{field}.timeout"), h.timeout.as_ref());
    check.timeout = timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    health_timeout_fits(c, field, h, &check);
    if let Some(statuses) = &h.expected_statuses {
        check.expected_statuses =
            expected_statuses(c, &format!("{field}.expected_statuses"), statuses);
    }
    let count = |c: &mut Checker<'_>, key: &str, raw: Option<&Spanned<i64>>, default: u32| {
        let n = c.field_int(&format!("{field}.{key}"), raw, 1..=u32::MAX.into());
        n.and_then(|n| u32::try_from(n).ok()).unwrap_or(default)
    };
    check.rise = count(c, "rise", h.rise.as_ref(), DEFAULT_HEALTH_RISE);
    check.fall = count(c, "fall", h.fall.as_ref(), DEFAULT_HEALTH_FALL);
    check.host = c.field(&format!("{field}.host"), h.host.as_ref(), health_host);
    check
}

/// A Host header value: visible ASCII, no spaces (a port is allowed).
fn health_host(host: &String) -> Result<String, String> {
    match !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic()) {
        true => Ok(host.clone()),
        false => Err(format!("invalid Host header value {host:?}")),
    }
}

/// `timeout < interval`: the error goes on `timeout` if it was written,
/// else on `interval` (which made the default timeout too long).
fn health_timeout_fits(c: &mut Checker<'_>, field: &str, h: &HealthCheckFile, check: &HealthCheck) {
    if check.timeout < check.interval {
        return;
    }
    let (timeout, interval) = (
        format_duration(check.timeout),
        format_duration(check.interval),
    );
    match (&h.timeout, &h.interval) {
        (Some(t), _) => c.fail_at(
            t.span(),
            format!("{field}.timeout"),
            format!("{timeout} must be shorter than interval ({interval})"),
        ),
        (None, Some(i)) => c.fail_at(
            i.span(),
            format!("{field}.interval"),
            format!(
                "{interval} is not longer than the default timeout ({timeout}): set `timeout` too"
            ),
        ),
        (None, None) => {}
    }
}

fn check_health_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("must start with \"/\", got {path:?}"));
    }
    match path
        .bytes()
        .find(|b| b.is_ascii_control() || b" #".contains(b))
    {
        Some(b) => Err(format!("must not contain {:?}", char::from(b))),
        None => Ok(()),
    }
}

fn min_duration(text: &str, min: Duration) -> Result<Duration, String> {
    let d = crate::units::parse_duration(text)?;
    match d >= min {
        true => Ok(d),
        false => Err(format!(
            "must be at least {}, got {text}",
            format_duration(min)
        )),
    }
}

fn expected_statuses(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<Vec<Spanned<Code>>>,
) -> Vec<(u16, u16)> {
    if raw.get_ref().is_empty() {
        let message = "empty: list the healthy statuses, e.g. [\"200-299\"]";
        c.fail_at(raw.span(), field, message);
    }
    let mut out = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        match status_range(&item.get_ref().text()) {
            Ok(range) => out.push(range),
            Err(message) => c.fail_at(item.span(), format!("{field}[{i}]"), message),
        }
    }
    match out.is_empty() {
        true => vec![DEFAULT_HEALTH_STATUSES],
        false => out,
    }
}

/// `"200"` → `(200, 200)`; `"200-299"` → `(200, 299)`; within 100..=599.
pub(crate) fn status_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!("invalid status {text:?}: expected a code such as \"200\" or a range such as \"200-299\", within 100-599")
    };
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| (100..=599).contains(n))
    };
    match (code(lo), code(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err(bad()),
    }
}

fn outlier(c: &mut Checker<'_>, field: &str, o: &OutlierFile) -> Outlier {
    let d = Outlier::default();
    let failures = c.field_int(
        &format!("{field}.consecutive_failures"),
        o.consecutive_failures.as_ref(),
        0..=u32::MAX.into(),
    );
    let base = c.field_duration(&format!("{field}.base_ejection"), o.base_ejection.as_ref());
    let max = c.field_duration(&format!("{field}.max_ejection"), o.max_ejection.as_ref());
    let out = Outlier {
        consecutive_failures: failures
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d.consecutive_failures),
        base_ejection: base.unwrap_or(d.base_ejection),
        max_ejection: max.unwrap_or(d.max_ejection),
        on_5xx: o.on_5xx.as_ref().map_or(d.on_5xx, |b| *b.get_ref()),
    };
    if out.max_ejection < out.base_ejection {
        let (b, m) = (
            format_duration(out.base_ejection),
            format_duration(out.max_ejection),
        );
        match (&o.max_ejection, &o.base_ejection) {
            (Some(raw), _) => c.fail_at(
                raw.span(),
                format!("{field}.max_ejection"),
                format!("{m} is shorter than base_ejection ({b})"),
            ),
            (None, Some(raw)) => c.fail_at(
                raw.span(),
                format!("{field}.base_ejection"),
                format!(
                    "{b} is longer than the default max_ejection ({m}): set `max_ejection` too"
                ),
            ),
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(weight(1), Ok(1));
        assert!(weight(0).is_err());
        assert!(weight(-1).is_err());
        assert!(weight(i64::from(u32::MAX) + 1).is_err());
    }

    #[test]
    fn status_ranges() {
        assert_eq!(status_range("200"), Ok((200, 200)));
        assert_eq!(status_range("200-299"), Ok((200, 299)));
        assert_eq!(status_range("100-599"), Ok((100, 599)));
        for bad in [
            "",
            "2xx",
            "99",
            "600",
            "300-200",
            "200-",
            "-200",
            "200-299-300",
        ] {
            assert!(status_range(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn health_paths() {
        assert!(check_health_path("/healthz?deep=1").is_ok());
        for bad in ["healthz", "/a b", "/a#b", ""] {
            assert!(check_health_path(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
