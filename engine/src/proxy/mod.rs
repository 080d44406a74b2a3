//! Forwarding one request to an upstream and relaying the response.
//!
//! [`forward`] picks a backend and retries within the route's budget; the
//! request head leaves through `encode`, its body through `body`, the
//! response head comes back through `attempt`, its body through `relay`,
//! and an allowed upgrade ends in `tunnel`. Bodies stream both ways one
//! buffer in flight at a time, so a slow reader slows the writer down and
//! memory stays bounded whatever the body size. Raw bytes are forwarded
//! untouched once the parser validated their framing; only a chunked
//! body's trailer section is held back and sent filtered (RFC 9110 §6.5.1).
//! The whole proxy path costs 12.6 µs of CPU per request at saturation
//! (2026-11-26 headline batch, README).

use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::error::{ProxyError, Side};
use crate::observe::metrics::bump;
use crate::snapshot::route::{Group, Route};
use crate::snapshot::target::Target;
use crate::upstream::balance::{GroupState, Held, Picked, RetryBudget};
use crate::view::SnapView;
use balancer::Transition;
use bytes::Bytes;
use parser::{BodyForwarder, BodyKind, RequestHead};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tuning::HashKey;

mod attempt;
mod body;
mod encode;
mod relay;
mod tunnel;

use attempt::*;
pub(crate) use attempt::{acquire, read_response_head};
use body::*;
use encode::*;
pub(crate) use relay::{is_cors, relay_response, write_cors};
use tunnel::*;

/// Bodies smaller than this are copied next to their head so both leave in
/// one send.
pub(super) const COALESCE_MAX: usize = 16 << 10;
/// Receive buffers already queued that one response send may gather.
pub(super) const MAX_GATHER: usize = 8;

/// A routed request on its way upstream.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) view: &'a SnapView,
    pub(crate) route: &'a Route,
    pub(crate) route_idx: usize,
    pub(crate) head: &'a RequestHead,
    pub(crate) target: &'a Target<'a>,
    /// The normalised origin-form target (path and query) the route matched.
    pub(crate) path: &'a [u8],
    pub(crate) id: &'a [u8],
    pub(crate) group: usize,
    /// The protocol the client asked to switch to, when the route allows
    /// it: the only protocol a `101` may switch to.
    pub(crate) upgrade: Option<&'a [u8]>,
    /// Who called, on a route of an access-controlled service.
    pub(crate) caller: Option<crate::snapshot::access::Caller<'a>>,
    /// The route's CORS and the request's `Origin` when it is allowed
    /// (`None` inside: the route has CORS, the origin is not allowed).
    pub(crate) cors: Option<(&'a crate::snapshot::guard::Cors, Option<&'a [u8]>)>,
    /// What the request holds from the route's limit policies: the
    /// `RateLimit` fields for the response, the keys it is charged to.
    pub(crate) limits: &'a crate::limit::admit::Admitted<'a>,
    /// A cache's fetch (the client's conditional and range fields stay
    /// behind, the stored validators go instead); `None`: plain proxying.
    pub(crate) fetch: Option<Fetch<'a>>,
    /// Encoded fields added to a relayed response (the cache's
    /// `Cache-Status` on a response it does not store).
    pub(crate) response_fields: &'a [u8],
}

/// The validators a cache's fetch sends, from its stale entry.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fetch<'a> {
    pub(crate) if_none_match: Option<&'a [u8]>,
    pub(crate) if_modified_since: Option<&'a [u8]>,
}

/// What answers the client once the upstream's response head is in: the
/// relay for plain proxying, the cache's fill for a cached route's miss.
pub(crate) trait Respond {
    fn respond(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        up: crate::upstream::pool::UpConn,
        rh: parser::ResponseHead,
        deadlines: Deadlines,
    ) -> impl std::future::Future<Output = Result<Next, ProxyError>>;
}

/// Plain proxying: the response is relayed as it comes. Its future is the
/// relay's own (no wrapper around it: the head and the connection are
/// moved into it once).
pub(crate) struct Relayed;

impl Respond for Relayed {
    fn respond(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        up: crate::upstream::pool::UpConn,
        rh: parser::ResponseHead,
        deadlines: Deadlines,
    ) -> impl std::future::Future<Output = Result<Next, ProxyError>> {
        relay_response(c, ctx, req, up, rh, deadlines)
    }
}

/// The upstream timeouts that apply to one request: the route's, else the
/// global ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    connect: Duration,
    header: Duration,
    pub(crate) body: Duration,
}

/// Why an attempt on one upstream connection failed.
enum Attempt {
    /// A stale pooled connection: nothing reached the upstream, try again.
    Stale,
    /// Give up on this backend with this error.
    Fail(ProxyError),
}

impl From<ProxyError> for Attempt {
    fn from(e: ProxyError) -> Self {
        Attempt::Fail(e)
    }
}

/// Proxies a request and relays the response to the client.
pub(crate) async fn forward(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
) -> Result<Next, ProxyError> {
    forward_with(c, ctx, &req, &mut Relayed).await
}

/// Proxies a request; `with` answers once a response head is in.
pub(crate) async fn forward_with<R: Respond>(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    with: &mut R,
) -> Result<Next, ProxyError> {
    if let BodyKind::Length(n) = req.head.body() {
        ctx.limits()
            .check_body(n)
            .map_err(|_| ProxyError::BodyTooLarge)?;
    }
    let (g, gs) = group_of(req)?;
    if g.max_pending.is_some_and(|max| gs.pending.get() >= max) {
        return Err(ProxyError::Overloaded);
    }
    let _pending = Held::new(&gs.pending);
    let now = crate::clock::now();
    let retries = &req.route.retries;
    req.view.budgets[req.route_idx].deposit(retries.budget_percent, retries.min_per_second, now);
    let mut out = Outgoing::prepare(c, ctx, req)?;
    if req.head.expect_continue() && !out.scanner.is_done() {
        c.io.send(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"))
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    let mut tries = Tries::new(req, g, c.peer, now);
    loop {
        let picked = tries.pick(ctx, gs, g)?;
        c.trace.upstream = Some(picked.addr);
        let started = tries.now;
        let res = attempt(c, ctx, req, gs, g, (picked.addr, started), &mut out).await;
        let step = match res {
            Ok((up, rh, head_at)) => match tries.retry_status(req, &out, rh.status()) {
                true => tries.retried(ctx, gs, g, picked, head_at - started, head_at),
                false => {
                    // Relayed straight from here: a wrapper would hold the
                    // head and the connection twice in the request's state.
                    let failed = (500..600).contains(&rh.status()) && g.outlier_on_5xx;
                    let res = with.respond(c, ctx, req, up, rh, out.deadlines).await;
                    let ok = !failed && res.is_ok();
                    end(ctx, gs, g, picked.addr, head_at - started, ok, head_at);
                    Step::Done(res)
                }
            },
            Err(Attempt::Stale) => tries.stale(ctx, gs, g, picked.addr, started),
            Err(Attempt::Fail(e)) => tries.failed(ctx, gs, g, picked, started, e),
        };
        if let Step::Done(r) = step {
            return r;
        }
    }
}

/// The group a request goes to, and this shard's state for it.
fn group_of<'v>(req: &Request<'v>) -> Result<(&'v Group, &'v GroupState), ProxyError> {
    let g = req.view.snap.groups.get(req.group);
    let gs = req.view.groups.get(req.group);
    match (g, gs) {
        (Some(g), Some(gs)) => Ok((g, gs)),
        _ => Err(ProxyError::NoRoute),
    }
}

/// The request as it leaves for an upstream: its encoded head, the body
/// bytes already in hand, and the scanner for the rest.
pub(super) struct Outgoing {
    pub(super) head: Bytes,
    pub(super) first_body: Vec<Bytes>,
    pub(super) scanner: BodyForwarder,
    pub(super) deadlines: Deadlines,
    /// The whole body (if any) is in hand, so a retry can resend it.
    replayable: bool,
}

// === impl Outgoing ===

impl Outgoing {
    /// Encodes the head and takes the body bytes that arrived with it or
    /// are queued behind it (one send, and a body that is now whole can be
    /// replayed on a retry).
    fn prepare(c: &mut Client, ctx: &ShardCtx, req: &Request<'_>) -> Result<Outgoing, ProxyError> {
        let head = encode_request(c, req);
        let mut scanner = BodyForwarder::new(req.head.body());
        let mut first_body: Vec<Bytes> = take_buffered_body(c, ctx, &mut scanner)?
            .into_iter()
            .collect();
        // Copied: a body that is now whole can be replayed on a retry.
        take_queued(c, ctx, &mut scanner, &mut first_body, |d| d.to_bytes())?;
        // A complete chunked body ends with its filtered trailer section.
        first_body.extend(scanner.take_trailers());
        let replayable = scanner.is_done();
        Ok(Outgoing {
            head,
            first_body,
            scanner,
            deadlines: deadlines(ctx, req.route),
            replayable,
        })
    }
}

/// What the retry loop does next.
enum Step {
    /// Try again, on another backend.
    Retry,
    /// Finished: the response went out, or the error to answer with.
    Done(Result<Next, ProxyError>),
}

/// The retry loop's state for one request.
struct Tries<'a> {
    retries: &'a tuning::Retries,
    budget: &'a RetryBudget,
    hash: Option<u64>,
    exclude: Option<usize>,
    tries: u32,
    stale_retried: bool,
    first: bool,
    now: Instant,
}

// === impl Tries ===

impl<'a> Tries<'a> {
    fn new(req: &Request<'a>, g: &Group, peer: SocketAddr, now: Instant) -> Tries<'a> {
        Tries {
            retries: &req.route.retries,
            budget: &req.view.budgets[req.route_idx],
            hash: hash_for(g, req, peer),
            exclude: None,
            tries: 0,
            stale_retried: false,
            first: true,
            now,
        }
    }

    /// The next backend (another one than last time after a retry).
    fn pick(&mut self, ctx: &ShardCtx, gs: &GroupState, g: &Group) -> Result<Picked, ProxyError> {
        if !std::mem::take(&mut self.first) {
            self.now = crate::clock::now();
        }
        let picked = gs
            .pick(g, self.hash, self.exclude, self.now)
            .ok_or(ProxyError::NoRoute)?;
        if picked.failed_open {
            bump(&ctx.metrics().failed_open, 1);
            crate::observe::stats::bump(&gs.stats.failed_open, 1);
        }
        Ok(picked)
    }

    /// Another try is allowed (and, when `budgeted`, paid for).
    fn may_retry(&self, budgeted: bool) -> bool {
        self.tries < self.retries.attempts && (!budgeted || self.budget.withdraw())
    }

    /// Whether a response with `status` is retried rather than relayed.
    fn retry_status(&self, req: &Request<'_>, out: &Outgoing, status: u16) -> bool {
        let idempotent = req.head.method().is_idempotent() || self.retries.non_idempotent;
        retry_on_status(self.retries, status)
            && out.replayable
            && idempotent
            && self.may_retry(true)
    }

    /// Counts a retry away from `picked` after it answered in `latency`.
    fn retried(
        &mut self,
        ctx: &ShardCtx,
        gs: &GroupState,
        g: &Group,
        picked: Picked,
        latency: Duration,
        at: Instant,
    ) -> Step {
        end(ctx, gs, g, picked.addr, latency, false, at);
        self.count_retry(ctx, gs);
        self.tries += 1;
        self.exclude = Some(picked.idx);
        Step::Retry
    }

    /// A pooled connection was dead: once, try a fresh one.
    fn stale(
        &mut self,
        ctx: &ShardCtx,
        gs: &GroupState,
        g: &Group,
        addr: SocketAddr,
        started: Instant,
    ) -> Step {
        if std::mem::replace(&mut self.stale_retried, true) {
            let t = crate::clock::now();
            end(ctx, gs, g, addr, t - started, false, t);
            return Step::Done(Err(ProxyError::UpstreamClosed));
        }
        // A dead pooled connection says nothing about the backend.
        gs.end(g, addr, Duration::ZERO, true, crate::clock::now());
        self.count_retry(ctx, gs);
        Step::Retry
    }

    /// A try failed with `e`: retried when nothing was sent (a failed
    /// connect) and the policy allows it.
    fn failed(
        &mut self,
        ctx: &ShardCtx,
        gs: &GroupState,
        g: &Group,
        picked: Picked,
        started: Instant,
        e: ProxyError,
    ) -> Step {
        let upstream_fault = e.side() == Side::Upstream && e != ProxyError::Overloaded;
        let t = crate::clock::now();
        end(ctx, gs, g, picked.addr, t - started, !upstream_fault, t);
        let connect = matches!(
            e,
            ProxyError::UpstreamConnect | ProxyError::UpstreamConnectTimeout
        );
        if !(connect && self.retries.on.connect_failure && self.may_retry(true)) {
            return Step::Done(Err(e));
        }
        self.count_retry(ctx, gs);
        self.tries += 1;
        self.exclude = Some(picked.idx);
        Step::Retry
    }

    fn count_retry(&self, ctx: &ShardCtx, gs: &GroupState) {
        bump(&ctx.metrics().upstream_retries, 1);
        crate::observe::stats::bump(&gs.stats.retries, 1);
    }
}

fn retry_on_status(r: &tuning::Retries, status: u16) -> bool {
    match status {
        502 => r.on.s502,
        503 => r.on.s503,
        504 => r.on.s504,
        _ => false,
    }
}

/// Records the end of a request on the backend, counting ejections.
fn end(
    ctx: &ShardCtx,
    gs: &GroupState,
    g: &Group,
    addr: SocketAddr,
    latency: Duration,
    ok: bool,
    now: Instant,
) {
    let ejected = gs.end(g, addr, latency, ok, now) == Some(Transition::Unhealthy);
    if ejected {
        bump(&ctx.metrics().ejections, 1);
    }
    if ctx.metrics_on {
        gs.stats.backend(addr, |b| {
            b.requests += 1;
            b.failures += u64::from(!ok);
            b.ejections += u64::from(ejected);
        });
    }
}

fn deadlines(ctx: &ShardCtx, route: &Route) -> Deadlines {
    let t = ctx.timeouts();
    Deadlines {
        connect: route
            .timeouts
            .upstream_connect
            .unwrap_or(t.upstream_connect),
        header: route.timeouts.upstream_header.unwrap_or(t.upstream_header),
        body: route.timeouts.upstream_body.unwrap_or(t.upstream_body),
    }
}

/// The consistent-hashing key of a request, for Maglev groups.
fn hash_for(g: &Group, req: &Request<'_>, peer: SocketAddr) -> Option<u64> {
    if g.set.algorithm() != balancer::Algorithm::Maglev {
        return None;
    }
    let path = req.path.split(|&b| b == b'?').next().unwrap_or_default();
    match &req.route.hash_key {
        HashKey::ClientIp => Some(match peer.ip() {
            IpAddr::V4(ip) => balancer::hash_key(&ip.octets()),
            IpAddr::V6(ip) => balancer::hash_key(&ip.octets()),
        }),
        HashKey::Path => Some(balancer::hash_key(path)),
        HashKey::Header(name) => req.head.header(name).map(balancer::hash_key),
        HashKey::Cookie(name) => cookie(req.head, name.as_bytes()).map(balancer::hash_key),
    }
}

/// The value of cookie `name`, from any `Cookie` header.
fn cookie<'a>(head: &'a RequestHead, name: &[u8]) -> Option<&'a [u8]> {
    head.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
        .flat_map(|(_, v)| v.split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq] == *name).then(|| &pair[eq + 1..])
        })
}
