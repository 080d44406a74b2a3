//! Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4).
//!
//! Each backend gets a permutation of the `M` table slots from two hashes of
//! its address: `offset = h1 % M`, `skip = h2 % (M - 1) + 1`, slot `j` of
//! the permutation is `(offset + j·skip) % M`; `M` prime makes every skip
//! coprime with `M`, so each permutation visits every slot. Backends take
//! turns claiming their next free preferred slot until the table is full.
//! A request maps to `table[hash % M]`; if that backend is ineligible, the
//! lookup walks forward to the next slot that holds an eligible one, so a
//! down backend's keys spread over the others without a table rebuild.
//!
//! Weighted: a backend takes a turn in round `r` only while its slot count
//! is below `r · weight / max_weight`, so slots follow weights (weight 0:
//! no slots). With equal weights this is the paper's algorithm exactly.
//!
//! Removing one of N backends moves its keys and, per the paper, only a
//! small share of others (measured by the tests in `tests/properties.rs`).

use crate::hash::hash_with_seed;
use crate::select::{Candidates, Ctx, Select};
use crate::{Backend, BackendIdx, BalancerError, Eligibility};

const SEED_OFFSET: u64 = 0x6d61_676c_6576_6f66; // "maglevof"
const SEED_SKIP: u64 = 0x6d61_676c_6576_736b; // "maglevsk"
const EMPTY: u16 = u16::MAX;

/// Most backends a Maglev group may hold (table entries are `u16`, one value
/// marks an empty slot while building).
pub const MAX_BACKENDS: usize = u16::MAX as usize;

/// The lookup table: slot → backend index. 128 KiB at the default size.
#[derive(Clone)]
pub struct Table {
    slots: Box<[u16]>,
}

/// The size only: 65,537 slot numbers help no log.
impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

// === impl Table ===

impl Table {
    /// Fills a table of `size` slots (a prime above the backend count).
    pub fn build(backends: &[Backend], size: usize) -> Result<Table, BalancerError> {
        if backends.len() > MAX_BACKENDS {
            return Err(BalancerError::TooMany {
                backends: backends.len(),
                max: MAX_BACKENDS,
            });
        }
        if size <= backends.len() || size > u32::MAX as usize || !is_prime(size) {
            return Err(BalancerError::TableSize { size });
        }
        Ok(Table {
            slots: populate(backends, size as u64),
        })
    }

    /// Number of slots (`M`).
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The backend of slot `hash % M`, walking forward past backends `ok`
    /// refuses. `None` only if `ok` refuses every backend in the table.
    #[inline]
    pub fn lookup(&self, hash: u64, ok: impl Fn(BackendIdx) -> bool) -> Option<BackendIdx> {
        let m = self.slots.len();
        let start = (hash % m as u64) as usize;
        let first = usize::from(self.slots[start]);
        if ok(first) {
            return Some(first);
        }
        let (tail, head) = (&self.slots[start + 1..], &self.slots[..start]);
        tail.iter()
            .chain(head)
            .map(|&s| usize::from(s))
            .find(|&i| ok(i))
    }

    /// Slots held by each of `n` backends.
    pub fn counts(&self, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &s in self.slots.iter() {
            if let Some(c) = counts.get_mut(usize::from(s)) {
                *c += 1;
            }
        }
        counts
    }
}

/// The paper's population loop, with weighted turns.
fn populate(backends: &[Backend], m: u64) -> Box<[u16]> {
    let perms: Vec<(u64, u64)> = backends.iter().map(|b| permutation(b, m)).collect();
    let weights: Vec<u64> = backends.iter().map(|b| u64::from(b.weight)).collect();
    let max_w = weights.iter().copied().max().unwrap_or(0).max(1);
    let mut next = vec![0u64; backends.len()];
    let mut held = vec![0u64; backends.len()];
    let mut slots = vec![EMPTY; m as usize].into_boxed_slice();
    let mut filled = 0u64;
    for round in 1u64.. {
        for (i, &(offset, skip)) in perms.iter().enumerate() {
            if held[i] * max_w >= round * weights[i] {
                continue;
            }
            let slot = loop {
                let c = ((offset + next[i] * skip) % m) as usize;
                next[i] += 1;
                if slots[c] == EMPTY {
                    break c;
                }
            };
            slots[slot] = i as u16;
            held[i] += 1;
            filled += 1;
            if filled == m {
                return slots;
            }
        }
    }
    slots
}

/// `(offset, skip)` of a backend's permutation, from its address.
fn permutation(b: &Backend, m: u64) -> (u64, u64) {
    let (bytes, n) = b.addr_bytes();
    let offset = hash_with_seed(&bytes[..n], SEED_OFFSET) % m;
    let skip = hash_with_seed(&bytes[..n], SEED_SKIP) % (m - 1) + 1;
    (offset, skip)
}

fn is_prime(n: usize) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// Maglev lookup (stateless; the table lives in the shared set).
#[derive(Debug, Clone, Default)]
pub struct Maglev;

impl Select for Maglev {
    /// Without a hash key the request gets a random slot, so keyless
    /// requests still spread in proportion to weight.
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        let table = c.set().maglev()?;
        let hash = ctx.hash.unwrap_or_else(|| ctx.rng.next_u64());
        let start = (hash % table.size() as u64) as usize;
        let first = usize::from(table.slots[start]);
        // Fast path first; the walk only when something is down, and only
        // when something is up (or it would read all M slots for nothing).
        if c.ok(first) {
            return Some(first);
        }
        if !c.any() {
            return None;
        }
        table.lookup(hash, |i| c.ok(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn backends(n: u16) -> Vec<Backend> {
        (0..n)
            .map(|i| Backend::new(SocketAddr::from(([10, 0, 1, 1], 8000 + i))))
            .collect()
    }

    #[test]
    fn slots_are_balanced() {
        let t = Table::build(&backends(10), 65_537).unwrap();
        let counts = t.counts(10);
        assert_eq!(counts.iter().sum::<usize>(), 65_537);
        assert!(
            counts.iter().all(|&c| (6_500..=6_600).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn slots_follow_weights() {
        let mut b = backends(3);
        b[0].weight = 3;
        b[2].weight = 0;
        let counts = Table::build(&b, 65_537).unwrap().counts(3);
        assert_eq!(counts[2], 0);
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((ratio - 3.0).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn refuses_bad_sizes() {
        assert!(Table::build(&backends(3), 65_536).is_err());
        assert!(Table::build(&backends(3), 3).is_err());
        assert!(Table::build(&backends(3), 5).is_ok());
    }

    #[test]
    fn lookup_walks_past_refused_backends() {
        let t = Table::build(&backends(4), 251).unwrap();
        for h in 0..251 {
            assert_ne!(t.lookup(h, |i| i != 2), Some(2));
        }
        assert_eq!(t.lookup(7, |_| false), None);
    }
}
