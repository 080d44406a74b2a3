//! `rate_limit = { ... }` on a route: a GCRA rate limit (a rate and a
//! burst) per key, exact across the host's shards.

use std::time::Duration;

use crate::checker::Checker;
use crate::file::RateLimitFile;
use crate::route_fields::At;

/// What a limit counts requests by.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A route's rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Its name, in the `RateLimit` headers and the access log.
    pub name: String,
    /// The interval between two requests at the sustained rate.
    pub interval: Duration,
    /// Requests allowed at once beyond the rate.
    pub burst: u32,
    /// The window the rate is written over (`100/s`: 1 s), for headers.
    pub window: Duration,
    /// Requests per window.
    pub per_window: u64,
    /// What requests are counted by.
    pub key: LimitKey,
    /// Keys tracked at once (the table's size).
    pub capacity: usize,
    /// Whether admitted requests get the `RateLimit` headers too.
    pub headers: bool,
}

/// Keys tracked by default.
const DEFAULT_CAPACITY: usize = 65_536;

/// `rate_limit = { rate = "100/s", burst = 20, key = "ip", ... }`.
pub(crate) fn rate_limit(c: &mut Checker<'_>, at: &At<'_>) -> Option<RateLimit> {
    let raw = at.route.rate_limit.as_ref()?;
    let f: &RateLimitFile = raw.get_ref();
    let field = format!("{}.rate_limit", at.field);
    let rate = c.field(&format!("{field}.rate"), Some(&f.rate), |t| parse_rate(t));
    let burst = c.field(&format!("{field}.burst"), f.burst.as_ref(), |&b| {
        u32::try_from(b).map_err(|_| format!("must be from 0 to {}, got {b}", u32::MAX))
    });
    let key = match &f.key {
        Some(k) => c.field(&format!("{field}.key"), Some(k), |t| parse_key(t))?,
        None => LimitKey::Ip(None),
    };
    let capacity = c.field(
        &format!("{field}.capacity"),
        f.capacity.as_ref(),
        |&n| match (16..=16_777_216).contains(&n) {
            true => Ok(n as usize),
            false => Err(format!("must be from 16 to 16777216, got {n}")),
        },
    );
    let (per_window, window) = rate?;
    let interval = window / u32::try_from(per_window).unwrap_or(u32::MAX);
    Some(RateLimit {
        name: f
            .name
            .as_ref()
            .map_or_else(|| at.field.to_owned(), |n| n.get_ref().clone()),
        interval,
        burst: burst.unwrap_or(0),
        window,
        per_window,
        key,
        capacity: capacity.unwrap_or(DEFAULT_CAPACITY),
        headers: f.headers.as_ref().is_some_and(|h| *h.get_ref()),
    })
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
    fn rates_and_keys_parse_strictly() {
        assert_eq!(parse_rate("200/s"), Ok((200, Duration::from_secs(1))));
        assert_eq!(
            parse_rate("10000/h"),
            Ok((10000, Duration::from_secs(3600)))
        );
        assert!(
            parse_rate("0/s").is_err() && parse_rate("5/d").is_err() && parse_rate("x").is_err()
        );
        assert!(parse_rate("2000000/s").is_err());
        assert_eq!(parse_key("ip/24"), Ok(LimitKey::Ip(Some(24))));
        assert_eq!(
            parse_key("header:X-Tenant"),
            Ok(LimitKey::Header("x-tenant".into()))
        );
        assert!(parse_key("cookie:x").is_err() && parse_key("ip/200").is_err());
    }
}
