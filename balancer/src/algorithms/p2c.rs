//! Power of two choices over peak-EWMA cost (linkerd's and Finagle's
//! default balancer).
//!
//! Two distinct candidates are drawn at random; the one with the lower
//! `ewma × (in_flight + 1) / weight` wins. Two draws already avoid the
//! worst backend almost always, without a scan of all backends and without
//! the herd effect of always sending to the global minimum. Draws that hit
//! an ineligible backend are retried a few times, then the pair is drawn
//! exactly from the eligible ones (the same thing linkerd's `gen_pair_distinct`
//! does over its ready set).

use crate::select::{Candidates, Ctx, Select};
use crate::{BackendIdx, Eligibility};

/// Pair draws before drawing exactly among the eligible backends.
pub const MAX_REDRAWS: usize = 3;

/// Power of two choices (stateless; load and generator live in [`Ctx`]).
#[derive(Debug, Clone, Default)]
pub struct P2c;

impl Select for P2c {
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        let n = c.len();
        if n == 1 {
            return c.ok(0).then_some(0);
        }
        for _ in 0..MAX_REDRAWS {
            let (a, b) = pair(ctx, n);
            if c.ok(a) && c.ok(b) {
                return Some(cheaper(c, ctx, a, b));
            }
        }
        match c.count() {
            0 => None,
            1 => c.nth(0),
            k => {
                let (a, b) = pair(ctx, k);
                Some(cheaper(c, ctx, c.nth(a)?, c.nth(b)?))
            }
        }
    }
}

/// Two distinct indices in `0..n` (`n >= 2`).
fn pair(ctx: &mut Ctx<'_>, n: usize) -> (usize, usize) {
    let a = ctx.rng.index(n);
    let b = ctx.rng.index(n - 1);
    (a, if b >= a { b + 1 } else { b })
}

fn cheaper<E: Eligibility + ?Sized>(
    c: &Candidates<'_, E>,
    ctx: &Ctx<'_>,
    a: BackendIdx,
    b: BackendIdx,
) -> BackendIdx {
    if cost(c, ctx, b) < cost(c, ctx, a) {
        b
    } else {
        a
    }
}

/// `ewma × (in_flight + 1) / weight`.
fn cost<E: Eligibility + ?Sized>(c: &Candidates<'_, E>, ctx: &Ctx<'_>, idx: BackendIdx) -> f64 {
    let ewma = ctx
        .ewma
        .get(idx)
        .map_or(0.0, |e| e.cost(ctx.in_flight(idx), ctx.now, ctx.decay));
    ewma / f64::from(c.weight(idx).max(1))
}
