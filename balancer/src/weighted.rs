//! Smooth weighted round-robin, as nginx does it.
//!
//! Each pick adds every backend's weight to its current score, picks the
//! highest score and subtracts the total weight from it. Over any window of
//! `total` picks each backend is chosen exactly `weight` times, and picks
//! are spread out rather than bunched (weights 5,1,1 give a a b a c a a).

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
            return if self.weights.is_empty() { None } else { Some(0) };
        }
        let mut best = 0;
        let mut best_score = i64::MIN;
        for (i, (c, w)) in self.current.iter_mut().zip(self.weights.iter()).enumerate() {
            *c += *w;
            if *c > best_score {
                best = i;
                best_score = *c;
            }
        }
        self.current[best] -= self.total;
        Some(best)
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
}
