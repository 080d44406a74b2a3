//! Forwarding one request to an upstream and relaying the response.
//!
//! Request heads are re-encoded without hop-by-hop headers and with the
//! forwarding headers added; bodies are streamed in both directions, one
//! buffer in flight at a time, so a slow reader slows the writer down
//! (backpressure) and memory stays bounded whatever the body size. Raw bytes
//! are forwarded untouched once the parser's scanner has validated their
//! framing, so chunked bodies pass through without re-encoding; only their
//! trailer section is held back and sent filtered (RFC 9110 §6.5.1), and a
//! repeated Content-Length goes out once.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use balancer::Transition;
use tuning::HashKey;

use bytes::{Bytes, BytesMut};
use parser::{
    BodyDecoder, BodyForwarder, BodyKind, Decoded, Method, RequestHead, ResponseHead, Version,
};

use crate::upstream::balance::{GroupState, Held};
use crate::http::conn::{reason, send_client, send_client_vectored, Client, Next, RequestId, Target};
use crate::ctx::ShardCtx;
use crate::error::{ProxyError, Side};
use crate::io::{RecvBuf, SendBuf, TcpConn};
use crate::observe::metrics::bump;
use crate::snapshot::route::{Group, HeaderOps, Route, Timeouts};
use crate::shard;
use crate::view::SnapView;
use crate::upstream::pool::UpConn;

/// Bodies smaller than this are copied next to their head so both leave in
/// one send.
const COALESCE_MAX: usize = 16 << 10;
/// Receive buffers already queued that one response send may gather.
const MAX_GATHER: usize = 8;

/// A routed request on its way upstream.
pub(crate) struct Request<'a> {
    pub(crate) view: &'a SnapView,
    pub(crate) route: &'a Route,
    pub(crate) route_idx: usize,
    pub(crate) head: &'a RequestHead,
    pub(crate) target: &'a Target<'a>,
    /// The normalised origin-form target (path and query) the route matched.
    pub(crate) path: &'a [u8],
    pub(crate) id: &'a RequestId<'a>,
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

/// One try on one connection: send the request, read the response head.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    gs: &GroupState,
    g: &Group,
    (addr, t0): (SocketAddr, Instant),
    deadlines: Deadlines,
    head: &Bytes,
    first_body: &[Bytes],
    scanner: &mut BodyForwarder,
) -> Result<(UpConn, ResponseHead, Instant), Attempt> {
    let (mut up, reused) = acquire(ctx, gs, g, addr, deadlines.connect).await?;
    let sent_at = if reused { t0 } else { Instant::now() };
    if !reused {
        let d = sent_at - t0;
        c.trace.connect = Some(d);
        if ctx.metrics_on {
            crate::observe::stats::record(&gs.stats.connect_time, d);
        }
    }
    let sent = if first_body.is_empty() {
        shard::timeout(deadlines.body, up.io.send(head.clone())).await
    } else {
        let mut bufs = Vec::with_capacity(first_body.len() + 1);
        bufs.push(SendBuf::from(head.clone()));
        bufs.extend(first_body.iter().cloned().map(SendBuf::from));
        shard::timeout(deadlines.body, up.io.send_vectored(bufs)).await
    };
    let Ok(sent) = sent else {
        return Err(ProxyError::UpstreamBodyTimeout.into());
    };
    if sent.is_err() {
        return Err(if reused {
            Attempt::Stale
        } else {
            ProxyError::UpstreamClosed.into()
        });
    }
    if !scanner.is_done() {
        stream_request_body(c, ctx, &mut up.io, scanner, deadlines.body).await?;
    }
    // A stale pooled connection shows up as EOF before any response byte.
    // Only a request whose bytes can all be sent again is retried.
    let replayable =
        reused && req.head.body() == BodyKind::Empty && req.head.method().is_idempotent();
    match read_response_head(ctx, &mut up, req.head.method(), deadlines.header).await {
        Ok(rh) if rh.status() == 101 && !switch_allowed(req, &rh) => {
            // The upstream switched protocols unasked: the connection now
            // speaks something else and must never carry another request.
            Err(ProxyError::UpstreamBadResponse.into())
        }
        Ok(rh) => {
            let head_at = Instant::now();
            let d = head_at - sent_at;
            c.trace.head = Some(d);
            if ctx.metrics_on {
                crate::observe::stats::record(&gs.stats.header_time, d);
            }
            Ok((up, rh, head_at))
        }
        Err(ProxyError::UpstreamClosed) if replayable => Err(Attempt::Stale),
        Err(e) => Err(e.into()),
    }
}

/// Whether a `101` switches to the protocol the client asked for and the
/// route allows (nothing else may be tunnelled).
fn switch_allowed(req: &Request<'_>, rh: &ResponseHead) -> bool {
    match (req.upgrade, rh.header("upgrade")) {
        (Some(asked), Some(got)) => got.trim_ascii().eq_ignore_ascii_case(asked),
        _ => false,
    }
}

/// A pooled connection to `addr`, or a new one within the group's
/// connection limit.
async fn acquire(
    ctx: &ShardCtx,
    gs: &GroupState,
    g: &Group,
    addr: SocketAddr,
    connect_timeout: Duration,
) -> Result<(UpConn, bool), ProxyError> {
    if let Some(up) = ctx.pool.checkout(addr) {
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
    let io = match shard::timeout(connect_timeout, TcpConn::connect(&ctx.ring, addr)).await {
        Ok(Ok(io)) => io,
        Ok(Err(_)) => return Err(ProxyError::UpstreamConnect),
        Err(_) => return Err(ProxyError::UpstreamConnectTimeout),
    };
    let up = UpConn {
        io,
        buf: Default::default(),
        early: None,
        addr,
        _slot: Some(slot),
    };
    Ok((up, false))
}

/// Re-encodes the request head for the upstream.
fn encode_request(c: &Client, req: &Request<'_>) -> Bytes {
    let h = req.head;
    let ops = &req.route.request_headers;
    let mut out = BytesMut::with_capacity(h.as_bytes().len() + 192);
    let target = match (req.route.forward_original, req.target.is_absolute()) {
        (false, _) => req.path,
        (true, true) => req.target.path,
        (true, false) => h.target(),
    };
    let mut rewritten = Vec::new();
    let target = if req.route.rewrite.apply(target, &mut rewritten) {
        &rewritten[..]
    } else {
        target
    };
    parser::write_request_line(h.method_bytes(), target, Version::Http11, &mut out);
    let mut has_xff = false;
    let mut length = h.content_length();
    for (name, value) in h.headers() {
        if h.is_hop_by_hop(name) || is_rewritten(name) || is_upgrade_only(name) {
            has_xff |= name.eq_ignore_ascii_case(b"x-forwarded-for");
            continue;
        }
        if (req.target.is_absolute() && name.eq_ignore_ascii_case(b"host"))
            || (!ops.is_empty() && ops.drops(name))
        {
            continue;
        }
        write_field(name, value, &mut length, &mut out);
    }
    ops.write(&mut out);
    if let Some(authority) = req.target.authority {
        parser::write_header(b"host", authority, &mut out);
    } else if h.host().is_none() {
        // An HTTP/1.0 request may lack Host; the HTTP/1.1 request sent on
        // must have one. Like nginx's $proxy_host, name the upstream group.
        let group = req
            .view
            .snap
            .groups
            .get(req.group)
            .map_or("upstream", |g| &*g.name);
        parser::write_header(b"host", group.as_bytes(), &mut out);
    }
    match h.body() {
        BodyKind::Chunked => parser::write_header(b"transfer-encoding", b"chunked", &mut out),
        BodyKind::Length(_) | BodyKind::Empty | BodyKind::CloseDelimited => {}
    }
    if let Some(proto) = req.upgrade {
        parser::write_header(b"connection", b"upgrade", &mut out);
        parser::write_header(b"upgrade", proto, &mut out);
    }
    write_forwarded_for(&mut out, h, c.peer, has_xff);
    parser::write_header(b"x-forwarded-proto", b"http", &mut out);
    if let Some(host) = req.target.authority.or_else(|| h.host()) {
        parser::write_header(b"x-forwarded-host", host, &mut out);
    }
    parser::write_header(b"x-request-id", req.id.as_bytes(), &mut out);
    parser::end_head(&mut out);
    out.freeze()
}

/// Headers that only mean something with an h2c upgrade, which is never
/// forwarded (`HTTP2-Settings`, even when `Connection` does not list it).
fn is_upgrade_only(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"http2-settings")
}

/// Writes one forwarded field. Content-Length goes out once, as the single
/// value the parser checked all its lines and list items agree on (`46, 46`
/// or two `46` lines become one `content-length: 46`): `length` is taken by
/// the first Content-Length line and later ones are dropped.
fn write_field(name: &[u8], value: &[u8], length: &mut Option<u64>, out: &mut BytesMut) {
    if !name.eq_ignore_ascii_case(b"content-length") {
        parser::write_header(name, value, out);
    } else if let Some(n) = length.take() {
        parser::write_content_length(n, out);
    }
}

/// Headers coregate sets itself, dropped from the client's copy.
fn is_rewritten(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 5] = [
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"expect",
    ];
    name.len() >= 6 && NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Appends the client address to the `X-Forwarded-For` chain, written
/// straight into the head (no temporary buffer).
fn write_forwarded_for(out: &mut BytesMut, h: &RequestHead, peer: SocketAddr, chain: bool) {
    use std::fmt::Write;
    out.extend_from_slice(b"x-forwarded-for: ");
    if chain {
        let all = h
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"));
        for (_, v) in all {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
    }
    let _ = write!(out, "{}", peer.ip());
    out.extend_from_slice(b"\r\n");
}

/// Splits off the body bytes that arrived with the head (trailer bytes stay
/// with the forwarder, which gives them back filtered).
fn take_buffered_body(
    c: &mut Client,
    ctx: &ShardCtx,
    scanner: &mut BodyForwarder,
) -> Result<Option<Bytes>, ProxyError> {
    if scanner.is_done() || c.buf.is_empty() {
        return Ok(None);
    }
    let buf = c.buf.get(&ctx.bufs);
    let f = scanner.scan(buf, &ctx.limits())?;
    check_body(ctx, scanner)?;
    let body = buf.split_to(f.pass).freeze();
    let _held = buf.split_to(f.consumed - f.pass);
    Ok(Some(body).filter(|b| !b.is_empty()))
}

fn check_body(ctx: &ShardCtx, scanner: &BodyForwarder) -> Result<(), ProxyError> {
    ctx.limits()
        .check_body(scanner.body_bytes())
        .map_err(|_| ProxyError::BodyTooLarge)
}

/// Streams the rest of the request body from the client to the upstream.
/// Each read waits at most `client_body`, and the body as a whole must keep
/// up `client_body_min_rate` once `client_body` has passed (a client that
/// trickles a byte a second is cut); each send to the upstream waits at
/// most `upstream_body`.
async fn stream_request_body(
    c: &mut Client,
    ctx: &ShardCtx,
    up: &mut TcpConn,
    scanner: &mut BodyForwarder,
    upstream_wait: Duration,
) -> Result<(), ProxyError> {
    let started = Instant::now();
    let t = ctx.timeouts();
    while !scanner.is_done() {
        let wait = body_wait(&t, started, scanner.body_bytes(), Instant::now());
        let mut data = match shard::timeout(wait, c.io.recv()).await {
            Err(_) => return Err(ProxyError::ClientBodyTimeout),
            Ok(Ok(Some(d))) => d,
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::ClientClosed),
        };
        take_request_body(c, ctx, scanner, &mut data)?;
        // More of the body may be queued already: send it in the same go.
        let mut more = Vec::new();
        while !scanner.is_done() && more.len() < MAX_GATHER {
            let Some(Ok(Some(mut next))) = c.io.try_recv() else {
                break;
            };
            take_request_body(c, ctx, scanner, &mut next)?;
            more.push(next);
        }
        more.retain(|d| !d.is_empty());
        let trailers = scanner.take_trailers();
        let sent = if more.is_empty() && trailers.is_none() {
            if data.is_empty() {
                continue;
            }
            shard::timeout(upstream_wait, up.send(data)).await
        } else {
            let mut bufs = Vec::with_capacity(more.len() + 2);
            if !data.is_empty() {
                bufs.push(SendBuf::from(data));
            }
            bufs.extend(more.into_iter().map(SendBuf::from));
            bufs.extend(trailers.map(SendBuf::from));
            shard::timeout(upstream_wait, up.send_vectored(bufs)).await
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ProxyError::UpstreamClosed),
            Err(_) => return Err(ProxyError::UpstreamBodyTimeout),
        }
    }
    Ok(())
}

/// How long the next request body read may wait: `client_body`, cut to
/// what `client_body_min_rate` still allows for the bytes seen so far
/// (zero: the body is already too slow).
fn body_wait(t: &Timeouts, started: Instant, got: u64, now: Instant) -> Duration {
    if t.client_body_min_rate == 0 {
        return t.client_body;
    }
    let earned = Duration::from_secs_f64(got as f64 / t.client_body_min_rate as f64);
    let deadline = t
        .client_body
        .checked_add(earned)
        .and_then(|d| started.checked_add(d));
    deadline.map_or(t.client_body, |d| {
        d.saturating_duration_since(now).min(t.client_body)
    })
}

/// Counts and scans request body bytes; bytes past the body's end (the next
/// pipelined request) go back to the client's buffer, and trailer bytes stay
/// with the forwarder, which gives them back filtered.
fn take_request_body(
    c: &mut Client,
    ctx: &ShardCtx,
    scanner: &mut BodyForwarder,
    data: &mut RecvBuf,
) -> Result<(), ProxyError> {
    bump(&ctx.metrics().bytes_in, data.len() as u64);
    c.trace.bytes_in += data.len() as u64;
    let f = scanner.scan(data, &ctx.limits())?;
    check_body(ctx, scanner)?;
    if f.consumed < data.len() {
        // The rest is the next pipelined request.
        let body = data.split_to(f.consumed);
        c.buf.get(&ctx.bufs).extend_from_slice(data);
        *data = body;
    }
    if f.pass < data.len() {
        *data = data.split_to(f.pass);
    }
    Ok(())
}

/// Reads the final response head, skipping interim 1xx responses other
/// than 101.
async fn read_response_head(
    ctx: &ShardCtx,
    up: &mut UpConn,
    method: Method,
    timeout: Duration,
) -> Result<ResponseHead, ProxyError> {
    let mut seen_bytes = false;
    loop {
        if !up.buf.is_empty() {
            seen_bytes = true;
            match parser::parse_response(up.buf.get(&ctx.bufs), &ctx.response_limits(), method) {
                Ok(Some(rh)) if rh.status() < 200 && rh.status() != 101 => {
                    // What followed an interim response is the next head.
                    if let Some(e) = up.early.take() {
                        up.buf.get(&ctx.bufs).extend_from_slice(&e);
                    }
                    continue;
                }
                Ok(Some(rh)) => return Ok(rh),
                Ok(None) => {}
                Err(_) => return Err(ProxyError::UpstreamBadResponse),
            }
        }
        match shard::timeout(timeout, up.io.recv()).await {
            Err(_) => return Err(ProxyError::UpstreamHeaderTimeout),
            Ok(Ok(Some(d))) => stash_head(ctx, up, d),
            Ok(Ok(None) | Err(_)) if !seen_bytes => return Err(ProxyError::UpstreamClosed),
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::UpstreamBadResponse),
        }
    }
}

/// Buffers upstream bytes while a response head is awaited. When they
/// start a head and hold all of it, only the head is copied into `up.buf`;
/// the body bytes after it stay in their receive buffer (`up.early`) and are
/// forwarded without a copy.
fn stash_head(ctx: &ShardCtx, up: &mut UpConn, mut d: RecvBuf) {
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
fn head_end(b: &[u8]) -> Option<usize> {
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

/// How the response body is carried to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No body.
    Empty,
    /// Raw bytes, framed as the upstream framed them (length or chunked).
    Raw,
    /// Raw bytes until the upstream closes; the client connection closes too.
    UntilClose,
    /// Upstream bytes until close, re-framed as chunked for a keep-alive client.
    Rechunk,
    /// Chunked upstream body decoded for an HTTP/1.0 client, then close.
    Dechunk,
}

fn mode_for(kind: BodyKind, client: Version, keep: bool) -> Mode {
    match (kind, client) {
        (BodyKind::Empty, _) => Mode::Empty,
        (BodyKind::Length(_), _) | (BodyKind::Chunked, Version::Http11) => Mode::Raw,
        (BodyKind::Chunked, Version::Http10) => Mode::Dechunk,
        (BodyKind::CloseDelimited, Version::Http11) if keep => Mode::Rechunk,
        (BodyKind::CloseDelimited, _) => Mode::UntilClose,
    }
}

/// Sends the response head and body to the client.
async fn relay_response(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    mut up: UpConn,
    rh: ResponseHead,
    deadlines: Deadlines,
) -> Result<Next, ProxyError> {
    let client_v = req.head.version();
    let keep = req.head.keep_alive() && !ctx.draining.get();
    // `attempt` let a 101 through only for an allowed, requested upgrade.
    let upgrade = rh.status() == 101 && req.upgrade.is_some();
    let mode = if upgrade {
        Mode::Empty
    } else {
        mode_for(rh.body(), client_v, keep)
    };
    let next = match mode {
        Mode::UntilClose | Mode::Dechunk => Next::Close,
        _ if keep && !upgrade => Next::KeepAlive,
        _ => Next::Close,
    };
    c.trace.status = rh.status();
    c.trace.upstream_status = Some(rh.status());
    let mut out = ctx.bufs.get();
    let framing = Framing {
        mode,
        next,
        upgrade,
        client_v,
    };
    encode_response(&rh, framing, &req.route.response_headers, &mut out);
    let mut relay = Relay {
        mode,
        scanner: BodyForwarder::new(rh.body()),
        decoder: BodyDecoder::new(rh.body()),
        upstream_clean: rh.keep_alive(),
        body_timeout: deadlines.body,
        sent: false,
    };
    let res = relay.run(c, ctx, &mut up, out).await;
    if c.trace.committed {
        ctx.metrics().response(rh.status());
    }
    match res {
        Ok(()) if upgrade => tunnel(c, ctx, up).await.map(|()| Next::Close),
        Ok(()) => {
            if relay.upstream_clean && mode != Mode::UntilClose && mode != Mode::Rechunk {
                ctx.pool.checkin(up, &ctx.bufs);
            }
            Ok(next)
        }
        Err(e) => Err(e),
    }
}

/// How the response is framed towards the client.
#[derive(Debug, Clone, Copy)]
struct Framing {
    mode: Mode,
    next: Next,
    upgrade: bool,
    client_v: Version,
}

fn encode_response(rh: &ResponseHead, f: Framing, ops: &HeaderOps, out: &mut BytesMut) {
    let Framing {
        mode,
        next,
        upgrade,
        client_v,
    } = f;
    parser::write_status_line(Version::Http11, rh.status(), reason_or(rh), out);
    let drop_length =
        matches!(mode, Mode::Rechunk | Mode::Dechunk) || rh.body() == BodyKind::Chunked;
    let mut length = rh.content_length();
    for (name, value) in rh.headers() {
        if rh.is_hop_by_hop(name) || (drop_length && name.eq_ignore_ascii_case(b"content-length")) {
            continue;
        }
        if !ops.is_empty() && ops.drops(name) {
            continue;
        }
        write_field(name, value, &mut length, out);
    }
    ops.write(out);
    if mode == Mode::Rechunk || (mode == Mode::Raw && rh.body() == BodyKind::Chunked) {
        parser::write_header(b"transfer-encoding", b"chunked", out);
    }
    if upgrade {
        parser::write_header(b"connection", b"upgrade", out);
        if let Some(proto) = rh.header("upgrade") {
            parser::write_header(b"upgrade", proto, out);
        }
    } else if next == Next::Close {
        parser::write_header(b"connection", b"close", out);
    } else if client_v == Version::Http10 {
        parser::write_header(b"connection", b"keep-alive", out);
    }
    parser::end_head(out);
}

fn reason_or(rh: &ResponseHead) -> &[u8] {
    if rh.reason().is_empty() {
        reason(rh.status()).as_bytes()
    } else {
        rh.reason()
    }
}

/// The response body's trip from upstream to client. Raw chunked bodies
/// keep their chunk lines and data (forwarded without a copy); their trailer
/// section is held back and sent filtered (see [`BodyForwarder`]).
struct Relay {
    mode: Mode,
    scanner: BodyForwarder,
    decoder: BodyDecoder,
    /// Whether the upstream connection can be reused afterwards.
    upstream_clean: bool,
    /// Longest wait for the next body bytes.
    body_timeout: Duration,
    /// Whether any byte (the head first) went to the client.
    sent: bool,
}

// === impl Relay ===

impl Relay {
    /// The error for a malformed upstream body: a 502 while the client has
    /// seen nothing, else the client connection is cut.
    fn body_error(&self) -> ProxyError {
        if self.sent {
            ProxyError::UpstreamTruncated
        } else {
            ProxyError::UpstreamBadResponse
        }
    }

    async fn run(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        up: &mut UpConn,
        mut out: BytesMut,
    ) -> Result<(), ProxyError> {
        // Body bytes that came with the head ride along with it.
        let mut done = self.mode == Mode::Empty;
        if !done && !up.buf.is_empty() {
            let buffered = up.buf.get(&ctx.bufs);
            done = self.frame(buffered, &mut out, ctx)?;
        }
        match up.early.take() {
            Some(early) if !done => done = self.forward(c, ctx, up, early, &mut out).await?,
            Some(early) => {
                // Bytes after a response with no body: tunnel data after a
                // 101 (kept for the tunnel), else a confused upstream.
                up.early = Some(early);
                self.upstream_clean = false;
                self.flush(c, ctx, &mut out, None, Vec::new()).await?;
            }
            None => self.flush(c, ctx, &mut out, None, Vec::new()).await?,
        }
        while !done {
            let data = match shard::timeout(self.body_timeout, up.io.recv()).await {
                Err(_) => return Err(ProxyError::UpstreamBodyTimeout),
                Ok(Ok(Some(d))) => d,
                Ok(Ok(None)) => return self.upstream_eof(c, ctx, &mut out).await,
                Ok(Err(_)) => return Err(ProxyError::UpstreamTruncated),
            };
            done = self.forward(c, ctx, up, data, &mut out).await?;
        }
        up.buf.release(&ctx.bufs);
        ctx.bufs.put(out);
        Ok(())
    }

    /// Frames bytes taken from a buffer into `out`; returns whether the body
    /// is complete.
    fn frame(
        &mut self,
        buf: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &ShardCtx,
    ) -> Result<bool, ProxyError> {
        match self.mode {
            Mode::Empty => Ok(true),
            Mode::Raw | Mode::UntilClose => {
                let f = self
                    .scanner
                    .scan(buf, &ctx.response_limits())
                    .map_err(|_| self.body_error())?;
                out.extend_from_slice(&buf[..f.pass]);
                let _ = buf.split_to(f.consumed);
                if !buf.is_empty() {
                    // Bytes after the response: the upstream is confused.
                    self.upstream_clean = false;
                    buf.clear();
                }
                Ok(f.done)
            }
            Mode::Rechunk => {
                rechunk(buf, out);
                buf.clear();
                Ok(false)
            }
            Mode::Dechunk => loop {
                match self
                    .decoder
                    .decode(buf, &ctx.response_limits())
                    .map_err(|_| self.body_error())?
                {
                    Decoded::Data(d) => out.extend_from_slice(&d),
                    Decoded::NeedMore => return Ok(false),
                    Decoded::Done => return Ok(true),
                }
            },
        }
    }

    /// Relays one received buffer; returns whether the body is complete.
    async fn forward(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        up: &mut UpConn,
        mut data: RecvBuf,
        out: &mut BytesMut,
    ) -> Result<bool, ProxyError> {
        match self.mode {
            Mode::Raw | Mode::UntilClose => {
                let mut done = self.take_raw(ctx, &mut data)?;
                // More of the body may be here already (a response larger
                // than one receive buffer arrives as several): send it all
                // in one go, one segment instead of one per buffer.
                let mut more = Vec::new();
                while !done && more.len() < MAX_GATHER {
                    let Some(Ok(Some(mut next))) = up.io.try_recv() else {
                        break;
                    };
                    done = self.take_raw(ctx, &mut next)?;
                    more.push(next);
                }
                self.flush(c, ctx, out, Some(data), more).await?;
                Ok(done)
            }
            _ => {
                let buf = up.buf.get(&ctx.bufs);
                buf.extend_from_slice(&data);
                drop(data);
                let done = self.frame(buf, out, ctx)?;
                self.flush(c, ctx, out, None, Vec::new()).await?;
                Ok(done)
            }
        }
    }

    /// The upstream closed: fine for close-delimited bodies, a truncation
    /// otherwise.
    async fn upstream_eof(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        out: &mut BytesMut,
    ) -> Result<(), ProxyError> {
        self.upstream_clean = false;
        match self.mode {
            Mode::UntilClose => Ok(()),
            Mode::Rechunk => {
                parser::encode_last_chunk(out);
                self.flush(c, ctx, out, None, Vec::new()).await
            }
            _ => Err(ProxyError::UpstreamTruncated),
        }
    }

    /// Scans raw body bytes, cutting off trailer bytes (held by the
    /// forwarder) and anything after the body's end; returns whether the
    /// body is complete.
    fn take_raw(&mut self, ctx: &ShardCtx, data: &mut RecvBuf) -> Result<bool, ProxyError> {
        let f = self
            .scanner
            .scan(data, &ctx.response_limits())
            .map_err(|_| self.body_error())?;
        if f.consumed < data.len() {
            // Bytes after the response: the upstream is confused.
            self.upstream_clean = false;
        }
        if f.pass < data.len() {
            *data = data.split_to(f.pass);
        }
        Ok(f.done)
    }

    /// Sends what `out` holds, then `first` and `more` (zero copy unless
    /// they are small enough to be copied next to `out`), then the filtered
    /// trailer section once a raw chunked body is complete, with one send.
    /// `more` is empty (no allocation) unless buffers were gathered.
    async fn flush(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        out: &mut BytesMut,
        first: Option<RecvBuf>,
        more: Vec<RecvBuf>,
    ) -> Result<(), ProxyError> {
        let first = first.filter(|d| !d.is_empty());
        let trailers = self.scanner.take_trailers();
        let data_len = first.as_ref().map_or(0, |d| d.len())
            + more.iter().map(|d| d.len()).sum::<usize>()
            + trailers.as_ref().map_or(0, Bytes::len);
        let n = out.len() + data_len;
        if n == 0 {
            return Ok(());
        }
        self.sent = true;
        c.trace.committed = true;
        match first {
            Some(d) if out.is_empty() && more.is_empty() && trailers.is_none() => {
                send_client(c, ctx, d.into()).await
            }
            first if data_len <= COALESCE_MAX => {
                first
                    .iter()
                    .chain(&more)
                    .for_each(|m| out.extend_from_slice(m));
                trailers.iter().for_each(|t| out.extend_from_slice(t));
                drop((first, more));
                send_client(c, ctx, out.split().freeze().into()).await
            }
            first => {
                let mut bufs = Vec::with_capacity(more.len() + 3);
                if !out.is_empty() {
                    bufs.push(SendBuf::from(out.split().freeze()));
                }
                bufs.extend(first.map(SendBuf::from));
                bufs.extend(more.into_iter().map(SendBuf::from));
                bufs.extend(trailers.map(SendBuf::from));
                send_client_vectored(c, ctx, bufs).await
            }
        }?;
        bump(&ctx.metrics().bytes_out, n as u64);
        c.trace.bytes_out += n as u64;
        Ok(())
    }
}

/// Frames `buf` as one chunk into `out`.
fn rechunk(buf: &BytesMut, out: &mut BytesMut) {
    if buf.is_empty() {
        return;
    }
    parser::encode_chunk(buf.len(), out);
    out.extend_from_slice(buf);
    parser::encode_chunk_end(out);
}

/// Carries bytes both ways after a 101 until either side closes.
async fn tunnel(c: &mut Client, ctx: &ShardCtx, mut up: UpConn) -> Result<(), ProxyError> {
    bump(&ctx.metrics().tunnels, 1);
    // Upstream bytes that arrived with the 101 go to the client first.
    if !up.buf.is_empty() {
        let early = up.buf.get(&ctx.bufs).split().freeze();
        c.io.send(early)
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    if let Some(early) = up.early.take() {
        c.io.send(early)
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    if !c.buf.is_empty() {
        let early = c.buf.get(&ctx.bufs).split().freeze();
        up.io
            .send(early)
            .await
            .map_err(|_| ProxyError::UpstreamTruncated)?;
    }
    let (mut cr, mut cw) = c.io.split();
    let (mut ur, mut uw) = up.io.split();
    // Bytes moved either way since the idle watch last looked.
    let moved = std::cell::Cell::new(true);
    let down = async {
        while let Ok(Some(d)) = cr.recv().await {
            moved.set(true);
            if uw.send(d).await.is_err() {
                break;
            }
            moved.set(true);
        }
        let _ = uw.shutdown_write();
    };
    let upward = async {
        while let Ok(Some(d)) = ur.recv().await {
            moved.set(true);
            if cw.send(d).await.is_err() {
                break;
            }
            moved.set(true);
        }
        let _ = cw.shutdown_write();
    };
    // Closes a tunnel that carried nothing either way for `tunnel_idle`
    // (a peer gone without a FIN would otherwise hold it forever). Checked
    // in quarter periods, so it fires between 1 and 1.25 idle periods.
    let idle = ctx.timeouts().tunnel_idle;
    let watch = async {
        let mut quiet = Duration::ZERO;
        while quiet < idle {
            let step = (idle / 4).max(Duration::from_millis(1));
            shard::sleep(step).await;
            quiet = if moved.replace(false) {
                Duration::ZERO
            } else {
                quiet + step
            };
        }
    };
    let both = async {
        futures_lite::future::zip(down, upward).await;
        false
    };
    let idled = futures_lite::future::or(both, async {
        watch.await;
        true
    })
    .await;
    if idled {
        // Not a failure of either side: no error response (the 101 went
        // out), no mark against the backend. Logged and counted, then both
        // connections close.
        bump(&ctx.metrics().tunnel_timeouts, 1);
        c.trace.error = Some(ProxyError::TunnelIdle);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_modes() {
        use BodyKind::*;
        use Version::*;
        assert_eq!(mode_for(Length(5), Http10, true), Mode::Raw);
        assert_eq!(mode_for(Chunked, Http11, true), Mode::Raw);
        assert_eq!(mode_for(Chunked, Http10, true), Mode::Dechunk);
        assert_eq!(mode_for(CloseDelimited, Http11, true), Mode::Rechunk);
        assert_eq!(mode_for(CloseDelimited, Http11, false), Mode::UntilClose);
        assert_eq!(mode_for(CloseDelimited, Http10, true), Mode::UntilClose);
        assert_eq!(mode_for(Empty, Http11, true), Mode::Empty);
    }

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"), Some(25));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"\n\n\r\n"), None);
        assert_eq!(head_end(b""), None);
    }

    #[test]
    fn rewritten_headers() {
        assert!(is_rewritten(b"X-Forwarded-For"));
        assert!(is_rewritten(b"expect"));
        assert!(!is_rewritten(b"host"));
    }
}
