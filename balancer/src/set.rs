//! The immutable per-group backend table, built off the data path.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::algorithms::maglev::Table;
use crate::{Algorithm, Backend, BackendIdx, BalancerError};

/// Size of the Maglev lookup table: a prime, as the paper requires, and
/// large enough (M ≥ 100·N) for a 1% balance bound up to 655 backends.
pub const DEFAULT_MAGLEV_TABLE_SIZE: usize = 65_537;

/// A group's backends, their weights, and the tables derived from them
/// (cumulative weights for weighted random, the Maglev lookup table).
///
/// Built once per reload by the control side, then shared read-only by every
/// shard (it is `Send + Sync`); each shard keeps its own [`Selector`](crate::Selector).
#[derive(Debug, Clone)]
pub struct BackendSet {
    backends: Box<[Backend]>,
    weights: Box<[u32]>,
    /// Running sum of weights: `cumulative[i]` = w0 + .. + wi.
    cumulative: Box<[u64]>,
    algorithm: Algorithm,
    maglev: Option<Table>,
    /// Address → index for larger groups (`index_of` scans small ones).
    by_addr: Option<HashMap<SocketAddr, BackendIdx>>,
}

/// Up to this many backends, `index_of` scans: faster than hashing.
const SCAN_MAX: usize = 16;

// === impl BackendSet ===

impl BackendSet {
    /// Validates `backends` and builds the tables `algorithm` needs.
    ///
    /// Fails on an empty list, a zero weight sum or a repeated address.
    pub fn build(backends: Vec<Backend>, algorithm: Algorithm) -> Result<Self, BalancerError> {
        Self::build_with_table_size(backends, algorithm, DEFAULT_MAGLEV_TABLE_SIZE)
    }

    /// [`build`](Self::build) with another Maglev table size, which must be
    /// a prime above the backend count (ignored by other algorithms).
    pub fn build_with_table_size(
        backends: Vec<Backend>,
        algorithm: Algorithm,
        table_size: usize,
    ) -> Result<Self, BalancerError> {
        validate(&backends)?;
        let weights: Box<[u32]> = backends.iter().map(|b| b.weight).collect();
        let cumulative = weights
            .iter()
            .scan(0u64, |s, &w| {
                *s += u64::from(w);
                Some(*s)
            })
            .collect();
        let maglev = match algorithm {
            Algorithm::Maglev => Some(Table::build(&backends, table_size)?),
            _ => None,
        };
        let by_addr = (backends.len() > SCAN_MAX).then(|| {
            backends
                .iter()
                .enumerate()
                .map(|(i, b)| (b.addr, i))
                .collect()
        });
        Ok(BackendSet {
            by_addr,
            backends: backends.into_boxed_slice(),
            weights,
            cumulative,
            algorithm,
            maglev,
        })
    }

    /// The backends, in configuration order; a [`BackendIdx`] indexes this.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The algorithm the set was built for.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Number of backends (never 0).
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// Always false: [`build`](Self::build) refuses an empty group.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// The backend at `idx`.
    pub fn get(&self, idx: BackendIdx) -> Option<&Backend> {
        self.backends.get(idx)
    }

    /// The index of the backend at `addr`. Use it to carry a pick made on an
    /// older set over to this one (for `on_end` after a reload). A scan up
    /// to 16 backends, a hash lookup above.
    pub fn index_of(&self, addr: SocketAddr) -> Option<BackendIdx> {
        match &self.by_addr {
            Some(map) => map.get(&addr).copied(),
            None => self.backends.iter().position(|b| b.addr == addr),
        }
    }

    /// Sum of all weights (never 0).
    pub fn total_weight(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// For each backend of `self`, its index in `old` if it was there.
    pub fn carried_from(&self, old: &BackendSet) -> Vec<Option<BackendIdx>> {
        let by_addr: HashMap<SocketAddr, BackendIdx> = old
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.addr, i))
            .collect();
        self.backends
            .iter()
            .map(|b| by_addr.get(&b.addr).copied())
            .collect()
    }

    pub(crate) fn weights(&self) -> &[u32] {
        &self.weights
    }

    pub(crate) fn cumulative(&self) -> &[u64] {
        &self.cumulative
    }

    pub(crate) fn maglev(&self) -> Option<&Table> {
        self.maglev.as_ref()
    }
}

fn validate(backends: &[Backend]) -> Result<(), BalancerError> {
    if backends.is_empty() {
        return Err(BalancerError::Empty);
    }
    if backends.iter().all(|b| b.weight == 0) {
        return Err(BalancerError::ZeroWeight {
            backends: backends.len(),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(backends.len());
    match backends.iter().find(|b| !seen.insert(b.addr)) {
        Some(b) => Err(BalancerError::Duplicate { addr: b.addr }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(port: u16, weight: u32) -> Backend {
        Backend::new(SocketAddr::from(([10, 0, 0, 1], port))).with_weight(weight)
    }

    #[test]
    fn refuses_bad_groups() {
        let rr = Algorithm::RoundRobin;
        assert_eq!(
            BackendSet::build(vec![], rr).unwrap_err(),
            BalancerError::Empty
        );
        assert_eq!(
            BackendSet::build(vec![b(1, 0), b(2, 0)], rr).unwrap_err(),
            BalancerError::ZeroWeight { backends: 2 }
        );
        assert!(matches!(
            BackendSet::build(vec![b(1, 1), b(1, 2)], rr),
            Err(BalancerError::Duplicate { .. })
        ));
    }

    #[test]
    fn maps_survivors_by_address() {
        let old = BackendSet::build(vec![b(1, 1), b(2, 1), b(3, 1)], Algorithm::Weighted).unwrap();
        let new = BackendSet::build(vec![b(3, 1), b(4, 1), b(1, 5)], Algorithm::Weighted).unwrap();
        assert_eq!(new.carried_from(&old), vec![Some(2), None, Some(0)]);
        assert_eq!(new.total_weight(), 7);
        assert_eq!(new.index_of(b(4, 0).addr), Some(1));
    }

    #[test]
    fn index_of_large_and_small_groups() {
        for n in [3u16, 40] {
            let set = BackendSet::build((0..n).map(|p| b(p, 1)).collect(), Algorithm::RoundRobin)
                .unwrap();
            assert!((0..n).all(|p| set.index_of(b(p, 1).addr) == Some(usize::from(p))));
            assert_eq!(set.index_of(b(n, 1).addr), None);
        }
    }

    #[test]
    fn set_is_shareable() {
        fn shared<T: Send + Sync>() {}
        shared::<BackendSet>();
    }
}
