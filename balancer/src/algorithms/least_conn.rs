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
        let n = c.len();
        let start = self.next % n.max(1);
        // (load numerator, weight) of the best so far.
        let mut best: Option<(BackendIdx, u64, u64)> = None;
        for i in (start..n).chain(0..start).filter(|&i| c.ok(i)) {
            let (load, w) = (u64::from(ctx.in_flight(i)) + 1, u64::from(c.weight(i)));
            if best.is_none_or(|(_, bl, bw)| load * bw < bl * w) {
                best = Some((i, load, w));
            }
        }
        let (idx, _, _) = best?;
        self.next = idx + 1;
        Some(idx)
    }
}
