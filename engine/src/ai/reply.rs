//! What the AI front end writes to the client: a whole JSON answer, an
//! error object in the client's API's shape, or a server-sent-event
//! stream (chunked, or until close for HTTP/1.0).

use bytes::BytesMut;
use parser::{BodyKind, Method, Version};

use super::{AiRequest, Front};

use crate::client::{send_client, Client, Next};
use crate::ctx::ShardCtx;
use crate::error::reason;
use crate::observe::metrics::bump;

/// Sends a whole JSON answer; `extra` are more header lines. A `HEAD`
/// request gets the head alone.
pub(super) async fn json(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    status: u16,
    extra: &[(&[u8], &[u8])],
    body: &[u8],
) -> Next {
    let next = next_of(ctx, req);
    let mut out = BytesMut::with_capacity(256 + body.len());
    parser::write_status_line(Version::Http11, status, reason(status).as_bytes(), &mut out);
    parser::write_header(b"content-type", b"application/json", &mut out);
    for (k, v) in extra {
        parser::write_header(k, v, &mut out);
    }
    parser::write_header(b"x-request-id", req.id, &mut out);
    cors(req, &mut out);
    parser::write_content_length(body.len() as u64, &mut out);
    if next == Next::Close {
        parser::write_header(b"connection", b"close", &mut out);
    }
    parser::end_head(&mut out);
    if req.head.method() != Method::Head {
        out.extend_from_slice(body);
    }
    let sent = crate::http::send_counted(c, ctx, out, status).await;
    sent.unwrap_or(Next::Close).min_with(next)
}

/// Sends an error in the client's API's shape (OpenAI's error object, or
/// Anthropic's) with its status and `Retry-After`.
pub(super) async fn error(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    e: &::ai::ApiError,
) -> Next {
    let retry = e.retry_after.map(|s| s.to_string());
    let mut extra: Vec<(&[u8], &[u8])> = Vec::new();
    if let Some(r) = &retry {
        extra.push((b"retry-after", r.as_bytes()));
    }
    let body = match req.front.get() {
        Front::OpenAi => e.to_json(),
        Front::Anthropic => ::ai::messages::error_body(e),
    };
    json(c, ctx, req, e.status, &extra, &body).await
}

/// The route's CORS fields, for an allowed `Origin`.
fn cors(req: &AiRequest<'_>, out: &mut BytesMut) {
    let Some(cors) = req.route.guard.cors.as_deref() else {
        return;
    };
    if let Some(origin) = cors.origin(req.head) {
        crate::proxy::write_cors(cors, origin, out);
    }
}

/// Whether the connection stays open after the answer: not when the
/// request's body was left unread (it would be taken for the next
/// request).
fn next_of(ctx: &ShardCtx, req: &AiRequest<'_>) -> Next {
    let head = req.head;
    let bodiless = head.body() == BodyKind::Empty && !head.expect_continue();
    let body_done = bodiless || req.body_read.get();
    match head.keep_alive() && body_done && !ctx.draining.get() {
        true => Next::KeepAlive,
        false => Next::Close,
    }
}

/// How a stream's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// Chunked (HTTP/1.1).
    Chunked,
    /// Until the connection closes (HTTP/1.0 has no chunked coding).
    UntilClose,
}

/// A stream's response head: `200`, `text/event-stream`, chunked, or
/// ended by closing the connection for an HTTP/1.0 client.
pub(super) fn stream_head(ctx: &ShardCtx, req: &AiRequest<'_>) -> (BytesMut, Next, Framing) {
    let framing = match req.head.version() {
        Version::Http10 => Framing::UntilClose,
        Version::Http11 => Framing::Chunked,
    };
    let next = match framing {
        Framing::UntilClose => Next::Close,
        Framing::Chunked => next_of(ctx, req),
    };
    let mut out = BytesMut::with_capacity(256);
    parser::write_status_line(Version::Http11, 200, b"OK", &mut out);
    parser::write_header(b"content-type", b"text/event-stream", &mut out);
    parser::write_header(b"cache-control", b"no-cache", &mut out);
    parser::write_header(b"x-request-id", req.id, &mut out);
    cors(req, &mut out);
    if framing == Framing::Chunked {
        parser::write_header(b"transfer-encoding", b"chunked", &mut out);
    }
    if next == Next::Close {
        parser::write_header(b"connection", b"close", &mut out);
    }
    parser::end_head(&mut out);
    (out, next, framing)
}

/// Appends `data` to a stream's body: one chunk when chunked (nothing
/// when empty).
pub(super) fn frame(out: &mut BytesMut, data: &[u8], framing: Framing) {
    match framing {
        Framing::Chunked => chunk(out, data),
        Framing::UntilClose => out.extend_from_slice(data),
    }
}

/// Appends `data` as one chunk of a chunked body (nothing when empty).
fn chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = std::fmt::Write::write_fmt(out, format_args!("{:x}\r\n", data.len()));
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Sends stream bytes, counting them.
pub(super) async fn send(c: &mut Client, ctx: &ShardCtx, out: BytesMut) -> Result<(), ()> {
    let len = out.len() as u64;
    if len == 0 {
        return Ok(());
    }
    c.trace.committed = true;
    send_client(c, out.freeze().into()).await.map_err(|_| ())?;
    bump(&ctx.metrics().bytes_out, len);
    c.trace.bytes_out += len;
    Ok(())
}
