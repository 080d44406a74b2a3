//! The routing snapshot: routes and upstream groups, compiled once off the
//! data path and shared read-only by every shard.
//!
//! Host matching goes through a hash map of exact hosts, then wildcard
//! suffixes (longest first), then host-less routes; within a host bucket the
//! longest matching path prefix wins. When a bucket has no matching prefix
//! the next, less specific bucket is tried.

use std::net::SocketAddr;
use std::time::Duration;

use ahash::AHashMap;
use bytes::Bytes;
use tuning::{HostMatch, RouteAction, Tuning};

/// Longest host name matched (DNS names are at most 253 bytes).
const MAX_HOST: usize = 255;

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) name: Box<str>,
    host_desc: Box<str>,
    prefix: Box<[u8]>,
    pub(crate) action: Action,
}

/// What a matched route does.
#[derive(Debug)]
pub(crate) enum Action {
    /// Proxies to `groups[idx]`.
    Proxy(usize),
    /// Answers with a fixed response.
    Respond(Canned),
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
    pub(crate) backends: Box<[SocketAddr]>,
    pub(crate) weights: Box<[u32]>,
}

/// Timeouts, copied out of the configuration for the hot path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) client_header: Duration,
    pub(crate) client_body: Duration,
    pub(crate) client_keepalive: Duration,
    pub(crate) upstream_connect: Duration,
    pub(crate) upstream_header: Duration,
    pub(crate) upstream_body: Duration,
}

/// The immutable routing state: everything a reload may change.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Bumped by every successful reload.
    pub(crate) version: u64,
    pub(crate) limits: parser::Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) routes: Box<[Route]>,
    pub(crate) groups: Box<[Group]>,
    exact: AHashMap<Box<[u8]>, Vec<usize>>,
    suffix: Vec<(Box<[u8]>, Vec<usize>)>,
    any: Vec<usize>,
}

// === impl Snapshot ===

impl Snapshot {
    /// Compiles the routes and groups of a validated configuration.
    pub(crate) fn build(t: &Tuning, version: u64) -> Snapshot {
        let groups = t
            .upstreams
            .iter()
            .map(|g| Group {
                name: g.name.as_str().into(),
                backends: g.backends.iter().map(|b| b.address).collect(),
                weights: g.backends.iter().map(|b| b.weight).collect(),
            })
            .collect();
        let mut exact: AHashMap<Box<[u8]>, Vec<usize>> = AHashMap::new();
        let mut suffix: Vec<(Box<[u8]>, Vec<usize>)> = Vec::new();
        let mut any = Vec::new();
        let mut routes = Vec::with_capacity(t.routes.len());
        for (i, r) in t.routes.iter().enumerate() {
            match &r.host {
                HostMatch::Any => any.push(i),
                HostMatch::Exact(h) => exact.entry(lower(h)).or_default().push(i),
                HostMatch::Suffix(s) => match suffix.iter_mut().find(|(k, _)| **k == *lower(s)) {
                    Some((_, v)) => v.push(i),
                    None => suffix.push((lower(s), vec![i])),
                },
            }
            routes.push(Route {
                name: r.name.as_str().into(),
                host_desc: match &r.host {
                    HostMatch::Any => "*".into(),
                    HostMatch::Exact(h) => h.as_str().into(),
                    HostMatch::Suffix(s) => format!("*{s}").into(),
                },
                prefix: r.path_prefix.as_bytes().into(),
                action: compile_action(&r.action),
            });
        }
        suffix.sort_by(|a, b| b.0.len().cmp(&a.0.len()));
        let by_prefix = |v: &mut Vec<usize>| {
            v.sort_by(|&a, &b| routes[b].prefix.len().cmp(&routes[a].prefix.len()));
        };
        exact.values_mut().for_each(by_prefix);
        suffix.iter_mut().for_each(|(_, v)| by_prefix(v));
        by_prefix(&mut any);
        Snapshot {
            version,
            limits: parser::Limits {
                max_head_bytes: t.limits.max_head_bytes,
                max_headers: t.limits.max_headers,
                max_target_bytes: t.limits.max_target_bytes,
                max_body_bytes: t.limits.max_body_bytes,
                ..parser::Limits::default()
            },
            timeouts: Timeouts {
                client_header: t.timeouts.client_header,
                client_body: t.timeouts.client_body,
                client_keepalive: t.timeouts.client_keepalive,
                upstream_connect: t.timeouts.upstream_connect,
                upstream_header: t.timeouts.upstream_header,
                upstream_body: t.timeouts.upstream_body,
            },
            routes: routes.into(),
            groups,
            exact,
            suffix,
            any,
        }
    }

    /// Finds the route for a request's host (port allowed) and path.
    pub(crate) fn find(&self, host: &[u8], path: &[u8]) -> Option<&Route> {
        let mut buf = [0u8; MAX_HOST];
        let host = normalize_host(host, &mut buf);
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
            .find_map(|bucket| self.longest_prefix(bucket, path))
    }

    fn longest_prefix(&self, bucket: &[usize], path: &[u8]) -> Option<&Route> {
        bucket
            .iter()
            .map(|&i| &self.routes[i])
            .find(|r| path_matches(&r.prefix, path))
    }
}

// === impl Route ===

impl Route {
    /// A human-readable summary of what the route matches.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} {}",
            self.host_desc,
            String::from_utf8_lossy(&self.prefix)
        )
    }
}

/// A prefix matches on a segment boundary: "/api" matches "/api", "/api/x"
/// and "/api?q", but not "/apix". A prefix ending in '/' matches any path
/// under it.
fn path_matches(prefix: &[u8], path: &[u8]) -> bool {
    if !path.starts_with(prefix) {
        return false;
    }
    prefix.last() == Some(&b'/') || matches!(path.get(prefix.len()), None | Some(b'/' | b'?'))
}

/// Lowercases `host`, drops a `:port` and a trailing dot, into `buf`.
fn normalize_host<'a>(host: &[u8], buf: &'a mut [u8; MAX_HOST]) -> Option<&'a [u8]> {
    let host = match host.first() {
        Some(b'[') => host.iter().position(|&b| b == b']').map(|i| &host[..=i])?,
        _ => host.split(|&b| b == b':').next().unwrap_or(host),
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    let out = buf.get_mut(..host.len())?;
    for (o, h) in out.iter_mut().zip(host) {
        *o = h.to_ascii_lowercase();
    }
    Some(out)
}

fn lower(s: &str) -> Box<[u8]> {
    s.to_ascii_lowercase().into_bytes().into()
}

fn compile_action(a: &RouteAction) -> Action {
    match a {
        RouteAction::Proxy { group } => Action::Proxy(*group),
        RouteAction::Respond {
            status,
            headers,
            body,
        } => Action::Respond(Canned {
            status: *status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
                .collect(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuning::{BackendAddr, Route as R, UpstreamGroup};

    fn route(name: &str, host: HostMatch, prefix: &str, group: usize) -> R {
        R {
            name: name.into(),
            host,
            path_prefix: prefix.into(),
            action: RouteAction::Proxy { group },
        }
    }

    fn snapshot() -> Snapshot {
        let mut t = Tuning::default();
        t.upstreams = (0..2)
            .map(|i| UpstreamGroup {
                name: format!("g{i}"),
                backends: vec![BackendAddr {
                    address: SocketAddr::from(([127, 0, 0, 1], 9000 + i)),
                    weight: 1,
                }],
            })
            .collect();
        t.routes = vec![
            route("any", HostMatch::Any, "/", 0),
            route("api", HostMatch::Exact("API.example.com".into()), "/v1", 1),
            route("wild", HostMatch::Suffix(".example.com".into()), "/", 1),
            route("deep", HostMatch::Any, "/static/", 1),
        ];
        Snapshot::build(&t, 1)
    }

    fn name<'a>(s: &'a Snapshot, host: &str, path: &str) -> Option<&'a str> {
        s.find(host.as_bytes(), path.as_bytes()).map(|r| &*r.name)
    }

    #[test]
    fn exact_host_then_wildcard_then_any() {
        let s = snapshot();
        assert_eq!(name(&s, "api.example.com:8080", "/v1/users"), Some("api"));
        assert_eq!(name(&s, "api.EXAMPLE.com.", "/v2"), Some("wild"));
        assert_eq!(name(&s, "www.example.com", "/"), Some("wild"));
        assert_eq!(name(&s, "example.com", "/"), Some("any"));
        assert_eq!(name(&s, "other", "/static/a.css"), Some("deep"));
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let s = snapshot();
        assert_eq!(name(&s, "api.example.com", "/v1"), Some("api"));
        assert_eq!(name(&s, "api.example.com", "/v1?x=1"), Some("api"));
        assert_eq!(name(&s, "api.example.com", "/v10"), Some("wild"));
    }

    #[test]
    fn overlong_or_odd_hosts_fall_back_to_any() {
        let s = snapshot();
        let long = "a".repeat(400);
        assert_eq!(name(&s, &long, "/"), Some("any"));
        assert_eq!(name(&s, "[::1]:80", "/"), Some("any"));
        assert_eq!(name(&s, "", "/"), Some("any"));
    }
}
