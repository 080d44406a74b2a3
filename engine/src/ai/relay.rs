//! A provider's answer on its way back: its body de-framed as it arrives,
//! either read whole (bounded) and translated once, or translated frame
//! by frame into the client's event stream, one receive at a time, so a
//! stream holds one receive buffer and one partial event, never the
//! whole stream.

use bytes::BytesMut;
use parser::{BodyDecoder, Decoded};

use super::call::Answer;
use super::reply;
use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::shard;
use std::time::Duration;

/// Translated bytes gathered into one send to the client.
const GATHER_MAX: usize = 16 << 10;

/// Largest whole (non-streamed) answer read from a provider.
const MAX_WHOLE: usize = 16 << 20;

/// A provider body's payload, de-framed, one receive at a time.
pub(super) struct Body {
    dec: BodyDecoder,
    raw: BytesMut,
    idle: std::time::Duration,
    eof: bool,
}

impl Body {
    /// The body of `a`, with the bytes that came with its head.
    pub(super) fn new(ctx: &ShardCtx, a: &mut Answer, idle: std::time::Duration) -> Body {
        let mut raw = BytesMut::new();
        if !a.up.buf.is_empty() {
            let held = a.up.buf.get(&ctx.bufs);
            raw.extend_from_slice(held);
            held.clear();
            a.up.buf.release(&ctx.bufs);
        }
        if let Some(e) = a.up.early.take() {
            raw.extend_from_slice(&e);
        }
        Body {
            dec: BodyDecoder::new(a.head.body()),
            raw,
            idle,
            eof: false,
        }
    }

    /// The next payload bytes; `None` at the end of the body.
    pub(super) async fn next(
        &mut self,
        ctx: &ShardCtx,
        a: &mut Answer,
    ) -> Result<Option<bytes::Bytes>, ProxyError> {
        loop {
            match self.dec.decode(&mut self.raw, &ctx.response_limits()) {
                Ok(Decoded::Data(d)) => return Ok(Some(d)),
                Ok(Decoded::Done) => return Ok(None),
                Ok(Decoded::NeedMore) if self.eof => return Ok(None),
                Ok(Decoded::NeedMore) => {}
                Err(_) => return Err(ProxyError::UpstreamBadResponse),
            }
            match shard::timeout(self.idle, a.up.io.recv()).await {
                Err(_) => return Err(ProxyError::UpstreamBodyTimeout),
                Ok(Ok(Some(d))) => self.raw.extend_from_slice(&d),
                Ok(Ok(None)) => self.eof = true,
                Ok(Err(_)) => return Err(ProxyError::UpstreamTruncated),
            }
        }
    }

    /// Payload bytes already received, without waiting; `None` when the
    /// next ones must be awaited (or the body ended: [`Body::next`] says).
    pub(super) fn ready(&mut self, ctx: &ShardCtx, a: &mut Answer) -> Option<bytes::Bytes> {
        loop {
            match self.dec.decode(&mut self.raw, &ctx.response_limits()) {
                Ok(Decoded::Data(d)) => return Some(d),
                Ok(Decoded::NeedMore) if !self.eof => match a.up.io.try_recv() {
                    Some(Ok(Some(d))) => self.raw.extend_from_slice(&d),
                    Some(Ok(None)) => self.eof = true,
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// Whether the body ended by its framing (the connection may be reused).
    pub(super) fn complete(&self) -> bool {
        self.dec.is_done() && self.raw.is_empty()
    }
}

/// Reads a whole answer, at most [`MAX_WHOLE`] bytes.
pub(super) async fn whole(
    ctx: &ShardCtx,
    mut a: Answer,
    idle: std::time::Duration,
) -> Result<Vec<u8>, ProxyError> {
    let mut body = Body::new(ctx, &mut a, idle);
    let mut out = Vec::new();
    while let Some(d) = body.next(ctx, &mut a).await? {
        if out.len() + d.len() > MAX_WHOLE {
            return Err(ProxyError::UpstreamBadResponse);
        }
        out.extend_from_slice(&d);
    }
    reuse(ctx, a, &body);
    Ok(out)
}

/// Gives a connection whose answer ended cleanly back to the pool.
fn reuse(ctx: &ShardCtx, a: Answer, body: &Body) {
    if body.complete() && a.head.keep_alive() {
        ctx.pool.checkin(a.up, &ctx.bufs);
    }
}

/// A stream's translation: the provider's events to OpenAI's, and for an
/// Anthropic client on to Anthropic's.
pub(super) enum Translator {
    OpenAi(::ai::StreamTranslator),
    Messages(
        Box<(
            ::ai::StreamTranslator,
            ::ai::messages::MessagesStream,
            Vec<u8>,
        )>,
    ),
}

impl Translator {
    /// OpenAI's events re-written as Anthropic's.
    pub(super) fn messages(tr: ::ai::StreamTranslator, model: &str, id: &str) -> Translator {
        let m = ::ai::messages::MessagesStream::new(model, id);
        Translator::Messages(Box::new((tr, m, Vec::with_capacity(1024))))
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Translator::OpenAi(t) => t.feed(input, out),
            Translator::Messages(b) => {
                let (t, m, mid) = &mut **b;
                t.feed(input, mid);
                m.feed(mid, out);
                mid.clear();
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Translator::OpenAi(t) => t.finish(out),
            Translator::Messages(b) => {
                let (t, m, mid) = &mut **b;
                t.finish(mid);
                m.feed(mid, out);
                mid.clear();
                m.finish(out);
            }
        }
    }

    /// The provider's usage (OpenAI's terms).
    fn usage(&self) -> ::ai::Usage {
        match self {
            Translator::OpenAi(t) => t.usage(),
            Translator::Messages(b) => b.0.usage(),
        }
    }

    fn is_ended(&self) -> bool {
        match self {
            Translator::OpenAi(t) => t.is_ended(),
            Translator::Messages(b) => b.1.is_ended(),
        }
    }

    /// Whether the provider's stream ended in error (or early).
    fn failed(&self) -> bool {
        match self {
            Translator::OpenAi(t) => t.error().is_some(),
            Translator::Messages(b) => b.0.error().is_some(),
        }
    }
}

/// What a relayed stream did.
pub(super) struct Streamed {
    pub(super) next: Next,
    pub(super) usage: ::ai::Usage,
    /// Time from the call's start to the first content frame.
    pub(super) first_frame: Option<std::time::Duration>,
    /// The stream's first bytes, when asked for (for the access log).
    pub(super) kept: Vec<u8>,
    /// The provider ended the stream itself and the client had it all:
    /// its usage is the call's.
    pub(super) complete: bool,
}

/// How a stream relay ended.
pub(super) enum Stream {
    /// The client got the stream.
    Relayed(Streamed),
    /// The provider failed before its first frame: nothing reached the
    /// client, so the call may try the next target.
    NotStarted(&'static str),
}

/// Relays a provider's stream to the client, translated frame by frame.
/// Nothing is sent before the provider's first frame (waited for within
/// `first_wait`), so a provider that answers `200` and then stalls, ends
/// or errs can still be failed over.
pub(super) async fn stream(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &super::AiRequest<'_>,
    mut a: Answer,
    mut tr: Translator,
    (waits, started, keep): ([Duration; 3], std::time::Instant, bool),
) -> Stream {
    let [first_wait, idle, whole] = waits;
    let deadline = started + whole;
    let mut body = Body::new(ctx, &mut a, first_wait);
    let mut sse = Vec::with_capacity(1024);
    if let Err(why) = first_output(ctx, &mut a, &mut body, &mut tr, &mut sse).await {
        return Stream::NotStarted(why);
    }
    body.idle = idle;
    let first_frame = Some(crate::clock::now().saturating_duration_since(started));
    let (mut out, next, framing) = reply::stream_head(ctx, req);
    c.trace.status = 200;
    ctx.metrics().response(200);
    let mut kept = Vec::new();
    let mut client_gone = false;
    loop {
        // Frames already received leave in the same send: one syscall for
        // a burst instead of one per frame.
        while !tr.is_ended() && sse.len() < GATHER_MAX {
            match body.ready(ctx, &mut a) {
                Some(more) => tr.feed(&more, &mut sse),
                None => break,
            }
        }
        if keep && kept.len() < super::bodies::LOGGED_BYTES {
            let room = super::bodies::LOGGED_BYTES - kept.len();
            kept.extend_from_slice(&sse[..sse.len().min(room)]);
        }
        reply::frame(&mut out, &sse, framing);
        sse.clear();
        if reply::send(c, ctx, std::mem::take(&mut out)).await.is_err() {
            client_gone = true;
            break;
        }
        if tr.is_ended() {
            break;
        }
        body.idle = idle.min(deadline.saturating_duration_since(crate::clock::now()));
        match body.next(ctx, &mut a).await {
            Ok(Some(d)) => tr.feed(&d, &mut sse),
            Ok(None) | Err(_) => break,
        }
    }
    tr.finish(&mut sse);
    reply::frame(&mut out, &sse, framing);
    if framing == reply::Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !client_gone && reply::send(c, ctx, out).await.is_err() {
        client_gone = true;
    }
    let clean = !client_gone && !tr.failed();
    if clean {
        reuse(ctx, a, &body);
    }
    Stream::Relayed(Streamed {
        next: if client_gone { Next::Close } else { next },
        usage: tr.usage(),
        first_frame,
        kept,
        complete: clean,
    })
}

/// Reads until the translator has its first output; why not, when the
/// provider's stream fails, ends or errs before it.
async fn first_output(
    ctx: &ShardCtx,
    a: &mut Answer,
    body: &mut Body,
    tr: &mut Translator,
    sse: &mut Vec<u8>,
) -> Result<(), &'static str> {
    while sse.is_empty() {
        match body.next(ctx, a).await {
            Ok(Some(d)) => tr.feed(&d, sse),
            Ok(None) => return Err("stream ended before its first frame"),
            // As a first-byte timeout: the next target, not another key.
            Err(ProxyError::UpstreamBodyTimeout) => return Err("upstream_header_timeout"),
            Err(_) => return Err("stream failed before its first frame"),
        }
    }
    match tr.failed() {
        true => Err("stream error before its first frame"),
        false => Ok(()),
    }
}
