//! coregate's engine: a shard-per-core HTTP/1.1 reverse proxy.
//!
//! One glommio executor per CPU, pinned, each with its own SO_REUSEPORT
//! listeners and its own completion-based io_uring for socket I/O ([`io`]).
//! A shard shares nothing writable with the others on the request path:
//! routes come from an immutable snapshot, and counters are single-writer.
//!
//! # Module map
//!
//! Folders follow a request's path; dependencies point one way, down it
//! (`runtime` → `http` → `proxy` → `upstream` → `io`), and `snapshot`,
//! `observe`, `shard` and `error` are leaves that every folder may use.
//!
//! | module | its one job |
//! |---|---|
//! | `runtime/` | start and stop: the pinned shards, socket2 listeners, accept loops, health checks |
//! | `shard` | the only glommio executor calls: spawning (with panic isolation) into the data or background task queue, timers, parking |
//! | [`io`] | the only io_uring calls: one ring per shard, provided buffers, and the [`io::Transport`] seam (plain TCP, or rustls records over it) |
//! | `http/` | the client connection's state machine, the request's id, coregate's own answers |
//! | `client` | the client connection every layer sees, with its timed sends |
//! | `proxy/` | forward and retry, head encoding, request body, response relay, tunnels |
//! | `upstream/` | dialling backends (TCP, then TLS), the shard's pool of idle upstream connections and its balancing state |
//! | `limit/` | rate limits, quotas and concurrency caps on the request path: tables of atomic cells shared by the host's shards, and Redis for limits across hosts |
//! | `snapshot/` | routes, groups and policies (the access policy from the store included) compiled off the data path; the access check; the epoch swap; reloads |
//! | `view` | a shard's view of the published snapshot, with its own state for it |
//! | `ctx` | everything one shard's tasks share: ring, pool, view, counters, log |
//! | `observe/` | single-writer counters, statistics with HDR histograms, the access log |
//! | `admin/` | the admin listener, Prometheus and JSON views, scrapes across shards |
//!
//! # One request, through the folders
//!
//! A shard's accept loop (`runtime`) takes a connection from its own
//! SO_REUSEPORT listener through its own ring (`io`) and spawns the
//! connection's task (`http::conn`), which first runs the TLS handshake
//! when the listener has a profile (`http::tls`, the profile from the
//! snapshot). That task reads bytes from its
//! [`io::Transport`] until the parser returns a complete head, takes the
//! shard's current view of the snapshot (`view`, one version compare), and
//! routes the request on its normalised path (`snapshot`). A fixed
//! response is written by `http`; anything else goes to `proxy`, which picks
//! a backend with the shard's balancing state (`upstream`), takes a pooled
//! connection or opens one, sends the re-encoded head and streams the body,
//! reads the response head, and relays the response back, returning a clean
//! connection to the pool. `http` then counts the request and writes its
//! access log line (`observe`), and reads the next head on the same
//! connection. Nothing on this path takes a lock or touches another shard.

pub mod io;

#[doc(hidden)]
pub mod bench_support;

mod admin;
mod ai;
mod buf;
mod cache;
mod client;
mod clock;
mod ctx;
mod error;
mod http;
mod limit;
mod observe;
mod proxy;
mod runtime;
mod shard;
mod snapshot;
mod text;
mod timer;
mod upstream;
mod view;

pub use error::{EngineError, ProxyError, Side};
pub use observe::metrics::ShardStats;
pub use runtime::server::{Server, StopHandle};
pub use shard::CORE_PANIC_EXIT;
pub use snapshot::control::{Control, ReloadError, ReloadReport, ReloadSource};
