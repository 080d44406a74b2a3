//! Round-robin: each eligible backend in turn.
//!
//! A plain cursor on the shard (monolake's `Cell<usize>`), not pingora's
//! `AtomicUsize`, which exists only because tokio moves tasks between threads.

use crate::select::{Candidates, Ctx, Select};
use crate::{BackendIdx, Eligibility};

/// Round-robin cursor.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

// === impl RoundRobin ===

impl RoundRobin {
    /// A cursor starting at `start` (shards start apart so they do not all
    /// hit backend 0 first).
    pub fn new(start: usize) -> Self {
        RoundRobin { next: start }
    }
}

impl Select for RoundRobin {
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        _ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        let n = c.len();
        let mut i = if self.next < n { self.next } else { 0 };
        for _ in 0..n {
            if c.ok(i) {
                self.next = i + 1;
                return Some(i);
            }
            i = if i + 1 < n { i + 1 } else { 0 };
        }
        None
    }

    fn carry(&mut self, carried: &[Option<BackendIdx>]) {
        // Resume at the first survivor at or after the old cursor.
        let old = self.next;
        let at = carried
            .iter()
            .enumerate()
            .filter_map(|(new, o)| o.map(|o| (o, new)));
        self.next = at
            .filter(|&(o, _)| o >= old)
            .min()
            .map_or(0, |(_, new)| new);
    }
}
