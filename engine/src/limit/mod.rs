//! Limit policies on the request path: rates (GCRA), quotas (calendar or
//! rolling) and concurrency caps, each a fixed table of atomic cells that
//! every shard of the host updates with compare-and-swap, so a limit is
//! exact across shards with no lock and no message. A route's policies
//! are compiled into the snapshot off the data path; a policy's table
//! outlives reloads that keep it (by name and shape). Rates
//! and calendar quotas may instead be counted in Redis, across hosts
//! (`global`). A local rate check costs
//! 0.11 µs of CPU per request (`perf-tests` scenario `limits`, 2026-12-02).

pub(crate) mod admit;
pub(crate) mod global;
pub(crate) mod key;

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tuning::{LimitKind, LimitPolicy};

use limits::{Gcra, InFlight, Quotas};

use self::global::Remote;
use self::key::{Facts, KeyBytes, Keyed};

/// A policy's table.
#[derive(Debug)]
pub(crate) enum Table {
    Rate(Gcra),
    Quota(Quotas),
    Concurrency(InFlight),
}

/// A compiled policy: its settings and its table, shared by every shard.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) spec: LimitPolicy,
    pub(crate) table: Table,
    /// Its Redis side, for a rate counted across hosts.
    pub(crate) remote: Option<Remote>,
    /// Hashes keys; fixed for quotas, whose counts are saved by key hash.
    seed: ahash::RandomState,
}

/// Seeds of quota tables' hashes: the same in every process, so that
/// saved counts find their keys after a restart.
const QUOTA_SEEDS: [u64; 4] = [
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
];

impl Policy {
    /// The policy for `spec`: `prev`'s when it is the same policy (so a
    /// reload keeps every key's budget).
    pub(crate) fn new(
        spec: &LimitPolicy,
        prev: Option<&Arc<Policy>>,
        redis: Option<&limits::Global>,
    ) -> Arc<Policy> {
        if let Some(p) = prev.filter(|p| p.spec == *spec) {
            return Arc::clone(p);
        }
        let (table, seed) = match &spec.kind {
            LimitKind::Rate(r) => (
                Table::Rate(Gcra::new(r, spec.capacity)),
                ahash::RandomState::new(),
            ),
            LimitKind::Quota(q) => {
                let [a, b, c, d] = QUOTA_SEEDS;
                let seed = ahash::RandomState::with_seeds(a, b, c, d);
                (Table::Quota(Quotas::new(q, spec.capacity)), seed)
            }
            LimitKind::Concurrency(n) => (
                Table::Concurrency(InFlight::new(*n, spec.capacity)),
                ahash::RandomState::new(),
            ),
        };
        let remote = match (spec.global, redis) {
            (Some(sync), Some(g)) => {
                Remote::new(&spec.kind, sync, spec.capacity, spec.fail_closed, g)
            }
            (Some(_), None) => {
                // A reload added [redis]: the client starts with the process.
                eprintln!(
                    "coregate: limit policy {:?} is global but this process started without [redis]: counted on this host until a restart",
                    spec.name
                );
                None
            }
            _ => None,
        };
        Arc::new(Policy {
            spec: spec.clone(),
            table,
            remote,
            seed,
        })
    }

    /// The hash of a request's key, or why it has none.
    pub(crate) fn key(&self, f: &Facts<'_>) -> Result<u64, Keyed> {
        let mut h = self.seed.build_hasher();
        match key::write(&self.spec, f, &mut h) {
            Keyed::Key => Ok(h.finish()),
            other => Err(other),
        }
    }

    /// The key of a request in Redis.
    pub(crate) fn redis_key(&self, f: &Facts<'_>) -> Vec<u8> {
        let mut parts = KeyBytes::default();
        let _ = key::write(&self.spec, f, &mut parts);
        global::redis_key(&self.spec.name, &parts.0)
    }

    /// Whether responses are charged by the upstream's count.
    pub(crate) fn charged(&self) -> bool {
        self.spec.cost_header.is_some()
    }

    /// Charges `n` units to `hash` after its response.
    pub(crate) fn charge(&self, hash: u64, n: u64) {
        match &self.table {
            Table::Rate(g) => g.charge(hash, nanos(Instant::now()), n),
            Table::Quota(q) => q.charge(hash, unix_now(), n),
            Table::Concurrency(_) => {}
        }
    }

    /// Reserves `cost` units for `hash` before an AI call (a token
    /// budget): admitted only when all of them fit.
    pub(crate) fn reserve(&self, hash: u64, cost: u64) -> limits::Decision {
        match &self.table {
            Table::Rate(g) => g.check(hash, nanos(Instant::now()), cost),
            Table::Quota(q) => q.check(hash, unix_now(), cost),
            Table::Concurrency(t) => match t.acquire(hash) {
                Some((slot, left)) => {
                    t.release(slot);
                    limits::Decision::Admit {
                        remaining: left,
                        reset: Duration::ZERO,
                    }
                }
                None => limits::Decision::Limit {
                    retry_after: Duration::from_secs(1),
                },
            },
        }
    }

    /// The most units one request can ever be given at once: a quota's
    /// limit, a rate's burst plus one; `None` for a concurrency cap.
    pub(crate) fn most(&self) -> Option<u64> {
        match &self.spec.kind {
            LimitKind::Quota(q) => Some(q.limit),
            LimitKind::Rate(r) => Some(u64::from(r.burst) + 1),
            LimitKind::Concurrency(_) => None,
        }
    }

    /// Settles a reservation of `reserved` units made at `at` (Unix
    /// seconds) with the `used` units the call really took.
    pub(crate) fn settle(&self, hash: u64, reserved: u64, used: u64, at: u64) {
        match (&self.table, used.cmp(&reserved)) {
            (_, std::cmp::Ordering::Equal) | (Table::Concurrency(_), _) => {}
            (_, std::cmp::Ordering::Greater) => self.charge(hash, used - reserved),
            (Table::Rate(g), std::cmp::Ordering::Less) => g.refund(hash, reserved - used),
            (Table::Quota(q), std::cmp::Ordering::Less) => q.refund(hash, at, reserved - used),
        }
    }

    /// The quota table, for a quota policy.
    pub(crate) fn quota(&self) -> Option<&Quotas> {
        match &self.table {
            Table::Quota(q) => Some(q),
            _ => None,
        }
    }

    /// The counts of keys touched since the last call, to save.
    pub(crate) fn dirty_counts(&self) -> Vec<access::QuotaCount> {
        let Some(q) = self.quota() else {
            return Vec::new();
        };
        q.take_dirty()
            .into_iter()
            .map(|s| access::QuotaCount {
                policy: self.spec.name.clone(),
                key: s.key as i64,
                step: s.step as i64,
                count: i64::try_from(s.count).unwrap_or(i64::MAX),
            })
            .collect()
    }

    /// Adds this policy's saved counts (of steps still in its window).
    pub(crate) fn restore_counts(&self, saved: &[access::QuotaCount]) {
        let Some(q) = self.quota() else {
            return;
        };
        let mine: Vec<limits::Saved> = saved
            .iter()
            .filter(|c| c.policy == self.spec.name)
            .map(|c| limits::Saved {
                key: c.key as u64,
                step: c.step as u64,
                count: u64::try_from(c.count).unwrap_or(0),
            })
            .collect();
        q.restore(&mine, unix_now());
    }

    /// The `RateLimit-Policy` and `RateLimit` field values (structured
    /// fields): quota and window; units left and seconds until reset.
    pub(crate) fn fields(&self, remaining: u64, reset: u64) -> (String, String) {
        let inner: String = self
            .spec
            .name
            .chars()
            .filter(|c| *c != '"' && *c != '\\')
            .map(|c| match c.is_ascii_graphic() || c == ' ' {
                true => c,
                false => '?',
            })
            .collect();
        let policy = match &self.spec.kind {
            LimitKind::Rate(r) => {
                format!("\"{inner}\";q={};w={}", r.per_window, r.window.as_secs())
            }
            LimitKind::Quota(q) => format!("\"{inner}\";q={};w={}", q.limit, q.period.seconds()),
            LimitKind::Concurrency(n) => format!("\"{inner}\";q={n}"),
        };
        (policy, format!("\"{inner}\";r={remaining};t={reset}"))
    }
}

/// Nanoseconds since this process's limiter epoch (one for all shards).
pub(crate) fn nanos(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now - Duration::from_secs(3600));
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch (quotas follow the calendar).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The policies of a new snapshot by name, each table carried over from
/// `prev` where the policy is unchanged; a policy named by several routes
/// is one table.
pub(crate) fn compile<'a>(
    specs: impl Iterator<Item = &'a LimitPolicy>,
    prev: &[Arc<Policy>],
    redis: Option<&limits::Global>,
) -> Vec<Arc<Policy>> {
    let mut out: Vec<Arc<Policy>> = Vec::new();
    for spec in specs {
        if out.iter().any(|p| p.spec.name == spec.name) {
            continue;
        }
        let old = prev.iter().find(|p| p.spec.name == spec.name);
        out.push(Policy::new(spec, old, redis));
    }
    out
}
