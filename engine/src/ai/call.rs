//! One AI call upstream: the tries in order (the alias's targets, each
//! with its usable keys), one request per try over the upstream group's
//! pooled connections, and the decision to go on to the next try. A try
//! fails over on a connect error, a `429`, a `5xx`, a refused key or a
//! first-byte timeout, always before a byte went to the client.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use parser::{Method, ResponseHead};

use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::proxy::{acquire, read_response_head};
use crate::snapshot::ai::{AiSet, Key, Provider};
use crate::upstream::pool::UpConn;
use crate::view::SnapView;

/// Tries an alias may fan out to (targets × keys).
const MAX_TRIES: usize = 8;

/// One try: a provider, the model it knows, one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Try {
    pub(super) provider: usize,
    pub(super) model: String,
    pub(super) key: usize,
}

/// The longest a key rests after a `429`, whatever its `Retry-After`.
const MAX_REST_SECS: u64 = 300;

/// Keys of one target tried before the next target.
const KEYS_PER_TARGET: usize = 3;

/// The tries for `model` (an alias or `provider/model`), in order; empty
/// when every key is resting or refused. A route with `models` serves
/// only those.
pub(super) fn plan(
    set: &AiSet,
    route: &tuning::AiRoute,
    model: &str,
    now_ms: u64,
) -> Result<Vec<Try>, ::ai::ApiError> {
    if !route.allows(model) {
        return Err(unknown_model(model));
    }
    let targets: Vec<(usize, String, u32)> = match set.config.model(model) {
        Some(alias) => ordered(&alias.targets),
        None => match model.split_once('/') {
            Some((p, m)) if !m.is_empty() => match set.config.provider(p) {
                Some(i) => vec![(i, set.providers[i].spec.map_model(m).to_owned(), 1)],
                None => return Err(unknown_model(model)),
            },
            _ => return Err(unknown_model(model)),
        },
    };
    let mut tries = Vec::new();
    for (provider, m, _) in targets {
        let Some(p) = set.providers.get(provider) else {
            continue;
        };
        for key in keys_in_order(p, now_ms).into_iter().take(KEYS_PER_TARGET) {
            tries.push(Try {
                provider,
                model: m.clone(),
                key,
            });
        }
    }
    tries.truncate(MAX_TRIES);
    Ok(tries)
}

fn unknown_model(model: &str) -> ::ai::ApiError {
    let mut e = ::ai::ApiError::new(
        404,
        "invalid_request_error",
        format!("the model `{}` does not exist", cut(model, 128)),
    );
    e.param = Some("model".to_owned());
    e.code = Some("model_not_found".to_owned());
    e
}

fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An alias's targets: one picked by weight first, the others after it in
/// the order written.
fn ordered(targets: &[tuning::AiTarget]) -> Vec<(usize, String, u32)> {
    let all: Vec<(usize, String, u32)> = targets
        .iter()
        .map(|t| (t.provider, t.model.clone(), t.weight))
        .collect();
    let first = weighted(all.iter().map(|t| t.2));
    let mut out = Vec::with_capacity(all.len());
    if let Some(f) = first {
        out.push(all[f].clone());
    }
    out.extend(
        all.iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != first)
            .map(|(_, t)| t.clone()),
    );
    out
}

/// A provider's usable keys: one picked by weight first, then the rest.
fn keys_in_order(p: &Provider, now_ms: u64) -> Vec<usize> {
    let usable: Vec<(usize, &Key)> = p
        .keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.secret.is_some() && k.state.usable(now_ms))
        .collect();
    let first = weighted(usable.iter().map(|(_, k)| k.weight));
    let mut out = Vec::with_capacity(usable.len());
    if let Some(f) = first {
        out.push(usable[f].0);
    }
    out.extend(
        usable
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != first)
            .map(|(_, (k, _))| *k),
    );
    out
}

/// An index picked with probability proportional to its weight.
fn weighted(weights: impl Iterator<Item = u32> + Clone) -> Option<usize> {
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut x = random() % total;
    for (i, w) in weights.enumerate() {
        if x < u64::from(w) {
            return Some(i);
        }
        x -= u64::from(w);
    }
    None
}

/// A per-thread xorshift, seeded from the clock: spreading load needs no
/// more.
fn random() -> u64 {
    thread_local!(static STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = crate::limit::unix_now() ^ (std::ptr::from_ref(s) as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// Why a try failed.
pub(super) enum Failed {
    /// Try the next one: the reason, for the log.
    Next(&'static str),
    /// The provider answered an error that another try would not change.
    Final(Box<(ResponseHead, UpConn)>),
}

/// A provider's answer that is relayed: its head and connection.
pub(super) struct Answer {
    pub(super) head: ResponseHead,
    pub(super) up: UpConn,
}

/// Sends one try's request and reads the answer's head.
pub(super) async fn attempt(
    ctx: &ShardCtx,
    view: &SnapView,
    p: &Provider,
    t: &Try,
    out: &::ai::Outbound,
) -> Result<Answer, Failed> {
    let key = &p.keys[t.key];
    let Some(secret) = key.secret.as_deref() else {
        return Err(Failed::Next("key unreadable"));
    };
    key.state.requests.fetch_add(1, Relaxed);
    let (g, gs) = match (
        view.snap.groups.get(p.spec.group),
        view.groups.get(p.spec.group),
    ) {
        (Some(g), Some(gs)) => (g, gs),
        _ => return Err(Failed::Next("no upstream group")),
    };
    let now = crate::clock::now();
    let Some(picked) = gs.pick(g, None, None, now) else {
        return Err(Failed::Next("no backend"));
    };
    let connect = p
        .spec
        .connect_timeout
        .unwrap_or(ctx.timeouts().upstream_connect);
    let res = exchange(ctx, &p.spec, secret, out, (g, gs, picked.addr), connect).await;
    let ok = matches!(&res, Ok(a) if a.head.status() < 500);
    gs.end(
        g,
        picked.addr,
        crate::clock::now() - now,
        ok,
        crate::clock::now(),
    );
    let answer = match res {
        Ok(a) => a,
        Err(e) => {
            key.state.failures.fetch_add(1, Relaxed);
            return Err(Failed::Next(e.as_str()));
        }
    };
    judge(key, answer)
}

/// Connects (or reuses), sends, and reads the head within the first-byte
/// timeout.
async fn exchange(
    ctx: &ShardCtx,
    spec: &tuning::AiProvider,
    secret: &str,
    out: &::ai::Outbound,
    (g, gs, addr): (
        &crate::snapshot::route::Group,
        &crate::upstream::balance::GroupState,
        SocketAddr,
    ),
    connect: Duration,
) -> Result<Answer, ProxyError> {
    let (mut up, reused) = acquire(ctx, gs, g, addr, connect).await?;
    let req = encode(spec, secret, out).freeze();
    let wait = spec.first_byte_timeout;
    match crate::shard::timeout(wait, up.io.send(req.clone())).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) if reused => {
            // A stale pooled connection (its slot freed first): once, on a
            // fresh one.
            drop(up);
            let (mut fresh, _) = acquire_fresh(ctx, gs, g, addr, connect).await?;
            match crate::shard::timeout(wait, fresh.io.send(req)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ProxyError::UpstreamClosed),
                Err(_) => return Err(ProxyError::UpstreamHeaderTimeout),
            }
            up = fresh;
        }
        Ok(Err(_)) => return Err(ProxyError::UpstreamClosed),
        Err(_) => return Err(ProxyError::UpstreamHeaderTimeout),
    }
    let head = read_response_head(ctx, &mut up, Method::Post, spec.first_byte_timeout).await?;
    Ok(Answer { head, up })
}

/// A new connection even when the pool holds one (after a stale one).
async fn acquire_fresh(
    ctx: &ShardCtx,
    gs: &crate::upstream::balance::GroupState,
    g: &crate::snapshot::route::Group,
    addr: SocketAddr,
    connect: Duration,
) -> Result<(UpConn, bool), ProxyError> {
    ctx.pool.drop_idle(addr);
    acquire(ctx, gs, g, addr, connect).await
}

/// The request: head with the key's header, then the body.
fn encode(spec: &tuning::AiProvider, secret: &str, out: &::ai::Outbound) -> BytesMut {
    let (name, value) = spec.kind.auth_header(secret);
    let mut b = BytesMut::with_capacity(256 + out.path.len() + out.body.len());
    b.put_slice(b"POST ");
    b.put_slice(out.path.as_bytes());
    b.put_slice(b" HTTP/1.1\r\nhost: ");
    b.put_slice(spec.host.as_bytes());
    b.put_slice(b"\r\n");
    for (k, v) in out
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain([(name, value.as_str())])
    {
        b.put_slice(k.as_bytes());
        b.put_slice(b": ");
        b.put_slice(v.as_bytes());
        b.put_slice(b"\r\n");
    }
    parser::write_content_length(out.body.len() as u64, &mut b);
    parser::end_head(&mut b);
    b.put_slice(&out.body);
    b
}

/// What a provider's status means for the try and its key.
fn judge(key: &Key, a: Answer) -> Result<Answer, Failed> {
    let status = a.head.status();
    match status {
        200..=299 => Ok(a),
        429 => {
            let secs = a
                .head
                .header("retry-after")
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, MAX_REST_SECS);
            let until = now_ms() + secs * 1000;
            key.state.cool_until.fetch_max(until, Relaxed);
            key.state.rate_limited.fetch_add(1, Relaxed);
            Err(Failed::Next("429"))
        }
        // 403 is the request's (a model the key may not use, a region):
        // answered, and the key stays.
        401 => {
            key.state.refused.store(true, Relaxed);
            key.state.failures.fetch_add(1, Relaxed);
            eprintln!(
                "coregate: ai key {:?} refused by its provider ({status}): out until a reload",
                key.id
            );
            Err(Failed::Next("key refused"))
        }
        500..=599 => {
            key.state.failures.fetch_add(1, Relaxed);
            Err(Failed::Next("5xx"))
        }
        _ => Err(Failed::Final(Box::new((a.head, a.up)))),
    }
}

/// Unix milliseconds.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
