//! `Selector`: one group's per-shard state, dispatching to its algorithm.

use std::time::{Duration, Instant};

use crate::algorithms::{
    least_conn::LeastConn, maglev::Maglev, p2c::P2c, random::Random, round_robin::RoundRobin,
    weighted::SmoothWeighted,
};
use crate::hash::Rng;
use crate::select::{Candidates, Ctx, Select};
use crate::{Algorithm, All, BackendIdx, BackendSet, Eligibility, EwmaConfig, PeakEwma};

/// Most smooth-weighted picks skipped to stagger a fresh selector.
const MAX_STAGGER: u64 = 1024;

/// The outcome of [`Selector::pick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The backend to use.
    pub idx: BackendIdx,
    /// No backend was eligible, so the pick ignored eligibility (the group
    /// "fails open", as Envoy does under its panic threshold). Count it.
    pub failed_open: bool,
}

/// Per-algorithm state.
#[derive(Debug, Clone)]
enum State {
    RoundRobin(RoundRobin),
    Weighted(SmoothWeighted),
    LeastConn(LeastConn),
    P2c(P2c),
    Random(Random),
    Maglev(Maglev),
}

/// Per-shard mutable state of one group: the algorithm's state (cursor,
/// smooth-weighted scores), in-flight counts, latency estimates and a seeded
/// generator. Owned by one shard, so every method takes `&mut self` and
/// nothing is atomic.
#[derive(Debug, Clone)]
pub struct Selector {
    state: State,
    in_flight: Vec<u32>,
    ewma: Vec<PeakEwma>,
    config: EwmaConfig,
    rng: Rng,
}

// === impl Selector ===

impl Selector {
    /// State for `set`; `seed` feeds the generator (give shards different
    /// seeds) and staggers the round-robin start.
    pub fn new(set: &BackendSet, seed: u64) -> Selector {
        Self::with_ewma(set, seed, EwmaConfig::default())
    }

    /// [`new`](Self::new) with explicit peak-EWMA settings.
    pub fn with_ewma(set: &BackendSet, seed: u64, config: EwmaConfig) -> Selector {
        let mut rng = Rng::new(seed);
        Selector {
            state: State::new(set, &mut rng),
            in_flight: vec![0; set.len()],
            ewma: vec![PeakEwma::new(config.default_rtt); set.len()],
            config,
            rng,
        }
    }

    /// Moves to `new` after a reload: backends that stay (same address) keep
    /// their in-flight count, latency estimate and algorithm state; those
    /// that left are dropped; new ones start fresh. A change of algorithm
    /// starts the algorithm's state afresh but still keeps the load.
    pub fn rebuild(&mut self, old: &BackendSet, new: &BackendSet) {
        let carried = new.carried_from(old);
        let keep = |v: &[u32], o: Option<usize>| o.and_then(|o| v.get(o)).copied().unwrap_or(0);
        self.in_flight = carried.iter().map(|&o| keep(&self.in_flight, o)).collect();
        let fresh = PeakEwma::new(self.config.default_rtt);
        let ewma = |o: Option<usize>| o.and_then(|o| self.ewma.get(o)).copied().unwrap_or(fresh);
        self.ewma = carried.iter().map(|&o| ewma(o)).collect();
        if old.algorithm() == new.algorithm() {
            self.state.carry(&carried, new);
        } else {
            self.state = State::new(new, &mut self.rng);
        }
    }

    /// Picks among eligible backends. `hash` is the request's key for
    /// consistent hashing (Maglev; other algorithms ignore it). With no
    /// eligible backend the pick fails open: it is made as if all were
    /// eligible and says so in [`Pick::failed_open`]. `None` only if the
    /// set is empty, which [`BackendSet::build`] rules out.
    pub fn pick<E: Eligibility + ?Sized>(
        &mut self,
        set: &BackendSet,
        eligible: &E,
        hash: Option<u64>,
        now: Instant,
    ) -> Option<Pick> {
        self.resync(set);
        if let Some(idx) = self.select(set, eligible, hash, now) {
            return Some(Pick {
                idx,
                failed_open: false,
            });
        }
        let idx = self.select(set, &All, hash, now)?;
        Some(Pick {
            idx,
            failed_open: true,
        })
    }

    fn select<E: Eligibility + ?Sized>(
        &mut self,
        set: &BackendSet,
        eligible: &E,
        hash: Option<u64>,
        now: Instant,
    ) -> Option<BackendIdx> {
        let c = Candidates::new(set, eligible);
        let mut ctx = Ctx {
            hash,
            now,
            in_flight: &self.in_flight,
            ewma: &self.ewma,
            decay: self.config.decay,
            rng: &mut self.rng,
        };
        self.state.select(&c, &mut ctx)
    }

    /// A set this selector was not built or rebuilt for is a caller bug;
    /// rather than index out of bounds, start over for it.
    fn resync(&mut self, set: &BackendSet) {
        debug_assert_eq!(
            self.in_flight.len(),
            set.len(),
            "selector used with another set"
        );
        if self.in_flight.len() != set.len() || !self.state.fits(set) {
            let seed = self.rng.next_u64();
            *self = Self::with_ewma(set, seed, self.config);
        }
    }

    /// A request to `idx` started (in-flight +1). Out of range: ignored.
    pub fn on_start(&mut self, idx: BackendIdx) {
        if let Some(n) = self.in_flight.get_mut(idx) {
            *n = n.saturating_add(1);
        }
    }

    /// A request to `idx` ended after `latency` (in-flight -1, latency
    /// folded into the estimate). Out of range: ignored. After a reload,
    /// map an older pick with [`BackendSet::index_of`] first.
    pub fn on_end(&mut self, idx: BackendIdx, latency: Duration, now: Instant) {
        if let Some(n) = self.in_flight.get_mut(idx) {
            *n = n.saturating_sub(1);
        }
        if let Some(e) = self.ewma.get_mut(idx) {
            e.observe(latency, now, self.config.decay);
        }
    }

    /// In-flight requests to `idx` from this shard.
    pub fn in_flight(&self, idx: BackendIdx) -> u32 {
        self.in_flight.get(idx).copied().unwrap_or(0)
    }

    /// Peak-EWMA latency estimate of `idx` at `now`, in nanoseconds.
    pub fn ewma_ns(&self, idx: BackendIdx, now: Instant) -> u64 {
        self.ewma
            .get(idx)
            .map_or(0, |e| e.get(now, self.config.decay) as u64)
    }

    /// Number of backends the selector tracks.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether it tracks none.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}

// === impl State ===

impl State {
    /// Fresh state; cursors start at a random backend so shards do not move
    /// in lockstep (every shard sending its first request to backend 0).
    fn new(set: &BackendSet, rng: &mut Rng) -> State {
        let start = rng.index(set.len());
        match set.algorithm() {
            Algorithm::RoundRobin => State::RoundRobin(RoundRobin::new(start)),
            Algorithm::Weighted => {
                let skip = rng.below(set.total_weight().min(MAX_STAGGER));
                State::Weighted(SmoothWeighted::exact(set.weights()).skipped(skip))
            }
            Algorithm::LeastConn => State::LeastConn(LeastConn::new(start)),
            Algorithm::P2cEwma => State::P2c(P2c),
            Algorithm::Random => State::Random(Random),
            Algorithm::Maglev => State::Maglev(Maglev),
        }
    }

    fn fits(&self, set: &BackendSet) -> bool {
        let algorithm = match self {
            State::RoundRobin(_) => Algorithm::RoundRobin,
            State::Weighted(_) => Algorithm::Weighted,
            State::LeastConn(_) => Algorithm::LeastConn,
            State::P2c(_) => Algorithm::P2cEwma,
            State::Random(_) => Algorithm::Random,
            State::Maglev(_) => Algorithm::Maglev,
        };
        algorithm == set.algorithm()
    }

    /// Carries state to `new`; smooth weights are rebuilt for the new
    /// weights, keeping survivors' scores.
    fn carry(&mut self, carried: &[Option<BackendIdx>], new: &BackendSet) {
        if let State::Weighted(w) = self {
            let mut fresh = SmoothWeighted::exact(new.weights());
            fresh.carry_from(w, carried);
            *w = fresh;
            return;
        }
        match self {
            State::RoundRobin(s) => s.carry(carried),
            State::LeastConn(s) => s.carry(carried),
            State::P2c(s) => s.carry(carried),
            State::Random(s) => s.carry(carried),
            State::Maglev(s) => s.carry(carried),
            State::Weighted(_) => {}
        }
    }

    #[inline]
    fn select<E: Eligibility + ?Sized>(
        &mut self,
        c: &Candidates<'_, E>,
        ctx: &mut Ctx<'_>,
    ) -> Option<BackendIdx> {
        match self {
            State::RoundRobin(s) => s.select(c, ctx),
            State::Weighted(s) => s.select(c, ctx),
            State::LeastConn(s) => s.select(c, ctx),
            State::P2c(s) => s.select(c, ctx),
            State::Random(s) => s.select(c, ctx),
            State::Maglev(s) => s.select(c, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hash_key, Backend};
    use std::net::SocketAddr;

    fn set(weights: &[u32], algorithm: Algorithm) -> BackendSet {
        let b = weights.iter().enumerate().map(|(i, &w)| {
            Backend::new(SocketAddr::from(([10, 0, 0, i as u8], 80))).with_weight(w)
        });
        BackendSet::build(b.collect(), algorithm).unwrap()
    }

    fn picks(s: &BackendSet, sel: &mut Selector, ok: &[bool], n: usize) -> Vec<usize> {
        let now = Instant::now();
        (0..n)
            .map(|_| sel.pick(s, ok, None, now).unwrap().idx)
            .collect()
    }

    #[test]
    fn round_robin_skips_ineligible() {
        let s = set(&[1, 1, 1, 1], Algorithm::RoundRobin);
        let mut sel = Selector::new(&s, 0);
        let p = picks(&s, &mut sel, &[true, false, true, true], 6);
        let start = p[0];
        assert!(p.iter().all(|&i| i != 1));
        assert_eq!(p[3], start, "cycle of three: {p:?}");
    }

    #[test]
    fn weighted_is_smooth_through_the_selector() {
        let s = set(&[5, 1, 1], Algorithm::Weighted);
        let nginx = [0, 0, 1, 0, 2, 0, 0].repeat(2);
        let mut starts = std::collections::HashSet::new();
        for seed in 0..20 {
            let mut sel = Selector::new(&s, seed);
            let p = picks(&s, &mut sel, &[true; 3], 7);
            // A rotation of nginx's sequence: each shard starts elsewhere in it.
            let at = nginx.windows(7).position(|w| w == p);
            assert!(at.is_some(), "{p:?}");
            starts.insert(at);
        }
        assert!(starts.len() > 3, "shards in lockstep: {starts:?}");
    }

    #[test]
    fn fails_open_when_nothing_is_eligible() {
        for alg in [Algorithm::RoundRobin, Algorithm::Maglev, Algorithm::P2cEwma] {
            let s = set(&[1, 0, 1], alg);
            let mut sel = Selector::new(&s, 3);
            let p = sel
                .pick(&s, &[false; 3][..], Some(9), Instant::now())
                .unwrap();
            assert!(p.failed_open && p.idx != 1, "{alg:?}: {p:?}");
            // Only a drained backend eligible: still fail open, never drained.
            let p = sel
                .pick(&s, &[false, true, false][..], Some(9), Instant::now())
                .unwrap();
            assert!(p.failed_open && p.idx != 1, "{alg:?}: {p:?}");
        }
    }

    #[test]
    fn least_conn_takes_the_idlest_and_rotates_ties() {
        let s = set(&[1, 1, 1], Algorithm::LeastConn);
        let mut sel = Selector::new(&s, 0);
        sel.on_start(0);
        sel.on_start(0);
        sel.on_start(2);
        assert_eq!(picks(&s, &mut sel, &[true; 3], 1), vec![1]);
        sel.on_start(1);
        sel.on_start(1);
        sel.on_start(2);
        // 0 and 1 tie at 2, 2 also at 2: three-way tie goes round-robin.
        let p = picks(&s, &mut sel, &[true; 3], 3);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2], "{p:?}");
    }

    #[test]
    fn least_conn_normalises_by_weight() {
        let s = set(&[2, 1], Algorithm::LeastConn);
        let mut sel = Selector::new(&s, 0);
        let now = Instant::now();
        for _ in 0..30 {
            let p = sel.pick(&s, &All, None, now).unwrap();
            sel.on_start(p.idx);
        }
        assert_eq!((sel.in_flight(0), sel.in_flight(1)), (20, 10));
    }

    #[test]
    fn p2c_avoids_the_slow_backend() {
        let s = set(&[1, 1], Algorithm::P2cEwma);
        let mut sel = Selector::new(&s, 5);
        let now = Instant::now();
        sel.on_end(0, Duration::from_millis(500), now);
        sel.on_end(1, Duration::from_millis(5), now);
        assert!(picks(&s, &mut sel, &[true; 2], 50).iter().all(|&i| i == 1));
        // Load counts too: 150 in flight on the fast one outweighs 100x latency.
        (0..150).for_each(|_| sel.on_start(1));
        assert_eq!(picks(&s, &mut sel, &[true; 2], 1), vec![0]);
    }

    #[test]
    fn p2c_spreads_over_equal_backends() {
        let s = set(&[1; 4], Algorithm::P2cEwma);
        let mut sel = Selector::new(&s, 11);
        let mut counts = [0; 4];
        picks(&s, &mut sel, &[true; 4], 4000)
            .into_iter()
            .for_each(|i| counts[i] += 1);
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn maglev_maps_keys_alike_on_every_shard() {
        let s = set(&[1; 9], Algorithm::Maglev);
        let (mut a, mut b) = (Selector::new(&s, 1), Selector::new(&s, 2));
        let now = Instant::now();
        for k in 0u32..1000 {
            let h = Some(hash_key(&k.to_le_bytes()));
            assert_eq!(a.pick(&s, &All, h, now), b.pick(&s, &All, h, now));
        }
    }

    #[test]
    fn rebuild_to_another_algorithm_keeps_load() {
        let old = set(&[1, 1], Algorithm::RoundRobin);
        let new = set(&[1, 1, 1], Algorithm::LeastConn);
        let mut sel = Selector::new(&old, 0);
        sel.on_start(1);
        sel.rebuild(&old, &new);
        assert_eq!((sel.in_flight(1), sel.len()), (1, 3));
        assert!(sel.pick(&new, &All, None, Instant::now()).is_some());
    }

    #[test]
    fn stray_indices_are_ignored() {
        let s = set(&[1], Algorithm::RoundRobin);
        let mut sel = Selector::new(&s, 0);
        sel.on_start(7);
        sel.on_end(7, Duration::ZERO, Instant::now());
        sel.on_end(0, Duration::ZERO, Instant::now());
        assert_eq!((sel.in_flight(0), sel.in_flight(7)), (0, 0));
    }
}
