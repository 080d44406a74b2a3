//! Smooth weighted round-robin, as nginx does it.
//!
//! Each pick adds every eligible backend's weight to its current score,
//! picks the highest score and subtracts the eligible weight total from it.
//! Over any window of `total` picks each backend is chosen exactly `weight`
//! times, and picks are spread out rather than bunched (weights 5,1,1 give
//! a a b a c a a). Ineligible backends are left out of the round, as nginx
//! skips down peers, so the weights still hold among the rest.

use crate::select::{Candidates, Ctx, Select};
use crate::{BackendIdx, Eligibility};

/// Smooth weighted round-robin over backends `0..weights.len()`.
#[derive(Debug, Clone)]
pub struct SmoothWeighted {
    weights: Box<[i64]>,
    current: Box<[i64]>,
    total: i64,
}

// === impl SmoothWeighted ===

impl SmoothWeighted {
    /// Builds a selector. Zero weights are treated as 1.
    pub fn new(weights: &[u32]) -> Self {
        let weights: Box<[i64]> = weights.iter().map(|&w| i64::from(w.max(1))).collect();
        Self::from_weights(weights)
    }

    /// Builds a selector that honours zero weights (never picked).
    pub(crate) fn exact(weights: &[u32]) -> Self {
        Self::from_weights(weights.iter().map(|&w| i64::from(w)).collect())
    }

    fn from_weights(weights: Box<[i64]>) -> Self {
        let total = weights.iter().sum();
        let current = vec![0; weights.len()].into_boxed_slice();
        SmoothWeighted {
            weights,
            current,
            total,
        }
    }

    /// Picks the next backend index, or `None` when there are no backends.
    pub fn pick(&mut self) -> Option<usize> {
        if self.weights.len() <= 1 {
            return if self.weights.is_empty() {
                None
            } else {
                Some(0)
            };
        }
        let total = self.total;
        self.pick_among(|_| true, total)
    }

    /// One nginx round over the backends `ok` allows; `total` is 0 to sum
    /// their weights here. A plain indexed loop: this is the hot path.
    #[inline]
    fn pick_among(&mut self, ok: impl Fn(usize) -> bool, total: i64) -> Option<usize> {
        let (mut best, mut best_score, mut sum) = (usize::MAX, i64::MIN, 0);
        let scores = self.current.iter_mut().zip(self.weights.iter());
        for (i, (c, &w)) in scores.enumerate() {
            if w == 0 || !ok(i) {
                continue;
            }
            *c += w;
            sum += w;
            if *c > best_score {
                (best, best_score) = (i, *c);
            }
        }
        let score = self.current.get_mut(best)?;
        *score -= if total == 0 { sum } else { total };
        Some(best)
    }

    /// The same selector `n` picks later: its sequence is rotated, its
    /// proportions unchanged.
    pub(crate) fn skipped(mut self, n: u64) -> Self {
        (0..n).for_each(|_| {
            let _ = self.pick_among(|_| true, 0);
        });
        self
    }

    /// Takes the scores of surviving backends from `old` (`carried[new] =
    /// Some(old index)`); new backends start at 0.
    pub(crate) fn carry_from(&mut self, old: &SmoothWeighted, carried: &[Option<usize>]) {
        for (c, o) in self.current.iter_mut().zip(carried) {
            *c = o.and_then(|o| old.current.get(o)).copied().unwrap_or(0);
        }
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether there are no backends.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

impl Select for SmoothWeighted {
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        _ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        // Two copies of the loop: the common all-up case checks nothing.
        if c.all_eligible() {
            self.pick_among(|_| true, 0)
        } else {
            self.pick_among(|i| c.is_eligible(i), 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(weights: &[u32], n: usize) -> Vec<usize> {
        let mut s = SmoothWeighted::new(weights);
        (0..n).map(|_| s.pick().unwrap()).collect()
    }

    #[test]
    fn equal_weights_are_round_robin() {
        assert_eq!(picks(&[1, 1, 1], 6), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn weights_are_smooth_like_nginx() {
        assert_eq!(picks(&[5, 1, 1], 7), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn weights_are_exact_over_a_window() {
        let p = picks(&[3, 2, 1], 600);
        let count = |b| p.iter().filter(|&&x| x == b).count();
        assert_eq!((count(0), count(1), count(2)), (300, 200, 100));
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(SmoothWeighted::new(&[]).pick(), None);
        assert_eq!(picks(&[7], 3), vec![0, 0, 0]);
    }

    #[test]
    fn skipped_backends_leave_the_round() {
        let mut s = SmoothWeighted::exact(&[5, 1, 1, 0]);
        let p: Vec<_> = (0..6)
            .map(|_| s.pick_among(|i| i != 0, 0).unwrap())
            .collect();
        assert_eq!(p, vec![1, 2, 1, 2, 1, 2]);
    }
}
