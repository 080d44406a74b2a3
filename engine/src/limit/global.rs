//! Rates counted in Redis, across hosts. `exact`: one GCRA round trip per
//! request on the shard's own Redis connection (pipelined with the
//! shard's other requests). `lease`: the host takes several units at once
//! (the GCRA script lets a lease run that far ahead) and spends them
//! locally, so the hosts together admit at most the limit plus the units
//! leased and not yet spent. When Redis fails, is slower than its timeout
//! or its queue is full, the policy fails open or closed; one log line
//! marks each change, and the next answer puts it back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use limits::{Decision, Global, GlobalError, Leases};
use tuning::{GlobalSync, Rate};

use super::nanos;

/// A policy's Redis side.
#[derive(Debug)]
pub(crate) struct Remote {
    global: Global,
    interval: u64,
    tolerance: u64,
    /// Units per lease and the host's leases, in lease mode.
    lease: Option<(u64, Leases)>,
    pub(crate) fail_closed: bool,
    /// Redis failed for this policy and has not answered since.
    failing: AtomicBool,
}

impl Remote {
    pub(crate) fn new(
        rate: &Rate,
        sync: GlobalSync,
        capacity: usize,
        fail_closed: bool,
        global: &Global,
    ) -> Remote {
        let interval = u64::try_from(rate.interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let lease = match sync {
            GlobalSync::Exact => None,
            GlobalSync::Lease(n) => Some((u64::from(n.max(1)), Leases::new(capacity))),
        };
        Remote {
            global: global.clone(),
            interval,
            tolerance: interval.saturating_mul(u64::from(rate.burst)),
            lease,
            fail_closed,
            failing: AtomicBool::new(false),
        }
    }

    /// Counts one request of the key (`hash` locally, `key` in Redis) on
    /// Redis connection `lane`.
    pub(crate) async fn check(
        &self,
        lane: usize,
        hash: u64,
        key: &[u8],
    ) -> Result<Decision, GlobalError> {
        let Some((units, leases)) = &self.lease else {
            let g = self
                .global
                .take(lane, key, self.interval, self.tolerance, 1)
                .await?;
            return Ok(decision(g, 0));
        };
        let t = nanos(Instant::now());
        if let Some(left) = leases.spend(hash, t) {
            return Ok(Decision::Admit {
                remaining: left,
                reset: Duration::ZERO,
            });
        }
        let ahead = self.tolerance + (units - 1) * self.interval;
        let g = self
            .global
            .take(lane, key, self.interval, ahead, *units)
            .await?;
        if g.granted > 1 {
            let until = t + g.granted * self.interval;
            leases.put(hash, g.granted - 1, until, t);
        }
        Ok(decision(g, 1))
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
