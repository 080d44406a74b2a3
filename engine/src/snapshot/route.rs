//! The routing snapshot: routes and upstream groups compiled once, off the
//! data path, and shared read-only by every shard.
//!
//! Lookup cost does not grow with the number of routes for host and prefix
//! matches: the host goes through a hash map (exact), then wildcard
//! suffixes (longest first), then host-less routes; within a host, exact
//! paths are a hash map and prefixes a trie of path segments walked once.
//! Only regex routes are tried one by one, and only within their host.
//! Among the candidates that also pass their method and header conditions,
//! the highest priority wins; then, as in nginx, an exact path beats a
//! regex, which beats a prefix, and the longest prefix beats shorter ones;
//! then configuration order. A host with no matching route
//! falls through to less specific hosts.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;
use balancer::{BackendSet, OutlierConfig};
use bytes::Bytes;
use parser::{Method, RequestHead};
use regex::bytes::Regex;
use tuning::{HashKey, HealthCheck, HostMatch, Retries, RouteTimeouts, Tuning};

use crate::error::ProxyError;

mod compile;
pub(crate) mod path;

use compile::*;

/// Longest host name matched (DNS names are at most 253 bytes).
const MAX_HOST: usize = 255;

/// Timeouts, copied out of the configuration for the hot path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) client_header: Duration,
    pub(crate) client_body: Duration,
    pub(crate) client_keepalive: Duration,
    pub(crate) upstream_connect: Duration,
    pub(crate) upstream_header: Duration,
    pub(crate) upstream_body: Duration,
    pub(crate) tunnel_idle: Duration,
    /// Bytes per second a request body must average after `client_body`.
    pub(crate) client_body_min_rate: u64,
}

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) name: Box<str>,
    host_desc: Box<str>,
    path: CompiledPath,
    methods: Option<Methods>,
    headers: Box<[(Box<[u8]>, Option<Box<[u8]>>)]>,
    priority: i32,
    pub(crate) action: Action,
    pub(crate) rewrite: Rewrite,
    pub(crate) request_headers: HeaderOps,
    pub(crate) response_headers: HeaderOps,
    pub(crate) timeouts: RouteTimeouts,
    pub(crate) retries: Retries,
    pub(crate) hash_key: HashKey,
    /// Upgrade protocols tunnelled, lowercase.
    upgrades: Box<[Box<[u8]>]>,
    /// Whether a path with `%2F`, `%5C` or `\\` is served rather than refused.
    allow_encoded_slashes: bool,
    /// Whether the client's target goes upstream rather than the
    /// normalised one.
    pub(crate) forward_original: bool,
    /// The access-controlled service this route belongs to.
    pub(crate) service: Option<Box<str>>,
    /// Client IP lists and CORS.
    pub(crate) guard: super::guard::Guard,
    /// The route's limit policies, their tables shared by every shard.
    pub(crate) limits: Box<[Arc<crate::limit::Policy>]>,
    /// The response cache, when the route opts in.
    pub(crate) cache: Option<Box<crate::cache::Policy>>,
}

/// A request's route, found on its normalised path.
pub(crate) struct Routed<'s, 't> {
    /// The route's position in the snapshot.
    pub(crate) idx: usize,
    pub(crate) route: &'s Route,
    /// The normalised origin-form target (path and query).
    pub(crate) path: Cow<'t, [u8]>,
}

#[derive(Debug)]
enum CompiledPath {
    Prefix(Box<[u8]>),
    Exact(Box<[u8]>),
    Regex(Regex),
}

/// Allowed methods: a bit per known method, plus any others by name.
#[derive(Debug)]
struct Methods {
    known: u16,
    other: Box<[Box<[u8]>]>,
}

/// A prefix rewrite applied before forwarding.
#[derive(Debug, Clone)]
pub(crate) enum Rewrite {
    None,
    /// Replace the matched prefix with this (empty = strip it).
    Prefix {
        matched: Box<[u8]>,
        with: Box<[u8]>,
    },
}

/// Header edits, names lowercased.
#[derive(Debug, Default)]
pub(crate) struct HeaderOps {
    pub(crate) add: Box<[(Box<[u8]>, Box<[u8]>)]>,
    pub(crate) set: Box<[(Box<[u8]>, Box<[u8]>)]>,
    pub(crate) remove: Box<[Box<[u8]>]>,
}

// === impl HeaderOps ===

impl HeaderOps {
    fn compile(ops: &tuning::HeaderOps) -> HeaderOps {
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase().into_bytes().into(),
                        v.as_bytes().into(),
                    )
                })
                .collect()
        };
        HeaderOps {
            add: pairs(&ops.add),
            set: pairs(&ops.set),
            remove: ops
                .remove
                .iter()
                .map(|k| k.to_ascii_lowercase().into_bytes().into())
                .collect(),
        }
    }

    /// Whether there is nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set.is_empty() && self.remove.is_empty()
    }

    /// Whether a header of the original message is dropped (removed, or
    /// replaced by a `set`).
    pub(crate) fn drops(&self, name: &[u8]) -> bool {
        self.remove.iter().any(|r| r.eq_ignore_ascii_case(name))
            || self.set.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Writes the `set` and `add` headers.
    pub(crate) fn write(&self, out: &mut bytes::BytesMut) {
        for (k, v) in self.set.iter().chain(self.add.iter()) {
            parser::write_header(k, v, out);
        }
    }
}

/// What a matched route does.
#[derive(Debug)]
pub(crate) enum Action {
    /// Proxies to `groups[idx]`.
    Proxy(usize),
    /// Answers with a fixed response.
    Respond(Canned),
    /// Serves the AI front end.
    Ai(Box<crate::ai::AiAction>),
}

/// A fixed response, pre-rendered except for its framing headers.
#[derive(Debug)]
pub(crate) struct Canned {
    pub(crate) status: u16,
    pub(crate) headers: Box<[(Box<[u8]>, Box<[u8]>)]>,
    pub(crate) body: Bytes,
}

/// An upstream group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) name: Box<str>,
    pub(crate) set: Arc<BackendSet>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_pending: Option<usize>,
    pub(crate) health_check: Option<HealthCheck>,
    pub(crate) outlier: OutlierConfig,
    pub(crate) outlier_on_5xx: bool,
    /// Active health verdicts, one per backend: written only by the health
    /// checker (one per host), read by every shard.
    pub(crate) healthy: Box<[AtomicBool]>,
    /// Health transitions per backend, written by the same checker.
    pub(crate) transitions: Box<[AtomicU64]>,
    /// Successful active checks per backend, written by the same checker.
    /// A success after a passive ejection lifts it (as Envoy's
    /// `successful_active_health_check_uneject_host` does).
    pub(crate) checks_ok: Box<[AtomicU64]>,
    /// TLS to the backends; `None`: plain TCP.
    pub(crate) tls: Option<super::tls::GroupTls>,
}

// === impl Group ===

impl Group {
    /// The backend addresses, in index order.
    pub(crate) fn addr(&self, idx: usize) -> Option<SocketAddr> {
        self.set.get(idx).map(|b| b.addr)
    }
}

/// The routes that may serve one host, indexed by path.
#[derive(Debug, Default)]
struct PathIndex {
    exact: AHashMap<Box<[u8]>, Vec<usize>>,
    prefix: Trie,
    regex: Vec<usize>,
}

/// A trie of path segments; each node lists the prefix routes ending there.
#[derive(Debug, Default)]
struct Trie {
    routes: Vec<usize>,
    children: AHashMap<Box<[u8]>, Trie>,
}

/// The immutable routing state: everything a reload may change.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Bumped by every successful reload.
    pub(crate) version: u64,
    pub(crate) limits: parser::Limits,
    pub(crate) response_limits: parser::Limits,
    pub(crate) timeouts: Timeouts,
    /// Label caps for the statistics.
    pub(crate) metrics: tuning::MetricsConfig,
    /// Whether `//` in request paths is merged before routing.
    merge_slashes: bool,
    pub(crate) routes: Box<[Route]>,
    pub(crate) groups: Box<[Group]>,
    exact: AHashMap<Box<[u8]>, PathIndex>,
    suffix: Vec<(Box<[u8]>, PathIndex)>,
    any: PathIndex,
    /// Listener and upstream TLS, set after the build (it can fail).
    pub(crate) tls: super::tls::TlsSet,
    /// Who may call which service, compiled from the store (set after the
    /// build by the control thread; empty without a store).
    pub(crate) access: Arc<access::Policy>,
    /// The identity headers sent upstream (lowercase): app, then team.
    /// A client's own fields of these names never go upstream.
    pub(crate) identity: [Box<[u8]>; 2],
    /// Every limit policy of the routes, by name.
    pub(crate) policies: Vec<Arc<crate::limit::Policy>>,
    /// Redis, for limits across hosts.
    pub(crate) redis: Option<limits::Global>,
    /// The AI front end: providers with their keys, aliases, templates.
    pub(crate) ai: Arc<super::ai::AiSet>,
    /// The host's response cache; the same store across reloads.
    pub(crate) cache: Arc<crate::cache::Store>,
}

// === impl Snapshot ===

impl Snapshot {
    /// Compiles a validated configuration. Health verdicts of backends that
    /// stay are carried over from `prev`.
    pub(crate) fn build(t: &Tuning, version: u64, prev: Option<&Snapshot>) -> Snapshot {
        let redis = prev.and_then(|p| p.redis.clone());
        Snapshot::build_with(t, version, prev, redis)
    }

    /// [`Snapshot::build`] with the Redis client of global limits (the
    /// one the process started with: `[redis]` changes on restart).
    pub(crate) fn build_with(
        t: &Tuning,
        version: u64,
        prev: Option<&Snapshot>,
        redis: Option<limits::Global>,
    ) -> Snapshot {
        let groups = t.upstreams.iter().map(|g| compile_group(g, prev)).collect();
        let policies = crate::limit::compile(
            t.routes.iter().flat_map(|r| &r.limits),
            prev.map_or(&[][..], |p| &p.policies),
            redis.as_ref(),
        );
        let routes: Vec<Route> = t
            .routes
            .iter()
            .map(|r| compile_route(r, &policies))
            .collect();
        super::ai::AiSet::warm_up(&t.routes);
        let mut snap = Snapshot {
            version,
            limits: limits(t),
            response_limits: response_limits(t),
            timeouts: timeouts(t),
            metrics: t.metrics,
            merge_slashes: t.merge_slashes,
            routes: Box::new([]),
            groups,
            exact: AHashMap::new(),
            suffix: Vec::new(),
            any: PathIndex::default(),
            tls: Default::default(),
            access: Arc::default(),
            identity: [lower(&t.access.app_header), lower(&t.access.team_header)],
            policies,
            redis,
            ai: Arc::new(super::ai::AiSet::build(&t.ai)),
            cache: match prev {
                Some(p) => {
                    p.cache.resize(t.cache.memory);
                    p.cache.clone()
                }
                None => Arc::new(crate::cache::Store::new(t.cache.memory)),
            },
        };
        for (i, r) in t.routes.iter().enumerate() {
            let index = match &r.host {
                HostMatch::Any => &mut snap.any,
                HostMatch::Exact(h) => snap.exact.entry(lower(h)).or_default(),
                HostMatch::Suffix(s) => {
                    let key = lower(s);
                    match snap.suffix.iter().position(|(k, _)| *k == key) {
                        Some(p) => &mut snap.suffix[p].1,
                        None => {
                            snap.suffix.push((key, PathIndex::default()));
                            let last = snap.suffix.len() - 1;
                            &mut snap.suffix[last].1
                        }
                    }
                }
            };
            index.insert(i, &routes[i].path);
        }
        snap.suffix.sort_by(|a, b| b.0.len().cmp(&a.0.len()));
        snap.routes = routes.into();
        snap
    }

    /// Takes `prev`'s TLS settings, for a rebuild of the same
    /// configuration (the access policy changed): no file is read again.
    pub(crate) fn carry_tls(&mut self, prev: &Snapshot) {
        let mut set = prev.tls.clone();
        set.groups = prev.groups.iter().map(|g| g.tls.clone()).collect();
        self.set_tls(set);
    }

    /// Installs the TLS settings built for this configuration.
    pub(crate) fn set_tls(&mut self, mut set: super::tls::TlsSet) {
        for (g, t) in self.groups.iter_mut().zip(set.groups.drain(..)) {
            g.tls = t;
        }
        self.tls = set;
    }

    /// Normalises the origin-form `target` (path and query) and finds its
    /// route. A path holding an encoded slash or a backslash is refused
    /// unless the route it matches (as it is, escapes kept) allows them;
    /// when none matches, it is refused too (400 rather than 404).
    pub(crate) fn resolve<'t>(
        &self,
        host: &[u8],
        target: &'t [u8],
        head: &RequestHead,
    ) -> Result<Routed<'_, 't>, ProxyError> {
        let n = path::normalize(target, self.merge_slashes).map_err(|_| ProxyError::BadPath)?;
        let refused = match n.slashes {
            true => ProxyError::BadPath,
            false => ProxyError::NoRoute,
        };
        let (idx, route) = self.find(host, &n.target, head).ok_or(refused)?;
        if n.slashes && !route.allow_encoded_slashes {
            return Err(ProxyError::BadPath);
        }
        Ok(Routed {
            idx,
            route,
            path: n.target,
        })
    }

    /// Finds the route for a request, with its position; `path` is the
    /// normalised target.
    pub(crate) fn find(
        &self,
        host: &[u8],
        path: &[u8],
        head: &RequestHead,
    ) -> Option<(usize, &Route)> {
        let mut buf = [0u8; MAX_HOST];
        let host = normalize_host(host, &mut buf);
        let path = path
            .split(|&b| b == b'?' || b == b'#')
            .next()
            .unwrap_or_default();
        let exact = host.and_then(|h| self.exact.get(h));
        let suffix = host.into_iter().flat_map(|h| {
            self.suffix
                .iter()
                .filter(move |(s, _)| h.len() > s.len() && h.ends_with(s))
                .map(|(_, v)| v)
        });
        exact
            .into_iter()
            .chain(suffix)
            .chain(std::iter::once(&self.any))
            .find_map(|index| self.best(index, path, head))
    }

    fn best(&self, index: &PathIndex, path: &[u8], head: &RequestHead) -> Option<(usize, &Route)> {
        let mut best: Option<(usize, (i32, u32))> = None;
        let mut consider = |i: usize, specificity: u32| {
            let r = &self.routes[i];
            if !r.admits(head) {
                return;
            }
            let key = (r.priority, specificity);
            let better = match best {
                None => true,
                Some((j, k)) => key > k || (key == k && i < j),
            };
            if better {
                best = Some((i, key));
            }
        };
        if let Some(v) = index.exact.get(path) {
            v.iter().for_each(|&i| consider(i, u32::MAX));
        }
        index.prefix.walk(path, &mut |i, depth| {
            if let CompiledPath::Prefix(p) = &self.routes[i].path {
                if path_matches(p, path) {
                    consider(i, depth as u32);
                }
            }
        });
        for &i in &index.regex {
            if let CompiledPath::Regex(re) = &self.routes[i].path {
                if re.is_match(path) {
                    consider(i, u32::MAX - 1);
                }
            }
        }
        best.map(|(i, _)| (i, &self.routes[i]))
    }
}

// === impl PathIndex ===

impl PathIndex {
    fn insert(&mut self, route: usize, path: &CompiledPath) {
        match path {
            CompiledPath::Exact(p) => self.exact.entry(p.clone()).or_default().push(route),
            CompiledPath::Regex(_) => self.regex.push(route),
            CompiledPath::Prefix(p) => self.prefix.insert(p, route),
        }
    }
}

// === impl Trie ===

impl Trie {
    /// Adds `route` at the node of `prefix`'s segments, creating the nodes
    /// on the way.
    fn insert(&mut self, prefix: &[u8], route: usize) {
        let mut node = self;
        for seg in segments(prefix) {
            node = node.children.entry(seg.into()).or_default();
        }
        node.routes.push(route);
    }

    /// Calls `f(route, depth)` for the routes of every node on the path.
    fn walk(&self, path: &[u8], f: &mut impl FnMut(usize, usize)) {
        let mut node = self;
        node.routes.iter().for_each(|&r| f(r, 0));
        for (depth, seg) in segments(path).enumerate() {
            match node.children.get(seg) {
                Some(next) => node = next,
                None => return,
            }
            node.routes.iter().for_each(|&r| f(r, depth + 1));
        }
    }
}

fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|s| !s.is_empty())
}

// === impl Route ===

impl Route {
    /// The protocol a request asks to switch to, when this route tunnels
    /// it: `Upgrade` with exactly one protocol, listed in `Connection`.
    /// Anything else (no `Connection: upgrade`, several protocols, one the
    /// route does not allow, h2c) is served as a plain request.
    pub(crate) fn upgrade<'h>(&self, head: &'h RequestHead) -> Option<&'h [u8]> {
        if !head.is_upgrade() {
            return None;
        }
        let proto = head.upgrade()?.trim_ascii();
        let lines = head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"upgrade"))
            .count();
        if lines != 1 || proto.len() >= 3 && proto[..3].eq_ignore_ascii_case(b"h2c") {
            return None;
        }
        self.upgrades
            .iter()
            .any(|u| u.eq_ignore_ascii_case(proto))
            .then_some(proto)
    }

    /// A human-readable summary of what the route matches.
    pub(crate) fn describe(&self) -> String {
        let path = match &self.path {
            CompiledPath::Prefix(p) => format!("prefix {}", String::from_utf8_lossy(p)),
            CompiledPath::Exact(p) => format!("exact {}", String::from_utf8_lossy(p)),
            CompiledPath::Regex(r) => format!("regex {}", r.as_str()),
        };
        format!("host {} path {path}", self.host_desc)
    }

    /// Whether the method and header conditions hold.
    fn admits(&self, head: &RequestHead) -> bool {
        let method_ok = self.methods.as_ref().is_none_or(|m| m.admits(head));
        method_ok
            && self
                .headers
                .iter()
                .all(|(name, want)| has_header(head, name, want.as_deref()))
    }
}

/// Whether the request has header `name`, with value `want` when one is
/// required.
fn has_header(head: &RequestHead, name: &[u8], want: Option<&[u8]>) -> bool {
    let name = std::str::from_utf8(name).unwrap_or_default();
    match (head.header(name), want) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(v), Some(w)) => v == w,
    }
}

// === impl Methods ===

impl Methods {
    fn compile(list: &[String]) -> Methods {
        let mut known = 0u16;
        let mut other = Vec::new();
        for m in list {
            match Method::from_bytes(m.as_bytes()) {
                Method::Other => other.push(m.as_bytes().into()),
                known_method => known |= 1 << method_bit(known_method),
            }
        }
        Methods {
            known,
            other: other.into(),
        }
    }

    fn admits(&self, head: &RequestHead) -> bool {
        match head.method() {
            Method::Other => self.other.iter().any(|m| **m == *head.method_bytes()),
            m => self.known & (1 << method_bit(m)) != 0,
        }
    }
}

fn method_bit(m: Method) -> u16 {
    match m {
        Method::Get => 0,
        Method::Head => 1,
        Method::Post => 2,
        Method::Put => 3,
        Method::Delete => 4,
        Method::Connect => 5,
        Method::Options => 6,
        Method::Trace => 7,
        Method::Patch => 8,
        Method::Other => 9,
    }
}

/// A prefix matches on a segment boundary: "/api" matches "/api", "/api/x"
/// but not "/apix". A prefix ending in '/' matches any path under it.
fn path_matches(prefix: &[u8], path: &[u8]) -> bool {
    if !path.starts_with(prefix) {
        return false;
    }
    prefix.last() == Some(&b'/') || matches!(path.get(prefix.len()), None | Some(b'/'))
}

/// Lowercases `host`, drops a `:port` and a trailing dot, into `buf`.
fn normalize_host<'a>(host: &[u8], buf: &'a mut [u8; MAX_HOST]) -> Option<&'a [u8]> {
    let host = host_name(host)?;
    let out = buf.get_mut(..host.len())?;
    for (o, h) in out.iter_mut().zip(host) {
        *o = h.to_ascii_lowercase();
    }
    Some(out)
}

/// The name part of a Host value: no `:port`, no trailing dot (an IPv6
/// literal keeps its brackets; `None` when its `]` is missing).
fn host_name(host: &[u8]) -> Option<&[u8]> {
    let host = match host.first() {
        Some(b'[') => host.iter().position(|&b| b == b']').map(|i| &host[..=i])?,
        _ => host.split(|&b| b == b':').next().unwrap_or(host),
    };
    Some(host.strip_suffix(b".").unwrap_or(host))
}

fn lower(s: &str) -> Box<[u8]> {
    s.to_ascii_lowercase().into_bytes().into()
}

// === impl Rewrite ===

impl Rewrite {
    /// Writes the rewritten target into `out`; `false` when the route does
    /// not rewrite. `path` is the origin-form target (path and query).
    pub(crate) fn apply(&self, path: &[u8], out: &mut Vec<u8>) -> bool {
        let Rewrite::Prefix { matched, with } = self else {
            return false;
        };
        let Some(rest) = path.strip_prefix(&**matched) else {
            return false;
        };
        out.clear();
        if !with.starts_with(b"/") && !rest.starts_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(with);
        out.extend_from_slice(rest);
        true
    }
}

#[cfg(test)]
mod tests;
