//! The answers coregate writes itself: a route's fixed response, and the
//! short error responses (with the request id) that end a connection.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use parser::{BodyKind, Method, RequestHead, Version};

use super::request::RequestId;
use crate::client::{send_client, Client, Next};
use crate::ctx::ShardCtx;
use crate::error::{reason, ProxyError};
use crate::limit::admit::{Refusal, Why};
use crate::observe::accesslog::json_bytes;
use crate::observe::metrics::bump;
use crate::shard;
use crate::snapshot::route::Canned;

/// Answers with a route's fixed response.
pub(super) async fn respond(
    c: &mut Client,
    ctx: &ShardCtx,
    head: &RequestHead,
    canned: &Canned,
    id: &RequestId<'_>,
) -> Next {
    let next = canned_next(ctx, head);
    let mut out = BytesMut::with_capacity(256 + canned.body.len());
    let reason = reason(canned.status).as_bytes();
    parser::write_status_line(Version::Http11, canned.status, reason, &mut out);
    for (k, v) in canned.headers.iter() {
        parser::write_header(k, v, &mut out);
    }
    write_framing(&mut out, canned.body.len(), head.version(), next);
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    parser::end_head(&mut out);
    if head.method() != Method::Head {
        out.extend_from_slice(&canned.body);
    }
    let sent = send_counted(c, ctx, out, canned.status).await;
    sent.unwrap_or(Next::Close).min_with(next)
}

/// Whether the connection stays open after a fixed response: a request
/// body coregate did not read cannot be skipped safely, so it closes.
fn canned_next(ctx: &ShardCtx, head: &RequestHead) -> Next {
    let bodiless = head.body() == BodyKind::Empty && !head.expect_continue();
    match head.keep_alive() && bodiless && !ctx.draining.get() {
        true => Next::KeepAlive,
        false => Next::Close,
    }
}

fn write_framing(out: &mut BytesMut, len: usize, version: Version, next: Next) {
    parser::write_content_length(len as u64, out);
    match (next, version) {
        (Next::Close, _) => parser::write_header(b"connection", b"close", out),
        (Next::KeepAlive, Version::Http10) => {
            parser::write_header(b"connection", b"keep-alive", out)
        }
        (Next::KeepAlive, Version::Http11) => {}
    }
}

/// Sends a complete response and counts it.
pub(crate) async fn send_counted(
    c: &mut Client,
    ctx: &ShardCtx,
    out: BytesMut,
    status: u16,
) -> Option<Next> {
    let len = out.len() as u64;
    ctx.metrics().response(status);
    c.trace.status = status;
    c.trace.committed = true;
    match send_client(c, out.freeze().into()).await {
        Ok(()) => {
            bump(&ctx.metrics().bytes_out, len);
            c.trace.bytes_out += len;
            Some(Next::KeepAlive)
        }
        Err(_) => None,
    }
}

/// Sends a `401` (with `challenge` as `WWW-Authenticate`) or `403` with a
/// JSON body that says no more than the status does: a missing key, a
/// wrong key and a revoked key read alike. The connection stays open when
/// the request had no body, as after a fixed response.
pub(super) async fn send_denied(
    c: &mut Client,
    ctx: &ShardCtx,
    e: ProxyError,
    challenge: &[u8],
    id: &RequestId<'_>,
    head: &RequestHead,
) -> Next {
    c.trace.error = Some(e);
    let next = canned_next(ctx, head);
    let status = e.status();
    let message = match e {
        ProxyError::Unauthorized => "a valid credential is required",
        ProxyError::IpDenied => "this address may not call this route",
        ProxyError::CorsOrigin => "this origin may not call this route",
        _ => "this credential may not call this service",
    };
    let mut body = String::with_capacity(128);
    body.push_str("{\"error\":\"");
    body.push_str(e.as_str());
    body.push_str("\",\"message\":\"");
    body.push_str(message);
    body.push_str("\",\"request_id\":");
    json_bytes(&mut body, id.as_bytes());
    body.push_str("}\n");
    let mut out = BytesMut::with_capacity(256 + body.len());
    parser::write_status_line(Version::Http11, status, reason(status).as_bytes(), &mut out);
    parser::write_header(b"content-type", b"application/json", &mut out);
    if status == 401 && !challenge.is_empty() {
        parser::write_header(b"www-authenticate", challenge, &mut out);
    }
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    send_json(c, ctx, out, &body, status, head, next).await
}

/// Ends `out`, a head without its framing, with `body`; sends it, and
/// lets the client read it before a close.
async fn send_json(
    c: &mut Client,
    ctx: &ShardCtx,
    mut out: BytesMut,
    body: &str,
    status: u16,
    head: &RequestHead,
    next: Next,
) -> Next {
    write_framing(&mut out, body.len(), head.version(), next);
    parser::end_head(&mut out);
    if head.method() != Method::Head {
        out.extend_from_slice(body.as_bytes());
    }
    let next = send_counted(c, ctx, out, status)
        .await
        .unwrap_or(Next::Close)
        .min_with(next);
    if next == Next::Close {
        linger(c).await;
    }
    next
}

/// Answers a request a limit policy refused: over the limit, `429` with
/// `Retry-After` (whole seconds, rounded up), the IETF `RateLimit-Policy`
/// and `RateLimit` fields; a key header too long, `400`; Redis down for
/// a policy that fails closed, `503` with `Retry-After: 1`. Each with a
/// JSON body naming the policy.
pub(super) async fn send_refusal(
    c: &mut Client,
    ctx: &ShardCtx,
    refusal: Refusal<'_>,
    id: &RequestId<'_>,
    head: &RequestHead,
) -> Next {
    let (error, wait) = match refusal.why {
        Why::Limited(wait) => (ProxyError::RateLimited, wait),
        Why::LongKey => (ProxyError::LimitKeyTooLong, Duration::ZERO),
        Why::Unavailable => (ProxyError::LimiterUnavailable, Duration::from_secs(1)),
    };
    c.trace.error = Some(error);
    c.trace.limit = u8::try_from(refusal.at).ok();
    let next = canned_next(ctx, head);
    let p = refusal.policy;
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut body = String::with_capacity(128);
    body.push_str("{\"error\":\"");
    body.push_str(error.as_str());
    body.push_str("\",\"policy\":");
    json_bytes(&mut body, p.spec.name.as_bytes());
    if secs > 0 {
        body.push_str(",\"retry_after\":");
        body.push_str(&secs.to_string());
    }
    body.push_str(",\"request_id\":");
    json_bytes(&mut body, id.as_bytes());
    body.push_str("}\n");
    let status = error.status();
    let mut out = BytesMut::with_capacity(384 + body.len());
    parser::write_status_line(Version::Http11, status, reason(status).as_bytes(), &mut out);
    parser::write_header(b"content-type", b"application/json", &mut out);
    if secs > 0 {
        parser::write_header(b"retry-after", secs.to_string().as_bytes(), &mut out);
    }
    if error == ProxyError::RateLimited {
        let (policy, state) = p.fields(0, secs);
        parser::write_header(b"ratelimit-policy", policy.as_bytes(), &mut out);
        parser::write_header(b"ratelimit", state.as_bytes(), &mut out);
    }
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    send_json(c, ctx, out, &body, status, head, next).await
}

/// Answers a CORS preflight from an allowed origin: `204` with what the
/// route allows.
pub(super) async fn send_preflight(
    c: &mut Client,
    ctx: &ShardCtx,
    head: &RequestHead,
    cors: &crate::snapshot::guard::Cors,
    origin: &[u8],
    id: &RequestId<'_>,
) -> Next {
    let next = canned_next(ctx, head);
    let mut out = BytesMut::with_capacity(512);
    parser::write_status_line(Version::Http11, 204, b"No Content", &mut out);
    parser::write_header(
        b"access-control-allow-origin",
        cors.allow_origin(origin),
        &mut out,
    );
    parser::write_header(b"access-control-allow-methods", &cors.methods, &mut out);
    let asked = head.header("access-control-request-headers");
    if let Some(h) = cors.headers.as_deref().or(asked) {
        parser::write_header(b"access-control-allow-headers", h, &mut out);
    }
    if cors.credentials {
        parser::write_header(b"access-control-allow-credentials", b"true", &mut out);
    }
    parser::write_header(b"access-control-max-age", &cors.max_age, &mut out);
    parser::write_header(
        b"vary",
        b"origin, access-control-request-method, access-control-request-headers",
        &mut out,
    );
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    if next == Next::Close {
        parser::write_header(b"connection", b"close", &mut out);
    }
    parser::end_head(&mut out);
    let sent = send_counted(c, ctx, out, 204).await;
    sent.unwrap_or(Next::Close).min_with(next)
}

/// Sends a short plain-text error response that closes the connection.
pub(super) async fn send_error(
    c: &mut Client,
    ctx: &ShardCtx,
    e: ProxyError,
    id: &RequestId<'_>,
    _v: Version,
) {
    let out = error_response(e, id);
    let _ = send_counted(c, ctx, out, e.status()).await;
    linger(c).await;
}

/// Lets the client read a last response before the close turns into a
/// reset over unread request bytes.
async fn linger(c: &mut Client) {
    let linger = async {
        let _ = c.io.shutdown_write().await;
        drain_input(c).await
    };
    let _ = shard::timeout(Duration::from_millis(200), linger).await;
}

/// The error response: status, the request id and the error's name.
fn error_response(e: ProxyError, id: &RequestId<'_>) -> BytesMut {
    let status = e.status();
    let mut body = BytesMut::with_capacity(96);
    body.put_slice(status_text(status).as_bytes());
    body.put_slice(b"\nrequest-id: ");
    body.put_slice(id.as_bytes());
    body.put_slice(b"\n");
    let mut out = BytesMut::with_capacity(256 + body.len());
    parser::write_status_line(Version::Http11, status, reason(status).as_bytes(), &mut out);
    parser::write_header(b"content-type", b"text/plain; charset=utf-8", &mut out);
    if status == 405 {
        let allow = b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH";
        parser::write_header(b"allow", allow, &mut out);
    }
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    parser::write_header(b"x-coregate-error", e.as_str().as_bytes(), &mut out);
    write_framing(&mut out, body.len(), Version::Http11, Next::Close);
    parser::end_head(&mut out);
    out.extend_from_slice(&body);
    out
}

async fn drain_input(c: &mut Client) {
    let mut budget: usize = 1 << 20;
    while let Ok(Some(b)) = c.io.recv().await {
        budget = match budget.checked_sub(b.len()) {
            Some(b) => b,
            None => return,
        };
    }
}

/// The "404 Not Found" line of a status.
fn status_text(status: u16) -> String {
    format!("{status} {}", reason(status))
}
