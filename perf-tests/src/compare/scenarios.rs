//! The comparison's scenarios: what load each proxy gets.

use serde::{Deserialize, Serialize};

use crate::tls_load::Mode;

/// Connections of the keep-alive scenarios (shared/BENCH.md: wrk -c64).
pub const DEFAULT_CONNECTIONS: usize = 64;
/// Target rate of `fixed-rate`, requests per second.
pub const FIXED_RATE: f64 = 40_000.0;
/// Idle connections of `idle10k`.
pub const IDLE_CONNECTIONS: usize = 10_000;

/// How a scenario loads the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Load {
    /// Closed loop for the run length.
    Closed,
    /// Open loop at this rate (latency and CPU at equal load).
    Rate(f64),
    /// Closed loop with a new connection per request.
    ConnPerRequest,
    /// Open this many connections, one request each, then hold them idle.
    Idle(usize),
    /// Closed loop over TLS 1.3 with `tls-load` in this mode, against the
    /// proxies' TLS listeners.
    Tls(Mode),
    /// [`Load::Idle`] over TLS (`tls-load --hold`, keep-alive sessions).
    TlsIdle(usize),
    /// Not runnable yet; the reason is printed.
    Skipped(&'static str),
}

/// One scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    /// Short name, used in file names and `--scenario`.
    pub name: &'static str,
    /// One line for the report.
    pub description: &'static str,
    /// Path requested from the origin through the proxy.
    pub path: &'static str,
    /// Origin body size behind `path` (for the built-in origin fallback).
    pub body_size: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// The load.
    pub load: Load,
    /// Every request carries this credential of the seeded store, and
    /// coregate's route checks it (the `access` scenarios; coregate-b and
    /// the peers only forward it).
    #[serde(default)]
    pub credential: Credential,
    /// coregate's route carries a limit policy that never limits (the
    /// `limits` scenarios; coregate-b and the peers have none).
    #[serde(default)]
    pub limit: Limit,
    /// Every proxy caches the route (coregate `--cache`, nginx
    /// `proxy_cache`, haproxy's cache) and the origin sends
    /// `Cache-Control: public, max-age=600`: after the first request,
    /// every request is a hit.
    #[serde(default)]
    pub cache: bool,
}

/// The limit policy of a `limits` scenario's coregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// None.
    #[default]
    None,
    /// A GCRA rate on this host.
    Local,
    /// A rate counted in Redis, by leases of 1,000 units.
    Lease,
    /// A rate counted in Redis, a round trip per request.
    Exact,
}

/// Where the `limits-lease` and `limits-exact` scenarios' Redis listens.
pub const REDIS_ADDR: &str = "127.0.0.1:6399";

// === impl Limit ===

impl Limit {
    /// coregate's `--rate-limit` and `--redis` flags for it: 10 million a
    /// second per client address, which the load never reaches.
    pub fn flags(self) -> Vec<String> {
        let policy = |global: &str| {
            format!(
                "{{ name = \"bench\", rate = \"1000000/s\", burst = 1000, key = \"ip\"{global} }}"
            )
        };
        let redis = || ["--redis".to_owned(), format!("redis://{REDIS_ADDR}")];
        match self {
            Limit::None => Vec::new(),
            Limit::Local => vec!["--rate-limit".into(), policy("")],
            Limit::Lease => {
                let mut f = vec![
                    "--rate-limit".into(),
                    policy(", global = \"lease\", lease = 1000"),
                ];
                f.extend(redis());
                f
            }
            Limit::Exact => {
                let mut f = vec!["--rate-limit".into(), policy(", global = \"exact\"")];
                f.extend(redis());
                f
            }
        }
    }

    /// Whether it needs Redis.
    pub fn redis(self) -> bool {
        matches!(self, Limit::Lease | Limit::Exact)
    }
}

/// The credential an `access` scenario's requests carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    /// None.
    #[default]
    None,
    /// The seeded API key, in `x-api-key`.
    Key,
    /// A seeded ES256 JWT, as a bearer token (the same token every time:
    /// after the first request per shard, a cache hit).
    Jwt,
}

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    let keep_alive = |name, description, path, body_size, load| Scenario {
        name,
        description,
        path,
        body_size,
        connections: DEFAULT_CONNECTIONS,
        load,
        credential: Credential::None,
        limit: Limit::None,
        cache: false,
    };
    vec![
        keep_alive(
            "headline",
            "100-byte body, 64 keep-alive connections, closed loop",
            "/",
            100,
            Load::Closed,
        ),
        keep_alive(
            "body16k",
            "16 KiB body (/16k), 64 keep-alive connections, closed loop",
            "/16k",
            16384,
            Load::Closed,
        ),
        keep_alive(
            "fixed-rate",
            "open loop at 40k req/s, 64 keep-alive connections: latency and CPU at equal load",
            "/",
            100,
            Load::Rate(FIXED_RATE),
        ),
        keep_alive(
            "fixed-rate-20k",
            "open loop at 20k req/s, 64 keep-alive connections: latency and CPU at half load",
            "/",
            100,
            Load::Rate(FIXED_RATE / 2.0),
        ),
        Scenario {
            credential: Credential::Key,
            ..keep_alive(
                "access",
                "as headline, with an API key on every request: coregate's route checks it (key auth and an approved subscription); coregate-b (COREGATE_B_ARGS=' ') and the peers pass it through",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            credential: Credential::Jwt,
            ..keep_alive(
                "access-jwt",
                "as access, with an ES256 JWT as bearer token instead of a key (cache hits after each shard's first verification)",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            limit: Limit::Local,
            ..keep_alive(
                "limits",
                "as headline, with a rate limit on coregate's route that never limits (GCRA on this host, per client address); coregate-b (COREGATE_B_ARGS=' ') and the peers have none",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            limit: Limit::Lease,
            ..keep_alive(
                "limits-lease",
                "as limits, counted in Redis by leases of 1,000 units (Redis on the load CPU)",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            limit: Limit::Exact,
            ..keep_alive(
                "limits-exact",
                "as limits, counted in Redis with a round trip per request (Redis on the load CPU)",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            cache: true,
            ..keep_alive(
                "cache",
                "cache hits: 100-byte body, 64 keep-alive connections, closed loop; coregate --cache, nginx proxy_cache (the file in the page cache), haproxy's cache",
                "/",
                100,
                Load::Closed,
            )
        },
        Scenario {
            cache: true,
            ..keep_alive(
                "cache16k",
                "cache hits of a 16 KiB body (/16k), as cache",
                "/16k",
                16384,
                Load::Closed,
            )
        },
        keep_alive(
            "conn-per-request",
            "a new connection for every request (Connection: close), 64 at a time, 100-byte body",
            "/",
            100,
            Load::ConnPerRequest,
        ),
        Scenario {
            name: "idle10k",
            description:
                "10,000 idle keep-alive connections (one request each): proxy RSS per connection",
            path: "/",
            body_size: 100,
            connections: IDLE_CONNECTIONS,
            load: Load::Idle(IDLE_CONNECTIONS),
            credential: Credential::None,
            limit: Limit::None,
            cache: false,
        },
        // TLS termination, all with the same ECDSA P-256 certificate and
        // session tickets on in every peer (see peers::Tweaks::tls_tickets).
        keep_alive(
            "tls-keepalive",
            "TLS 1.3 termination, 64 keep-alive connections, 100-byte body, closed loop",
            "/",
            100,
            Load::Tls(Mode::KeepAlive),
        ),
        keep_alive(
            "tls-resumed",
            "TLS 1.3, a new connection per request resumed from a session ticket, 64 at a time, 100-byte body",
            "/",
            100,
            Load::Tls(Mode::Resumed),
        ),
        keep_alive(
            "tls-full",
            "TLS 1.3, a new connection per request with a full handshake (ECDSA P-256, X25519), 64 at a time, 100-byte body",
            "/",
            100,
            Load::Tls(Mode::Full),
        ),
        Scenario {
            name: "idle10k-tls",
            description:
                "10,000 idle TLS 1.3 keep-alive connections (one request each): proxy RSS per connection",
            path: "/",
            body_size: 100,
            connections: IDLE_CONNECTIONS,
            load: Load::TlsIdle(IDLE_CONNECTIONS),
            credential: Credential::None,
            limit: Limit::None,
            cache: false,
        },
    ]
}

// === impl Scenario ===

impl Scenario {
    /// True when the load goes to the proxies' TLS listeners.
    pub fn is_tls(&self) -> bool {
        matches!(self.load, Load::Tls(_) | Load::TlsIdle(_))
    }

    /// Idle connections held, for the idle scenarios.
    pub fn idle(&self) -> Option<usize> {
        match self.load {
            Load::Idle(n) | Load::TlsIdle(n) => Some(n),
            _ => None,
        }
    }
}

/// The scenarios `--quick` runs when none is named: all but the TLS ones,
/// which need a coregate with TLS termination and a TLS load generator.
pub fn quick_default() -> Vec<String> {
    all()
        .iter()
        .filter(|s| !s.is_tls())
        .map(|s| s.name.to_owned())
        .collect()
}

/// Looks scenarios up by name; `all` selects every one, `tls` the TLS ones.
pub fn select(names: &[String]) -> Result<Vec<Scenario>, String> {
    let every = all();
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(every);
    }
    let mut chosen = Vec::new();
    for name in names {
        match name.as_str() {
            "tls" => chosen.extend(every.iter().filter(|s| s.is_tls()).cloned()),
            _ => chosen.push(find(&every, name)?),
        }
    }
    Ok(chosen)
}

fn find(every: &[Scenario], name: &str) -> Result<Scenario, String> {
    every
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<_> = every.iter().map(|s| s.name).collect();
            format!(
                "unknown scenario {name:?}; known: {}, tls, all",
                known.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        assert_eq!(select(&[]).unwrap().len(), 17);
        assert_eq!(select(&["all".into()]).unwrap().len(), 17);
        let tls = select(&["tls".into()]).unwrap();
        assert_eq!(tls.len(), 4);
        assert!(tls.iter().all(Scenario::is_tls));
        let quick = select(&quick_default()).unwrap();
        assert_eq!(quick.len(), 13);
        assert!(!quick.iter().any(Scenario::is_tls));
        let two = select(&["idle10k".into(), "headline".into()]).unwrap();
        assert_eq!(two[0].name, "idle10k");
        assert!(select(&["nope".into()]).unwrap_err().contains("headline"));
    }

    #[test]
    fn names_are_unique() {
        let names: std::collections::HashSet<_> = all().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), all().len());
    }
}
