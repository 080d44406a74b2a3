//! The response body's trip from upstream to client: raw pass-through,
//! until-close, re-chunked or de-chunked, with gathered sends and the
//! filtered trailer section.

use super::*;
use crate::client::{send_client, send_client_vectored, Client, Next};
use crate::ctx::ShardCtx;
use crate::error::reason;
use crate::error::ProxyError;
use crate::io::{RecvBuf, SendBuf};
use crate::observe::metrics::bump;
use crate::shard;
use crate::upstream::pool::UpConn;
use bytes::{Bytes, BytesMut};
use parser::{BodyDecoder, BodyForwarder, BodyKind, Decoded, ResponseHead, Version};
use std::time::Duration;

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
pub(crate) async fn relay_response(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    mut up: UpConn,
    rh: ResponseHead,
    deadlines: Deadlines,
) -> Result<Next, ProxyError> {
    let framing = Framing::of(ctx, req, &rh);
    c.trace.status = rh.status();
    c.trace.upstream_status = Some(rh.status());
    let mut out = ctx.bufs.get();
    encode_response(&rh, framing, req, &mut out);
    req.limits.note_response(|name| rh.header(name));
    let mut relay = Relay::new(framing.mode, &rh, deadlines.body);
    let res = relay.run(c, ctx, &mut up, out).await;
    if c.trace.committed {
        ctx.metrics().response(rh.status());
    }
    res?;
    if framing.upgrade {
        return tunnel(c, ctx, up).await.map(|()| Next::Close);
    }
    let mode = framing.mode;
    if relay.upstream_clean && mode != Mode::UntilClose && mode != Mode::Rechunk {
        ctx.pool.checkin(up, &ctx.bufs);
    }
    Ok(framing.next)
}

// === impl Framing ===

impl Framing {
    /// How `rh` is framed towards the client of `req`.
    fn of(ctx: &ShardCtx, req: &Request<'_>, rh: &ResponseHead) -> Framing {
        let client_v = req.head.version();
        let keep = req.head.keep_alive() && !ctx.draining.get();
        // `attempt` let a 101 through only for an allowed, requested upgrade.
        let upgrade = rh.status() == 101 && req.upgrade.is_some();
        let mode = match upgrade {
            true => Mode::Empty,
            false => mode_for(rh.body(), client_v, keep),
        };
        let next = match mode {
            Mode::UntilClose | Mode::Dechunk => Next::Close,
            _ if keep && !upgrade => Next::KeepAlive,
            _ => Next::Close,
        };
        Framing {
            mode,
            next,
            upgrade,
            client_v,
        }
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
    fn new(mode: Mode, rh: &ResponseHead, body_timeout: Duration) -> Relay {
        Relay {
            mode,
            scanner: BodyForwarder::new(rh.body()),
            decoder: BodyDecoder::new(rh.body()),
            upstream_clean: rh.keep_alive(),
            body_timeout,
            sent: false,
        }
    }

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
        let mut done = self.start(c, ctx, up, &mut out).await?;
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

    /// Sends the head with the body bytes that came with it; returns
    /// whether the body is complete.
    async fn start(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        up: &mut UpConn,
        out: &mut BytesMut,
    ) -> Result<bool, ProxyError> {
        let mut done = self.mode == Mode::Empty;
        if !done && !up.buf.is_empty() {
            let buffered = up.buf.get(&ctx.bufs);
            done = self.frame(buffered, out, ctx)?;
        }
        match up.early.take() {
            Some(early) if !done => return self.forward(c, ctx, up, early, out).await,
            Some(early) => {
                // Bytes after a response with no body: tunnel data after a
                // 101 (kept for the tunnel), else a confused upstream.
                up.early = Some(early);
                self.upstream_clean = false;
            }
            None => {}
        }
        self.flush(c, ctx, out, None, Vec::new()).await?;
        Ok(done)
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
            Mode::Raw | Mode::UntilClose => self.frame_raw(buf, out, ctx),
            Mode::Rechunk => {
                rechunk(buf, out);
                buf.clear();
                Ok(false)
            }
            Mode::Dechunk => self.dechunk(buf, out, ctx),
        }
    }

    /// Copies the body bytes of `buf` into `out` as they are.
    fn frame_raw(
        &mut self,
        buf: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &ShardCtx,
    ) -> Result<bool, ProxyError> {
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

    /// Decodes the chunked body in `buf` into plain bytes in `out`.
    fn dechunk(
        &mut self,
        buf: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &ShardCtx,
    ) -> Result<bool, ProxyError> {
        loop {
            let decoded = self.decoder.decode(buf, &ctx.response_limits());
            match decoded.map_err(|_| self.body_error())? {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::NeedMore => return Ok(false),
                Decoded::Done => return Ok(true),
            }
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
                send_client(c, d.into()).await
            }
            first if data_len <= COALESCE_MAX => {
                first
                    .iter()
                    .chain(&more)
                    .for_each(|m| out.extend_from_slice(m));
                trailers.iter().for_each(|t| out.extend_from_slice(t));
                drop((first, more));
                send_client(c, out.split().freeze().into()).await
            }
            first => {
                let mut bufs = Vec::with_capacity(more.len() + 3);
                if !out.is_empty() {
                    bufs.push(SendBuf::from(out.split().freeze()));
                }
                bufs.extend(first.map(SendBuf::from));
                bufs.extend(more.into_iter().map(SendBuf::from));
                bufs.extend(trailers.map(SendBuf::from));
                send_client_vectored(c, bufs).await
            }
        }?;
        bump(&ctx.metrics().bytes_out, n as u64);
        c.trace.bytes_out += n as u64;
        Ok(())
    }
}

/// Frames `buf` as one chunk into `out`.
pub(super) fn rechunk(buf: &BytesMut, out: &mut BytesMut) {
    if buf.is_empty() {
        return;
    }
    parser::encode_chunk(buf.len(), out);
    out.extend_from_slice(buf);
    parser::encode_chunk_end(out);
}

/// How the response is framed towards the client.
#[derive(Debug, Clone, Copy)]
struct Framing {
    mode: Mode,
    next: Next,
    upgrade: bool,
    client_v: Version,
}
/// CORS headers on an actual (not preflight) response. A field of the
/// upstream's with one of these names was dropped.
/// A CORS route's fields on a response to an allowed `origin` (the AI
/// front end's answers take them too).
pub(crate) fn write_cors(cors: &crate::snapshot::guard::Cors, origin: &[u8], out: &mut BytesMut) {
    parser::write_header(
        b"access-control-allow-origin",
        cors.allow_origin(origin),
        out,
    );
    parser::write_header(b"vary", b"origin", out);
    if cors.credentials {
        parser::write_header(b"access-control-allow-credentials", b"true", out);
    }
    if let Some(expose) = &cors.expose {
        parser::write_header(b"access-control-expose-headers", expose, out);
    }
}

fn encode_response(rh: &ResponseHead, f: Framing, req: &Request<'_>, out: &mut BytesMut) {
    let ops = &req.route.response_headers;
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
        if (!ops.is_empty() && ops.drops(name)) || (req.cors.is_some() && is_cors(name)) {
            continue;
        }
        write_field(name, value, &mut length, out);
    }
    ops.write(out);
    if let Some((cors, Some(origin))) = req.cors {
        write_cors(cors, origin, out);
    }
    if let Some((p, remaining, reset)) = req.limits.fields {
        let (policy, state) = p.fields(remaining, reset);
        parser::write_header(b"ratelimit-policy", policy.as_bytes(), out);
        parser::write_header(b"ratelimit", state.as_bytes(), out);
    }
    out.extend_from_slice(req.response_fields);
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
pub(crate) fn is_cors(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"access-control-";
    name.len() > PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

fn reason_or(rh: &ResponseHead) -> &[u8] {
    if rh.reason().is_empty() {
        reason(rh.status()).as_bytes()
    } else {
        rh.reason()
    }
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
}
