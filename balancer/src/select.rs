//! The `Select` trait every algorithm implements, and what a pick sees.

use std::time::{Duration, Instant};

use crate::hash::Rng;
use crate::{BackendIdx, BackendSet, Eligibility, PeakEwma};

/// The balancing algorithm of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Each backend in turn, skipping ineligible ones; weights ignored.
    RoundRobin,
    /// nginx's smooth weighted round-robin among eligible backends.
    Weighted,
    /// Fewest in-flight requests per unit of weight; ties go round-robin.
    LeastConn,
    /// Two distinct random candidates; the lower peak-EWMA cost
    /// (`ewma × (in_flight + 1) / weight`) wins.
    P2cEwma,
    /// Random, in proportion to weight.
    Random,
    /// Consistent hashing on the request's key (Google's Maglev).
    Maglev,
}

/// The backends a pick may choose: eligible and of non-zero weight.
pub struct Candidates<'a, E: ?Sized> {
    set: &'a BackendSet,
    eligible: &'a E,
}

// === impl Candidates ===

impl<'a, E: Eligibility + ?Sized> Candidates<'a, E> {
    /// Candidates of `set` filtered by `eligible`.
    pub fn new(set: &'a BackendSet, eligible: &'a E) -> Self {
        Candidates { set, eligible }
    }

    /// The set picked from.
    #[inline]
    pub fn set(&self) -> &'a BackendSet {
        self.set
    }

    /// Number of backends, eligible or not.
    #[inline]
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty (never, for a built set).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Weight of backend `idx` (0 past the end).
    #[inline]
    pub fn weight(&self, idx: BackendIdx) -> u32 {
        self.set.weights().get(idx).copied().unwrap_or(0)
    }

    /// Whether the mask allows `idx`, its weight aside (for algorithms
    /// that already skip zero weights).
    #[inline]
    pub fn is_eligible(&self, idx: BackendIdx) -> bool {
        self.eligible.is_eligible(idx)
    }

    /// The weights, indexed by backend.
    #[inline]
    pub fn weights(&self) -> &'a [u32] {
        self.set.weights()
    }

    /// Whether backend `idx` may be picked.
    #[inline]
    pub fn ok(&self, idx: BackendIdx) -> bool {
        self.weight(idx) > 0 && self.eligible.is_eligible(idx)
    }

    /// Whether the mask allows every backend (weights aside).
    #[inline]
    pub fn all_eligible(&self) -> bool {
        self.eligible.all_eligible(self.len())
    }

    /// Whether any backend may be picked.
    pub fn any(&self) -> bool {
        self.eligible.any_eligible(self.len()) && (0..self.len()).any(|i| self.ok(i))
    }

    /// Number of backends that may be picked.
    pub fn count(&self) -> usize {
        (0..self.len()).filter(|&i| self.ok(i)).count()
    }

    /// The `n`th backend that may be picked, in index order.
    pub fn nth(&self, n: usize) -> Option<BackendIdx> {
        (0..self.len()).filter(|&i| self.ok(i)).nth(n)
    }
}

/// Per-request inputs and shared per-backend load of a pick.
pub struct Ctx<'a> {
    /// The request's consistent-hash key, if the route has one.
    pub hash: Option<u64>,
    /// The time of the pick.
    pub now: Instant,
    /// In-flight requests per backend (index = [`BackendIdx`]).
    pub in_flight: &'a [u32],
    /// Latency estimate per backend.
    pub ewma: &'a [PeakEwma],
    /// Decay constant of the latency estimates.
    pub decay: Duration,
    /// The shard's seeded generator.
    pub rng: &'a mut Rng,
}

// === impl Ctx ===

impl Ctx<'_> {
    /// In-flight requests on `idx` (0 past the end).
    #[inline]
    pub fn in_flight(&self, idx: BackendIdx) -> u32 {
        self.in_flight.get(idx).copied().unwrap_or(0)
    }
}

/// One algorithm's per-shard state.
///
/// Like pingora's `BackendSelection`, but `&mut self` and shard-local: the
/// state needs no atomics. The selector's owner handles failing open.
pub trait Select {
    /// Picks a backend `c` allows, or `None` when `c` allows none.
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx>;

    /// Carries state over a rebuild: `carried[new] = Some(old)` for each
    /// backend that stayed. The default keeps nothing.
    fn carry(&mut self, carried: &[Option<BackendIdx>]) {
        let _ = carried;
    }
}
