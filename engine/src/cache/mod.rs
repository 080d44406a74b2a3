//! The response cache on the data path (RFC 9111, RFC 5861, RFC 9211): a
//! cached route's GET and HEAD are answered from the host's one
//! [`Store`] when an entry may be used, and fetched once per key when not.
//!
//! - A fresh entry is a hit: one probe of the lock-free store, no upstream.
//! - Within `stale-while-revalidate` the stale entry is served, then the
//!   same request refreshes it (its client already has its answer).
//! - A stale entry is revalidated with its validators; a `304` refreshes
//!   it. Within `stale-if-error` a failed fetch (an error, a `5xx`)
//!   serves it.
//! - A miss leads the key's fetch, or waits on the one in flight ([`fill`])
//!   for at most the route's `lock_timeout`, then goes upstream itself.
//! - The key is [`cache::CacheKey`]: method class, scheme, host, the
//!   normalised path and query, and the route's configured parts, each
//!   length-prefixed, so no header can shift it.
//!
//! The decisions are the `cache` crate's (0.37 µs per hit); this module
//! owns storage ([`store`]), coalescing ([`fill`]) and I/O ([`answer`],
//! [`fetch`]). What a hit costs per request is in README (Performance,
//! "Response cache").

mod answer;
mod fetch;
mod fill;
mod store;

use std::sync::Arc;
use std::time::Duration;

use cache::{CacheKey, CacheStatus, Directives, Field, Fwd, KeyInput, State};
use parser::{BodyKind, Method};

pub(crate) use store::{Purge, Store};

use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::proxy::Request;
use store::{Entry, Found};

/// A route's cache, compiled.
#[derive(Debug)]
pub(crate) struct Policy {
    /// The configured key parts, then the route's own part.
    parts: Box<[cache::KeyPart]>,
    /// As `parts`, then the caller's app.
    parts_app: Box<[cache::KeyPart]>,
    opts: cache::StoreOpts,
    lock_timeout: Duration,
}

/// How the cache answered a request (metrics, the access log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// From a fresh entry.
    Hit,
    /// From a stale entry (while revalidating, or on an origin error).
    Stale,
    /// From an entry the origin confirmed with a `304`.
    Revalidated,
    /// From another request's fetch.
    Collapsed,
    /// From the origin, and stored.
    Miss,
    /// From the origin, not stored (not storable, or not a cached method).
    Pass,
}

/// Every outcome, in the order of the per-route counters.
pub(crate) const OUTCOMES: [Outcome; 6] = [
    Outcome::Hit,
    Outcome::Stale,
    Outcome::Revalidated,
    Outcome::Collapsed,
    Outcome::Miss,
    Outcome::Pass,
];

/// A request's lookup: its key, fields and directives, and when.
pub(crate) struct Lookup<'r> {
    key: CacheKey,
    fields: Vec<Field<'r>>,
    cc: Directives,
    now: u64,
    policy: &'r Policy,
    scheme: &'static [u8],
}

// === impl Policy ===

impl Policy {
    pub(crate) fn compile(c: &tuning::RouteCache) -> Policy {
        let mut parts: Vec<cache::KeyPart> = c
            .key
            .iter()
            .map(|p| match p {
                tuning::CacheKeyPart::Header(n) => cache::KeyPart::header(n.as_bytes()),
                tuning::CacheKeyPart::Cookie(n) => cache::KeyPart::cookie(n.as_bytes()),
            })
            .collect();
        parts.push(cache::KeyPart::header(ROUTE_FIELD));
        let mut parts_app = parts.clone();
        parts_app.push(cache::KeyPart::header(APP_FIELD));
        parts_app.push(cache::KeyPart::header(TEAM_FIELD));
        Policy {
            parts: parts.into(),
            parts_app: parts_app.into(),
            opts: cache::StoreOpts {
                default_ttl: c.default_ttl.map(|d| d.as_secs()),
                last_modified_heuristic: true,
                allow_set_cookie: c.allow_set_cookie,
                max_object_bytes: Some(c.max_object_bytes),
                stale_while_revalidate: c.stale_while_revalidate.as_secs(),
                stale_if_error: c.stale_if_error.as_secs(),
            },
            lock_timeout: c.lock_timeout,
        }
    }
}

// === impl Outcome ===

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Stale => "stale",
            Outcome::Revalidated => "revalidated",
            Outcome::Collapsed => "collapsed",
            Outcome::Miss => "miss",
            Outcome::Pass => "pass",
        }
    }

    pub(crate) fn index(self) -> usize {
        OUTCOMES.iter().position(|&o| o == self).unwrap_or(0)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    crate::limit::unix_now()
}

/// Serves a request on a cached route.
pub(crate) async fn serve(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    policy: &Policy,
) -> Result<Next, ProxyError> {
    let head = req.head;
    let get = head.method() == Method::Get;
    let cacheable = get || head.method() == Method::Head;
    if !cacheable || head.body() != BodyKind::Empty || req.upgrade.is_some() {
        let safe = [Method::Get, Method::Head, Method::Options, Method::Trace];
        let unsafe_method = !safe.contains(&head.method());
        let snap = req.view.snap.clone();
        let fields = request_fields(&req);
        let key = unsafe_method.then(|| key_of(c, &req, policy, &fields));
        let res = pass(c, ctx, req, Fwd::Request).await;
        // RFC 9111 §4.4: a successful unsafe request invalidates its URL.
        if let (Some(key), true) = (key, (200..400).contains(&c.trace.status)) {
            snap.cache.remove(&key);
        }
        return res;
    }
    let fields = request_fields(&req);
    let l = Lookup {
        key: key_of(c, &req, policy, &fields),
        cc: Directives::from_headers(&fields),
        fields,
        now: unix_now(),
        policy,
        scheme: if c.tls.is_some() { b"https" } else { b"http" },
    };
    match req.view.snap.cache.lookup(&l.key, &l.fields) {
        Found::Entry(e) => from_entry(c, ctx, req, l, e).await,
        Found::VaryMiss => miss(c, ctx, req, l, None, Fwd::VaryMiss, get).await,
        Found::Miss => miss(c, ctx, req, l, None, Fwd::UriMiss, get).await,
    }
}

/// The pseudo-fields that key an access-controlled route's entries by
/// caller (app and team: an app's name is unique within its team): a
/// field name cannot start with `:` on the wire, so no client can send
/// them.
const APP_FIELD: &[u8] = b":coregate-app";
const TEAM_FIELD: &[u8] = b":coregate-team";
/// The pseudo-field that keys entries by route: routes that share a host
/// and path (told apart by method or headers, with other upstreams,
/// rewrites or header changes) never share entries.
const ROUTE_FIELD: &[u8] = b":coregate-route";

/// Whether a stored response may answer a request with `Authorization`
/// (RFC 9111 §3.5: `public`, `s-maxage` or `must-revalidate`).
fn shareable(e: &Entry) -> bool {
    let cc = Directives::from_headers(&e.field_slices());
    cc.public || cc.s_maxage.is_some() || cc.must_revalidate
}

/// The request's key (a GET's, for a HEAD or an invalidating request),
/// from [`request_fields`]. On a route of an access-controlled service,
/// each app has entries of its own: its identity goes upstream and the
/// answer may depend on it.
fn key_of(c: &Client, req: &Request<'_>, policy: &Policy, fields: &[Field<'_>]) -> CacheKey {
    let host = req
        .target
        .authority
        .or_else(|| req.head.host())
        .unwrap_or_default();
    let input = KeyInput {
        method: b"GET",
        scheme: if c.tls.is_some() { b"https" } else { b"http" },
        host,
        target: req.path,
    };
    let parts = match req.caller {
        Some(_) => &policy.parts_app,
        None => &policy.parts,
    };
    CacheKey::new(&input, parts, fields)
}

/// The request's fields, then the pseudo-fields of its key: the route,
/// and the caller on an access-controlled route (one allocation; the
/// cache's rules look at named fields only, which these never are).
fn request_fields<'r>(req: &Request<'r>) -> Vec<Field<'r>> {
    let mut fields = Vec::with_capacity(req.head.headers().size_hint().0 + 3);
    fields.extend(req.head.headers());
    fields.push((ROUTE_FIELD, req.route.name.as_bytes()));
    if let Some(caller) = req.caller {
        fields.push((APP_FIELD, caller.consumer.app_name.as_bytes()));
        fields.push((TEAM_FIELD, caller.consumer.team_name.as_bytes()));
    }
    fields
}

/// Whether a stale entry may answer an origin failure for this request.
fn stale_on_error(e: &Entry, l: &Lookup<'_>) -> bool {
    matches!(
        e.meta.state(&l.cc, l.now),
        State::StaleIfError { .. } | State::StaleRevalidate { .. }
    )
}

/// A stored entry: fresh, stale-while-revalidate, or to revalidate.
async fn from_entry(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    l: Lookup<'_>,
    e: Arc<Entry>,
) -> Result<Next, ProxyError> {
    let get = req.head.method() == Method::Get;
    let authorized = l
        .fields
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"authorization"));
    if authorized && !shareable(&e) {
        return pass(c, ctx, req, Fwd::Request).await;
    }
    match e.meta.state(&l.cc, l.now) {
        State::Fresh { .. } => {
            let cs = status(true, None, e.meta.ttl(l.now));
            c.trace.cache = Some(Outcome::Hit);
            answer::entry(c, ctx, &req, &e, cs, l.now).await
        }
        State::StaleRevalidate { .. } => {
            let cs = CacheStatus {
                fwd: Some(Fwd::Stale),
                ..status(true, None, e.meta.ttl(l.now))
            };
            c.trace.cache = Some(Outcome::Stale);
            let next = answer::entry(c, ctx, &req, &e, cs, l.now).await?;
            if get {
                fetch::refresh(c, ctx, req, &l, e).await;
            }
            Ok(next)
        }
        State::StaleIfError { .. } | State::Stale => {
            miss(c, ctx, req, l, Some(e), Fwd::Stale, get).await
        }
    }
}

/// No usable entry: lead the key's fetch, or wait on the one in flight.
/// HEAD and `Range` misses go upstream as they are (their responses fill
/// nothing).
async fn miss(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    l: Lookup<'_>,
    stale: Option<Arc<Entry>>,
    fwd: Fwd,
    get: bool,
) -> Result<Next, ProxyError> {
    if l.cc.only_if_cached {
        return Err(ProxyError::NotCached);
    }
    // A range of an object not stored goes to the origin as it is.
    let ranged = req.head.header("range").is_some();
    if !get || l.cc.no_store || ranged {
        return pass(c, ctx, req, fwd).await;
    }
    let store = req.view.snap.cache.clone();
    let joined = store.fills.join(&l.key);
    let res = match joined {
        fill::Join::Lead(lead) => fetch::lead(c, ctx, req, &l, lead, stale, fwd).await,
        fill::Join::Wait(f) => match fetch::wait(c, ctx, &req, &l, &f).await {
            Some(answered) => answered,
            // The leader's fetch failed: a stale entry in its
            // stale-if-error window answers, as it did the leader.
            None => match stale.filter(|s| stale_on_error(s, &l)) {
                Some(s) => fetch::serve_stale(c, ctx, &req, &s).await,
                None => pass(c, ctx, req, fwd).await,
            },
        },
    };
    res
}

/// Forwards without storing; the response says why in `Cache-Status`.
async fn pass(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    fwd: Fwd,
) -> Result<Next, ProxyError> {
    let mut line = bytes::BytesMut::new();
    parser::write_header(
        b"cache-status",
        &status(false, Some(fwd), 0).to_value(answer::NAME),
        &mut line,
    );
    c.trace.cache = Some(Outcome::Pass);
    let req = Request {
        response_fields: &line,
        ..req
    };
    crate::proxy::forward(c, ctx, req).await
}

/// A `Cache-Status` with `ttl` (a hit's only).
fn status(hit: bool, fwd: Option<Fwd>, ttl: i64) -> CacheStatus<'static> {
    CacheStatus {
        hit,
        fwd,
        fwd_status: None,
        ttl: hit.then_some(ttl),
        stored: false,
        collapsed: false,
        detail: None,
    }
}
