//! Compiling validated configuration into the snapshot's routes and
//! groups, off the data path: backend sets built for their algorithm,
//! health verdicts carried across reloads, paths, rewrites and header
//! rules turned into the byte forms matching uses.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use balancer::{Algorithm, Backend, BackendSet, OutlierConfig};
use regex::bytes::Regex;
use tuning::{HostMatch, PathMatch, RouteAction, Tuning};

use super::*;

pub(super) fn limits(t: &Tuning) -> parser::Limits {
    parser::Limits {
        max_head_bytes: t.limits.max_head_bytes,
        max_headers: t.limits.max_headers,
        max_target_bytes: t.limits.max_target_bytes,
        max_body_bytes: t.limits.max_body_bytes,
        ..parser::Limits::default()
    }
}
/// Limits on upstream responses: their own head size, no body limit.
pub(super) fn response_limits(t: &Tuning) -> parser::Limits {
    parser::Limits {
        max_head_bytes: t.limits.max_response_head_bytes,
        max_headers: t.limits.max_headers,
        ..parser::Limits::default()
    }
}
pub(super) fn timeouts(t: &Tuning) -> Timeouts {
    Timeouts {
        client_header: t.timeouts.client_header,
        client_body: t.timeouts.client_body,
        client_keepalive: t.timeouts.client_keepalive,
        upstream_connect: t.timeouts.upstream_connect,
        upstream_header: t.timeouts.upstream_header,
        upstream_body: t.timeouts.upstream_body,
        tunnel_idle: t.timeouts.tunnel_idle,
        client_body_min_rate: t.limits.client_body_min_rate,
    }
}
pub(super) fn compile_group(g: &tuning::UpstreamGroup, prev: Option<&Snapshot>) -> Group {
    let old = prev.and_then(|p| p.groups.iter().find(|o| *o.name == *g.name));
    let carried = Carried { old };
    Group {
        name: g.name.as_str().into(),
        set: Arc::new(backend_set(g)),
        max_connections: g.max_connections.filter(|&n| n > 0),
        max_pending: g.max_pending.filter(|&n| n > 0),
        health_check: g.health_check.clone(),
        outlier: outlier_config(&g.outlier),
        outlier_on_5xx: g.outlier.on_5xx,
        healthy: g
            .backends
            .iter()
            .map(|b| carried.healthy(g, b.address))
            .collect(),
        transitions: g
            .backends
            .iter()
            .map(|b| carried.transitions(b.address))
            .collect(),
        checks_ok: g.backends.iter().map(|_| AtomicU64::new(0)).collect(),
        tls: None,
    }
}
/// The balancer's passive outlier-ejection settings for a group.
fn outlier_config(o: &tuning::Outlier) -> OutlierConfig {
    OutlierConfig {
        consecutive_failures: o.consecutive_failures,
        base_ejection: o.base_ejection,
        max_ejection: o.max_ejection,
    }
}

/// The group's backends, balanced by its algorithm.
fn backend_set(g: &tuning::UpstreamGroup) -> BackendSet {
    let backends: Vec<Backend> = g
        .backends
        .iter()
        .map(|b| Backend::new(b.address).with_weight(b.weight))
        .collect();
    // The configuration was validated: a group has at least one backend
    // with a positive weight, which is all `build` asks for.
    BackendSet::build(backends.clone(), algorithm(g.algorithm))
        .or_else(|_| BackendSet::build(backends, Algorithm::RoundRobin))
        .unwrap_or_else(|_| unreachable_empty_group())
}

fn algorithm(a: tuning::Algorithm) -> Algorithm {
    match a {
        tuning::Algorithm::RoundRobin => Algorithm::RoundRobin,
        tuning::Algorithm::Weighted => Algorithm::Weighted,
        tuning::Algorithm::LeastConn => Algorithm::LeastConn,
        tuning::Algorithm::P2cEwma => Algorithm::P2cEwma,
        tuning::Algorithm::Random => Algorithm::Random,
        tuning::Algorithm::Maglev => Algorithm::Maglev,
    }
}

/// What a reloaded group carries over from its previous version.
struct Carried<'a> {
    old: Option<&'a Group>,
}

impl Carried<'_> {
    /// The backend's index in the previous version of the group.
    fn was(&self, addr: SocketAddr) -> Option<(&Group, usize)> {
        let o = self.old?;
        Some((o, o.set.index_of(addr)?))
    }

    /// A backend that stays keeps its verdict, unless the group no longer
    /// has active checks (then nothing could ever bring it back).
    fn healthy(&self, g: &tuning::UpstreamGroup, addr: SocketAddr) -> AtomicBool {
        let kept = self
            .was(addr)
            .and_then(|(o, i)| o.healthy.get(i))
            .map(|h| h.load(Ordering::Acquire));
        AtomicBool::new(g.health_check.is_none() || kept.unwrap_or(true))
    }

    /// The backend's count of health transitions so far.
    fn transitions(&self, addr: SocketAddr) -> AtomicU64 {
        let n = self.was(addr).and_then(|(o, i)| o.transitions.get(i));
        AtomicU64::new(n.map_or(0, |n| n.load(Ordering::Relaxed)))
    }
}

#[cold]
fn unreachable_empty_group() -> BackendSet {
    // Validation rejects empty groups; a placeholder set keeps the type
    // total without a panic on this path.
    let fallback = Backend::new(SocketAddr::from(([127, 0, 0, 1], 9)));
    match BackendSet::build(vec![fallback], Algorithm::RoundRobin) {
        Ok(s) => s,
        Err(_) => std::process::abort(),
    }
}
pub(super) fn compile_route(r: &tuning::Route, policies: &[Arc<crate::limit::Policy>]) -> Route {
    Route {
        name: r.name.as_str().into(),
        host_desc: host_desc(&r.host),
        path: compile_path(&r.path),
        methods: r.methods.as_deref().map(Methods::compile),
        headers: r.headers.iter().map(header_match).collect(),
        priority: r.priority,
        action: compile_action(&r.action),
        rewrite: compile_rewrite(r),
        request_headers: HeaderOps::compile(&r.request_headers),
        response_headers: HeaderOps::compile(&r.response_headers),
        timeouts: r.timeouts,
        retries: r.retries,
        hash_key: r.hash_key.clone(),
        upgrades: r.upgrades.iter().map(|u| u.as_bytes().into()).collect(),
        allow_encoded_slashes: r.allow_encoded_slashes,
        forward_original: r.forward_path == tuning::ForwardPath::Original,
        service: r.service.as_deref().map(Into::into),
        guard: crate::snapshot::guard::Guard::compile(r),
        limits: r
            .limits
            .iter()
            .filter_map(|p| policies.iter().find(|c| c.spec.name == p.name))
            .cloned()
            .collect(),
        cache: r
            .cache
            .as_ref()
            .map(|c| Box::new(crate::cache::Policy::compile(c))),
    }
}

/// How a host match reads in summaries: `*`, the host, or `*.suffix`.
fn host_desc(h: &HostMatch) -> Box<str> {
    match h {
        HostMatch::Any => "*".into(),
        HostMatch::Exact(h) => h.as_str().into(),
        HostMatch::Suffix(s) => format!("*{s}").into(),
    }
}

fn compile_path(p: &PathMatch) -> CompiledPath {
    match p {
        PathMatch::Prefix(p) => CompiledPath::Prefix(p.as_bytes().into()),
        PathMatch::Exact(p) => CompiledPath::Exact(p.as_bytes().into()),
        // Validated at load: a pattern that does not compile never gets here;
        // should it, the route matches nothing rather than everything.
        PathMatch::Regex(re) => match Regex::new(re) {
            Ok(re) => CompiledPath::Regex(re),
            Err(_) => CompiledPath::Exact(b"\0".as_slice().into()),
        },
    }
}

/// A required header: its lowercase name and, when given, its exact value.
fn header_match(h: &tuning::HeaderMatch) -> (Box<[u8]>, Option<Box<[u8]>>) {
    (
        lower(&h.name),
        h.value.as_ref().map(|v| v.as_bytes().into()),
    )
}

fn compile_rewrite(r: &tuning::Route) -> Rewrite {
    match (&r.rewrite, &r.path) {
        (tuning::Rewrite::StripPrefix, PathMatch::Prefix(p)) => Rewrite::Prefix {
            matched: p.trim_end_matches('/').as_bytes().into(),
            with: Box::new([]),
        },
        (tuning::Rewrite::ReplacePrefix(with), PathMatch::Prefix(p)) => Rewrite::Prefix {
            matched: p.trim_end_matches('/').as_bytes().into(),
            with: with.trim_end_matches('/').as_bytes().into(),
        },
        _ => Rewrite::None,
    }
}
pub(super) fn compile_action(a: &RouteAction) -> Action {
    match a {
        RouteAction::Proxy { group } => Action::Proxy(*group),
        RouteAction::Ai(a) => Action::Ai(Box::new(crate::ai::AiAction::new(a))),
        RouteAction::Respond {
            status,
            headers,
            body,
        } => Action::Respond(Canned {
            status: *status,
            headers: canned_headers(headers),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }),
    }
}

/// A header's name and value, as bytes.
type HeaderBytes = (Box<[u8]>, Box<[u8]>);

/// A canned response's headers, as bytes.
fn canned_headers(headers: &[(String, String)]) -> Box<[HeaderBytes]> {
    headers
        .iter()
        .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
        .collect()
}
