//! Bytes both ways after an allowed `101`, until either side closes or
//! nothing moves for `tunnel_idle`.
use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::error::{ProxyError, Side};
use crate::observe::metrics::bump;
use crate::snapshot::route::{Group, Route};
use crate::snapshot::target::Target;
use crate::upstream::balance::{GroupState, Held};
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
use body::*;
use encode::*;
use relay::*;
use tunnel::*;

/// Bodies smaller than this are copied next to their head so both leave in
/// one send.
pub(super) const COALESCE_MAX: usize = 16 << 10;
/// Receive buffers already queued that one response send may gather.
pub(super) const MAX_GATHER: usize = 8;

/// A routed request on its way upstream.
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
}

/// The upstream timeouts that apply to one request: the route's, else the
/// global ones.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    connect: Duration,
    header: Duration,
    body: Duration,
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
    let body = req.head.body();
    if let BodyKind::Length(n) = body {
        ctx.limits()
            .check_body(n)
            .map_err(|_| ProxyError::BodyTooLarge)?;
    }
    let g = req
        .view
        .snap
        .groups
        .get(req.group)
        .ok_or(ProxyError::NoRoute)?;
    let gs = req.view.groups.get(req.group).ok_or(ProxyError::NoRoute)?;
    if g.max_pending.is_some_and(|max| gs.pending.get() >= max) {
        return Err(ProxyError::Overloaded);
    }
    let _pending = Held::new(&gs.pending);
    let retries = req.route.retries;
    let budget = &req.view.budgets[req.route_idx];
    let mut now = Instant::now();
    budget.deposit(retries.budget_percent, retries.min_per_second, now);
    let deadlines = deadlines(ctx, req.route);

    let head = encode_request(c, &req);
    let mut scanner = BodyForwarder::new(body);
    let mut first_body: Vec<Bytes> = take_buffered_body(c, ctx, &mut scanner)?
        .into_iter()
        .collect();
    // Body bytes already queued behind the head go out with it (one send,
    // and a body that is now whole can be replayed on a retry).
    while !scanner.is_done() && first_body.len() <= MAX_GATHER {
        let Some(Ok(Some(mut d))) = c.io.try_recv() else {
            break;
        };
        take_request_body(c, ctx, &mut scanner, &mut d)?;
        if !d.is_empty() {
            first_body.push(d.to_bytes());
        }
    }
    // A complete chunked body ends with its filtered trailer section.
    first_body.extend(scanner.take_trailers());
    // Replayable: the whole body (if any) is in hand, so a retry can resend it.
    let replayable = scanner.is_done();
    let idempotent = req.head.method().is_idempotent() || retries.non_idempotent;
    if req.head.expect_continue() && !scanner.is_done() {
        c.io.send(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"))
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    let hash = hash_for(g, &req, c.peer);
    let mut exclude = None;
    let mut tries = 0u32;
    let mut stale_retried = false;
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            now = Instant::now();
        }
        let picked = gs.pick(g, hash, exclude, now).ok_or(ProxyError::NoRoute)?;
        if picked.failed_open {
            bump(&ctx.metrics().failed_open, 1);
            crate::observe::stats::bump(&gs.stats.failed_open, 1);
        }
        c.trace.upstream = Some(picked.addr);
        let started = now;
        let res = attempt(
            c,
            ctx,
            &req,
            gs,
            g,
            (picked.addr, started),
            deadlines,
            &head,
            &first_body,
            &mut scanner,
        )
        .await;
        let may_retry =
            |budget_needed: bool| tries < retries.attempts && (!budget_needed || budget.withdraw());
        match res {
            Ok((up, rh, head_at)) => {
                let status = rh.status();
                let latency = head_at - started;
                let failed = (500..600).contains(&status) && g.outlier_on_5xx;
                if retry_on_status(&retries, status) && replayable && idempotent && may_retry(true)
                {
                    end(ctx, gs, g, picked.addr, latency, false, head_at);
                    bump(&ctx.metrics().upstream_retries, 1);
                    crate::observe::stats::bump(&gs.stats.retries, 1);
                    tries += 1;
                    exclude = Some(picked.idx);
                    continue;
                }
                let out = relay_response(c, ctx, &req, up, rh, deadlines).await;
                end(
                    ctx,
                    gs,
                    g,
                    picked.addr,
                    latency,
                    !failed && out.is_ok(),
                    head_at,
                );
                return out;
            }
            Err(Attempt::Stale) if !stale_retried => {
                // A dead pooled connection says nothing about the backend.
                gs.end(g, picked.addr, Duration::ZERO, true, Instant::now());
                stale_retried = true;
                bump(&ctx.metrics().upstream_retries, 1);
                crate::observe::stats::bump(&gs.stats.retries, 1);
            }
            Err(Attempt::Stale) => {
                let t = Instant::now();
                end(ctx, gs, g, picked.addr, t - started, false, t);
                return Err(ProxyError::UpstreamClosed);
            }
            Err(Attempt::Fail(e)) => {
                let upstream_fault = e.side() == Side::Upstream && e != ProxyError::Overloaded;
                let t = Instant::now();
                end(ctx, gs, g, picked.addr, t - started, !upstream_fault, t);
                // Nothing was sent on a failed connect: always safe to retry.
                let connect = matches!(
                    e,
                    ProxyError::UpstreamConnect | ProxyError::UpstreamConnectTimeout
                );
                if connect && retries.on.connect_failure && may_retry(true) {
                    bump(&ctx.metrics().upstream_retries, 1);
                    crate::observe::stats::bump(&gs.stats.retries, 1);
                    tries += 1;
                    exclude = Some(picked.idx);
                    continue;
                }
                return Err(e);
            }
        }
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
