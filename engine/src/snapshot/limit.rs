//! Rate limits exact across the host's shards: one table of GCRA cells per
//! policy, shared by every shard, each cell a key's hash and its
//! theoretical arrival time (TAT) in atomics. A check is a hash, a probe of
//! at most [`PROBE`] slots and one compare-and-swap, with no lock: shards
//! race on a cell, never on a table. The table outlives reloads (it is
//! carried by the policy's name) and never grows: a new key takes a free
//! slot or one whose budget is full again (its TAT has passed), so an
//! evicted key comes back with exactly the budget it had. When every slot
//! in reach belongs to a key still being limited, the new key is refused
//! (429): the table's capacity bounds memory, never the limit.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tuning::RateLimit;

/// Slots probed for a key.
const PROBE: usize = 8;

/// A policy's compiled limit and its shared table.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) policy: RateLimit,
    interval: u64,
    tolerance: u64,
    hashes: Box<[AtomicU64]>,
    tats: Box<[AtomicU64]>,
    seed: ahash::RandomState,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; this many more would be admitted right now, and the whole
    /// budget is back after `reset`.
    Admit { remaining: u64, reset: Duration },
    /// Over the limit: the next request would be admitted after this.
    Limit { retry_after: Duration },
}

/// Nanoseconds since this process's limiter epoch (one for all shards).
fn nanos(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now - Duration::from_secs(3600));
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

impl Limiter {
    /// The limiter for `policy`: `prev`'s table when it had one of the same
    /// name and shape (so a reload keeps every key's budget).
    pub(crate) fn new(policy: &RateLimit, prev: Option<&Arc<Limiter>>) -> Arc<Limiter> {
        if let Some(p) = prev.filter(|p| p.policy == *policy) {
            return Arc::clone(p);
        }
        let slots = policy.capacity.next_power_of_two();
        let interval = u64::try_from(policy.interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Arc::new(Limiter {
            policy: policy.clone(),
            interval,
            tolerance: interval.saturating_mul(u64::from(policy.burst)),
            hashes: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            tats: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            seed: ahash::RandomState::new(),
        })
    }

    /// The `RateLimit-Policy` and `RateLimit` field values (structured
    /// fields): quota and window; requests left and seconds until reset.
    pub(crate) fn fields(&self, remaining: u64, reset: u64) -> (String, String) {
        let p = &self.policy;
        let inner: String = p
            .name
            .chars()
            .filter(|c| *c != '"' && *c != '\\')
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        let policy = format!("\"{inner}\";q={};w={}", p.per_window, p.window.as_secs());
        (policy, format!("\"{inner}\";r={remaining};t={reset}"))
    }

    /// Counts a request of `key` at `now` (GCRA).
    pub(crate) fn check(&self, key: impl Hash, now: Instant) -> Decision {
        let t = nanos(now);
        let mut h = self.seed.build_hasher();
        key.hash(&mut h);
        let hash = h.finish() | 1; // 0 marks a free slot
        match self.slot(hash, t) {
            Some(i) => self.take(i, t),
            None => Decision::Limit {
                retry_after: Duration::from_nanos(self.interval),
            },
        }
    }

    /// The slot of `hash`: its own, else a free one, else one whose key
    /// has its full budget back (TAT passed); `None` when all in reach are
    /// keys still being limited.
    fn slot(&self, hash: u64, t: u64) -> Option<usize> {
        let mask = self.hashes.len() - 1;
        let start = (hash as usize) & mask;
        for step in 0..PROBE {
            let i = (start + step) & mask;
            let cur = self.hashes[i].load(Ordering::Acquire);
            if cur == hash {
                return Some(i);
            }
            let reusable = cur == 0 || self.tats[i].load(Ordering::Acquire) <= t;
            if reusable
                && self.hashes[i]
                    .compare_exchange(cur, hash, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Some(i);
            }
        }
        None
    }

    /// GCRA on slot `i`: admit when the TAT is within the tolerance of
    /// now, and push it one interval on. A request that comes less than an
    /// interval after the TAT is admitted on the TAT's schedule rather
    /// than its own, so that the time requests take to arrive is not lost:
    /// under steady load a key gets exactly its rate, and the n-th
    /// admission after an idle interval never comes sooner than n
    /// intervals (less the burst's) after the first.
    fn take(&self, i: usize, t: u64) -> Decision {
        let cell = &self.tats[i];
        let mut tat = cell.load(Ordering::Acquire);
        loop {
            let base = match t < tat.saturating_add(self.interval) {
                true => tat,
                false => t,
            };
            if base > t.saturating_add(self.tolerance) {
                let wait = base - t - self.tolerance;
                return Decision::Limit {
                    retry_after: Duration::from_nanos(wait),
                };
            }
            let next = base + self.interval;
            match cell.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    let room = (t + self.tolerance + self.interval).saturating_sub(next);
                    return Decision::Admit {
                        remaining: room / self.interval,
                        reset: Duration::from_nanos(next - t),
                    };
                }
                Err(seen) => tat = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuning::LimitKey;

    fn policy(per_sec: u64, burst: u32, capacity: usize) -> RateLimit {
        RateLimit {
            name: "p".into(),
            interval: Duration::from_secs(1) / u32::try_from(per_sec).unwrap(),
            burst,
            window: Duration::from_secs(1),
            per_window: per_sec,
            key: LimitKey::Ip(None),
            capacity,
            headers: false,
        }
    }

    #[test]
    fn admits_the_burst_then_the_rate() {
        let l = Limiter::new(&policy(10, 2, 16), None);
        let t0 = Instant::now();
        let admitted = (0..10)
            .filter(|_| matches!(l.check("k", t0), Decision::Admit { .. }))
            .count();
        assert_eq!(admitted, 3, "burst 2 plus one");
        assert!(
            matches!(l.check("other", t0), Decision::Admit { .. }),
            "keys are apart"
        );
        assert!(matches!(
            l.check("k", t0 + Duration::from_millis(99)),
            Decision::Limit { .. }
        ));
        assert!(matches!(
            l.check("k", t0 + Duration::from_millis(101)),
            Decision::Admit { .. }
        ));
    }

    #[test]
    fn a_full_table_refuses_new_keys_without_freeing_limited_ones() {
        let l = Limiter::new(&policy(1, 0, 16), None);
        let t0 = Instant::now();
        for k in 0..1000 {
            let _ = l.check(k, t0);
        }
        // Every slot now holds a key limited for a second: none is evicted.
        let limited = (0..1000)
            .filter(|k| matches!(l.check(k, t0), Decision::Limit { .. }))
            .count();
        assert_eq!(limited, 1000);
        // A second later all budgets are full again and slots free up.
        assert!(matches!(
            l.check(5000, t0 + Duration::from_secs(2)),
            Decision::Admit { .. }
        ));
    }
}
