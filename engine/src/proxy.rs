//! Forwarding one request to an upstream and relaying the response.
//!
//! Request heads are re-encoded without hop-by-hop headers and with the
//! forwarding headers added; bodies are streamed in both directions, one
//! buffer in flight at a time, so a slow reader slows the writer down
//! (backpressure) and memory stays bounded whatever the body size. Raw bytes
//! are forwarded untouched once the parser's scanner has validated their
//! framing, so chunked bodies pass through without re-encoding.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use parser::{
    BodyDecoder, BodyKind, BodyScanner, Decoded, Method, RequestHead, ResponseHead, Version,
};

use crate::conn::{reason, Client, Next, RequestId, Target};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::{RecvBuf, SendBuf, TcpConn};
use crate::metrics::bump;
use crate::shard;
use crate::snapshot::SnapView;
use crate::upstream::UpConn;

/// Bodies smaller than this are copied next to their head so both leave in
/// one send.
const COALESCE_MAX: usize = 16 << 10;

/// A routed request on its way upstream.
pub(crate) struct Request<'a> {
    pub(crate) view: &'a SnapView,
    pub(crate) head: &'a RequestHead,
    pub(crate) target: &'a Target<'a>,
    pub(crate) id: &'a RequestId<'a>,
    pub(crate) group: usize,
}

/// Why an attempt on one upstream connection failed.
enum Attempt {
    /// A stale pooled connection: nothing reached the upstream, try again.
    Retry,
    /// Give up with this error.
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
    let addr = pick(req.view, req.group)?;
    let head = encode_request(c, &req);
    let mut scanner = BodyScanner::new(body);
    let first_body = take_buffered_body(c, ctx, &mut scanner)?;
    if req.head.expect_continue() && !scanner.is_done() {
        c.io.send(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"))
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    let mut retried = false;
    loop {
        match attempt(c, ctx, &req, addr, &head, &first_body, &mut scanner).await {
            Ok((up, rh)) => return relay_response(c, ctx, &req, up, rh).await,
            Err(Attempt::Retry) if !retried => {
                retried = true;
                bump(&ctx.metrics().upstream_retries, 1);
            }
            Err(Attempt::Retry) => return Err(ProxyError::UpstreamClosed),
            Err(Attempt::Fail(e)) => return Err(e),
        }
    }
}

/// One try on one connection: send the request, read the response head.
async fn attempt(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    addr: SocketAddr,
    head: &Bytes,
    first_body: &Option<Bytes>,
    scanner: &mut BodyScanner,
) -> Result<(UpConn, ResponseHead), Attempt> {
    let (mut up, reused) = acquire(ctx, addr).await?;
    let sent = match first_body {
        Some(b) => {
            up.io
                .send_vectored(vec![head.clone().into(), b.clone().into()])
                .await
        }
        None => up.io.send(head.clone()).await,
    };
    if sent.is_err() {
        return Err(if reused {
            Attempt::Retry
        } else {
            ProxyError::UpstreamClosed.into()
        });
    }
    if !scanner.is_done() {
        stream_request_body(c, ctx, &mut up.io, scanner).await?;
    }
    // A stale pooled connection shows up as EOF before any response byte.
    // Only a request whose bytes can all be sent again is retried.
    let replayable =
        reused && req.head.body() == BodyKind::Empty && req.head.method().is_idempotent();
    match read_response_head(ctx, &mut up, req.head.method()).await {
        Ok(rh) => Ok((up, rh)),
        Err(ProxyError::UpstreamClosed) if replayable => Err(Attempt::Retry),
        Err(e) => Err(e.into()),
    }
}

/// Picks a backend of the route's group.
fn pick(view: &SnapView, group: usize) -> Result<SocketAddr, ProxyError> {
    let g = view.snap.groups.get(group).ok_or(ProxyError::NoRoute)?;
    let i = view
        .balancers
        .borrow_mut()
        .get_mut(group)
        .and_then(|b| b.pick())
        .ok_or(ProxyError::NoRoute)?;
    g.backends.get(i).copied().ok_or(ProxyError::NoRoute)
}

/// A pooled connection to `addr`, or a new one.
async fn acquire(ctx: &ShardCtx, addr: SocketAddr) -> Result<(UpConn, bool), ProxyError> {
    if let Some(up) = ctx.pool.checkout(addr) {
        bump(&ctx.metrics().upstream_reuses, 1);
        return Ok((up, true));
    }
    bump(&ctx.metrics().upstream_connects, 1);
    let io = match shard::timeout(
        ctx.timeouts().upstream_connect,
        TcpConn::connect(&ctx.ring, addr),
    )
    .await
    {
        Ok(Ok(io)) => io,
        Ok(Err(_)) => return Err(ProxyError::UpstreamConnect),
        Err(_) => return Err(ProxyError::UpstreamConnectTimeout),
    };
    let up = UpConn {
        io,
        buf: Default::default(),
        addr,
    };
    Ok((up, false))
}

/// Re-encodes the request head for the upstream.
fn encode_request(c: &Client, req: &Request<'_>) -> Bytes {
    let h = req.head;
    let mut out = BytesMut::with_capacity(h.as_bytes().len() + 192);
    let target = if req.target.is_absolute() {
        req.target.path
    } else {
        h.target()
    };
    parser::write_request_line(h.method_bytes(), target, Version::Http11, &mut out);
    let mut has_xff = false;
    for (name, value) in h.headers() {
        if h.is_hop_by_hop(name) || is_rewritten(name) {
            has_xff |= name.eq_ignore_ascii_case(b"x-forwarded-for");
            continue;
        }
        if req.target.is_absolute() && name.eq_ignore_ascii_case(b"host") {
            continue;
        }
        parser::write_header(name, value, &mut out);
    }
    if let Some(authority) = req.target.authority {
        parser::write_header(b"host", authority, &mut out);
    }
    match h.body() {
        BodyKind::Chunked => parser::write_header(b"transfer-encoding", b"chunked", &mut out),
        BodyKind::Length(_) | BodyKind::Empty | BodyKind::CloseDelimited => {}
    }
    if h.is_upgrade() {
        if let Some(proto) = h.upgrade() {
            parser::write_header(b"connection", b"upgrade", &mut out);
            parser::write_header(b"upgrade", proto, &mut out);
        }
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

/// Splits off the body bytes that arrived with the head.
fn take_buffered_body(
    c: &mut Client,
    ctx: &ShardCtx,
    scanner: &mut BodyScanner,
) -> Result<Option<Bytes>, ProxyError> {
    if scanner.is_done() || c.buf.is_empty() {
        return Ok(None);
    }
    let buf = c.buf.get(&ctx.bufs);
    let s = scanner.scan(buf, &ctx.limits())?;
    check_body(ctx, scanner)?;
    if s.consumed == 0 {
        return Ok(None);
    }
    Ok(Some(buf.split_to(s.consumed).freeze()))
}

fn check_body(ctx: &ShardCtx, scanner: &BodyScanner) -> Result<(), ProxyError> {
    ctx.limits()
        .check_body(scanner.body_bytes())
        .map_err(|_| ProxyError::BodyTooLarge)
}

/// Streams the rest of the request body from the client to the upstream.
async fn stream_request_body(
    c: &mut Client,
    ctx: &ShardCtx,
    up: &mut TcpConn,
    scanner: &mut BodyScanner,
) -> Result<(), ProxyError> {
    while !scanner.is_done() {
        let mut data = match shard::timeout(ctx.timeouts().client_body, c.io.recv()).await {
            Err(_) => return Err(ProxyError::ClientBodyTimeout),
            Ok(Ok(Some(d))) => d,
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::ClientClosed),
        };
        bump(&ctx.metrics().bytes_in, data.len() as u64);
        let s = scanner.scan(&data, &ctx.limits())?;
        check_body(ctx, scanner)?;
        if s.consumed < data.len() {
            // The rest is the next pipelined request.
            let body = data.split_to(s.consumed);
            c.buf.get(&ctx.bufs).extend_from_slice(&data);
            data = body;
        }
        if !data.is_empty() {
            up.send(data)
                .await
                .map_err(|_| ProxyError::UpstreamClosed)?;
        }
    }
    Ok(())
}

/// Reads the final response head, skipping interim 1xx responses other
/// than 101.
async fn read_response_head(
    ctx: &ShardCtx,
    up: &mut UpConn,
    method: Method,
) -> Result<ResponseHead, ProxyError> {
    let mut seen_bytes = false;
    loop {
        if !up.buf.is_empty() {
            seen_bytes = true;
            match parser::parse_response(up.buf.get(&ctx.bufs), &ctx.limits(), method) {
                Ok(Some(rh)) if rh.status() < 200 && rh.status() != 101 => continue,
                Ok(Some(rh)) => return Ok(rh),
                Ok(None) => {}
                Err(_) => return Err(ProxyError::UpstreamBadResponse),
            }
        }
        match shard::timeout(ctx.timeouts().upstream_header, up.io.recv()).await {
            Err(_) => return Err(ProxyError::UpstreamHeaderTimeout),
            Ok(Ok(Some(d))) => up.buf.get(&ctx.bufs).extend_from_slice(&d),
            Ok(Ok(None) | Err(_)) if !seen_bytes => return Err(ProxyError::UpstreamClosed),
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::UpstreamBadResponse),
        }
    }
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
) -> Result<Next, ProxyError> {
    let client_v = req.head.version();
    let keep = req.head.keep_alive() && !ctx.draining.get();
    let upgrade = rh.status() == 101 && req.head.is_upgrade();
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
    let mut out = ctx.bufs.get();
    encode_response(&rh, mode, next, upgrade, client_v, &mut out);
    ctx.metrics().response(rh.status());
    let mut relay = Relay {
        mode,
        scanner: BodyScanner::new(rh.body()),
        decoder: BodyDecoder::new(rh.body()),
        upstream_clean: rh.keep_alive(),
    };
    let res = relay.run(c, ctx, &mut up, out).await;
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

fn encode_response(
    rh: &ResponseHead,
    mode: Mode,
    next: Next,
    upgrade: bool,
    client_v: Version,
    out: &mut BytesMut,
) {
    parser::write_status_line(Version::Http11, rh.status(), reason_or(rh), out);
    let drop_length =
        matches!(mode, Mode::Rechunk | Mode::Dechunk) || rh.body() == BodyKind::Chunked;
    for (name, value) in rh.headers() {
        if rh.is_hop_by_hop(name) || (drop_length && name.eq_ignore_ascii_case(b"content-length")) {
            continue;
        }
        parser::write_header(name, value, out);
    }
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

/// The response body's trip from upstream to client.
struct Relay {
    mode: Mode,
    scanner: BodyScanner,
    decoder: BodyDecoder,
    /// Whether the upstream connection can be reused afterwards.
    upstream_clean: bool,
}

// === impl Relay ===

impl Relay {
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
        self.flush(c, ctx, &mut out, None).await?;
        while !done {
            let data = match shard::timeout(ctx.timeouts().upstream_body, up.io.recv()).await {
                Err(_) => return Err(ProxyError::UpstreamTruncated),
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
                let s = self
                    .scanner
                    .scan(buf, &ctx.limits())
                    .map_err(|_| ProxyError::UpstreamTruncated)?;
                out.extend_from_slice(&buf[..s.consumed]);
                let _ = buf.split_to(s.consumed);
                if !buf.is_empty() {
                    // Bytes after the response: the upstream is confused.
                    self.upstream_clean = false;
                    buf.clear();
                }
                Ok(s.done)
            }
            Mode::Rechunk => {
                rechunk(buf, out);
                buf.clear();
                Ok(false)
            }
            Mode::Dechunk => loop {
                match self
                    .decoder
                    .decode(buf, &ctx.limits())
                    .map_err(|_| ProxyError::UpstreamTruncated)?
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
                let s = self
                    .scanner
                    .scan(&data, &ctx.limits())
                    .map_err(|_| ProxyError::UpstreamTruncated)?;
                if s.consumed < data.len() {
                    // Bytes after the response: the upstream is confused.
                    self.upstream_clean = false;
                    data = data.split_to(s.consumed);
                }
                self.flush(c, ctx, out, Some(data)).await?;
                Ok(s.done)
            }
            _ => {
                let buf = up.buf.get(&ctx.bufs);
                buf.extend_from_slice(&data);
                drop(data);
                let done = self.frame(buf, out, ctx)?;
                self.flush(c, ctx, out, None).await?;
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
                self.flush(c, ctx, out, None).await
            }
            _ => Err(ProxyError::UpstreamTruncated),
        }
    }

    /// Sends what `out` holds, then `data` if any (zero copy), in one go.
    async fn flush(
        &self,
        c: &mut Client,
        ctx: &ShardCtx,
        out: &mut BytesMut,
        data: Option<RecvBuf>,
    ) -> Result<(), ProxyError> {
        let n = out.len() + data.as_ref().map_or(0, |d| d.len());
        if n == 0 {
            return Ok(());
        }
        let sent = match data {
            Some(d) if out.is_empty() => c.io.send(d).await,
            Some(d) if d.len() <= COALESCE_MAX => {
                out.extend_from_slice(&d);
                drop(d);
                c.io.send(out.split().freeze()).await
            }
            Some(d) => {
                c.io.send_vectored(vec![SendBuf::from(out.split().freeze()), d.into()])
                    .await
            }
            None => c.io.send(out.split().freeze()).await,
        };
        sent.map_err(|_| ProxyError::ClientClosed)?;
        bump(&ctx.metrics().bytes_out, n as u64);
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
    if !c.buf.is_empty() {
        let early = c.buf.get(&ctx.bufs).split().freeze();
        up.io
            .send(early)
            .await
            .map_err(|_| ProxyError::UpstreamTruncated)?;
    }
    let (mut cr, mut cw) = c.io.split();
    let (mut ur, mut uw) = up.io.split();
    let down = async {
        while let Ok(Some(d)) = cr.recv().await {
            if uw.send(d).await.is_err() {
                break;
            }
        }
        let _ = uw.shutdown_write();
    };
    let upward = async {
        while let Ok(Some(d)) = ur.recv().await {
            if cw.send(d).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown_write();
    };
    futures_lite::future::zip(down, upward).await;
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
    fn rewritten_headers() {
        assert!(is_rewritten(b"X-Forwarded-For"));
        assert!(is_rewritten(b"expect"));
        assert!(!is_rewritten(b"host"));
    }
}
