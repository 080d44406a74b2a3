//! Counting for limits: the host's tables, exact across its shards
//! ([`Gcra`] rates, [`Quotas`], [`InFlight`] concurrency), and Redis for
//! limits across hosts ([`Global`]).
//!
//! **On one host** each policy is one fixed table of atomic cells that
//! every shard updates with compare-and-swap: a key's hash, a probe of at
//! most 8 slots, one CAS; no lock and no message between shards. A slot
//! changes hands only when its key's budget is full again, so a table at
//! capacity refuses new keys rather than forgetting limited ones. A rate
//! check costs 0.11 µs of CPU per request (`perf-tests` scenario
//! `limits`, 2026-12-02).
//!
//! **Across hosts**, Redis keeps the budget.
//! The data path runs on glommio shards and must never block on Redis, so
//! this crate keeps its connections on one side thread (a tokio
//! current-thread runtime). A shard submits a request with a non-blocking
//! `try_send` into its lane's bounded queue and gets back a [`Reply`], a
//! plain [`Future`](std::future::Future) that any executor can await. Every
//! request resolves, by answer or by error, within the configured timeout,
//! enforced on the side thread; a full queue fails at once with
//! [`GlobalError::QueueFull`].
//!
//! - [`Global::take`]: GCRA in one Lua script on the Redis server's clock;
//!   grants up to `want` units (exact mode asks for 1, lease mode for L).
//! - [`Global::incr`] and [`Global::get`]: quota counters.
//!
//! Callers pass keys as raw bytes; Redis sees them behind a prefix:
//! [`RATE_PREFIX`] (`coregate:rl:`) for GCRA buckets, whose value is the
//! theoretical arrival time in decimal ns since the epoch and which expire
//! once that time has passed, and [`QUOTA_PREFIX`] (`coregate:q:`) for
//! counters. One Redis server (or a primary), not Redis Cluster: the keys
//! carry no hash tags.
//!
//! Of the workspace's crates it depends only on `tuning` (a policy's
//! settings), and never on glommio.
//!
//! Measured (`tests/global.rs`, `measure_round_trips`, release build,
//! Redis 7.0 on loopback, 2-core VM): one lane answers about 58,000 GCRA
//! takes/s when they are pipelined, and 64 µs per take when each is awaited
//! before the next (debug build: 27,600/s and 200 µs).

mod gcra;
mod global;
mod inflight;
mod lease;
mod quota;
mod slots;

pub use gcra::Gcra;
pub use inflight::InFlight;
pub use lease::Leases;
pub use quota::{period_of, Quotas, Saved};

use std::time::Duration;

/// A local check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; this many more would be admitted right now, and the whole
    /// budget is back after `reset`.
    Admit {
        /// Units left right now.
        remaining: u64,
        /// Until the whole budget is back.
        reset: Duration,
    },
    /// Over the limit: the next request would be admitted after this.
    Limit {
        /// Until the next unit.
        retry_after: Duration,
    },
}

pub use global::{
    Global, GlobalConfig, GlobalError, Grant, Reply, DEFAULT_QUEUE, DEFAULT_TIMEOUT, MAX_NS,
    QUOTA_PREFIX, RATE_PREFIX,
};
