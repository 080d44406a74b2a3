//! Routes as the engine runs them: what a request must look like to match
//! (host, path, method, headers), what happens to it (proxy or a fixed
//! response), and how it is rewritten, timed and retried on the way.

use std::time::Duration;

use crate::defaults::*;

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Route name (given, or `route-<index>`), unique.
    pub name: String,
    /// Host header match (port ignored).
    pub host: HostMatch,
    /// The prefix of a [`PathMatch::Prefix`] match, `"/"` for the other
    /// kinds (kept for code that predates [`Route::path`]).
    pub path_prefix: String,
    /// How the path (query excluded) must match.
    pub path: PathMatch,
    /// Methods matched, as written (case-sensitive); `None` matches every method.
    pub methods: Option<Vec<String>>,
    /// Request headers that must all be present (and equal, where a value is given).
    pub headers: Vec<HeaderMatch>,
    /// Among the matching routes of one host tier, higher wins before path
    /// specificity; default 0.
    pub priority: i32,
    /// What to do with a matching request.
    pub action: RouteAction,
    /// Key hashed by `maglev` groups; ignored by the other algorithms.
    pub hash_key: HashKey,
    /// Path rewrite before forwarding (prefix routes that proxy only).
    pub rewrite: Rewrite,
    /// Whether a path holding `%2F`, `%5C` or a raw `\\` is served (kept as
    /// it is) rather than refused with a 400; default `false`.
    pub allow_encoded_slashes: bool,
    /// Which path is sent upstream: the normalised one (the default) or the
    /// client's bytes.
    pub forward_path: ForwardPath,
    /// Changes to the request sent upstream.
    pub request_headers: HeaderOps,
    /// Changes to the response sent to the client.
    pub response_headers: HeaderOps,
    /// Per-route overrides of the upstream timeouts.
    pub timeouts: RouteTimeouts,
    /// Retry policy.
    pub retries: Retries,
    /// Upgrade protocols tunnelled after a `101` (lowercase tokens);
    /// default `["websocket"]`. A request asking for any other protocol is
    /// served as a plain request with its Upgrade headers removed.
    pub upgrades: Vec<String>,
    /// The access-controlled service (in the store) this route belongs
    /// to; `None`: open to every caller.
    pub service: Option<String>,
    /// Client addresses let in; empty: any (checked after `deny_ips`).
    pub allow_ips: Vec<crate::route_guard::IpNet>,
    /// Client addresses turned away with a 403.
    pub deny_ips: Vec<crate::route_guard::IpNet>,
    /// CORS, answered and added at the gateway.
    pub cors: Option<crate::route_guard::Cors>,
    /// Limit policies, in order: the route's own `rate_limit`, those it
    /// names in `rate_limits`, then those attached to its service.
    pub limits: Vec<crate::rate_limits::LimitPolicy>,
    /// The response cache, when the route (or its service) opts in.
    pub cache: Option<crate::cache::RouteCache>,
}

/// How a route matches the Host header (the port is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Any host, or none.
    Any,
    /// This host exactly, lowercased.
    Exact(String),
    /// Any host ending with this suffix: `*.example.com` is `.example.com`, lowercased.
    Suffix(String),
}

/// How a route matches the request path (the query is never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path starts with this (`path_prefix`).
    Prefix(String),
    /// The path is exactly this (`path`).
    Exact(String),
    /// The path matches this regex (`path_regex`): the source text, already
    /// checked to compile with the `regex` crate.
    Regex(String),
}

/// A request header a route requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Header name, lowercased.
    pub name: String,
    /// Exact value required; `None`: present with any value.
    pub value: Option<String>,
}

/// What a `maglev` group hashes to pick a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HashKey {
    /// The client's IP address (`client_ip`), the default.
    #[default]
    ClientIp,
    /// The request path as routed (normalised), query excluded (`path`).
    Path,
    /// A request header's value (`header:NAME`), name lowercased.
    Header(String),
    /// A cookie's value (`cookie:NAME`), name as written.
    Cookie(String),
}

/// How the path is rewritten before forwarding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Rewrite {
    /// Forward the path unchanged.
    #[default]
    None,
    /// Remove the matched prefix: `/api/x` → `/x`, `/api` → `/`.
    StripPrefix,
    /// Replace the matched prefix with this: `/api/x` → `/v2/x`.
    ReplacePrefix(String),
}

/// Which request path a proxy route sends upstream. Routing always uses
/// the normalised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardPath {
    /// The normalised path (`normalized`), the default: the origin gets
    /// the path the route matched.
    #[default]
    Normalized,
    /// The request target as the client sent it (`original`), for origins
    /// that need the exact bytes; like nginx's `proxy_pass` without a URI.
    Original,
}

/// Header changes: `add` appends a header, `set` replaces every value of one
/// (or adds it), `remove` drops it. A name appears in at most one of the
/// three, so the order they are applied in does not matter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderOps {
    /// Headers appended, names lowercased.
    pub add: Vec<(String, String)>,
    /// Headers replaced (or added when absent), names lowercased.
    pub set: Vec<(String, String)>,
    /// Headers removed, lowercased.
    pub remove: Vec<String>,
}

/// Per-route upstream timeouts; `None` keeps the global one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteTimeouts {
    /// Overrides `timeouts.upstream_connect`.
    pub upstream_connect: Option<Duration>,
    /// Overrides `timeouts.upstream_header`.
    pub upstream_header: Option<Duration>,
    /// Overrides `timeouts.upstream_body`.
    pub upstream_body: Option<Duration>,
}

/// Retry policy of a route, with an Envoy/linkerd-style budget: retries
/// may add at most `budget_percent` of the requests, plus `min_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Retries after the first try, 0 to 5; 0 turns retries off.
    pub attempts: u32,
    /// Which failures are retried.
    pub on: RetryOn,
    /// Whether methods that are not idempotent (POST, PATCH, ...) are retried.
    pub non_idempotent: bool,
    /// Retries allowed as a percentage of requests, 0 to 100.
    pub budget_percent: u32,
    /// Retries per second always allowed, whatever the percentage.
    pub min_per_second: u32,
}

/// Failures that trigger a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// No connection could be made (refused, timed out, reset before a byte was sent).
    pub connect_failure: bool,
    /// The backend answered 502.
    pub s502: bool,
    /// The backend answered 503.
    pub s503: bool,
    /// The backend answered 504.
    pub s504: bool,
}

/// What a route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    /// Forward to a backend of `upstreams[group]`.
    Proxy {
        /// Index into [`Tuning::upstreams`](crate::Tuning::upstreams).
        group: usize,
    },
    /// Serve the AI front end (OpenAI-style API or a prompt template).
    Ai(crate::ai::AiRoute),
    /// Answer with a fixed response.
    Respond {
        /// Status code, 100..=599.
        status: u16,
        /// Extra headers (Content-Length is added by the engine).
        headers: Vec<(String, String)>,
        /// Response body.
        body: String,
    },
}

// === impl Route ===

impl Route {
    /// A route matching every request, with every option at its default.
    pub fn catch_all(name: &str, action: RouteAction) -> Route {
        Route {
            name: name.to_owned(),
            host: HostMatch::Any,
            path_prefix: "/".to_owned(),
            path: PathMatch::Prefix("/".to_owned()),
            methods: None,
            upgrades: vec![DEFAULT_UPGRADE.to_owned()],
            headers: Vec::new(),
            priority: 0,
            action,
            hash_key: HashKey::ClientIp,
            rewrite: Rewrite::None,
            allow_encoded_slashes: false,
            forward_path: ForwardPath::Normalized,
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
            timeouts: RouteTimeouts::default(),
            retries: Retries::default(),
            service: None,
            allow_ips: Vec::new(),
            deny_ips: Vec::new(),
            cors: None,
            limits: Vec::new(),
            cache: None,
        }
    }

    /// A route matching paths under `prefix`, every other option at its default.
    pub fn prefix(name: &str, prefix: &str, action: RouteAction) -> Route {
        Route {
            path_prefix: prefix.to_owned(),
            path: PathMatch::Prefix(prefix.to_owned()),
            ..Route::catch_all(name, action)
        }
    }

    /// Whether `method` is one this route accepts.
    pub fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|want| want == method))
    }
}

// === impl RouteAction ===

impl RouteAction {
    /// The embedded default's response: 200, text/plain, [`WELCOME_BODY`].
    pub fn welcome() -> RouteAction {
        RouteAction::Respond {
            status: 200,
            headers: vec![(
                "content-type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: WELCOME_BODY.to_owned(),
        }
    }
}

// === impl HostMatch ===

impl HostMatch {
    /// Whether `host` (a Host header value, port allowed) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = strip_port(host);
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(want) => host.eq_ignore_ascii_case(want),
            HostMatch::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

// === impl Rewrite ===

impl Rewrite {
    /// The target to forward for `path` (path and query) under the route's
    /// `prefix`; `None` when nothing is rewritten. Trailing `/`s of the
    /// prefix and of the replacement are ignored, and the result always
    /// starts with `/`: with prefix `/api/`, stripping turns `/api/x` into
    /// `/x` and `/api` into `/`; replacing with `/v2` turns `/api/x?q` into
    /// `/v2/x?q`. The engine compiles the same rule.
    pub fn apply(&self, prefix: &str, path: &str) -> Option<String> {
        let with = match self {
            Rewrite::None => return None,
            Rewrite::StripPrefix => "",
            Rewrite::ReplacePrefix(with) => with.trim_end_matches('/'),
        };
        let rest = path.strip_prefix(prefix.trim_end_matches('/'))?;
        let slash = match !with.starts_with('/') && !rest.starts_with('/') {
            true => "/",
            false => "",
        };
        Some(format!("{slash}{with}{rest}"))
    }
}

// === impl HeaderOps ===

impl HeaderOps {
    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set.is_empty() && self.remove.is_empty()
    }
}

// === impl Retries ===

impl Default for Retries {
    fn default() -> Self {
        Retries {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            on: RetryOn::default(),
            non_idempotent: false,
            budget_percent: DEFAULT_RETRY_BUDGET_PERCENT,
            min_per_second: DEFAULT_RETRY_MIN_PER_SECOND,
        }
    }
}

// === impl RetryOn ===

impl RetryOn {
    /// Every condition's config name, in order.
    pub const NAMES: [&'static str; 4] = ["connect_failure", "502", "503", "504"];

    /// Nothing is retried.
    pub const NONE: RetryOn = RetryOn {
        connect_failure: false,
        s502: false,
        s503: false,
        s504: false,
    };

    /// Whether an upstream response with `status` is retried.
    pub fn status(&self, status: u16) -> bool {
        match status {
            502 => self.s502,
            503 => self.s503,
            504 => self.s504,
            _ => false,
        }
    }

    /// Turns on the condition written `name`; false if there is none.
    pub(crate) fn set(&mut self, name: &str) -> bool {
        let flag = match name {
            "connect_failure" => &mut self.connect_failure,
            "502" => &mut self.s502,
            "503" => &mut self.s503,
            "504" => &mut self.s504,
            _ => return false,
        };
        *flag = true;
        true
    }
}

/// `connect_failure` only.
impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            connect_failure: true,
            ..RetryOn::NONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_match_ignores_port_and_case() {
        let exact = HostMatch::Exact("example.com".into());
        assert!(exact.matches("Example.COM:8080"));
        assert!(!exact.matches("www.example.com"));
        let suffix = HostMatch::Suffix(".example.com".into());
        assert!(suffix.matches("api.example.com:443"));
        assert!(!suffix.matches("example.com"));
        assert!(!suffix.matches(".example.com"));
        assert!(HostMatch::Exact("[::1]".into()).matches("[::1]:80"));
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash() {
        let s = Rewrite::StripPrefix;
        assert_eq!(s.apply("/api", "/api/x").as_deref(), Some("/x"));
        assert_eq!(s.apply("/api", "/api").as_deref(), Some("/"));
        assert_eq!(s.apply("/api", "/api?q=1").as_deref(), Some("/?q=1"));
        assert_eq!(s.apply("/api/", "/api/x").as_deref(), Some("/x"));
        assert_eq!(s.apply("/", "/x").as_deref(), Some("/x"));
        assert_eq!(s.apply("/api", "/other"), None);
        assert_eq!(Rewrite::None.apply("/api", "/api/x"), None);
    }

    #[test]
    fn replace_prefix_ignores_trailing_slashes() {
        let r = |to: &str| Rewrite::ReplacePrefix(to.into());
        assert_eq!(r("/v2").apply("/api", "/api/x").as_deref(), Some("/v2/x"));
        assert_eq!(r("/v2").apply("/api", "/api").as_deref(), Some("/v2"));
        assert_eq!(r("/v2").apply("/api/", "/api/x").as_deref(), Some("/v2/x"));
        assert_eq!(r("/v2/").apply("/api", "/api/x").as_deref(), Some("/v2/x"));
        assert_eq!(r("/").apply("/api", "/api/x").as_deref(), Some("/x"));
        assert_eq!(r("/").apply("/api", "/api").as_deref(), Some("/"));
    }

    #[test]
    fn retry_on_defaults_to_connect_failure() {
        let on = RetryOn::default();
        assert!(on.connect_failure && !on.status(502));
        let mut on = RetryOn::NONE;
        assert!(on.set("503") && !on.set("500"));
        assert!(on.status(503) && !on.status(504));
    }

    #[test]
    fn methods() {
        let mut r = Route::catch_all("r", RouteAction::welcome());
        assert!(r.allows_method("DELETE"));
        r.methods = Some(vec!["GET".into()]);
        assert!(r.allows_method("GET") && !r.allows_method("get"));
    }
}
