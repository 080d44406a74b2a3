//! Backend selection and health for coregate.
//!
//! Pure and deterministic: no async, no clock (time is an argument) and no
//! global random number generator (randomness comes from a seed). Selectors
//! are shard-local and take `&mut self`: each shard owns its own state, so
//! nothing here needs an atomic or a lock. The crate depends on `thiserror`
//! only, and must never depend on the engine, glommio or a clock.
//!
//! - [`BackendSet`]: a group's backends and derived tables (the Maglev
//!   lookup table), built off the data path, shared read-only by shards.
//! - [`Selector`]: one shard's state for one group; [`Selector::pick`]
//!   chooses among eligible backends with the group's [`Algorithm`] and
//!   fails open when none is eligible.
//! - [`Outlier`], [`ActiveHealth`]: passive ejection and active-check
//!   verdicts, which the engine folds into an [`Eligible`] mask.
//! - [`hash_key`]: the stable hash of a consistent-hashing key.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use balancer::{Algorithm, Backend, BackendSet, Eligible, Outlier, OutlierConfig, Selector};
//!
//! let addrs = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
//! let backends = addrs.iter().map(|a| Backend::new(a.parse().unwrap())).collect();
//! let set = BackendSet::build(backends, Algorithm::P2cEwma)?; // control side, once per reload
//!
//! // On each shard: a selector, an outlier detector and a reusable mask.
//! let mut sel = Selector::new(&set, /* seed: */ 7);
//! let mut outlier = Outlier::new(OutlierConfig::default(), set.len());
//! let mut ok = Eligible::all(set.len());
//!
//! let now = Instant::now();
//! ok.fill(set.len(), |i| !outlier.is_ejected(i, now));
//! let pick = sel.pick(&set, &ok, None, now).expect("a built set is never empty");
//! sel.on_start(pick.idx);
//! // ... the request runs ...
//! sel.on_end(pick.idx, Duration::from_millis(3), now);
//! outlier.record(pick.idx, true, now);
//!
//! // A reload: survivors keep their load, latency and ejection state.
//! let more = addrs.iter().chain(&["10.0.0.4:80"]).map(|a| Backend::new(a.parse().unwrap()));
//! let new = BackendSet::build(more.collect(), Algorithm::P2cEwma)?;
//! sel.rebuild(&set, &new);
//! outlier.rebuild(&set, &new);
//! # Ok::<(), balancer::BalancerError>(())
//! ```
//!
//! # Algorithms
//!
//! | [`Algorithm`] | picks | cost per pick |
//! |---|---|---|
//! | `RoundRobin` | next eligible backend after a shard-local cursor | O(1), O(n) when many are down |
//! | `Weighted` | nginx smooth weighted round-robin among eligible backends | O(n) |
//! | `LeastConn` | least `(in_flight + 1) / weight`, ties round-robin | O(n) |
//! | `P2cEwma` | cheaper of two random eligible backends by peak-EWMA × load | O(1) |
//! | `Random` | weighted random (binary search of cumulative weights) | O(log n) |
//! | `Maglev` | `table[hash % 65537]`, walking forward past ineligible backends | O(1) |
//!
//! Weight 0 drains a backend: it keeps its state but is never picked.
//! With no eligible backend the group fails open (Envoy's panic mode): the
//! pick ignores health and sets [`Pick::failed_open`], for the engine to
//! count. Load (in-flight, EWMA) is per shard: with `s` shards each sees
//! about `1/s` of it, which is what it can act on without sharing.
//!
//! # Measured
//!
//! `cargo bench -p balancer`, `Selector::pick` with an [`Eligible`]
//! bitset, backends weighted 1–3, on the 2-vCPU AMD EPYC build VM (shared,
//! load average ≈ 5 while measured, so read ±20%); every alternative ran in
//! the same process. `down10`: every tenth backend ineligible; same figures
//! within noise.
//!
//! BENCH_TABLE
//!
//! The hot path allocates nothing (`tests/alloc.rs` counts it), and the
//! bench's allocating alternative (`least_conn_collect`) shows what one
//! `Vec` per pick costs.

pub mod algorithms;
mod backend;
mod error;
mod ewma;
mod hash;
mod health;
mod select;
mod selector;
mod set;

pub use algorithms::maglev::{Table as MaglevTable, MAX_BACKENDS as MAX_MAGLEV_BACKENDS};
pub use algorithms::weighted::SmoothWeighted;
pub use algorithms::{
    least_conn::LeastConn, maglev::Maglev, p2c::P2c, random::Random, round_robin::RoundRobin,
};
pub use backend::{All, Backend, BackendIdx, Eligibility, Eligible};
pub use error::BalancerError;
pub use ewma::{EwmaConfig, PeakEwma, DEFAULT_DECAY, DEFAULT_RTT};
pub use hash::{hash_key, hash_with_seed, Rng, KEY_SEED};
pub use health::{ActiveHealth, Outlier, OutlierConfig, Transition};
pub use select::{Algorithm, Candidates, Ctx, Select};
pub use selector::{Pick, Selector};
pub use set::{BackendSet, DEFAULT_MAGLEV_TABLE_SIZE};
