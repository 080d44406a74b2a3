//! coregate's engine: a shard-per-core HTTP/1.1 reverse proxy.
//!
//! One glommio executor per CPU, pinned, each with its own SO_REUSEPORT
//! listeners and its own completion-based io_uring for socket I/O ([`io`]).
//! A shard shares nothing writable with the others on the request path:
//! routes come from an immutable snapshot, and counters are single-writer.
//!
//! Module map: `shard` (the only glommio executor calls), [`io`] (the only
//! io_uring calls), `listener` (socket2 listeners), `conn` (the per
//! connection state machine), `proxy` (forwarding and body streaming),
//! `upstream` (per-shard connection pool), `route` (the routing snapshot),
//! `buf` (buffer recycling), `metrics` (per-shard counters).

pub mod io;

#[doc(hidden)]
pub mod bench_support;

mod admin;
mod buf;
mod client;
mod ctx;
mod error;
mod http;
mod observe;
mod proxy;
mod runtime;
mod shard;
mod snapshot;
mod upstream;
mod view;

pub use error::{EngineError, ProxyError, Side};
pub use observe::metrics::ShardStats;
pub use runtime::server::{Server, StopHandle};
pub use shard::CORE_PANIC_EXIT;
pub use snapshot::control::{Control, ReloadError, ReloadReport, ReloadSource};
