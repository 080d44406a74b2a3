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
        // Two copies of the loop: the common all-up case checks nothing.
        let best = if c.all_eligible() {
            least(c.weights(), ctx, self.next, |_| true)
        } else {
            least(c.weights(), ctx, self.next, |i| c.is_eligible(i))
        };
        if best == usize::MAX {
            return None;
        }
        self.next = best + 1;
        Some(best)
    }
}

/// The first strict minimum of `(in_flight + 1) / weight` among backends
/// `ok` allows and weight > 0, scanning from `start`; `usize::MAX` if none.
#[inline]
fn least(weights: &[u32], ctx: &Ctx<'_>, start: usize, ok: impl Fn(usize) -> bool) -> usize {
    let n = weights.len();
    // Best so far as (index, in_flight + 1, weight); cross-multiplied, so no
    // division and no float.
    let (mut best, mut bl, mut bw) = (usize::MAX, 1u64, 0u64);
    let mut i = if start < n { start } else { 0 };
    for _ in 0..n {
        let w = u64::from(weights[i]);
        if w > 0 && ok(i) {
            let load = u64::from(ctx.in_flight(i)) + 1;
            if load * bw < bl * w {
                (best, bl, bw) = (i, load, w);
            }
        }
        i = if i + 1 < n { i + 1 } else { 0 };
    }
    best
}
