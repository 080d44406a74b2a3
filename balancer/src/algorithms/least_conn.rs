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
/// `ok` allows and weight > 0, scanning from `start` round to `start - 1`;
/// `usize::MAX` if none.
#[inline]
fn least(weights: &[u32], ctx: &Ctx<'_>, start: usize, ok: impl Fn(usize) -> bool) -> usize {
    let n = weights.len().min(ctx.in_flight.len());
    let start = if start < n { start } else { 0 };
    let mut best = Best {
        idx: usize::MAX,
        load: 1,
        weight: 0,
    };
    best.scan(start, &weights[start..n], &ctx.in_flight[start..n], &ok);
    best.scan(0, &weights[..start], &ctx.in_flight[..start], &ok);
    best.idx
}

/// Best so far; loads compare as `load / weight` by cross-multiplying, so
/// no division and no float.
struct Best {
    idx: usize,
    load: u64,
    weight: u64,
}

impl Best {
    /// Two straight slices instead of one wrapping index: the loop body has
    /// no bounds checks.
    #[inline]
    fn scan(
        &mut self,
        base: usize,
        weights: &[u32],
        in_flight: &[u32],
        ok: &impl Fn(usize) -> bool,
    ) {
        for (i, (&w, &f)) in weights.iter().zip(in_flight).enumerate() {
            let (w, load) = (u64::from(w), u64::from(f) + 1);
            if w > 0 && load * self.weight < self.load * w && ok(base + i) {
                *self = Best {
                    idx: base + i,
                    load,
                    weight: w,
                };
            }
        }
    }
}
