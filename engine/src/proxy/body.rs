//! The request body's trip from client to upstream: what arrived with the
//! head, then the rest streamed with backpressure, each read bounded by
//! `client_body` and the minimum rate, each send by `upstream_body`.

use super::*;
use crate::client::Client;
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::{RecvBuf, SendBuf, Transport};
use crate::observe::metrics::bump;
use crate::shard;
use crate::snapshot::route::Timeouts;
use bytes::Bytes;
use parser::BodyForwarder;
use std::time::{Duration, Instant};

/// Splits off the body bytes that arrived with the head (trailer bytes stay
/// with the forwarder, which gives them back filtered).
pub(super) fn take_buffered_body(
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

pub(super) fn check_body(ctx: &ShardCtx, scanner: &BodyForwarder) -> Result<(), ProxyError> {
    ctx.limits()
        .check_body(scanner.body_bytes())
        .map_err(|_| ProxyError::BodyTooLarge)
}

/// Streams the rest of the request body from the client to the upstream.
/// Each read waits at most `client_body`, and the body as a whole must keep
/// up `client_body_min_rate` once `client_body` has passed (a client that
/// trickles a byte a second is cut); each send to the upstream waits at
/// most `upstream_body`.
pub(super) async fn stream_request_body(
    c: &mut Client,
    ctx: &ShardCtx,
    up: &mut Transport,
    scanner: &mut BodyForwarder,
    upstream_wait: Duration,
) -> Result<(), ProxyError> {
    let started = crate::clock::now();
    let t = ctx.timeouts();
    while !scanner.is_done() {
        let wait = body_wait(&t, started, scanner.body_bytes(), crate::clock::now());
        let mut data = match shard::timeout(wait, c.io.recv()).await {
            Err(_) => return Err(ProxyError::ClientBodyTimeout),
            Ok(Ok(Some(d))) => d,
            Ok(Ok(None) | Err(_)) => return Err(ProxyError::ClientClosed),
        };
        take_request_body(c, ctx, scanner, &mut data)?;
        // More of the body may be queued already: it goes in the same send.
        // `more` allocates only when something was queued.
        let mut more = Vec::new();
        take_queued(c, ctx, scanner, &mut more, SendBuf::from)?;
        more.extend(scanner.take_trailers().map(SendBuf::from));
        send_upstream(up, data, more, upstream_wait).await?;
    }
    Ok(())
}

/// Takes the body bytes already queued behind what was read (up to
/// [`MAX_GATHER`] buffers in `into`), so that they leave in the same send.
pub(super) fn take_queued<T>(
    c: &mut Client,
    ctx: &ShardCtx,
    scanner: &mut BodyForwarder,
    into: &mut Vec<T>,
    convert: impl Fn(RecvBuf) -> T,
) -> Result<(), ProxyError> {
    while !scanner.is_done() && into.len() < MAX_GATHER {
        let Some(Ok(Some(mut next))) = c.io.try_recv() else {
            break;
        };
        take_request_body(c, ctx, scanner, &mut next)?;
        if !next.is_empty() {
            into.push(convert(next));
        }
    }
    Ok(())
}

/// Sends `data` then `more` to the upstream, in one send, within `wait`.
async fn send_upstream(
    up: &mut Transport,
    data: RecvBuf,
    more: Vec<SendBuf>,
    wait: Duration,
) -> Result<(), ProxyError> {
    let sent = if more.is_empty() {
        if data.is_empty() {
            return Ok(());
        }
        shard::timeout(wait, up.send(data)).await
    } else {
        let mut bufs = Vec::with_capacity(more.len() + 1);
        if !data.is_empty() {
            bufs.push(SendBuf::from(data));
        }
        bufs.extend(more);
        shard::timeout(wait, up.send_vectored(bufs)).await
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ProxyError::UpstreamClosed),
        Err(_) => Err(ProxyError::UpstreamBodyTimeout),
    }
}

/// How long the next request body read may wait: `client_body`, cut to
/// what `client_body_min_rate` still allows for the bytes seen so far
/// (zero: the body is already too slow).
pub(super) fn body_wait(t: &Timeouts, started: Instant, got: u64, now: Instant) -> Duration {
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
pub(super) fn take_request_body(
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
