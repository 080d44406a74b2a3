//! JSON views for the admin API, merged from the shards only when asked.

use serde_json::{json, Value};

use crate::admin::shared::Shared;
use crate::observe::metrics::{ShardMetrics, ShardStats};
use crate::snapshot::route::{Action, Snapshot};

/// `GET /stats`: totals and per-shard counters.
pub(crate) fn stats_json(shared: &Shared) -> String {
    let per_shard: Vec<ShardStats> = shared.metrics.iter().map(ShardMetrics::snapshot).collect();
    let mut total = ShardStats::default();
    per_shard.iter().for_each(|s| total.merge(s));
    let v = json!({
        "shards": per_shard.len(),
        "snapshot_version": shared.published.version(),
        "reloads": {
            "ok": shared.reloads.ok.load(std::sync::atomic::Ordering::Relaxed),
            "failed": shared.reloads.failed.load(std::sync::atomic::Ordering::Relaxed),
        },
        "store": store_json(&shared.store),
        "total": total,
        "per_shard": per_shard,
    });
    pretty(&v)
}

/// The access store's health; `null` without a store.
fn store_json(s: &crate::snapshot::store::StoreStats) -> Value {
    use std::sync::atomic::Ordering::Relaxed;
    if !s.configured.load(Relaxed) {
        return Value::Null;
    }
    json!({
        "up": s.up.load(Relaxed),
        "failures": s.failures.load(Relaxed),
        "revision": s.revision.load(Relaxed),
        "keys": s.keys.load(Relaxed),
    })
}

/// `GET /config`: the running snapshot and its version.
pub(crate) fn config_json(shared: &Shared) -> String {
    let snap = shared.published.load();
    let v = json!({
        "version": snap.version,
        "limits": {
            "max_head_bytes": snap.limits.max_head_bytes,
            "max_headers": snap.limits.max_headers,
            "max_target_bytes": snap.limits.max_target_bytes,
            "max_body_bytes": snap.limits.max_body_bytes,
        },
        "timeouts_ms": {
            "client_header": snap.timeouts.client_header.as_millis() as u64,
            "client_body": snap.timeouts.client_body.as_millis() as u64,
            "client_keepalive": snap.timeouts.client_keepalive.as_millis() as u64,
            "upstream_connect": snap.timeouts.upstream_connect.as_millis() as u64,
            "upstream_header": snap.timeouts.upstream_header.as_millis() as u64,
            "upstream_body": snap.timeouts.upstream_body.as_millis() as u64,
            "tunnel_idle": snap.timeouts.tunnel_idle.as_millis() as u64,
        },
        "routes": routes(&snap),
        "upstreams": upstreams(&snap),
    });
    pretty(&v)
}

/// `GET /routes`.
pub(crate) fn routes_json(shared: &Shared) -> String {
    pretty(&routes(&shared.published.load()))
}

/// `GET /upstreams`.
/// `GET /upstreams`: each backend with its health verdict and, from every
/// shard (asked by message passing), in-flight requests, latency estimate
/// and passive ejection.
pub(crate) fn upstreams_json(shared: &Shared) -> String {
    let reports = shared.scrapers.collect(std::time::Duration::from_secs(2));
    let mut v = upstreams(&shared.published.load());
    for group in v.as_array_mut().into_iter().flatten() {
        let name = group["name"].as_str().unwrap_or_default().to_string();
        for b in group["backends"].as_array_mut().into_iter().flatten() {
            let addr = b["address"].as_str().unwrap_or_default().to_string();
            let shards: Vec<Value> = reports
                .iter()
                .flat_map(|r| {
                    let (name, addr) = (&name, &addr);
                    r.backends
                        .iter()
                        .filter(move |s| *s.0 == **name && s.1.to_string() == *addr)
                        .map(move |s| {
                            json!({ "shard": r.shard, "in_flight": s.2, "ewma_ms": s.3 as f64 / 1e6, "ejected": s.4 })
                        })
                })
                .collect();
            b["in_flight"] = json!(shards
                .iter()
                .map(|s| s["in_flight"].as_u64().unwrap_or(0))
                .sum::<u64>());
            b["ejected_on_shards"] = json!(shards.iter().filter(|s| s["ejected"] == true).count());
            b["shards"] = Value::Array(shards);
        }
    }
    pretty(&v)
}

/// `GET /ai/keys`: every provider key's id and health (never the key).
pub(crate) fn ai_keys_json(shared: &Shared) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let snap = shared.published.load();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let providers: Vec<Value> = snap
        .ai
        .providers
        .iter()
        .map(|p| {
            let keys: Vec<Value> = p
                .keys
                .iter()
                .map(|k| {
                    let s = &k.state;
                    let state = match k.secret {
                        None => "unreadable",
                        Some(_) => s.state(now),
                    };
                    json!({
                        "id": &*k.id,
                        "weight": k.weight,
                        "state": state,
                        "cooling_ms": s.cool_until.load(Relaxed).saturating_sub(now),
                        "requests": s.requests.load(Relaxed),
                        "failures": s.failures.load(Relaxed),
                        "rate_limited": s.rate_limited.load(Relaxed),
                    })
                })
                .collect();
            json!({ "provider": p.spec.name, "kind": p.spec.kind.name(), "keys": keys })
        })
        .collect();
    pretty(&json!({ "version": snap.version, "providers": providers }))
}

fn routes(snap: &Snapshot) -> Value {
    snap.routes
        .iter()
        .map(|r| {
            let action = match &r.action {
                Action::Proxy(g) => json!({ "upstream": snap.groups.get(*g).map(|g| &*g.name) }),
                Action::Respond(c) => json!({ "respond": c.status }),
                Action::Ai(a) => json!({ "ai": a.route.template.and_then(|t| snap.ai.config.templates.get(t)).map_or("api", |t| t.0.name()) }),
            };
            json!({ "name": &*r.name, "match": r.describe(), "action": action })
        })
        .collect()
}

fn upstreams(snap: &Snapshot) -> Value {
    snap.groups
        .iter()
        .map(|g| {
            let backends: Vec<Value> = g
                .set
                .backends()
                .iter()
                .zip(g.healthy.iter())
                .map(|(b, h)| {
                    json!({
                        "address": b.addr.to_string(),
                        "weight": b.weight,
                        "healthy": h.load(std::sync::atomic::Ordering::Relaxed),
                    })
                })
                .collect();
            json!({
                "name": &*g.name,
                "algorithm": format!("{:?}", g.set.algorithm()),
                "max_connections": g.max_connections,
                "max_pending": g.max_pending,
                "health_check": g.health_check.as_ref().map(|h| h.path.clone()),
                "backends": backends,
            })
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
