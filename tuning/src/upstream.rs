//! Upstream groups as the engine runs them: backends, the balancing
//! algorithm, circuit-breaker caps, active health checks and passive
//! outlier ejection, and TLS to the backends. Plain data, built by
//! validation or in code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::defaults::*;
use crate::tls::UpstreamTls;

/// A named set of backends and how to spread requests over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamGroup {
    /// Group name, as routes refer to it.
    pub name: String,
    /// At least one backend.
    pub backends: Vec<BackendAddr>,
    /// How a backend is picked.
    pub algorithm: Algorithm,
    /// Circuit breaker: upstream connections open per shard to this group;
    /// `None` is unlimited. Past it, 503.
    pub max_connections: Option<usize>,
    /// Circuit breaker: requests waiting for or in flight to this group per
    /// shard; `None` is unlimited. Past it, 503.
    pub max_pending: Option<usize>,
    /// Active HTTP checks, run once per host; `None`: no active checks.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection of failing backends, per shard.
    pub outlier: Outlier,
    /// TLS to the backends; `None`: plain TCP.
    pub tls: Option<UpstreamTls>,
}

/// One backend of an [`UpstreamGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendAddr {
    /// Where to connect.
    pub address: SocketAddr,
    /// Relative weight, at least 1.
    pub weight: u32,
}

/// Load-balancing algorithm of a group. `tuning`'s own enum: the engine
/// maps it onto `balancer`, which `tuning` does not depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Each backend in turn (`round_robin`); the default when every weight is 1.
    RoundRobin,
    /// Smooth weighted round-robin (`weighted`); the default when a weight is not 1.
    Weighted,
    /// Fewest requests in flight on this shard (`least_conn`).
    LeastConn,
    /// Power of two random choices by EWMA latency (`p2c_ewma`).
    P2cEwma,
    /// Uniformly random, weighted (`random`).
    Random,
    /// Consistent hashing on the route's [`HashKey`](crate::HashKey) (`maglev`).
    Maglev,
}

/// Active HTTP health check of every backend of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Request path, starting with `/`.
    pub path: String,
    /// Time between two checks of one backend, at least 100ms.
    pub interval: Duration,
    /// Time allowed for one check; less than `interval`.
    pub timeout: Duration,
    /// Inclusive status ranges that count as healthy; `200` is `(200, 200)`.
    pub expected_statuses: Vec<(u16, u16)>,
    /// Consecutive passes that mark a backend healthy again, at least 1.
    pub rise: u32,
    /// Consecutive failures that mark a backend unhealthy, at least 1.
    pub fall: u32,
    /// Host header; `None` sends the backend address.
    pub host: Option<String>,
}

/// Passive outlier ejection, tracked per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlier {
    /// Consecutive failures that eject a backend; 0 turns ejection off.
    pub consecutive_failures: u32,
    /// First ejection time; the n-th in a row lasts `base * 2^(n-1)`.
    pub base_ejection: Duration,
    /// Longest ejection, at least `base_ejection`.
    pub max_ejection: Duration,
    /// Whether 5xx responses count as failures (connect errors and
    /// timeouts always do).
    pub on_5xx: bool,
}

// === impl UpstreamGroup ===

impl UpstreamGroup {
    /// A group with the default algorithm for these weights, no circuit
    /// breaking, no active checks, default outlier ejection and plain TCP.
    pub fn new(name: impl Into<String>, backends: Vec<BackendAddr>) -> UpstreamGroup {
        let algorithm = Algorithm::default_for(&backends);
        UpstreamGroup {
            name: name.into(),
            backends,
            algorithm,
            max_connections: None,
            max_pending: None,
            health_check: None,
            outlier: Outlier::default(),
            tls: None,
        }
    }
}

// === impl Algorithm ===

impl Algorithm {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2cEwma,
        Algorithm::Random,
        Algorithm::Maglev,
    ];

    /// `round_robin` when every weight is 1, else `weighted`.
    pub fn default_for(backends: &[BackendAddr]) -> Algorithm {
        match backends.iter().all(|b| b.weight == 1) {
            true => Algorithm::RoundRobin,
            false => Algorithm::Weighted,
        }
    }

    /// The name written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Weighted => "weighted",
            Algorithm::LeastConn => "least_conn",
            Algorithm::P2cEwma => "p2c_ewma",
            Algorithm::Random => "random",
            Algorithm::Maglev => "maglev",
        }
    }

    /// The algorithm written `name` in the config file.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

// === impl HealthCheck ===

impl HealthCheck {
    /// A check of `path` with every other setting at its default.
    pub fn new(path: impl Into<String>) -> HealthCheck {
        HealthCheck {
            path: path.into(),
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            expected_statuses: vec![DEFAULT_HEALTH_STATUSES],
            rise: DEFAULT_HEALTH_RISE,
            fall: DEFAULT_HEALTH_FALL,
            host: None,
        }
    }

    /// Whether `status` counts as healthy.
    pub fn expects(&self, status: u16) -> bool {
        self.expected_statuses
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

// === impl Outlier ===

impl Default for Outlier {
    fn default() -> Self {
        Outlier {
            consecutive_failures: DEFAULT_OUTLIER_CONSECUTIVE_FAILURES,
            base_ejection: DEFAULT_OUTLIER_BASE_EJECTION,
            max_ejection: DEFAULT_OUTLIER_MAX_EJECTION,
            on_5xx: DEFAULT_OUTLIER_ON_5XX,
        }
    }
}

impl Outlier {
    /// Whether passive ejection is on.
    pub fn is_enabled(&self) -> bool {
        self.consecutive_failures > 0
    }

    /// How long the `n`-th ejection in a row (1-based) lasts:
    /// `base * 2^(n-1)`, capped at `max_ejection`.
    pub fn ejection_time(&self, n: u32) -> Duration {
        let shift = n.saturating_sub(1).min(31);
        self.base_ejection
            .checked_mul(1 << shift)
            .map_or(self.max_ejection, |d| d.min(self.max_ejection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(weight: u32) -> BackendAddr {
        BackendAddr {
            address: SocketAddr::from(([127, 0, 0, 1], 1)),
            weight,
        }
    }

    #[test]
    fn default_algorithm_follows_weights() {
        assert_eq!(Algorithm::default_for(&[b(1), b(1)]), Algorithm::RoundRobin);
        assert_eq!(Algorithm::default_for(&[b(1), b(2)]), Algorithm::Weighted);
        assert_eq!(
            UpstreamGroup::new("g", vec![b(3)]).algorithm,
            Algorithm::Weighted
        );
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Algorithm::from_name("roundrobin"), None);
    }

    #[test]
    fn ejection_doubles_up_to_the_cap() {
        let o = Outlier::default();
        assert_eq!(o.ejection_time(1), Duration::from_secs(10));
        assert_eq!(o.ejection_time(2), Duration::from_secs(20));
        assert_eq!(o.ejection_time(5), Duration::from_secs(160));
        assert_eq!(o.ejection_time(6), Duration::from_secs(300));
        assert_eq!(o.ejection_time(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn expected_statuses() {
        let mut h = HealthCheck::new("/healthz");
        assert!(h.expects(200) && h.expects(399) && !h.expects(404));
        h.expected_statuses = vec![(204, 204), (500, 503)];
        assert!(h.expects(204) && h.expects(501) && !h.expects(200));
    }
}
