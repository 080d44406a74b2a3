//! Rates and calendar quotas counted in Redis, across hosts. `exact`: one
//! round trip per request on the shard's own Redis connection (pipelined
//! with the shard's other requests): a GCRA script for a rate, a capped
//! counter per period for a quota. `lease`: the host takes several units
//! at once and spends them locally; for a rate the GCRA script lets a
//! lease run that far ahead, so the hosts together admit at most the limit
//! plus the units leased and not yet spent, and for a quota leases come
//! out of the period's count, so the hosts never admit more than it. When Redis fails, is slower than its timeout
//! or its queue is full, the policy fails open or closed; one log line
//! marks each change, and the next answer puts it back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use limits::{Decision, Global, GlobalError, Leases};
use tuning::{GlobalSync, LimitKind, Period};

use super::{nanos, unix_now};
use crate::shard;

/// What a policy counts in Redis.
#[derive(Debug)]
enum Counted {
    /// GCRA: nanoseconds per unit and of burst.
    Rate { interval: u64, tolerance: u64 },
    /// Units per calendar period.
    Quota { limit: u64, period: Period },
}

/// The shortest time a rate's lease may be spent in (nanoseconds).
const LEASE_MIN: u64 = 1_000_000_000;

/// A policy's Redis side.
#[derive(Debug)]
pub(crate) struct Remote {
    global: Global,
    counted: Counted,
    /// Units per lease and the host's leases, in lease mode.
    lease: Option<(u64, Leases)>,
    pub(crate) fail_closed: bool,
    /// Redis failed for this policy and has not answered since.
    failing: AtomicBool,
}

impl Remote {
    /// The Redis side of a rate or calendar quota (`None` for others).
    pub(crate) fn new(
        kind: &LimitKind,
        sync: GlobalSync,
        capacity: usize,
        fail_closed: bool,
        global: &Global,
    ) -> Option<Remote> {
        let counted = match kind {
            LimitKind::Rate(rate) => {
                let interval = u64::try_from(rate.interval.as_nanos())
                    .unwrap_or(u64::MAX)
                    .max(1);
                Counted::Rate {
                    interval,
                    tolerance: interval.saturating_mul(u64::from(rate.burst)),
                }
            }
            LimitKind::Quota(q) if !q.rolling => Counted::Quota {
                limit: q.limit,
                period: q.period,
            },
            _ => return None,
        };
        let lease = match sync {
            GlobalSync::Exact => None,
            GlobalSync::Lease(n) => Some((u64::from(n.max(1)), Leases::new(capacity))),
        };
        Some(Remote {
            global: global.clone(),
            counted,
            lease,
            fail_closed,
            failing: AtomicBool::new(false),
        })
    }

    /// Counts one request of the key (`hash` locally, `key` in Redis) on
    /// Redis connection `lane`.
    pub(crate) async fn check(
        &self,
        lane: usize,
        hash: u64,
        key: &[u8],
    ) -> Result<Decision, GlobalError> {
        match self.counted {
            Counted::Rate {
                interval,
                tolerance,
            } => self.rate(lane, hash, key, interval, tolerance).await,
            Counted::Quota { limit, period } => self.quota(lane, hash, key, limit, period).await,
        }
    }

    async fn rate(
        &self,
        lane: usize,
        hash: u64,
        key: &[u8],
        interval: u64,
        tolerance: u64,
    ) -> Result<Decision, GlobalError> {
        let Some((units, leases)) = &self.lease else {
            let g = shard::foreign(self.global.take(lane, key, interval, tolerance, 1)).await?;
            return Ok(decision(g, 0));
        };
        let t = nanos(Instant::now());
        if let Some(left) = leases.spend(hash, t) {
            return Ok(Decision::Admit {
                remaining: left,
                reset: Duration::ZERO,
            });
        }
        let ahead = tolerance.saturating_add((units - 1).saturating_mul(interval));
        let g = shard::foreign(self.global.take(lane, key, interval, ahead, *units)).await?;
        if g.granted > 1 {
            // Spendable for as long as the units cover at the rate, and at
            // least a second: the hosts' bound is the limit plus the units
            // leased and unspent, whenever they are spent.
            let covers = g.granted.saturating_mul(interval).max(LEASE_MIN);
            leases.put(hash, g.granted - 1, t.saturating_add(covers), t);
        }
        Ok(decision(g, 1))
    }

    /// A calendar quota: the period's counter is its own Redis key (the
    /// period's number after the policy's key), expiring a minute after
    /// the period ends; leases expire with the period.
    async fn quota(
        &self,
        lane: usize,
        hash: u64,
        key: &[u8],
        limit: u64,
        period: Period,
    ) -> Result<Decision, GlobalError> {
        let now = unix_now();
        let (no, ends) = limits::period_of(period, now);
        let left = Duration::from_secs(ends.saturating_sub(now).max(1));
        let t = nanos(Instant::now());
        let per_period = hash ^ no.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if let Some((_, leases)) = &self.lease {
            if let Some(n) = leases.spend(per_period, t) {
                return Ok(Decision::Admit {
                    remaining: n,
                    reset: left,
                });
            }
        }
        let mut full = key.to_vec();
        full.extend_from_slice(format!(":{no}").as_bytes());
        let want = self.lease.as_ref().map_or(1, |(units, _)| *units);
        let ttl = left + Duration::from_secs(60);
        let g = shard::foreign(self.global.quota(lane, &full, limit, want, ttl)).await?;
        if let (Some((_, leases)), true) = (&self.lease, g.granted > 1) {
            let until = t.saturating_add(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
            leases.put(per_period, g.granted - 1, until, t);
        }
        Ok(match g.granted {
            0 => Decision::Limit { retry_after: left },
            n => Decision::Admit {
                remaining: g.remaining + n - 1,
                reset: left,
            },
        })
    }

    /// Notes that Redis answered (a log line if it had failed).
    pub(crate) fn answered(&self, policy: &str) {
        if self.failing.swap(false, Ordering::Relaxed) {
            eprintln!("coregate: limit policy {policy:?}: Redis answers again");
        }
    }

    /// Notes that Redis failed (a log line if it had not).
    pub(crate) fn failed(&self, policy: &str, e: &GlobalError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            let how = if self.fail_closed {
                "refusing (503)"
            } else {
                "admitting"
            };
            eprintln!(
                "coregate: limit policy {policy:?}: Redis failed ({e}); {how} until it answers"
            );
        }
    }
}

/// A grant as a decision; `granted` units beyond `kept` were leased.
fn decision(g: limits::Grant, kept: u64) -> Decision {
    match g.granted {
        0 => Decision::Limit {
            retry_after: Duration::from_nanos(g.retry_after_ns.max(1)),
        },
        n => Decision::Admit {
            remaining: g.remaining + n.saturating_sub(1).min(kept * n),
            reset: Duration::from_nanos(g.reset_ns),
        },
    }
}

/// The key of a request in Redis: a digest of the policy's name and the
/// key's parts (no client data in Redis, and a fixed length), in hex.
pub(crate) fn redis_key(policy: &str, parts: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(policy.len() + 1 + parts.len());
    bytes.extend_from_slice(policy.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(parts);
    let d = access::key::digest(&bytes);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    d[..16]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .collect()
}
