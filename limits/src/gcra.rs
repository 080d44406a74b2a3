//! Rates exact across the host's shards: GCRA over one table per policy,
//! shared by every shard, each key's theoretical arrival time (TAT) an
//! atomic. A check is a probe of at most 8 slots and one compare-and-swap,
//! with no lock: shards race on a cell, never on a table. A key's slot is
//! given to another only once its budget is full again (its TAT has
//! passed), so an evicted key comes back with exactly the budget it had.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::slots::Slots;
use crate::Decision;

/// A rate's table.
#[derive(Debug)]
pub struct Gcra {
    interval: u64,
    tolerance: u64,
    slots: Slots,
    tats: Box<[AtomicU64]>,
}

impl Gcra {
    /// A table of `capacity` keys for `rate`.
    pub fn new(rate: &tuning::Rate, capacity: usize) -> Gcra {
        let slots = Slots::new(capacity);
        let interval = u64::try_from(rate.interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(rate.burst)),
            tats: (0..slots.len()).map(|_| AtomicU64::new(0)).collect(),
            slots,
        }
    }

    /// The interval between two units, in nanoseconds.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The burst as a time: how far the TAT may run ahead of now.
    pub fn tolerance(&self) -> u64 {
        self.tolerance
    }

    /// Counts `cost` units of `hash` at `t` (nanoseconds on the
    /// limiter clock). A cost of 0 only asks whether the key has budget
    /// left; its units are charged after the response.
    pub fn check(&self, hash: u64, t: u64, cost: u64) -> Decision {
        let slot = self
            .slots
            .claim(hash, |i| self.tats[i].load(Ordering::Acquire) <= t);
        match slot {
            Some(i) => self.take(i, t, cost),
            None => Decision::Limit {
                retry_after: Duration::from_nanos(self.interval),
            },
        }
    }

    /// Charges `n` units to `hash` after the fact: its TAT moves on by `n`
    /// intervals whatever its budget (it may go into debt).
    pub fn charge(&self, hash: u64, t: u64, n: u64) {
        // Claimed, not just found: a key that was only asked about (cost 0)
        // may have lost its slot while its response was on the way.
        let slot = self
            .slots
            .claim(hash, |i| self.tats[i].load(Ordering::Acquire) <= t);
        let Some(i) = slot else {
            return;
        };
        let add = self.interval.saturating_mul(n);
        let _ = self.tats[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            Some(tat.max(t).saturating_add(add))
        });
    }

    /// Gives back `n` units reserved for `hash` that were not used: its
    /// TAT moves back by `n` intervals (a key that lost its slot since
    /// has nothing to give back).
    pub fn refund(&self, hash: u64, n: u64) {
        let Some(i) = self.slots.find(hash) else {
            return;
        };
        let back = self.interval.saturating_mul(n);
        let _ = self.tats[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            Some(tat.saturating_sub(back))
        });
    }

    /// GCRA on slot `i`: admit when the TAT is within the tolerance of
    /// now, and push it `cost` intervals on. A request that comes less
    /// than an interval after the TAT is admitted on the TAT's schedule
    /// rather than its own, so that the time requests take to arrive is
    /// not lost: under steady load a key gets exactly its rate, and the
    /// n-th admission after an idle interval never comes sooner than n
    /// intervals (less the burst's) after the first.
    fn take(&self, i: usize, t: u64, cost: u64) -> Decision {
        let cell = &self.tats[i];
        let mut tat = cell.load(Ordering::Acquire);
        loop {
            let base = match t < tat.saturating_add(self.interval) {
                true => tat,
                false => t,
            };
            // The last of `cost` units must fit in the burst too.
            let last = base.saturating_add(self.interval.saturating_mul(cost.saturating_sub(1)));
            if last > t.saturating_add(self.tolerance) {
                let wait = last - t - self.tolerance;
                return Decision::Limit {
                    retry_after: Duration::from_nanos(wait),
                };
            }
            let next = base.saturating_add(self.interval.saturating_mul(cost));
            match cell.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    let room = t
                        .saturating_add(self.tolerance)
                        .saturating_add(self.interval)
                        .saturating_sub(next);
                    return Decision::Admit {
                        remaining: room / self.interval,
                        reset: Duration::from_nanos(next.saturating_sub(t)),
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

    fn rate(per_sec: u64, burst: u32) -> tuning::Rate {
        tuning::Rate {
            interval: Duration::from_secs(1) / u32::try_from(per_sec).unwrap(),
            burst,
            window: Duration::from_secs(1),
            per_window: per_sec,
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_cost_fits_in_the_burst_whole_and_a_refund_moves_the_tat_back() {
        let l = Gcra::new(&rate(10, 9), 16); // 10 units at once
        let t0 = 100 * S;
        assert!(
            matches!(l.check(3, t0, 11), Decision::Limit { .. }),
            "more than the burst"
        );
        assert!(matches!(l.check(3, t0, 10), Decision::Admit { .. }));
        assert!(
            matches!(l.check(3, t0, 1), Decision::Limit { .. }),
            "all spent"
        );
        l.refund(3, 4); // used 6 of the 10
        assert!(matches!(l.check(3, t0, 4), Decision::Admit { .. }));
        assert!(matches!(l.check(3, t0, 1), Decision::Limit { .. }));
        assert!(
            matches!(l.check(3, t0, u64::MAX), Decision::Limit { .. }),
            "no wrap"
        );
    }

    #[test]
    fn admits_the_burst_then_the_rate() {
        let l = Gcra::new(&rate(10, 2), 16);
        let t0 = 100 * S;
        let admitted = (0..10)
            .filter(|_| matches!(l.check(7, t0, 1), Decision::Admit { .. }))
            .count();
        assert_eq!(admitted, 3, "burst 2 plus one");
        assert!(
            matches!(l.check(8, t0, 1), Decision::Admit { .. }),
            "keys are apart"
        );
        assert!(matches!(
            l.check(7, t0 + S / 1000 * 99, 1),
            Decision::Limit { .. }
        ));
        assert!(matches!(
            l.check(7, t0 + S / 1000 * 101, 1),
            Decision::Admit { .. }
        ));
    }

    #[test]
    fn a_charge_after_the_fact_puts_the_key_in_debt() {
        let l = Gcra::new(&rate(10, 0), 16);
        let t0 = 100 * S;
        assert!(matches!(l.check(1, t0, 0), Decision::Admit { .. }));
        assert!(
            matches!(l.check(1, t0, 0), Decision::Admit { .. }),
            "asking costs nothing"
        );
        l.charge(1, t0, 20); // two seconds' worth
        assert!(matches!(l.check(1, t0 + S, 0), Decision::Limit { .. }));
        assert!(matches!(l.check(1, t0 + 2 * S, 0), Decision::Admit { .. }));
    }

    #[test]
    fn a_full_table_refuses_new_keys_without_freeing_limited_ones() {
        let l = Gcra::new(&rate(1, 0), 16);
        let t0 = 100 * S;
        for k in 0..1000u64 {
            let _ = l.check(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), t0, 1);
        }
        // Every slot now holds a key limited for a second: none is evicted.
        let limited = (0..1000u64)
            .filter(|k| {
                matches!(
                    l.check(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), t0, 1),
                    Decision::Limit { .. }
                )
            })
            .count();
        assert_eq!(limited, 1000);
        // Two seconds later all budgets are full again and slots free up.
        assert!(matches!(
            l.check(5000, t0 + 2 * S, 1),
            Decision::Admit { .. }
        ));
    }
}
