//! Leases of a rate counted in Redis: units this host took from Redis
//! ahead of time, spent locally with one compare-and-swap each, until
//! they run out or expire. A lease unspent by its expiry is dropped (the
//! hosts then admit less, never more).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::slots::Slots;

/// The leases of one policy, per key.
#[derive(Debug)]
pub struct Leases {
    slots: Slots,
    tokens: Box<[AtomicU64]>,
    /// When each slot's units expire (nanoseconds on the caller's clock).
    expiry: Box<[AtomicU64]>,
}

impl Leases {
    /// A table of `capacity` keys.
    pub fn new(capacity: usize) -> Leases {
        let slots = Slots::new(capacity);
        let n = slots.len();
        Leases {
            tokens: (0..n).map(|_| AtomicU64::new(0)).collect(),
            expiry: (0..n).map(|_| AtomicU64::new(0)).collect(),
            slots,
        }
    }

    /// Spends one leased unit of `hash` at `t`: the units left, or `None`
    /// when the key holds none (or they expired).
    pub fn spend(&self, hash: u64, t: u64) -> Option<u64> {
        let i = self.slots.find(hash)?;
        if self.expiry[i].load(Ordering::Acquire) <= t {
            return None;
        }
        self.tokens[i]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|n| n - 1)
    }

    /// Keeps `units` taken for `hash`, spendable until `until` (added to
    /// what the key still holds). A slot whose units ran out or expired
    /// may be given to another key.
    pub fn put(&self, hash: u64, units: u64, until: u64, t: u64) {
        if let Some(i) = self.slots.find(hash) {
            if self.expiry[i].load(Ordering::Acquire) > t {
                self.tokens[i].fetch_add(units, Ordering::AcqRel);
                self.expiry[i].fetch_max(until, Ordering::AcqRel);
                return;
            }
        }
        let reusable = |i: usize| {
            self.tokens[i].load(Ordering::Acquire) == 0
                || self.expiry[i].load(Ordering::Acquire) <= t
        };
        let Some(i) = self.slots.claim(hash, reusable) else {
            return;
        };
        self.tokens[i].store(units, Ordering::Release);
        self.expiry[i].store(until, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_units_are_spent_once_and_expire() {
        let l = Leases::new(16);
        assert_eq!(l.spend(1, 10), None, "nothing leased yet");
        l.put(1, 2, 100, 10);
        assert_eq!(l.spend(1, 20), Some(1));
        assert_eq!(l.spend(1, 30), Some(0));
        assert_eq!(l.spend(1, 40), None, "spent");
        l.put(1, 5, 100, 50);
        l.put(1, 1, 120, 60);
        assert_eq!(l.spend(1, 70), Some(5), "a second lease adds to the first");
        assert_eq!(l.spend(1, 120), None, "expired");
    }
}
