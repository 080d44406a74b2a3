//! Weighted random.
//!
//! Draws `r` in `0..total_weight` and binary-searches the cumulative
//! weights. An ineligible draw is redrawn (rejection sampling keeps the
//! proportions among eligible backends exact); after [`MAX_REDRAWS`] misses,
//! mostly-down groups take one exact pass over the eligible weights.

use crate::select::{Candidates, Ctx, Select};
use crate::{BackendIdx, Eligibility};

/// Draws before falling back to the exact pass.
pub const MAX_REDRAWS: usize = 4;

/// Weighted random selection (stateless; the generator lives in [`Ctx`]).
#[derive(Debug, Clone, Default)]
pub struct Random;

impl Select for Random {
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        let cumulative = c.set().cumulative();
        let total = c.set().total_weight();
        for _ in 0..MAX_REDRAWS {
            let r = ctx.rng.below(total);
            let idx = cumulative.partition_point(|&s| s <= r);
            if c.ok(idx) {
                return Some(idx);
            }
        }
        exact(c, ctx)
    }
}

/// One draw over the eligible weights only.
fn exact<E: Eligibility + ?Sized>(c: &Candidates<'_, E>, ctx: &mut Ctx<'_>) -> Option<BackendIdx> {
    let ok = || (0..c.len()).filter(|&i| c.ok(i));
    let total: u64 = ok().map(|i| u64::from(c.weight(i))).sum();
    let mut r = ctx.rng.below(total);
    for i in ok() {
        let w = u64::from(c.weight(i));
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}
