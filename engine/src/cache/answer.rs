//! Responses the cache writes: from a stored entry (a hit, a stale or a
//! revalidated one; `304` for a client's own conditional request; `206` or
//! `416` for a `Range`), and heads for bodies that stream (the leader's
//! miss, a waiter's collapsed one). Every one goes through [`write_head`],
//! so a hit's bytes are a miss's bytes but for `Age` and `Cache-Status`.

use bytes::{Bytes, BytesMut};
use cache::{CacheStatus, Field};
use parser::{Method, Version};

use super::store::Entry;
use crate::client::{send_client, send_client_vectored, Client, Next};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::SendBuf;
use crate::observe::metrics::bump;
use crate::proxy::Request;

/// Bodies up to this size are copied next to their head (one buffer);
/// larger ones leave as they are stored, in the same sendmsg (no copy).
const COPY_MAX: u64 = 2 << 10;
/// The `Cache-Status` cache name.
pub(crate) const NAME: &str = "coregate";

/// How a body is framed towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// Chunked (HTTP/1.1, length unknown).
    Chunked,
    /// Until close (HTTP/1.0, length unknown).
    Close,
}

/// The connection's fate after a response framed as `f`.
pub(crate) fn next_for(ctx: &ShardCtx, req: &Request<'_>, f: Framing) -> Next {
    match req.head.keep_alive() && !ctx.draining.get() && f != Framing::Close {
        true => Next::KeepAlive,
        false => Next::Close,
    }
}

/// Framing of a body of unknown length for this client.
pub(crate) fn unknown_length(req: &Request<'_>) -> Framing {
    match req.head.version() {
        Version::Http11 => Framing::Chunked,
        Version::Http10 => Framing::Close,
    }
}

/// What a head says beyond the entry's fields.
pub(crate) struct Head<'a> {
    pub(crate) status: u16,
    pub(crate) age: u64,
    pub(crate) cs: &'a CacheStatus<'a>,
    /// `None`: no body framing (a `304`).
    pub(crate) framing: Option<Framing>,
    pub(crate) next: Next,
}

/// Writes a response head: the stored status and fields, the route's
/// response edits, CORS and `RateLimit` fields, `Age`, `Cache-Status`,
/// the framing and the connection fields.
pub(crate) fn write_head(req: &Request<'_>, e: &Entry, h: &Head<'_>, out: &mut BytesMut) {
    let Head {
        status,
        age,
        cs,
        framing,
        next,
    } = *h;
    let ops = &req.route.response_headers;
    let reason: &[u8] = if status == e.status && !e.reason.is_empty() {
        &e.reason
    } else {
        crate::error::reason(status).as_bytes()
    };
    parser::write_status_line(Version::Http11, status, reason, out);
    let only_304 = status == 304;
    for (name, value) in &e.fields {
        let kept = !only_304
            || cache::NOT_MODIFIED_FIELDS
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f));
        let dropped = (!ops.is_empty() && ops.drops(name))
            || (req.cors.is_some() && crate::proxy::is_cors(name));
        if kept && !dropped {
            parser::write_header(name, value, out);
        }
    }
    ops.write(out);
    if let Some((cors, Some(origin))) = req.cors {
        crate::proxy::write_cors(cors, origin, out);
    }
    if let Some((p, remaining, reset)) = req.limits.fields {
        let (policy, state) = p.fields(remaining, reset);
        parser::write_header(b"ratelimit-policy", policy.as_bytes(), out);
        parser::write_header(b"ratelimit", state.as_bytes(), out);
    }
    parser::write_header(b"age", cache::age_value(age).as_bytes(), out);
    parser::write_header(b"cache-status", &cs.to_value(NAME), out);
    match framing {
        Some(Framing::Length(n)) => parser::write_content_length(n, out),
        Some(Framing::Chunked) => parser::write_header(b"transfer-encoding", b"chunked", out),
        Some(Framing::Close) | None => {}
    }
    match (next, req.head.version()) {
        (Next::Close, _) => parser::write_header(b"connection", b"close", out),
        (Next::KeepAlive, Version::Http10) => {
            parser::write_header(b"connection", b"keep-alive", out)
        }
        (Next::KeepAlive, Version::Http11) => {}
    }
    parser::end_head(out);
}

/// Answers from a stored entry: `304` when the client's own validators
/// match, `206`/`416` for a satisfiable/unsatisfiable `Range` on a whole
/// `200`, else the entry in full (its head only for HEAD).
pub(crate) async fn entry(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    e: &Entry,
    cs: CacheStatus<'_>,
    now: u64,
) -> Result<Next, ProxyError> {
    let age = e.meta.age(now);
    if conditional(req) && not_modified(req, e) {
        let next = next_for(ctx, req, Framing::Length(0));
        let mut out = BytesMut::with_capacity(512);
        let h = Head {
            status: 304,
            age,
            cs: &cs,
            framing: None,
            next,
        };
        write_head(req, e, &h, &mut out);
        return send(c, ctx, 304, out, &[], next).await;
    }
    let range = req
        .head
        .header("range")
        .filter(|_| e.status == 200 && range_applies(req, e));
    let (status, span) = match range.map(|r| cache::resolve(r, e.len)) {
        Some(a @ cache::RangeAnswer::Partial { start, end }) => (206, Some((a, start, end))),
        Some(a @ cache::RangeAnswer::Unsatisfiable) => (416, Some((a, 0, 0))),
        _ => (e.status, None),
    };
    let (body_len, body) = match span {
        Some((_, start, end)) if status == 206 => (
            end - start + 1,
            std::borrow::Cow::Owned(slice(&e.body, start, end + 1)),
        ),
        Some(_) => (0, std::borrow::Cow::Borrowed(&[][..])),
        None => (e.len, std::borrow::Cow::Borrowed(&e.body[..])),
    };
    let next = next_for(ctx, req, Framing::Length(body_len));
    let mut out = BytesMut::with_capacity(512);
    let h = Head {
        status,
        age,
        cs: &cs,
        framing: Some(Framing::Length(body_len)),
        next,
    };
    write_head(req, e, &h, &mut out);
    if let Some((answer, _, _)) = span {
        // Content-Range goes inside the head: drop its blank line, add the
        // field, end the head again.
        out.truncate(out.len() - 2);
        if let Some(v) = cache::content_range(answer, e.len) {
            parser::write_header(b"content-range", v.as_bytes(), &mut out);
        }
        parser::end_head(&mut out);
    }
    let body = match req.head.method() {
        Method::Head => &[][..],
        _ => &body[..],
    };
    send(c, ctx, status, out, body, next).await
}

/// Whether the request carries validators of its own.
fn conditional(req: &Request<'_>) -> bool {
    req.head.header("if-none-match").is_some() || req.head.header("if-modified-since").is_some()
}

/// Whether the client's validators match the entry (RFC 9110 §13.2.2).
pub(crate) fn not_modified(req: &Request<'_>, e: &Entry) -> bool {
    let fields: Vec<Field<'_>> = req.head.headers().collect();
    cache::evaluate(&fields, e.status, &e.field_slices()) == cache::Answer::NotModified
}

/// Whether a `Range` is served from the entry: without `If-Range`, or
/// with one that matches it.
fn range_applies(req: &Request<'_>, e: &Entry) -> bool {
    match req.head.header("if-range") {
        None => true,
        Some(v) => cache::if_range_matches(v, &e.field_slices()),
    }
}

/// The body bytes `[from, to)` of `body`, without copying.
fn slice(body: &[Bytes], from: u64, to: u64) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut at = 0u64;
    for b in body {
        let (start, end) = (at, at + b.len() as u64);
        at = end;
        if end <= from || start >= to {
            continue;
        }
        let lo = usize::try_from(from.saturating_sub(start)).unwrap_or(0);
        let hi = usize::try_from(to.min(end) - start).unwrap_or(b.len());
        out.push(b.slice(lo..hi));
    }
    out
}

/// Sends a head and body, counted.
pub(crate) async fn send(
    c: &mut Client,
    ctx: &ShardCtx,
    status: u16,
    mut head: BytesMut,
    body: &[Bytes],
    next: Next,
) -> Result<Next, ProxyError> {
    let body_len: u64 = body.iter().map(|b| b.len() as u64).sum();
    let n = head.len() as u64 + body_len;
    c.trace.status = status;
    c.trace.committed = true;
    if body_len <= COPY_MAX {
        body.iter().for_each(|b| head.extend_from_slice(b));
        send_client(c, SendBuf::from(head.freeze())).await?;
    } else {
        let mut bufs = Vec::with_capacity(body.len() + 1);
        bufs.push(SendBuf::from(head.freeze()));
        bufs.extend(body.iter().cloned().map(SendBuf::from));
        send_client_vectored(c, bufs).await?;
    }
    ctx.metrics().response(status);
    bump(&ctx.metrics().bytes_out, n);
    c.trace.bytes_out += n;
    Ok(next)
}

/// Sends body bytes framed as `f`.
pub(crate) async fn send_piece(
    c: &mut Client,
    ctx: &ShardCtx,
    b: Bytes,
    f: Framing,
) -> Result<(), ProxyError> {
    if b.is_empty() {
        return Ok(());
    }
    let n = b.len() as u64;
    let buf = match f {
        Framing::Chunked => {
            let mut out = BytesMut::with_capacity(b.len() + 16);
            parser::encode_chunk(b.len(), &mut out);
            out.extend_from_slice(&b);
            parser::encode_chunk_end(&mut out);
            SendBuf::from(out.freeze())
        }
        Framing::Length(_) | Framing::Close => SendBuf::from(b),
    };
    send_client(c, buf).await?;
    bump(&ctx.metrics().bytes_out, n);
    c.trace.bytes_out += n;
    Ok(())
}

/// Ends a chunked body.
pub(crate) async fn send_last(c: &mut Client, f: Framing) -> Result<(), ProxyError> {
    if f == Framing::Chunked {
        send_client(c, SendBuf::from(Bytes::from_static(b"0\r\n\r\n"))).await?;
    }
    Ok(())
}
