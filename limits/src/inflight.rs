//! Concurrency limits exact across the host's shards: a count of requests
//! in flight per key, taken with one compare-and-swap when the request is
//! admitted and given back when its response ends (or its connection
//! does). A key's slot changes hands only when nothing of it is in flight.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::slots::Slots;

/// A concurrency limit's table.
#[derive(Debug)]
pub struct InFlight {
    max: u64,
    slots: Slots,
    counts: Box<[AtomicU64]>,
}

impl InFlight {
    /// A table of `capacity` keys, each with at most `max` in flight.
    pub fn new(max: u32, capacity: usize) -> InFlight {
        let slots = Slots::new(capacity);
        InFlight {
            max: u64::from(max),
            counts: (0..slots.len()).map(|_| AtomicU64::new(0)).collect(),
            slots,
        }
    }

    /// One more request of `hash` in flight: its slot, to give back with
    /// [`InFlight::release`], and how many more may start; `None` when
    /// the key is at its limit (or the table is full of busy keys).
    pub fn acquire(&self, hash: u64) -> Option<(usize, u64)> {
        let i = self
            .slots
            .claim(hash, |i| self.counts[i].load(Ordering::Acquire) == 0)?;
        let max = self.max;
        self.counts[i]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|n| (i, max - n - 1))
    }

    /// Gives back a slot [`InFlight::acquire`] took.
    pub fn release(&self, slot: usize) {
        let _ = self.counts[slot].fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            Some(n.saturating_sub(1))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_in_flight_per_key_and_released_slots_come_back() {
        let f = InFlight::new(2, 16);
        let a = f.acquire(1).unwrap();
        let b = f.acquire(1).unwrap();
        assert_eq!((a.1, b.1), (1, 0));
        assert!(f.acquire(1).is_none());
        assert!(f.acquire(2).is_some(), "keys are apart");
        f.release(a.0);
        assert!(f.acquire(1).is_some());
    }
}
