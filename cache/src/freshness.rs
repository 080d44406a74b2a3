//! Freshness lifetime, current age (RFC 9111 §4.2) and what a stored entry
//! may be used for now, stale windows included (RFC 5861).

use crate::date;
use crate::directives::{Directives, MaxStale};
use crate::fields::{self, delta_seconds, MAX_DELTA};
use crate::storable::{RespView, StoreOpts};

/// When the request went upstream and when its response arrived, in
/// seconds since the Unix epoch (RFC 9111 §4.2.3 `request_time` and
/// `response_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// When the cache sent the request upstream.
    pub request: u64,
    /// When the response head arrived.
    pub response: u64,
}

/// Where a freshness lifetime came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `s-maxage`.
    SMaxAge,
    /// `max-age`.
    MaxAge,
    /// `Expires` minus `Date`.
    Expires,
    /// The route's heuristic (`default_ttl`, maybe from `Last-Modified`).
    Heuristic,
    /// Nothing: the entry is stale at once.
    None,
}

/// A freshness lifetime in seconds, and its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Seconds the response stays fresh from its generation.
    pub secs: u64,
    /// Where `secs` came from.
    pub source: Source,
}

/// What a stored entry may be used for, for one request at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Serve it; fresh for `remaining` more seconds.
    Fresh {
        /// Seconds of freshness left.
        remaining: u64,
    },
    /// Serve it stale and revalidate in the background (stale-while-
    /// revalidate, or the client's `max-stale`); `window` seconds left.
    StaleRevalidate {
        /// Seconds left in the window.
        window: u64,
    },
    /// Revalidate first; if the origin fails (error, 5xx, down), serve it
    /// stale (stale-if-error); `window` seconds left.
    StaleIfError {
        /// Seconds left in the window.
        window: u64,
    },
    /// Revalidate (or refetch) before serving; no stale use allowed.
    Stale,
}

/// What the engine keeps per entry to answer [`EntryMeta::state`] cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// The freshness lifetime.
    pub lifetime: Lifetime,
    /// `corrected_initial_age` (RFC 9111 §4.2.3).
    pub initial_age: u64,
    /// When the response arrived.
    pub response_time: u64,
    /// Stale-while-revalidate window, seconds.
    pub stale_while_revalidate: u64,
    /// Stale-if-error window, seconds.
    pub stale_if_error: u64,
    /// `must-revalidate`, `proxy-revalidate` or `no-cache`: never stale.
    pub no_stale: bool,
    /// `no-cache` in the response: revalidate on every use.
    pub always_revalidate: bool,
    /// `s-maxage` was given: it implies `proxy-revalidate` (RFC 9111
    /// §5.2.2.10), so a client's `max-stale` cannot take it stale; only
    /// the stale windows the origin grants beside it can.
    pub shared_max_age: bool,
}

/// The freshness lifetime of `resp` for a shared cache (RFC 9111 §4.2.1):
/// `s-maxage`, then `max-age`, then `Expires − Date`, then the heuristic.
pub fn lifetime(resp: &RespView<'_>, opts: &StoreOpts, response_time: u64) -> Lifetime {
    let explicit = |secs, source| Lifetime { secs, source };
    if let Some(s) = resp.cc.s_maxage {
        return explicit(s, Source::SMaxAge);
    }
    if let Some(s) = resp.cc.max_age {
        return explicit(s, Source::MaxAge);
    }
    if let Some(expires) = resp.header(b"expires") {
        // An invalid Expires (e.g. "0") means already expired.
        let at = date::parse(expires).unwrap_or(0);
        return explicit(
            at.saturating_sub(date_value(resp, response_time)),
            Source::Expires,
        );
    }
    heuristic(resp, opts, response_time)
}

fn heuristic(resp: &RespView<'_>, opts: &StoreOpts, response_time: u64) -> Lifetime {
    let none = Lifetime {
        secs: 0,
        source: Source::None,
    };
    let Some(ttl) = opts.default_ttl.filter(|_| resp.allows_heuristic()) else {
        return none;
    };
    let from_lm = resp
        .header(b"last-modified")
        .and_then(date::parse)
        .filter(|_| opts.last_modified_heuristic);
    let secs = match from_lm {
        Some(lm) => (date_value(resp, response_time).saturating_sub(lm) / 10).min(ttl),
        None => ttl,
    };
    Lifetime {
        secs,
        source: Source::Heuristic,
    }
}

/// `Date`, or the arrival time when it is missing or invalid.
fn date_value(resp: &RespView<'_>, response_time: u64) -> u64 {
    resp.header(b"date")
        .and_then(date::parse)
        .unwrap_or(response_time)
}

/// `corrected_initial_age` (RFC 9111 §4.2.3).
pub fn initial_age(resp: &RespView<'_>, times: Times) -> u64 {
    let age_value = resp
        .header(b"age")
        .map(fields::trim)
        .and_then(delta_seconds)
        .unwrap_or(0);
    let apparent_age = times
        .response
        .saturating_sub(date_value(resp, times.response));
    let response_delay = times.response.saturating_sub(times.request);
    apparent_age.max(age_value.saturating_add(response_delay))
}

// === impl EntryMeta ===

impl EntryMeta {
    /// Bookkeeping for `resp`, received at `times`, under `opts`.
    pub fn new(resp: &RespView<'_>, opts: &StoreOpts, times: Times) -> Self {
        let cc = &resp.cc;
        let no_stale = cc.must_revalidate || cc.proxy_revalidate || cc.is_no_cache();
        // s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10): the
        // route's default windows do not apply, but windows the origin
        // grants explicitly beside it do (RFC 5861 is the later word).
        let defaults = if cc.s_maxage.is_some() {
            (0, 0)
        } else {
            (opts.stale_while_revalidate, opts.stale_if_error)
        };
        Self {
            lifetime: lifetime(resp, opts, times.response),
            initial_age: initial_age(resp, times),
            response_time: times.response,
            stale_while_revalidate: cc.stale_while_revalidate.unwrap_or(defaults.0),
            stale_if_error: cc.stale_if_error.unwrap_or(defaults.1),
            no_stale,
            always_revalidate: cc.is_no_cache(),
            shared_max_age: cc.s_maxage.is_some(),
        }
    }

    /// `current_age` at `now` (RFC 9111 §4.2.3).
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.response_time))
    }

    /// Seconds of freshness left at `now`; negative once stale (the
    /// `ttl` parameter of `Cache-Status`).
    pub fn ttl(&self, now: u64) -> i64 {
        let clamp = |v: u64| i64::try_from(v.min(MAX_DELTA * 4)).unwrap_or(i64::MAX);
        clamp(self.lifetime.secs) - clamp(self.age(now))
    }

    /// What the entry may be used for, for a request with directives
    /// `req`, at `now`.
    pub fn state(&self, req: &Directives, now: u64) -> State {
        let age = self.age(now);
        if req.is_no_cache()
            || self.always_revalidate
            || !client_accepts_age(req, age, self.lifetime.secs)
        {
            return State::Stale;
        }
        match self.lifetime.secs.checked_sub(age) {
            Some(remaining) if remaining > 0 => State::Fresh { remaining },
            _ => self.stale_state(req, age - self.lifetime.secs.min(age)),
        }
    }

    fn stale_state(&self, req: &Directives, staleness: u64) -> State {
        if self.no_stale {
            return State::Stale;
        }
        let window = |w: u64| w.checked_sub(staleness).filter(|left| *left > 0);
        let client = match req.max_stale.filter(|_| !self.shared_max_age) {
            Some(MaxStale::Any) => Some(u64::MAX),
            Some(MaxStale::Secs(s)) => window(s),
            None => None,
        };
        if let Some(w) = client.or_else(|| window(self.stale_while_revalidate)) {
            return State::StaleRevalidate { window: w };
        }
        match window(self.stale_if_error) {
            Some(w) => State::StaleIfError { window: w },
            None => State::Stale,
        }
    }
}

/// The request's `max-age` and `min-fresh` limits (RFC 9111 §5.2.1).
fn client_accepts_age(req: &Directives, age: u64, lifetime: u64) -> bool {
    let max_age_ok = req.max_age.is_none_or(|m| age <= m);
    let min_fresh_ok = req
        .min_fresh
        .is_none_or(|m| lifetime.saturating_sub(age) >= m);
    max_age_ok && min_fresh_ok
}
