//! One try on one upstream connection: take a pooled connection (or open
//! one within the group's limit), send the head and the body, and read the
//! response head, skipping interim responses; a `101` passes only for the
//! upgrade the client asked for.

use super::*;
use crate::client::{Client, Trace};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::{HandshakeFailure, RecvBuf, SendBuf, Transport};
use crate::observe::metrics::bump;
use crate::shard;
use crate::snapshot::route::Group;
use crate::snapshot::tls::GroupTls;
use crate::upstream::balance::{GroupState, Held};
use crate::upstream::dial::{dial, DialError};
use crate::upstream::pool::UpConn;
use parser::{BodyKind, Method, ResponseHead};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One try on one connection: send the request, read the response head.
pub(super) async fn attempt(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    gs: &GroupState,
    g: &Group,
    (addr, t0): (SocketAddr, Instant),
    out: &mut Outgoing,
) -> Result<(UpConn, ResponseHead, Instant), Attempt> {
    let deadlines = out.deadlines;
    let (mut up, reused) = acquire(ctx, gs, g, addr, deadlines.connect).await?;
    let sent_at = if reused { t0 } else { crate::clock::now() };
    if !reused {
        record(c, ctx, &gs.stats.connect_time, sent_at - t0, Phase::Connect);
    }
    send_head(&mut up, out, reused).await?;
    if !out.scanner.is_done() {
        stream_request_body(c, ctx, &mut up.io, &mut out.scanner, deadlines.body).await?;
    }
    // A stale pooled connection shows up as EOF before any response byte.
    // Only a request whose bytes can all be sent again is retried.
    let replayable =
        reused && req.head.body() == BodyKind::Empty && req.head.method().is_idempotent();
    match read_response_head(ctx, &mut up, req.head.method(), deadlines.header).await {
        // The upstream switched protocols unasked: the connection now
        // speaks something else and must never carry another request.
        Ok(rh) if rh.status() == 101 && !switch_allowed(req, &rh) => {
            Err(ProxyError::UpstreamBadResponse.into())
        }
        Ok(rh) => {
            let head_at = crate::clock::now();
            record(
                c,
                ctx,
                &gs.stats.header_time,
                head_at - sent_at,
                Phase::Head,
            );
            Ok((up, rh, head_at))
        }
        Err(ProxyError::UpstreamClosed) if replayable => Err(Attempt::Stale),
        Err(e) => Err(e.into()),
    }
}

/// A lazily created latency histogram of a group.
type LatencySlot = std::cell::RefCell<Option<Box<crate::observe::stats::Latency>>>;

/// Which wait of an attempt a duration measures.
#[derive(Clone, Copy)]
enum Phase {
    Connect,
    Head,
}

/// Notes a connect or response-head time in the trace and statistics.
fn record(c: &mut Client, ctx: &ShardCtx, h: &LatencySlot, d: Duration, phase: Phase) {
    *phase.slot(&mut c.trace) = Some(d);
    if ctx.metrics_on {
        crate::observe::stats::record(h, d);
    }
}

// === impl Phase ===

impl Phase {
    /// The trace field that holds this wait's duration.
    fn slot(self, trace: &mut Trace) -> &mut Option<Duration> {
        match self {
            Phase::Connect => &mut trace.connect,
            Phase::Head => &mut trace.head,
        }
    }
}

/// Sends the head and the body bytes in hand, in one send. A failure on a
/// reused connection means it went stale while pooled.
async fn send_head(up: &mut UpConn, out: &Outgoing, reused: bool) -> Result<(), Attempt> {
    let sent = if out.first_body.is_empty() {
        shard::timeout(out.deadlines.body, up.io.send(out.head.clone())).await
    } else {
        let mut bufs = Vec::with_capacity(out.first_body.len() + 1);
        bufs.push(SendBuf::from(out.head.clone()));
        bufs.extend(out.first_body.iter().cloned().map(SendBuf::from));
        shard::timeout(out.deadlines.body, up.io.send_vectored(bufs)).await
    };
    match sent {
        Err(_) => Err(ProxyError::UpstreamBodyTimeout.into()),
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) if reused => Err(Attempt::Stale),
        Ok(Err(_)) => Err(ProxyError::UpstreamClosed.into()),
    }
}

/// Whether a `101` switches to the protocol the client asked for and the
/// route allows (nothing else may be tunnelled).
pub(super) fn switch_allowed(req: &Request<'_>, rh: &ResponseHead) -> bool {
    match (req.upgrade, rh.header("upgrade")) {
        (Some(asked), Some(got)) => got.trim_ascii().eq_ignore_ascii_case(asked),
        _ => false,
    }
}

/// A pooled connection to `addr`, or a new one within the group's
/// connection limit.
pub(crate) async fn acquire(
    ctx: &ShardCtx,
    gs: &GroupState,
    g: &Group,
    addr: SocketAddr,
    connect_timeout: Duration,
) -> Result<(UpConn, bool), ProxyError> {
    let tls = g.tls.as_ref();
    let tls_key = tls.map_or(0, |t| t.key);
    if let Some(up) = ctx.pool.checkout(addr, tls_key) {
        bump(&ctx.metrics().upstream_reuses, 1);
        crate::observe::stats::bump(&gs.stats.reuses, 1);
        return Ok((up, true));
    }
    if g.max_connections.is_some_and(|max| gs.conns.get() >= max) {
        return Err(ProxyError::Overloaded);
    }
    let slot = Held::new(&gs.conns);
    bump(&ctx.metrics().upstream_connects, 1);
    crate::observe::stats::bump(&gs.stats.connects, 1);
    let io = connect(ctx, addr, tls, connect_timeout).await?;
    let up = UpConn {
        io,
        buf: Default::default(),
        early: None,
        addr,
        tls_key,
        _slot: Some(slot),
    };
    Ok((up, false))
}

/// A new connection to `addr` within `limit` (the TLS handshake included).
async fn connect(
    ctx: &ShardCtx,
    addr: SocketAddr,
    tls: Option<&GroupTls>,
    limit: Duration,
) -> Result<Transport, ProxyError> {
    let res = shard::timeout(limit, dial(&ctx.ring, addr, tls)).await;
    let m = ctx.metrics();
    if tls.is_some() {
        let done = matches!(res, Ok(Ok(_)));
        bump(
            if done {
                &m.upstream_tls_handshakes
            } else {
                &m.upstream_tls_failures
            },
            1,
        );
    }
    match res {
        Ok(Ok(io)) => Ok(io),
        Ok(Err(DialError::Connect)) => Err(ProxyError::UpstreamConnect),
        Ok(Err(DialError::Tls(HandshakeFailure::BadCertificate))) => {
            Err(ProxyError::UpstreamTlsCertificate)
        }
        Ok(Err(DialError::Tls(_))) => Err(ProxyError::UpstreamTlsHandshake),
        Err(_) => Err(ProxyError::UpstreamConnectTimeout),
    }
}

/// Reads the final response head, skipping interim 1xx responses other
/// than 101.
pub(crate) async fn read_response_head(
    ctx: &ShardCtx,
    up: &mut UpConn,
    method: Method,
    timeout: Duration,
) -> Result<ResponseHead, ProxyError> {
    let mut seen_bytes = false;
    loop {
        if !up.buf.is_empty() {
            seen_bytes = true;
            if let Some(rh) = parse_final(ctx, up, method)? {
                return Ok(rh);
            }
        }
        match shard::timeout(timeout, up.io.recv()).await {
            Err(_) => return Err(ProxyError::UpstreamHeaderTimeout),
            Ok(Ok(Some(d))) => stash_head(ctx, up, d),
            Ok(Err(e)) if !seen_bytes && crate::io::is_peer_alert(&e) => {
                return Err(ProxyError::UpstreamTlsHandshake)
            }
            Ok(Ok(None) | Err(_)) if !seen_bytes => return Err(ProxyError::UpstreamClosed),
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::UpstreamBadResponse),
        }
    }
}

/// The final response head, once buffered whole; interim 1xx responses
/// other than 101 are skipped.
fn parse_final(
    ctx: &ShardCtx,
    up: &mut UpConn,
    method: Method,
) -> Result<Option<ResponseHead>, ProxyError> {
    loop {
        let parsed = parser::parse_response(up.buf.get(&ctx.bufs), &ctx.response_limits(), method);
        match parsed.map_err(|_| ProxyError::UpstreamBadResponse)? {
            Some(rh) if rh.status() < 200 && rh.status() != 101 => {
                // What followed an interim response is the next head.
                if let Some(e) = up.early.take() {
                    up.buf.get(&ctx.bufs).extend_from_slice(&e);
                }
                if up.buf.is_empty() {
                    return Ok(None);
                }
            }
            found => return Ok(found),
        }
    }
}

/// Buffers upstream bytes while a response head is awaited. When they
/// start a head and hold all of it, only the head is copied into `up.buf`;
/// the body bytes after it stay in their receive buffer (`up.early`) and are
/// forwarded without a copy.
pub(super) fn stash_head(ctx: &ShardCtx, up: &mut UpConn, mut d: RecvBuf) {
    if up.buf.is_empty() && up.early.is_none() {
        if let Some(end) = head_end(&d).filter(|&end| end < d.len()) {
            up.buf.get(&ctx.bufs).extend_from_slice(&d[..end]);
            d.advance(end);
            up.early = Some(d);
            return;
        }
    }
    up.buf.get(&ctx.bufs).extend_from_slice(&d);
}

/// Where a head that starts at `b[0]` ends (just past its blank line).
/// Bare-LF heads are not looked for: the parser rejects them anyway.
pub(super) fn head_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&x| x == b'\n') {
        let at = from + i;
        if at >= 3 && &b[at - 3..=at] == b"\r\n\r\n" {
            return Some(at + 1);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"), Some(25));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"\n\n\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
