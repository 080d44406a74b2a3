//! The request body, read whole (an AI call needs all of its JSON before
//! anything can be translated), bounded by `ai.max_body` and by the
//! client body timeout per read.

use bytes::BytesMut;
use parser::{BodyDecoder, BodyKind, Decoded, RequestHead};

use crate::client::Client;
use crate::ctx::ShardCtx;
use crate::shard;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// Larger than the limit: 413.
    TooLarge,
    /// Bad framing: 400.
    Malformed,
    /// The client stopped sending: 408.
    Timeout,
    /// The client went away.
    Closed,
}

/// Reads the whole body of `head`; bytes after it stay buffered for the
/// next request on the connection.
pub(super) async fn read(
    c: &mut Client,
    ctx: &ShardCtx,
    head: &RequestHead,
    max: u64,
) -> Result<Vec<u8>, BodyError> {
    let kind = head.body();
    if let BodyKind::Length(n) = kind {
        if n > max {
            return Err(BodyError::TooLarge);
        }
    }
    if head.expect_continue() && kind != BodyKind::Empty {
        let cont = bytes::Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n");
        c.io.send(cont).await.map_err(|_| BodyError::Closed)?;
    }
    let mut dec = BodyDecoder::new(kind);
    let mut raw = BytesMut::new();
    if !c.buf.is_empty() {
        let held = c.buf.get(&ctx.bufs);
        raw.extend_from_slice(held);
        held.clear();
        c.buf.release(&ctx.bufs);
    }
    let mut body = Vec::new();
    let wait = ctx.timeouts().client_body;
    loop {
        match dec.decode(&mut raw, &ctx.limits()) {
            Ok(Decoded::Data(d)) => {
                if (body.len() + d.len()) as u64 > max {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&d);
            }
            Ok(Decoded::Done) => break,
            Ok(Decoded::NeedMore) => match shard::timeout(wait, c.io.recv()).await {
                Err(_) => return Err(BodyError::Timeout),
                Ok(Ok(Some(d))) => raw.extend_from_slice(&d),
                Ok(Ok(None) | Err(_)) => return Err(BodyError::Closed),
            },
            Err(_) => return Err(BodyError::Malformed),
        }
    }
    if !raw.is_empty() {
        c.buf.get(&ctx.bufs).extend_from_slice(&raw);
    }
    c.trace.bytes_in += body.len() as u64;
    Ok(body)
}
