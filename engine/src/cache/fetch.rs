//! A cache's trips upstream: the leader's fetch of a key (a miss, or a
//! stale entry's revalidation), the refresh after a stale answer, and a
//! waiter's wait on the leader. The leader's body goes to its client, into
//! the entry and to the waiters as it arrives; past `max_object_bytes` it
//! only streams through.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use cache::{CacheStatus, Field, Fwd};
use parser::{BodyDecoder, BodyKind, Decoded, ResponseHead};

use super::answer::{self, Framing, Head};
use super::fill::{At, Event, Fill, Lead};
use super::store::{Entry, Origin};
use super::{status, unix_now, Lookup, Outcome};
use crate::client::{send_client, Client, Next};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::io::SendBuf;
use crate::proxy::{Deadlines, Fetch, Request, Respond};
use crate::shard;
use crate::upstream::pool::UpConn;

/// The leader's answer to a response head.
struct Filler<'l, 's> {
    lead: Option<Lead<'s>>,
    l: &'l Lookup<'l>,
    /// The entry being revalidated, if any.
    stale: Option<Arc<Entry>>,
    /// Whether the stale entry may answer an origin failure.
    on_error: bool,
    fwd: Fwd,
    /// A refresh: the client already has its answer.
    silent: bool,
}

/// Leads the fetch of `l.key`: stores what may be stored, answers the
/// client, and on an origin failure within `stale-if-error` answers with
/// the stale entry.
pub(super) async fn lead(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    l: &Lookup<'_>,
    lead: Lead<'_>,
    stale: Option<Arc<Entry>>,
    fwd: Fwd,
) -> Result<Next, ProxyError> {
    let on_error = stale.as_ref().is_some_and(|e| super::stale_on_error(e, l));
    let validators = stale.clone();
    let req = Request {
        fetch: Some(fetch_of(validators.as_deref())),
        ..req
    };
    let mut filler = Filler {
        lead: Some(lead),
        l,
        stale: stale.clone(),
        on_error,
        fwd,
        silent: false,
    };
    let res = crate::proxy::forward_with(c, ctx, &req, &mut filler).await;
    drop(filler);
    match (res, stale) {
        (Err(e), Some(s))
            if on_error && !c.trace.committed && e.side() != crate::error::Side::Downstream =>
        {
            c.trace.error = Some(e);
            serve_stale(c, ctx, &req, &s).await
        }
        (res, _) => res,
    }
}

/// Refreshes a stale entry after its client had it (stale-while-revalidate),
/// unless another request already fetches the key. The request's own
/// trace is kept as its answer left it.
pub(super) async fn refresh(
    c: &mut Client,
    ctx: &ShardCtx,
    req: Request<'_>,
    l: &Lookup<'_>,
    stale: Arc<Entry>,
) {
    let store = req.view.snap.cache.clone();
    let Some(lead) = store.fills.try_lead(&l.key) else {
        return;
    };
    // Refreshed already, between this request's lookup and now.
    if let super::store::Found::Entry(current) = store.lookup(&l.key, &l.fields) {
        if !Arc::ptr_eq(&current, &stale) {
            return;
        }
    }
    let req = Request {
        fetch: Some(fetch_of(Some(&stale))),
        ..req
    };
    let mut filler = Filler {
        lead: Some(lead),
        l,
        stale: Some(stale.clone()),
        on_error: false,
        fwd: Fwd::Stale,
        silent: true,
    };
    let kept = std::mem::take(&mut c.trace);
    let _ = crate::proxy::forward_with(c, ctx, &req, &mut filler).await;
    c.trace = kept;
}

/// The validators of a stale entry, for the upstream request.
fn fetch_of(stale: Option<&Entry>) -> Fetch<'_> {
    Fetch {
        if_none_match: stale.and_then(|e| e.field(b"etag")),
        if_modified_since: stale.and_then(|e| e.field(b"last-modified")),
    }
}

/// A stale entry answers an origin failure (stale-if-error).
pub(super) async fn serve_stale(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    e: &Entry,
) -> Result<Next, ProxyError> {
    let now = unix_now();
    let cs = CacheStatus {
        fwd: Some(Fwd::Stale),
        detail: Some("stale-if-error"),
        ..status(true, None, e.meta.ttl(now))
    };
    c.trace.cache = Some(Outcome::Stale);
    answer::entry(c, ctx, req, e, cs, now).await
}

/// Waits on another request's fetch: `None` when this request should go
/// upstream itself (the fill was not storable, failed before its head,
/// selected another variant, or outlasted `lock_timeout`).
pub(super) async fn wait(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    l: &Lookup<'_>,
    fill: &Arc<Fill>,
) -> Option<Result<Next, ProxyError>> {
    let mut at = At::Start;
    let first = shard::timeout(l.policy.lock_timeout, shard::foreign(fill.next(&mut at))).await;
    let authorized = l
        .fields
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"authorization"));
    let mine = |e: &Entry| {
        cache::variant_key(&e.vary, &l.fields) == e.variant && (!authorized || super::shareable(e))
    };
    let cs = CacheStatus {
        collapsed: true,
        ..status(true, None, 0)
    };
    match first {
        Ok(Event::Done(e)) if mine(&e) => {
            c.trace.cache = Some(Outcome::Collapsed);
            let cs = CacheStatus {
                ttl: Some(e.meta.ttl(l.now)),
                ..cs
            };
            Some(answer::entry(c, ctx, req, &e, cs, unix_now()).await)
        }
        Ok(Event::Head(e)) if mine(&e) => {
            c.trace.cache = Some(Outcome::Collapsed);
            Some(follow(c, ctx, req, (fill, &mut at), &e, cs).await)
        }
        _ => None,
    }
}

/// Streams a fill's body to a waiter as the leader receives it.
async fn follow(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &Request<'_>,
    (fill, at): (&Arc<Fill>, &mut At),
    e: &Entry,
    cs: CacheStatus<'_>,
) -> Result<Next, ProxyError> {
    if answer::not_modified(req, e) {
        return answer::entry(c, ctx, req, e, cs, unix_now()).await;
    }
    let framing = Framing::Length(e.len);
    let next = answer::next_for(ctx, req, framing);
    let h = Head {
        status: e.status,
        age: e.meta.age(unix_now()),
        cs: &cs,
        framing: Some(framing),
        next,
    };
    let mut out = BytesMut::with_capacity(512);
    answer::write_head(req, e, &h, &mut out);
    answer::send(c, ctx, e.status, out, &[], next).await?;
    if req.head.method() == parser::Method::Head {
        return Ok(next);
    }
    let wait = ctx.timeouts().upstream_body;
    loop {
        let event = shard::timeout(wait, shard::foreign(fill.next(at))).await;
        match event {
            Ok(Event::Chunk(b)) => answer::send_piece(c, ctx, b, framing).await?,
            Ok(Event::End) => return Ok(next),
            Ok(_) => return Err(ProxyError::UpstreamTruncated),
            Err(_) => return Err(ProxyError::UpstreamBodyTimeout),
        }
    }
}

impl Respond for Filler<'_, '_> {
    async fn respond(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        up: UpConn,
        rh: ResponseHead,
        deadlines: Deadlines,
    ) -> Result<Next, ProxyError> {
        let now = unix_now();
        c.trace.upstream_status = Some(rh.status());
        if let Some(stale) = self.stale.clone() {
            if rh.status() == 304 {
                return self.revalidated(c, ctx, req, up, &rh, &stale, now).await;
            }
            if rh.status() >= 500 && self.on_error {
                // The failed response's body is not read: the connection closes.
                drop(up);
                self.lead.take();
                return serve_stale(c, ctx, req, &stale).await;
            }
        }
        match self.decide(req, &rh, now) {
            Some(entry) => self.stream(c, ctx, req, up, &rh, entry, deadlines).await,
            None => {
                self.lead.take();
                if self.silent {
                    return Ok(Next::Close);
                }
                let mut line = BytesMut::new();
                let cs = status(false, Some(self.fwd), 0);
                let cs = CacheStatus {
                    fwd_status: Some(rh.status()),
                    ..cs
                };
                parser::write_header(b"cache-status", &cs.to_value(answer::NAME), &mut line);
                c.trace.cache = Some(Outcome::Pass);
                let req = Request {
                    response_fields: &line,
                    ..*req
                };
                crate::proxy::relay_response(c, ctx, &req, up, rh, deadlines).await
            }
        }
    }
}

// === impl Filler ===

impl Filler<'_, '_> {
    /// The entry `rh` makes, without its body, if it may be stored.
    fn decide(&self, req: &Request<'_>, rh: &ResponseHead, now: u64) -> Option<Entry> {
        if !matches!(
            rh.body(),
            BodyKind::Length(_) | BodyKind::Chunked | BodyKind::Empty
        ) {
            return None;
        }
        let resp: Vec<Field<'_>> = rh.headers().collect();
        let reqv = cache::ReqView::new(b"GET", &self.l.fields);
        let respv = cache::RespView::new(rh.status(), &resp);
        let times = cache::Times {
            request: self.l.now,
            response: now,
        };
        let s = cache::storable(&reqv, &respv, &self.l.policy.opts, times).ok()?;
        let vary = cache::vary_names(&resp).ok()?;
        if vary.iter().any(|n| rewritten_upstream(req, n)) {
            return None;
        }
        let fields = cache::stored_fields(&resp, &s.strip_fields)
            .into_iter()
            .filter(|(n, _)| !is_framing(n) && !n.eq_ignore_ascii_case(b"age"))
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect();
        Some(Entry {
            status: rh.status(),
            reason: Bytes::copy_from_slice(rh.reason()),
            fields,
            meta: s.meta,
            variant: cache::variant_key(&vary, &self.l.fields),
            vary: vary.into(),
            body: Vec::new(),
            len: match rh.body() {
                BodyKind::Length(n) => n,
                _ => 0,
            },
        })
    }

    /// A `304` for the stale entry: its fields merged in, the entry stored
    /// again, the client answered from it.
    #[allow(clippy::too_many_arguments)]
    async fn revalidated(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        up: UpConn,
        rh: &ResponseHead,
        stale: &Entry,
        now: u64,
    ) -> Result<Next, ProxyError> {
        let got: Vec<Field<'_>> = rh.headers().collect();
        let merged = cache::merge_304(&stale.field_slices(), &got);
        let slices: Vec<Field<'_>> = merged.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let respv = cache::RespView::new(stale.status, &slices);
        let times = cache::Times {
            request: self.l.now,
            response: now,
        };
        let meta = cache::EntryMeta::new(&respv, &self.l.policy.opts, times);
        let fields = merged
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(b"age"))
            .cloned()
            .collect();
        let entry = Arc::new(Entry {
            fields,
            meta,
            ..stale.clone()
        });
        if up.buf.is_empty() && up.early.is_none() && rh.keep_alive() {
            ctx.pool.checkin(up, &ctx.bufs);
        }
        self.store(req, entry.clone());
        if self.silent {
            return Ok(Next::KeepAlive);
        }
        let cs = CacheStatus {
            fwd: Some(Fwd::Stale),
            fwd_status: Some(304),
            ..status(true, None, entry.meta.ttl(now))
        };
        c.trace.cache = Some(Outcome::Revalidated);
        answer::entry(c, ctx, req, &entry, cs, now).await
    }

    /// Stores `entry` under the key and hands it to the waiters.
    fn store(&mut self, req: &Request<'_>, entry: Arc<Entry>) {
        let snap = &req.view.snap;
        let host = req
            .target
            .authority
            .or_else(|| req.head.host())
            .unwrap_or_default();
        let scheme = self.l.scheme;
        let host = cache::normalise_host(scheme, host);
        let origin = Origin {
            route: &req.route.name,
            host: &host,
            target: req.path,
        };
        snap.cache.insert(self.l.key.clone(), entry.clone(), origin);
        if let Some(lead) = self.lead.take() {
            lead.done(entry);
        }
    }

    /// Streams a storable response: to the client, into the entry, to
    /// the waiters (when its length is known).
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &mut self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        mut up: UpConn,
        rh: &ResponseHead,
        mut entry: Entry,
        deadlines: Deadlines,
    ) -> Result<Next, ProxyError> {
        let known = rh.body() != BodyKind::Chunked;
        let framing = match known {
            true => Framing::Length(entry.len),
            false => answer::unknown_length(req),
        };
        let next = answer::next_for(ctx, req, framing);
        if let (true, Some(lead)) = (known, &self.lead) {
            lead.head(Arc::new(entry.clone()));
        }
        let mut client = Ok(());
        if !self.silent {
            let cs = CacheStatus {
                fwd: Some(self.fwd),
                fwd_status: Some(rh.status()),
                stored: true,
                ..status(false, None, 0)
            };
            client = self
                .send_head(c, ctx, req, &entry, &cs, framing, next)
                .await;
        }
        let max = self.l.policy.opts.max_object_bytes.unwrap_or(u64::MAX);
        let mut body = Body::start(ctx, &mut up, rh.body());
        // The upstream is pumped into the entry (and the waiters) while
        // this request's own client follows through a pipe: a client
        // that reads slowly never holds back the fill, up to
        // `max_object_bytes`; past that nothing is stored and the pump
        // waits for the client (the body only streams through).
        let pipe = Pipe::default();
        if self.silent || client.is_err() {
            pipe.gone.set(true);
        }
        let committed = c.trace.committed;
        let pump = async {
            let mut storing = true;
            let mut total = 0u64;
            loop {
                if !storing {
                    pipe.drained().await;
                    if pipe.gone.get() {
                        return Ok((total, false));
                    }
                }
                let Some(d) = body.next(ctx, &mut up, deadlines, committed).await? else {
                    return Ok((total, storing));
                };
                total += d.len() as u64;
                if storing && total > max {
                    storing = false;
                    entry.body.clear();
                    self.lead.take();
                }
                if storing {
                    entry.body.push(d.clone());
                    if let (true, Some(lead)) = (known, &self.lead) {
                        lead.chunk(d.clone());
                    }
                }
                pipe.push(d);
            }
        };
        let pump = async {
            let res: Result<(u64, bool), ProxyError> = pump.await;
            pipe.close(res.is_ok());
            res
        };
        let follow = async {
            if pipe.gone.get() {
                return Ok(());
            }
            let sent = drain_pipe(c, ctx, &pipe, framing).await;
            pipe.gone.set(true);
            pipe.wake_writer();
            sent
        };
        let (pumped, followed) = futures_lite::future::zip(pump, follow).await;
        let (total, storing) = pumped?;
        if client.is_ok() {
            client = followed;
        }
        if body.clean && rh.keep_alive() {
            ctx.pool.checkin(up, &ctx.bufs);
        }
        if storing {
            entry.len = total;
            // One piece: a hit then sends its head and body in two iovecs.
            if entry.body.len() > 1 {
                entry.body = vec![Bytes::from(entry.body.concat())];
            }
            self.store(req, Arc::new(entry));
        }
        if !self.silent {
            c.trace.cache = Some(if storing {
                Outcome::Miss
            } else {
                Outcome::Pass
            });
        }
        client.map(|()| next)
    }

    /// The leader's response head, from the entry as a hit's would be.
    #[allow(clippy::too_many_arguments)]
    async fn send_head(
        &self,
        c: &mut Client,
        ctx: &ShardCtx,
        req: &Request<'_>,
        entry: &Entry,
        cs: &CacheStatus<'_>,
        framing: Framing,
        next: Next,
    ) -> Result<(), ProxyError> {
        let h = Head {
            status: entry.status,
            age: entry.meta.age(unix_now()),
            cs,
            framing: Some(framing),
            next,
        };
        let mut out = BytesMut::with_capacity(512);
        answer::write_head(req, entry, &h, &mut out);
        c.trace.status = entry.status;
        c.trace.committed = true;
        let n = out.len() as u64;
        send_client(c, SendBuf::from(out.freeze())).await?;
        ctx.metrics().response(entry.status);
        crate::observe::metrics::bump(&ctx.metrics().bytes_out, n);
        c.trace.bytes_out += n;
        Ok(())
    }
}

/// Sends the pieces the pump leaves in `pipe` to the client, then the
/// body's end.
async fn drain_pipe(
    c: &mut Client,
    ctx: &ShardCtx,
    pipe: &Pipe,
    framing: Framing,
) -> Result<(), ProxyError> {
    loop {
        match pipe.next().await {
            Some(d) => answer::send_piece(c, ctx, d, framing).await?,
            None if pipe.ended_ok.get() => return answer::send_last(c, framing).await,
            None => return Err(ProxyError::UpstreamTruncated),
        }
    }
}

/// The leader's pieces on their way to its own client, within one task:
/// the pump pushes, the client's sender pops. Unbounded while the body is
/// stored (the entry holds the same pieces anyway); the pump waits for it
/// to drain once it is not.
#[derive(Default)]
struct Pipe {
    queue: std::cell::RefCell<std::collections::VecDeque<Bytes>>,
    /// The pump finished (`ended_ok` says how).
    ended: std::cell::Cell<bool>,
    ended_ok: std::cell::Cell<bool>,
    /// The client is gone (or there is none): pieces are not kept.
    gone: std::cell::Cell<bool>,
    reader: std::cell::RefCell<Option<std::task::Waker>>,
    writer: std::cell::RefCell<Option<std::task::Waker>>,
}

impl Pipe {
    fn push(&self, d: Bytes) {
        if self.gone.get() {
            return;
        }
        self.queue.borrow_mut().push_back(d);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }

    fn close(&self, ok: bool) {
        self.ended_ok.set(ok);
        self.ended.set(true);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }

    fn wake_writer(&self) {
        if let Some(w) = self.writer.borrow_mut().take() {
            w.wake();
        }
    }

    /// The next piece; `None` once the pump ended and all went out.
    fn next(&self) -> impl std::future::Future<Output = Option<Bytes>> + '_ {
        std::future::poll_fn(move |cx| {
            if let Some(d) = self.queue.borrow_mut().pop_front() {
                self.wake_writer();
                return std::task::Poll::Ready(Some(d));
            }
            if self.ended.get() {
                return std::task::Poll::Ready(None);
            }
            *self.reader.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
    }

    /// Waits until the client took every piece (or is gone).
    fn drained(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.gone.get() || self.queue.borrow().is_empty() {
                return std::task::Poll::Ready(());
            }
            *self.writer.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
    }
}

/// The upstream body, decoded (no chunk framing) piece by piece.
struct Body {
    dec: BodyDecoder,
    raw: BytesMut,
    /// Nothing came after the body: the connection can be reused.
    clean: bool,
}

impl Body {
    fn start(ctx: &ShardCtx, up: &mut UpConn, kind: BodyKind) -> Body {
        let mut raw = BytesMut::new();
        if !up.buf.is_empty() {
            let held = up.buf.get(&ctx.bufs);
            raw.extend_from_slice(held);
            held.clear();
        }
        up.buf.release(&ctx.bufs);
        if let Some(early) = up.early.take() {
            raw.extend_from_slice(&early);
        }
        Body {
            dec: BodyDecoder::new(kind),
            raw,
            clean: false,
        }
    }

    /// The next piece; `None` at the end.
    async fn next(
        &mut self,
        ctx: &ShardCtx,
        up: &mut UpConn,
        deadlines: Deadlines,
        committed: bool,
    ) -> Result<Option<Bytes>, ProxyError> {
        let bad = match committed {
            true => ProxyError::UpstreamTruncated,
            false => ProxyError::UpstreamBadResponse,
        };
        loop {
            match self.dec.decode(&mut self.raw, &ctx.response_limits()) {
                Ok(Decoded::Data(d)) => return Ok(Some(d)),
                Ok(Decoded::Done) => {
                    self.clean = self.raw.is_empty();
                    return Ok(None);
                }
                Ok(Decoded::NeedMore) => {}
                Err(_) => return Err(bad),
            }
            match shard::timeout(deadlines.body, up.io.recv()).await {
                Err(_) => return Err(ProxyError::UpstreamBodyTimeout),
                Ok(Ok(Some(data))) => self.raw.extend_from_slice(&data),
                Ok(Ok(None) | Err(_)) => return Err(ProxyError::UpstreamTruncated),
            }
        }
    }
}

/// Whether coregate sets, replaces or strips request field `name` on the
/// way upstream: a response varying on it varies on what the origin saw,
/// not on what the client sent, so it is not stored (as `Vary: *`).
fn rewritten_upstream(req: &Request<'_>, name: &[u8]) -> bool {
    const SET: [&[u8]; 5] = [
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"forwarded",
    ];
    let snap = &req.view.snap;
    let ops = &req.route.request_headers;
    SET.iter().any(|s| name.eq_ignore_ascii_case(s))
        || snap.identity.iter().any(|s| name.eq_ignore_ascii_case(s))
        || snap
            .tls
            .subject_headers
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
        || ops.drops(name)
        || ops.add.iter().any(|(k, _)| name.eq_ignore_ascii_case(k))
        || req
            .caller
            .is_some_and(|c| name.eq_ignore_ascii_case(c.service.key_header.as_bytes()))
}

/// Framing fields, which the cache writes itself.
fn is_framing(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"transfer-encoding")
}
