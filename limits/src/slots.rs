//! The fixed table every limit keeps its keys in: open addressing over
//! atomic key hashes, probed at most [`PROBE`] slots, claimed by one
//! compare-and-swap. A slot changes hands only when its owner says it may
//! (its budget is full again), so a table at capacity refuses new keys
//! rather than forgetting limited ones.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots probed for a key.
const PROBE: usize = 8;

/// The key hashes of a table; 0 marks a free slot.
#[derive(Debug)]
pub(crate) struct Slots {
    hashes: Box<[AtomicU64]>,
}

impl Slots {
    /// At least `capacity` slots (the next power of two).
    pub(crate) fn new(capacity: usize) -> Slots {
        let n = capacity.max(16).next_power_of_two();
        Slots {
            hashes: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The number of slots.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The slot `hash` holds, if any.
    pub(crate) fn find(&self, hash: u64) -> Option<usize> {
        let hash = hash | 1;
        self.probe(hash)
            .find(|&i| self.hashes[i].load(Ordering::Acquire) == hash)
    }

    /// The slot of `hash`: its own, else a free one, else one whose owner
    /// `reusable` says may go; `None` when every slot in reach is held.
    ///
    /// The key's own slot is looked for first, through the whole probe: a
    /// key whose slot lies past a reusable one must not take that one too
    /// (it would come with a fresh budget).
    pub(crate) fn claim(&self, hash: u64, reusable: impl Fn(usize) -> bool) -> Option<usize> {
        if let Some(i) = self.find(hash) {
            return Some(i);
        }
        let hash = hash | 1;
        for i in self.probe(hash) {
            let cur = self.hashes[i].load(Ordering::Acquire);
            if cur != 0 && !reusable(i) {
                continue;
            }
            match self.hashes[i].compare_exchange(cur, hash, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(i),
                // Another shard claimed it for the same key meanwhile.
                Err(seen) if seen == hash => return Some(i),
                Err(_) => {}
            }
        }
        None
    }

    /// The hash in slot `i` (0: free).
    pub(crate) fn hash_at(&self, i: usize) -> u64 {
        self.hashes[i].load(Ordering::Acquire)
    }

    fn probe(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let mask = self.hashes.len() - 1;
        let start = (hash as usize) & mask;
        (0..PROBE).map(move |step| (start + step) & mask)
    }
}
