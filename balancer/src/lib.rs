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
