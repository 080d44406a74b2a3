//! One routed request: route it on its normalised path, answer it with a
//! fixed response or forward it, then count it and log it. A panic while
//! handling it closes this connection only.

use std::time::Instant;

use parser::{Method, RequestHead, Version};

use super::request::{request_id, RequestId};
use super::respond::{respond, send_denied, send_error, send_preflight, send_refusal};
use crate::client::{Client, Next, Trace};
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::limit::admit::admit;
use crate::limit::key::Facts;
use crate::observe::metrics::bump;
use crate::shard;
use crate::snapshot::access::{self, BasicAttempt, Caller, Gate, JwtAttempt};
use crate::snapshot::guard::is_preflight;
use crate::snapshot::route::{Action, Routed};
use crate::snapshot::target::Target;
use ::access::key as access_key;

/// [`handle`], with a panic turned into closing this connection, logged
/// with the request's id.
pub(super) async fn handle_guarded(c: &mut Client, ctx: &ShardCtx, head: RequestHead) -> Next {
    let id = request_id(&head, ctx);
    // Built and polled in place: the request's state machine is large and
    // is never moved (a move per request costs a memcpy of its size).
    let mut fut = std::pin::pin!(handle(c, ctx, &head, &id));
    match std::future::poll_fn(|cx| shard::poll_catching(fut.as_mut(), cx)).await {
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

/// Routes one request and answers it.
async fn handle(c: &mut Client, ctx: &ShardCtx, head: &RequestHead, id: &RequestId<'_>) -> Next {
    let started = crate::clock::now();
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
            refuse(c, ctx, ProxyError::MethodNotAllowed, id, head).await
        }
        Err(e) => refuse(c, ctx, *e, id, head).await,
        Ok(r) => routed_request(c, ctx, &view, r, head, &target, id).await,
    };
    let route = routed.as_ref().ok().map(|r| r.idx);
    let done = Done {
        head,
        id,
        host,
        view: &view,
        route,
        started,
    };
    finish(c, ctx, done);
    next
}

/// A routed request: its guards (client IP, CORS preflight, credential),
/// then its fixed response or its upstream.
async fn routed_request(
    c: &mut Client,
    ctx: &ShardCtx,
    view: &crate::view::SnapView,
    r: &Routed<'_, '_>,
    head: &RequestHead,
    target: &Target<'_>,
    id: &RequestId<'_>,
) -> Next {
    let guard = &r.route.guard;
    if !guard.admits(c.peer.ip()) {
        return send_denied(c, ctx, ProxyError::IpDenied, &[], id, head).await;
    }
    let cors = guard.cors.as_deref();
    if let Some(cors) = cors.filter(|_| is_preflight(head)) {
        return match cors.origin(head) {
            Some(origin) => send_preflight(c, ctx, head, cors, origin, id).await,
            None => send_denied(c, ctx, ProxyError::CorsOrigin, &[], id, head).await,
        };
    }
    let gate = access::check(&view.snap, r.route, head, target.path);
    let caller = match gate {
        Ok(Gate::Open) => Ok(None),
        Ok(Gate::Caller(caller)) => Ok(Some(caller)),
        Ok(Gate::Basic(attempt)) => verify_basic(ctx, &view.snap, attempt).await.map(Some),
        Ok(Gate::Jwt(attempt)) => verify_jwt(ctx, &view.snap, attempt).await.map(Some),
        Ok(Gate::Forbidden(app)) => {
            c.trace.app = Some(app);
            Err(ProxyError::Forbidden)
        }
        Err(e) => Err(e),
    };
    let caller = match caller {
        Ok(caller) => {
            c.trace.app = caller.map(|k| k.consumer.app);
            caller
        }
        Err(ProxyError::ServiceUnknown) => {
            return refuse(c, ctx, ProxyError::ServiceUnknown, id, head).await
        }
        Err(e) => {
            let challenge = access::challenge(&view.snap, r.route);
            return send_denied(c, ctx, e, &challenge, id, head).await;
        }
    };
    let facts = Facts {
        ip: c.peer.ip(),
        caller: caller.map(|k| k.consumer),
        head,
        route: &r.route.name,
    };
    let stats = &ctx.view.stats;
    let counted = admit(&r.route.limits, &facts, ctx.id, |name, o| {
        stats.limit(name, o)
    });
    let admitted = match counted.await {
        Ok(admitted) => admitted,
        Err(refusal) => return send_refusal(c, ctx, refusal, id, head).await,
    };
    match &r.route.action {
        Action::Respond(canned) => respond(c, ctx, head, canned, id).await,
        Action::Ai(ai) => {
            let req = crate::ai::AiRequest {
                view,
                route: r.route,
                ai,
                head,
                path: &r.path,
                id: id.as_bytes(),
                facts,
                body_read: Default::default(),
                front: Default::default(),
            };
            // Boxed on its own (built in place): the AI call's state must
            // not grow every request's state machine, which holds the
            // largest of its branches.
            let call = Box::write(Box::new_uninit(), crate::ai::serve(c, ctx, req));
            let next = Box::into_pin(call).await;
            drop(admitted);
            next
        }
        Action::Proxy(group) => {
            let req = crate::proxy::Request {
                view,
                route: r.route,
                route_idx: r.idx,
                head,
                target,
                path: &r.path,
                id: id.as_bytes(),
                group: *group,
                upgrade: r.route.upgrade(head),
                caller,
                cors: cors.map(|k| (k, k.origin(head))),
                limits: &admitted,
                fetch: None,
                response_fields: &[],
            };
            proxy(c, ctx, req, id).await
        }
    }
}

/// Verifies a Basic password: a verification this shard made less than a
/// minute ago for the same credential counts; otherwise argon2id runs on
/// the shard's blocking thread while the shard serves on.
async fn verify_basic<'s>(
    ctx: &ShardCtx,
    snap: &'s crate::snapshot::Snapshot,
    attempt: BasicAttempt<'s>,
) -> Result<Caller<'s>, ProxyError> {
    let now = crate::clock::now();
    let credential = attempt.entry.map(|e| e.credential);
    if credential.is_some() && ctx.basic.hit(&attempt.digest, now) == credential {
        return attempt.verified(snap);
    }
    // Bounded: a flood of wrong passwords queues no more than this per shard.
    let Some(_slot) = ctx.basic_slot() else {
        return Err(ProxyError::AuthBusy);
    };
    let password = attempt.password.clone();
    let phc = attempt.entry.map(|e| e.phc.clone());
    let ok = shard::blocking(move || {
        let phc = phc.as_deref().unwrap_or_else(|| access_key::dummy_phc());
        access_key::verify_password(&password, phc)
    })
    .await;
    match (ok, credential) {
        (true, Some(credential)) => {
            ctx.basic
                .insert(attempt.digest, credential, now + crate::ctx::BASIC_TTL);
            attempt.verified(snap)
        }
        _ => Err(ProxyError::Unauthorized),
    }
}

/// Verifies a bearer token: one this shard verified before counts until
/// it expires (a SHA-256 and a lookup); otherwise its signature, pinned
/// `alg`, issuer, audience and times are checked here. A token whose `kid`
/// no key set holds asks the control thread for a JWKS refresh.
async fn verify_jwt<'s>(
    ctx: &ShardCtx,
    snap: &'s crate::snapshot::Snapshot,
    attempt: JwtAttempt<'s, '_>,
) -> Result<Caller<'s>, ProxyError> {
    let now = crate::clock::now();
    let hit = ctx.jwt.hit(&attempt.digest, now);
    // A hit whose credential is gone (deleted, or re-created with new keys)
    // is checked again.
    if let Some(credential) = hit.filter(|&c| snap.access.jwt_credential(c).is_some()) {
        return access::jwt_caller(snap, attempt.service, credential);
    }
    match snap.access.by_jwt(attempt.token) {
        ::access::JwtCheck::Valid(entry, exp) => {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // Until the token expires, but no longer than a JWKS refresh
            // period, so that a key dropped from its set stops counting.
            let left = exp
                .saturating_add(snap.access.jwt_leeway)
                .saturating_sub(unix);
            let until = now + std::time::Duration::from_secs(left.min(access::JWT_CACHE_MAX));
            ctx.jwt.insert(attempt.digest, entry.credential, until);
            access::jwt_caller(snap, attempt.service, entry.credential)
        }
        ::access::JwtCheck::UnknownKid => {
            snap.access
                .jwks_wanted
                .store(true, std::sync::atomic::Ordering::Relaxed);
            Err(ProxyError::Unauthorized)
        }
        ::access::JwtCheck::Invalid => Err(ProxyError::Unauthorized),
    }
}

/// Answers a request coregate will not serve with its error, then closes.
async fn refuse(
    c: &mut Client,
    ctx: &ShardCtx,
    e: ProxyError,
    id: &RequestId<'_>,
    head: &RequestHead,
) -> Next {
    c.trace.error = Some(e);
    send_error(c, ctx, e, id, head.version()).await;
    Next::Close
}

/// Forwards a routed request; a failure is answered or signalled.
async fn proxy(
    c: &mut Client,
    ctx: &ShardCtx,
    req: crate::proxy::Request<'_>,
    id: &RequestId<'_>,
) -> Next {
    let res = match req.route.cache.as_deref() {
        // Boxed on its own, as the AI call: the cache's state must not
        // grow every request's state machine.
        Some(policy) => {
            let served = Box::write(Box::new_uninit(), crate::cache::serve(c, ctx, req, policy));
            Box::into_pin(served).await
        }
        None => crate::proxy::forward(c, ctx, req).await,
    };
    match res {
        Ok(next) => next,
        Err(e) => {
            forward_failed(c, ctx, e, id).await;
            Next::Close
        }
    }
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
    let total = crate::clock::now().saturating_duration_since(d.started);
    count(c, ctx, &d, total);
    let Some(log) = &ctx.access_log else { return };
    if log.wants(c.trace.status, c.trace.error.is_some()) {
        log_line(c, ctx, log, &d, total);
    }
}

/// Counts the request in its route's and listener's statistics.
fn count(c: &Client, ctx: &ShardCtx, d: &Done<'_>, total: std::time::Duration) {
    let t = &c.trace;
    if let Some(e) = t.error {
        ctx.view.stats.error(e.as_str(), false);
    }
    let stats = match d.route {
        Some(i) => d.view.route_stats.get(i),
        None => Some(&d.view.unrouted),
    };
    if let (Some(stats), true) = (stats, ctx.metrics_on) {
        stats.request(t.status, t.bytes_in, t.bytes_out, total);
        if let Some(o) = t.cache {
            crate::observe::stats::bump(&stats.cache[o.index()], 1);
        }
    }
    ctx.view.stats.listener(c.listener, t.status);
    if let Some(app) = t.app {
        ctx.view.stats.app(app, t.status);
    }
    let answered = t.ai.as_deref().and_then(|a| Some((a, a.provider?)));
    if let Some((a, (p, _))) = answered {
        if let Some(p) = d.view.snap.ai.providers.get(usize::from(p)) {
            ctx.view.stats.ai(t.app, &p.spec.name, &a.usage, a.cost);
        }
    }
}

/// Writes the request's access log line.
fn log_line(
    c: &Client,
    ctx: &ShardCtx,
    log: &crate::observe::accesslog::ShardLog,
    d: &Done<'_>,
    total: std::time::Duration,
) {
    let t = &c.trace;
    let routed = d.route.and_then(|i| d.view.snap.routes.get(i));
    let route = routed.map(|r| &*r.name);
    let redacted = routed.and_then(|r| access::redact_key(&d.view.snap, r, d.head.target()));
    let limited_by = routed
        .zip(t.limit)
        .and_then(|(r, at)| r.limits.get(usize::from(at)))
        .map(|p| &*p.spec.name);
    log.log(&crate::observe::accesslog::Entry {
        shard: ctx.id,
        id: d.id.as_bytes(),
        client: c.peer,
        method: d.head.method_bytes(),
        host: d.host,
        target: redacted.as_deref().unwrap_or(d.head.target()),
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
        tls: c.tls.as_deref().map(|t| &t.summary),
        rate_limit: limited_by,
        cache: t.cache.map(crate::cache::Outcome::as_str),
        consumer: t
            .app
            .and_then(|app| d.view.snap.access.consumer(app))
            .map(|c| (&*c.app_name, &*c.team_name)),
        ai: t.ai.as_deref().map(|a| ai_entry(&d.view.snap, routed, a)),
    });
}

/// An AI call's log fields, its indexes resolved to names.
fn ai_entry<'a>(
    snap: &'a crate::snapshot::Snapshot,
    route: Option<&crate::snapshot::route::Route>,
    a: &'a crate::ai::AiTrace,
) -> crate::observe::accesslog::AiEntry<'a> {
    let masks = match route.map(|r| &r.action) {
        Some(Action::Ai(action)) => &action.masks[..],
        _ => &[],
    };
    let bodies = a.bodies.as_deref().map(|(prompt, answer)| {
        let mask = |b: &[u8]| crate::ai::masked(b, masks);
        (mask(prompt), mask(answer))
    });
    let name = |(p, k): (u16, u16)| {
        let p = snap.ai.providers.get(usize::from(p))?;
        let k = p.keys.get(usize::from(k))?;
        Some((p.spec.name.as_str(), &*k.id))
    };
    crate::observe::accesslog::AiEntry {
        trace: a,
        answered: a.provider.and_then(name),
        failovers: a
            .failovers
            .iter()
            .filter_map(|&(p, k, why)| name((p, k)).map(|(p, k)| (p, k, why)))
            .collect(),
        bodies,
    }
}
