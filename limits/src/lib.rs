//! Global (cross-host) rate limits and quotas, kept in Redis so that every
//! gateway host shares one budget.
//!
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
//! It depends on none of the workspace's crates and never on glommio.
//!
//! Measured (`tests/global.rs`, `measure_round_trips`, release build,
//! Redis 7.0 on loopback, 2-core VM): one lane answers about 58,000 GCRA
//! takes/s when they are pipelined, and 64 µs per take when each is awaited
//! before the next (debug build: 27,600/s and 200 µs).

mod global;

pub use global::{
    Global, GlobalConfig, GlobalError, Grant, Reply, DEFAULT_QUEUE, DEFAULT_TIMEOUT, MAX_NS,
    QUOTA_PREFIX, RATE_PREFIX,
};
