//! One client connection: read a head, route it, answer, repeat.
//!
//! The state machine is the loop in [`serve`]: read head → route → proxy or
//! respond → keep-alive or close. Pipelined requests are answered in order
//! because the next head is only parsed once the previous response is out.

use std::net::SocketAddr;
use std::rc::Rc;

use parser::{RequestHead, Version};

use super::handle::handle_guarded;
use super::request::RequestId;
use super::respond::send_error;
use crate::buf::ConnBuf;
use crate::client::{Client, Next, Trace};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::TcpConn;
use crate::observe::metrics::{bump, drop_one};
use crate::shard;

/// Serves an accepted connection in a task of its own. A panic while
/// serving it closes this connection only; it is logged and counted in
/// `coregate_panics_total`, and the shard goes on.
pub(crate) fn spawn(io: TcpConn, peer: SocketAddr, ctx: Rc<ShardCtx>, listener: usize) {
    let on_panic = {
        let ctx = ctx.clone();
        move |msg: &str| {
            bump(&ctx.metrics().panics, 1);
            eprintln!(
                "coregate: shard {}: panic serving {peer}: {msg}; connection closed",
                ctx.id
            );
        }
    };
    shard::spawn_guarded(serve(io, peer, ctx, listener), on_panic);
}

/// Keeps the shard's connection gauges right however `serve` ends (a panic
/// included).
struct Open<'a>(&'a ShardCtx);

impl<'a> Open<'a> {
    fn new(ctx: &'a ShardCtx) -> Self {
        ctx.connections.set(ctx.connections.get() + 1);
        bump(&ctx.metrics().active_connections, 1);
        Open(ctx)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        drop_one(&self.0.metrics().active_connections);
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(io: TcpConn, peer: SocketAddr, ctx: Rc<ShardCtx>, listener: usize) {
    let _open = Open::new(&ctx);
    let Some((io, tls)) = super::tls::accept(io, &ctx, listener).await else {
        return;
    };
    let mut c = Client {
        io,
        peer,
        buf: ConnBuf::default(),
        served: 0,
        trace: Trace::default(),
        listener,
        tls,
    };
    loop {
        match serve_one(&mut c, &ctx).await {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) => break,
            Err(e) => {
                // A request head that could not be read: answer, then close.
                let id = RequestId::Fresh(ctx.request_id());
                // Boxed: rare, and its timed send would otherwise add to
                // every idle connection's state.
                Box::pin(send_error(&mut c, &ctx, e, &id, Version::Http11)).await;
                break;
            }
        }
        c.buf.release(&ctx.bufs);
        if ctx.draining.get() {
            break;
        }
    }
}

/// Reads and serves one request. `Err` is a request head that could not be
/// read, for the caller to answer: nothing here awaits while the parsed
/// head (about 1.1 KiB) is held, so it never becomes part of the
/// connection's long-lived state.
async fn serve_one(c: &mut Client, ctx: &ShardCtx) -> Result<Next, ProxyError> {
    let head = match read_head(c, ctx).await {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(Next::Close),
        Err(e) => {
            if let ProxyError::Parse(p) = e {
                bump(&ctx.metrics().parse_errors, 1);
                ctx.view.stats.error(p.as_str(), true);
            }
            return match e {
                ProxyError::ClientClosed => Ok(Next::Close),
                e => Err(e),
            };
        }
    };
    c.served += 1;
    bump(&ctx.metrics().requests, 1);
    ctx.in_flight.set(ctx.in_flight.get() + 1);
    // The request's state machine (forwarding, streaming, retries) is
    // about 10 KiB; boxing it keeps an idle keep-alive connection down to
    // the small head-reading state instead of reserving that for its life.
    // The allocation comes first and the future is written into it, so
    // that it is built in place instead of on the stack and copied (a
    // 10.8 KB memcpy per request, a fifth of coregate's user time). Built
    // in a statement of its own: a temporary of the await's statement
    // would stay in this connection's state, idle or not.
    let request = Box::into_pin(Box::write(Box::new_uninit(), handle_guarded(c, ctx, head)));
    let next = request.await;
    ctx.in_flight.set(ctx.in_flight.get() - 1);
    Ok(next)
}

/// Reads until a complete request head is parsed. `Ok(None)` means the
/// client closed or went quiet between requests: close without a response.
async fn read_head(c: &mut Client, ctx: &ShardCtx) -> Result<Option<RequestHead>, ProxyError> {
    // A pipelined request may be buffered already.
    if let Some(head) = try_parse(c, ctx)? {
        return Ok(Some(head));
    }
    if c.buf.is_empty() && c.served > 0 {
        if !wait_keepalive(c, ctx).await {
            return Ok(None);
        }
        if let Some(head) = try_parse(c, ctx)? {
            return Ok(Some(head));
        }
    }
    // One deadline for the whole head, however it trickles in (slowloris).
    match shard::timeout(ctx.timeouts().client_header, read_rest(c, ctx)).await {
        Ok(res) => res,
        Err(_) if c.buf.is_empty() => Ok(None),
        Err(_) => Err(ProxyError::ClientHeaderTimeout),
    }
}

/// An idle keep-alive connection waits for the next request's first
/// bytes; `false`: silence or a close, which just ends the connection.
async fn wait_keepalive(c: &mut Client, ctx: &ShardCtx) -> bool {
    bump(&ctx.metrics().idle_connections, 1);
    let got = shard::timeout(ctx.timeouts().client_keepalive, c.io.recv()).await;
    drop_one(&ctx.metrics().idle_connections);
    let Ok(Ok(Some(data))) = got else {
        return false;
    };
    append(c, ctx, &data);
    true
}

/// Reads until a head parses; `Ok(None)`: closed before sending a byte.
async fn read_rest(c: &mut Client, ctx: &ShardCtx) -> Result<Option<RequestHead>, ProxyError> {
    loop {
        match c.io.recv().await {
            Ok(Some(data)) => append(c, ctx, &data),
            _ if c.buf.is_empty() => return Ok(None),
            _ => return Err(ProxyError::ClientClosed),
        }
        if let Some(head) = try_parse(c, ctx)? {
            return Ok(Some(head));
        }
    }
}

fn try_parse(c: &mut Client, ctx: &ShardCtx) -> Result<Option<RequestHead>, ProxyError> {
    if c.buf.is_empty() {
        return Ok(None);
    }
    Ok(parser::parse_request(c.buf.get(&ctx.bufs), &ctx.limits())?)
}

fn append(c: &mut Client, ctx: &ShardCtx, data: &[u8]) {
    bump(&ctx.metrics().bytes_in, data.len() as u64);
    c.buf.get(&ctx.bufs).extend_from_slice(data);
}
