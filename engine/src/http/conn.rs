//! One client connection: read a head, route it, answer, repeat.
//!
//! The state machine is the loop in [`serve`]: read head → route → proxy or
//! respond → keep-alive or close. Pipelined requests are answered in order
//! because the next head is only parsed once the previous response is out.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use parser::{BodyKind, Method, RequestHead, Version};

use crate::buf::ConnBuf;
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::{SendBuf, TcpConn};
use crate::observe::metrics::{bump, drop_one};
use crate::snapshot::route::{Action, Canned};
use crate::shard;

/// A client connection.
pub(crate) struct Client {
    pub(crate) io: TcpConn,
    pub(crate) peer: SocketAddr,
    pub(crate) buf: ConnBuf,
    /// Requests answered on this connection.
    served: u64,
    /// The current request's trace.
    pub(crate) trace: Trace,
    /// Which of the configured listen addresses accepted it.
    listener: usize,
}

/// What happened to the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The connection may carry another request.
    KeepAlive,
    /// The connection must close (after the response, if any, was sent).
    Close,
}

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
    let mut c = Client {
        io,
        peer,
        buf: ConnBuf::default(),
        served: 0,
        trace: Trace::default(),
        listener,
    };
    loop {
        match serve_one(&mut c, &ctx).await {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) => break,
            Err(e) => {
                // A request head that could not be read: answer, then close.
                let id = RequestId::Fresh(ctx.request_id());
                send_error(&mut c, &ctx, e, &id, Version::Http11).await;
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
    let next = Box::pin(handle_guarded(c, ctx, head)).await;
    ctx.in_flight.set(ctx.in_flight.get() - 1);
    Ok(next)
}

/// [`handle`], with a panic turned into closing this connection, logged
/// with the request's id.
async fn handle_guarded(c: &mut Client, ctx: &ShardCtx, head: RequestHead) -> Next {
    let id = request_id(&head, ctx);
    match shard::catch_panic(handle(c, ctx, &head, &id)).await {
        Ok(next) => next,
        Err(p) => {
            bump(&ctx.metrics().panics, 1);
            eprintln!(
                "coregate: shard {}: panic in request {}: {}; connection closed",
                ctx.id,
                String::from_utf8_lossy(id.as_bytes()),
                shard::panic_message(&*p)
            );
            Next::Close
        }
    }
}

/// Reads until a complete request head is parsed. `Ok(None)` means the
/// client closed or went quiet between requests: close without a response.
async fn read_head(c: &mut Client, ctx: &ShardCtx) -> Result<Option<RequestHead>, ProxyError> {
    // A pipelined request may be buffered already.
    if let Some(head) = try_parse(c, ctx)? {
        return Ok(Some(head));
    }
    let t = ctx.timeouts();
    if c.buf.is_empty() && c.served > 0 {
        // An idle keep-alive connection: wait for the next request's first
        // bytes; silence or a close just ends the connection.
        bump(&ctx.metrics().idle_connections, 1);
        let got = shard::timeout(t.client_keepalive, c.io.recv()).await;
        drop_one(&ctx.metrics().idle_connections);
        match got {
            Ok(Ok(Some(data))) => append(c, ctx, &data),
            _ => return Ok(None),
        }
        if let Some(head) = try_parse(c, ctx)? {
            return Ok(Some(head));
        }
    }
    // One deadline for the whole head, however it trickles in (slowloris).
    let rest = async {
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
    };
    match shard::timeout(t.client_header, rest).await {
        Ok(res) => res,
        Err(_) if c.buf.is_empty() => Ok(None),
        Err(_) => Err(ProxyError::ClientHeaderTimeout),
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

/// Routes one request and answers it.
async fn handle(c: &mut Client, ctx: &ShardCtx, head: &RequestHead, id: &RequestId<'_>) -> Next {
    let started = Instant::now();
    c.trace = Trace {
        bytes_in: head.as_bytes().len() as u64,
        ..Trace::default()
    };
    #[cfg(feature = "fault-injection")]
    inject_fault(ctx, head);
    let view = ctx.snap();
    let target = Target::parse(head.target());
    let host = target.authority.or_else(|| head.host()).unwrap_or_default();
    let routed = view.snap.resolve(host, target.path, head);
    let next = match &routed {
        _ if head.method() == Method::Connect => {
            c.trace.error = Some(ProxyError::MethodNotAllowed);
            send_error(c, ctx, ProxyError::MethodNotAllowed, id, head.version()).await;
            Next::Close
        }
        Err(e) => {
            c.trace.error = Some(*e);
            send_error(c, ctx, *e, id, head.version()).await;
            Next::Close
        }
        Ok(r) => match &r.route.action {
            Action::Respond(canned) => respond(c, ctx, head, canned, id).await,
            Action::Proxy(group) => {
                let req = crate::proxy::Request {
                    view: &view,
                    route: r.route,
                    route_idx: r.idx,
                    head,
                    target: &target,
                    path: &r.path,
                    id,
                    group: *group,
                    upgrade: r.route.upgrade(head),
                };
                match crate::proxy::forward(c, ctx, req).await {
                    Ok(next) => next,
                    Err(e) => {
                        forward_failed(c, ctx, e, id).await;
                        Next::Close
                    }
                }
            }
        },
    };
    let done = Done {
        head,
        id,
        host,
        view: &view,
        route: routed.as_ref().ok().map(|r| r.idx),
        started,
    };
    finish(c, ctx, done);
    next
}

/// Test-only faults, asked for with `x-coregate-fault`: `panic` panics
/// this request's task; `core` makes the shard's accept loop panic at its
/// next connection.
#[cfg(feature = "fault-injection")]
fn inject_fault(ctx: &ShardCtx, head: &RequestHead) {
    match head.header("x-coregate-fault") {
        Some(b"panic") => panic!("fault injection: request"),
        Some(b"core") => ctx.fault_core.set(true),
        _ => {}
    }
}

/// Answers a request that could not be forwarded, or, when its response
/// had started, resets the connection so the client sees it cut short.
async fn forward_failed(c: &mut Client, ctx: &ShardCtx, e: ProxyError, id: &RequestId<'_>) {
    c.trace.error = Some(e);
    if e.side() != crate::error::Side::Downstream {
        bump(&ctx.metrics().upstream_errors, 1);
    }
    if c.trace.committed {
        if e != ProxyError::ClientClosed {
            c.io.abort_on_close();
        }
        return;
    }
    if !matches!(e, ProxyError::ClientClosed | ProxyError::ClientSendTimeout) {
        send_error(c, ctx, e, id, Version::Http11).await;
    }
}

/// Sends to the client, giving up after `client_send`: a client that
/// reads too slowly (or not at all) cannot hold the connection, the
/// upstream connection and their buffers forever.
pub(crate) async fn send_client(
    c: &mut Client,
    ctx: &ShardCtx,
    buf: SendBuf,
) -> Result<(), ProxyError> {
    timed_send(ctx.timeouts().client_send, c.io.send(buf)).await
}

/// As [`send_client`], several buffers in one sendmsg.
pub(crate) async fn send_client_vectored(
    c: &mut Client,
    ctx: &ShardCtx,
    bufs: Vec<SendBuf>,
) -> Result<(), ProxyError> {
    timed_send(ctx.timeouts().client_send, c.io.send_vectored(bufs)).await
}

async fn timed_send(
    limit: Duration,
    send: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<(), ProxyError> {
    match shard::timeout(limit, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ProxyError::ClientClosed),
        Err(_) => Err(ProxyError::ClientSendTimeout),
    }
}

/// A request that is answered, for statistics and the access log.
struct Done<'a> {
    head: &'a RequestHead,
    id: &'a RequestId<'a>,
    host: &'a [u8],
    view: &'a crate::view::SnapView,
    route: Option<usize>,
    started: Instant,
}

/// Per-request bookkeeping: route statistics and the access log line.
fn finish(c: &Client, ctx: &ShardCtx, d: Done<'_>) {
    let t = &c.trace;
    let total = d.started.elapsed();
    if let Some(e) = t.error {
        ctx.view.stats.error(e.as_str(), false);
    }
    let stats = match d.route {
        Some(i) => d.view.route_stats.get(i),
        None => Some(&d.view.unrouted),
    };
    if let (Some(stats), true) = (stats, ctx.metrics_on) {
        stats.request(t.status, t.bytes_in, t.bytes_out, total);
    }
    ctx.view.stats.listener(c.listener, t.status);
    let Some(log) = &ctx.access_log else { return };
    if !log.wants(t.status, t.error.is_some()) {
        return;
    }
    let route = d
        .route
        .and_then(|i| d.view.snap.routes.get(i))
        .map(|r| &*r.name);
    log.log(&crate::observe::accesslog::Entry {
        shard: ctx.id,
        id: d.id.as_bytes(),
        client: c.peer,
        method: d.head.method_bytes(),
        host: d.host,
        target: d.head.target(),
        proto: match d.head.version() {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        },
        status: t.status,
        bytes_in: t.bytes_in,
        bytes_out: t.bytes_out,
        route,
        upstream: t.upstream,
        upstream_status: t.upstream_status,
        connect: t.connect,
        head: t.head,
        total,
        error: t.error.map(ProxyError::as_str),
        user_agent: d.head.header("user-agent"),
    });
}

/// What one request did, filled in as it goes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Trace {
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) upstream_status: Option<u16>,
    pub(crate) connect: Option<Duration>,
    pub(crate) head: Option<Duration>,
    pub(crate) error: Option<ProxyError>,
    /// Response bytes went out: an error can no longer be answered, only
    /// signalled by an abortive close.
    pub(crate) committed: bool,
}

/// The request id: the client's `X-Request-Id` when it sent a sane one,
/// otherwise a fresh one.
fn request_id<'a>(head: &'a RequestHead, ctx: &ShardCtx) -> RequestId<'a> {
    match head.header("x-request-id") {
        Some(v) if !v.is_empty() && v.len() <= 128 => RequestId::Client(v),
        _ => RequestId::Fresh(ctx.request_id()),
    }
}

/// A request id, either taken from the request or generated.
pub(crate) enum RequestId<'a> {
    /// Sent by the client; forwarded as received.
    Client(&'a [u8]),
    /// Generated by this shard.
    Fresh([u8; 32]),
}

// === impl RequestId ===

impl RequestId<'_> {
    /// The id's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RequestId::Client(b) => b,
            RequestId::Fresh(b) => b,
        }
    }
}

/// The parts of a request target that routing needs.
pub(crate) struct Target<'a> {
    /// The host of an absolute-form target (`http://host/path`).
    pub(crate) authority: Option<&'a [u8]>,
    /// The origin-form path and query.
    pub(crate) path: &'a [u8],
}

// === impl Target ===

impl<'a> Target<'a> {
    pub(crate) fn parse(t: &'a [u8]) -> Target<'a> {
        let rest = strip_scheme(t);
        match rest {
            Some(rest) => {
                let end = rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
                let (authority, path) = rest.split_at(end);
                let path: &[u8] = if path.is_empty() { b"/" } else { path };
                Target {
                    authority: Some(authority),
                    path,
                }
            }
            None => Target {
                authority: None,
                path: t,
            },
        }
    }

    /// Whether the target was in absolute form.
    pub(crate) fn is_absolute(&self) -> bool {
        self.authority.is_some()
    }
}

fn strip_scheme(t: &[u8]) -> Option<&[u8]> {
    let lower_starts = |p: &[u8]| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
    if lower_starts(b"http://") {
        Some(&t[7..])
    } else if lower_starts(b"https://") {
        Some(&t[8..])
    } else {
        None
    }
}

/// Answers with a route's fixed response.
async fn respond(
    c: &mut Client,
    ctx: &ShardCtx,
    head: &RequestHead,
    canned: &Canned,
    id: &RequestId<'_>,
) -> Next {
    // A body we do not read cannot be skipped safely: close after answering.
    let mut next = if head.keep_alive() && head.body() == BodyKind::Empty && !ctx.draining.get() {
        Next::KeepAlive
    } else {
        Next::Close
    };
    if head.expect_continue() {
        next = Next::Close;
    }
    let mut out = BytesMut::with_capacity(256 + canned.body.len());
    parser::write_status_line(
        Version::Http11,
        canned.status,
        reason(canned.status).as_bytes(),
        &mut out,
    );
    for (k, v) in canned.headers.iter() {
        parser::write_header(k, v, &mut out);
    }
    write_framing(&mut out, canned.body.len(), head.version(), next);
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    parser::end_head(&mut out);
    if head.method() != Method::Head {
        out.extend_from_slice(&canned.body);
    }
    send_counted(c, ctx, out, canned.status)
        .await
        .unwrap_or(Next::Close)
        .min_with(next)
}

// === impl Next ===

impl Next {
    fn min_with(self, other: Next) -> Next {
        if self == Next::Close || other == Next::Close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }
}

fn write_framing(out: &mut BytesMut, len: usize, version: Version, next: Next) {
    let mut n = itoa_buf();
    parser::write_header(b"content-length", fmt_u64(len as u64, &mut n), out);
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
    match send_client(c, ctx, out.freeze().into()).await {
        Ok(()) => {
            bump(&ctx.metrics().bytes_out, len);
            c.trace.bytes_out += len;
            Some(Next::KeepAlive)
        }
        Err(_) => None,
    }
}

/// Sends a short plain-text error response that closes the connection.
pub(crate) async fn send_error(
    c: &mut Client,
    ctx: &ShardCtx,
    e: ProxyError,
    id: &RequestId<'_>,
    _v: Version,
) {
    let status = e.status();
    let mut out = BytesMut::with_capacity(256);
    let mut body = BytesMut::with_capacity(96);
    body.put_slice(status_text(status).as_bytes());
    body.put_slice(b"\nrequest-id: ");
    body.put_slice(id.as_bytes());
    body.put_slice(b"\n");
    parser::write_status_line(Version::Http11, status, reason(status).as_bytes(), &mut out);
    parser::write_header(b"content-type", b"text/plain; charset=utf-8", &mut out);
    if status == 405 {
        parser::write_header(
            b"allow",
            b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH",
            &mut out,
        );
    }
    parser::write_header(b"x-request-id", id.as_bytes(), &mut out);
    parser::write_header(b"x-coregate-error", e.as_str().as_bytes(), &mut out);
    write_framing(&mut out, body.len(), Version::Http11, Next::Close);
    parser::end_head(&mut out);
    out.extend_from_slice(&body);
    let _ = send_counted(c, ctx, out, status).await;
    // Let the client read the response before the close turns into a reset
    // over unread request bytes.
    let _ = c.io.shutdown_write();
    let _ = shard::timeout(Duration::from_millis(200), drain_input(c)).await;
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

/// The reason phrase of a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// A stack buffer for formatting integers.
pub(crate) fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Formats `v` in decimal into `buf`.
pub(crate) fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_targets() {
        let t = Target::parse(b"http://Example.com:8080/a/b?c");
        assert_eq!(t.authority, Some(&b"Example.com:8080"[..]));
        assert_eq!(t.path, b"/a/b?c");
        let t = Target::parse(b"HTTP://h?q");
        assert_eq!((t.authority, t.path), (Some(&b"h"[..]), &b"?q"[..]));
        let t = Target::parse(b"https://h");
        assert_eq!(t.path, b"/");
        let t = Target::parse(b"/plain");
        assert!(!t.is_absolute());
    }

    #[test]
    fn integers_format() {
        let mut b = itoa_buf();
        assert_eq!(fmt_u64(0, &mut b), b"0");
        assert_eq!(
            fmt_u64(18446744073709551615, &mut b),
            b"18446744073709551615"
        );
    }
}
