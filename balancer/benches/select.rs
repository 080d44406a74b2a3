//! `Selector::pick` for each algorithm, on 10 and 100 backends, each beside
//! the alternative it replaces. Numbers (and the machine) are in the crate
//! docs, `src/lib.rs`.
//!
//! - round-robin vs pingora's `RoundRobin` (an `AtomicUsize` shared by all
//!   threads, then a walk past unhealthy backends), alone and with another
//!   thread bumping the same counter;
//! - weighted vs the eligibility-blind [`SmoothWeighted::pick`] the engine
//!   used before (what skipping ineligible backends costs);
//! - least-conn vs the obvious version that collects eligible backends into
//!   a `Vec` and takes the minimum;
//! - p2c vs least-cost by a full scan of every backend's peak-EWMA cost;
//! - weighted random vs a linear walk of the cumulative weights;
//! - Maglev vs a ketama ring (pingora-ketama, nginx `hash ... consistent`):
//!   160 points per backend, binary search per lookup.
//!
//! Every pick sees an [`Eligible`] bitset, as the engine builds it. The
//! `down10` cases mark every tenth backend ineligible.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use balancer::{
    hash_key, hash_with_seed, Algorithm, Backend, BackendSet, Eligibility, Eligible, Rng, Selector,
    SmoothWeighted,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const SIZES: [usize; 2] = [10, 100];

fn set(n: usize, algorithm: Algorithm) -> BackendSet {
    let backends = (0..n).map(|i| {
        let addr = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8080));
        Backend::new(addr).with_weight(1 + (i % 3) as u32)
    });
    BackendSet::build(backends.collect(), algorithm).unwrap()
}

/// A selector with realistic load: some in flight, latencies observed.
fn loaded(s: &BackendSet, now: Instant) -> Selector {
    let mut sel = Selector::new(s, 1);
    for i in 0..s.len() {
        (0..i % 7).for_each(|_| sel.on_start(i));
        sel.on_end(i, Duration::from_micros(200 + 37 * (i as u64 % 11)), now);
    }
    sel
}

fn picks(c: &mut Criterion) {
    let now = Instant::now();
    for alg in [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2cEwma,
        Algorithm::Random,
        Algorithm::Maglev,
    ] {
        let mut g = c.benchmark_group(format!("pick/{alg:?}"));
        for n in SIZES {
            let s = set(n, alg);
            let mut sel = loaded(&s, now);
            for (case, ok) in [
                ("up", Eligible::all(n)),
                ("down10", Eligible::from_fn(n, |i| i % 10 != 3)),
            ] {
                let mut key = 0u64;
                g.bench_function(BenchmarkId::new(case, n), |b| {
                    b.iter(|| {
                        key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                        sel.pick(&s, black_box(&ok), Some(key), now)
                    })
                });
            }
        }
        g.finish();
    }
}

/// pingora-load-balancing `RoundRobin`: `fetch_add` on a shared atomic, then
/// walk on while the backend is unhealthy.
fn pingora_round_robin(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/atomic_round_robin");
    for n in SIZES {
        let s = set(n, Algorithm::RoundRobin);
        let ok = Eligible::all(n);
        let cursor = AtomicUsize::new(0);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                (0..n).find_map(|_| {
                    let i = cursor.fetch_add(1, Ordering::Relaxed) % s.len();
                    ok.is_eligible(i).then(|| &s.backends()[i])
                })
            })
        });
    }
    // The same with another core bumping the counter, as other worker
    // threads do in a multi-threaded runtime: the cache line bounces.
    let cursor = std::sync::Arc::new(AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (cursor, stop) = (cursor.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                cursor.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for n in SIZES {
        let s = set(n, Algorithm::RoundRobin);
        let ok = Eligible::all(n);
        g.bench_function(BenchmarkId::new("contended", n), |b| {
            b.iter(|| {
                (0..n).find_map(|_| {
                    let i = cursor.fetch_add(1, Ordering::Relaxed) % s.len();
                    ok.is_eligible(i).then(|| &s.backends()[i])
                })
            })
        });
    }
    stop.store(true, Ordering::Relaxed);
    let _ = other.join();
    g.finish();
}

fn blind_smooth_weighted(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/smooth_weighted_blind");
    for n in SIZES {
        let weights: Vec<u32> = set(n, Algorithm::Weighted)
            .backends()
            .iter()
            .map(|b| b.weight)
            .collect();
        let mut sw = SmoothWeighted::new(&weights);
        g.bench_function(BenchmarkId::from_parameter(n), |b| b.iter(|| sw.pick()));
    }
    g.finish();
}

fn collect_least_conn(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/least_conn_collect");
    let now = Instant::now();
    for n in SIZES {
        let s = set(n, Algorithm::LeastConn);
        let sel = loaded(&s, now);
        let ok = Eligible::all(n);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let live: Vec<usize> = (0..n).filter(|&i| ok.is_eligible(i)).collect();
                live.into_iter().min_by_key(|&i| sel.in_flight(i))
            })
        });
    }
    g.finish();
}

fn full_scan_ewma(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/ewma_full_scan");
    let now = Instant::now();
    for n in SIZES {
        let s = set(n, Algorithm::P2cEwma);
        let sel = loaded(&s, now);
        let ok = Eligible::all(n);
        let cost = |i: usize| sel.ewma_ns(i, now) as f64 * f64::from(sel.in_flight(i) + 1);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                (0..n)
                    .filter(|&i| ok.is_eligible(i))
                    .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
            })
        });
    }
    g.finish();
}

fn linear_random(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/random_linear");
    for n in SIZES {
        let s = set(n, Algorithm::Random);
        let ok = Eligible::all(n);
        let total: u64 = s.backends().iter().map(|b| u64::from(b.weight)).sum();
        let mut rng = Rng::new(1);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let mut r = rng.below(total);
                s.backends()
                    .iter()
                    .position(|b| {
                        let hit = r < u64::from(b.weight);
                        r = r.saturating_sub(u64::from(b.weight));
                        hit
                    })
                    .filter(|&i| ok.is_eligible(i))
            })
        });
    }
    g.finish();
}

/// A ketama continuum: 160 points per backend, sorted; a key goes to the
/// first point at or after its hash.
fn ketama(c: &mut Criterion) {
    let mut g = c.benchmark_group("alt/ketama");
    for n in SIZES {
        let mut ring: Vec<(u64, u32)> = (0..n as u32)
            .flat_map(|b| {
                (0..160u32).map(move |p| {
                    (
                        hash_with_seed(&[b.to_le_bytes(), p.to_le_bytes()].concat(), 7),
                        b,
                    )
                })
            })
            .collect();
        ring.sort_unstable();
        let ok = Eligible::all(n);
        let mut key = 0u64;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let at = ring.partition_point(|&(h, _)| h < key) % ring.len();
                let (_, b) = ring[at];
                ok.is_eligible(b as usize).then_some(b)
            })
        });
    }
    g.finish();
}

fn key_hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_key");
    for len in [4usize, 16, 64] {
        let key = vec![0x5au8; len];
        g.bench_function(BenchmarkId::from_parameter(len), |b| {
            b.iter(|| hash_key(black_box(&key)))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    picks,
    pingora_round_robin,
    blind_smooth_weighted,
    collect_least_conn,
    full_scan_ewma,
    linear_random,
    ketama,
    key_hash
);
criterion_main!(benches);
