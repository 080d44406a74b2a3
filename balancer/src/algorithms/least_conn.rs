//! Least connections: fewest in-flight requests per unit of weight.
//!
//! Load is compared as `(in_flight + 1) / weight` by cross-multiplying, so
//! no division or float: with equal weights it is plain least-connections,
//! with weights 2:1 the heavier backend carries twice the requests. The scan
//! starts one past the last pick and keeps the first strict minimum, so ties
//! go round-robin instead of always to the lowest index (haproxy `leastconn`
//! does the same with its tree of servers).

use crate::select::{Candidates, Ctx, Select};
use crate::{BackendIdx, Eligibility};

/// Least-connections cursor (for the tie-break).
#[derive(Debug, Clone, Default)]
pub struct LeastConn {
    next: usize,
}

// === impl LeastConn ===

impl LeastConn {
    /// A selector whose first scan starts at `start`.
    pub fn new(start: usize) -> Self {
        LeastConn { next: start }
    }
}

impl Select for LeastConn {
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        let weights = c.weights();
        let n = weights.len();
        let start = if self.next < n { self.next } else { 0 };
        // Best so far as (index, in_flight + 1, weight); a strict `<` keeps
        // the first of equals, counting from the cursor.
        let (mut best, mut bl, mut bw) = (usize::MAX, 1u64, 0u64);
        let mut i = start;
        for _ in 0..n {
            let w = u64::from(weights[i]);
            if w > 0 && c.is_eligible(i) {
                let load = u64::from(ctx.in_flight(i)) + 1;
                if load * bw < bl * w {
                    (best, bl, bw) = (i, load, w);
                }
            }
            i = if i + 1 < n { i + 1 } else { 0 };
        }
        if best == usize::MAX {
            return None;
        }
        self.next = best + 1;
        Some(best)
    }
}
