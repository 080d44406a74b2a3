//! The per-shard completion-based socket layer.
//!
//! Every io_uring call in coregate lives under this module, and nothing here
//! touches the glommio executor directly: parking, yielding and timers go
//! through `crate::shard`. All `unsafe` of the engine's I/O sits here, each
//! block with its `SAFETY:` argument.
//!
//! # Shape
//! Each shard owns one [`Ring`]: one io_uring (SINGLE_ISSUER|DEFER_TASKRUN,
//! falling back to COOP_TASKRUN|TASKRUN_FLAG, then no flags; see
//! [`SetupMode`]) for all downstream and upstream socket I/O: multishot
//! accept ([`Listener`]), multishot recv into a provided-buffer ring
//! ([`RecvBuf`]), send and sendmsg ([`SendBuf`]), connect, close and cancel.
//!
//! One glommio task per shard runs [`Ring::run`]. Each round submits the
//! queued SQEs and reaps completions with one non-blocking `io_uring_enter`
//! and wakes the futures waiting on them; after a round that found work it
//! yields, so the woken tasks queue their next SQEs and the following round
//! submits them as one batch (at c64 about 0.2 `io_uring_enter` per proxied
//! request). After an empty round it parks on the ring's registered eventfd
//! through glommio (a read on glommio's own ring). No wake-up is lost:
//! * the eventfd fires only when the kernel's pending list goes from empty to
//!   non-empty, so the driver parks only right after an enter that ran the
//!   pending work and a reap that found nothing;
//! * an SQE queued while the driver is parked is submitted at once by the
//!   task that queued it (and the driver is kicked if that produced CQEs);
//! * belt and braces, a parked driver also wakes every 50 ms.
//!
//! # Ownership rules that make misuse impossible
//! * An operation's resources (send buffers, iovecs, socket address, the
//!   socket itself) live in its op slot until its final CQE, even if the
//!   future that started it was dropped (the tokio-uring pattern).
//! * A socket's fd is closed (IORING_OP_CLOSE) when neither the [`TcpConn`]
//!   nor any in-flight op refers to it: exactly once, after the kernel is done.
//!   Dropping a `TcpConn` cancels its recv and any abandoned send.
//! * Sends on a socket run one at a time; a send future dropped mid-flight
//!   poisons later sends (they fail with `BrokenPipe`) instead of reordering.
//! * Received data is queued in order; `recv` is cancel-safe. A multishot
//!   recv that the kernel ends is re-armed; one that ends for lack of buffers
//!   (ENOBUFS) is re-armed when buffers come back: readers slow down, no
//!   data is dropped.
//! * Backpressure: once `max_unread_bytes` wait unread, the recv is cancelled
//!   and re-armed when the reader has drained half. The queue can overshoot
//!   by what the kernel posted before the cancel landed (one batch of task
//!   work, up to ~64 buffers measured).
//! * An idle connection holds no receive buffer: its multishot recv stays
//!   armed without one, which also reports an upstream closing a pooled
//!   connection ([`TcpConn::is_closed`]).
//!
//! # Sizing
//! Defaults ([`RingConfig::default`]): 1024 SQEs (CQ 4x, for multishot), 1024
//! buffers of 8 KiB = 8 MiB per shard. Provided buffers are not pinned (only
//! the 16 KiB ring of buffer descriptors is), and since Linux 5.12 ring
//! memory is charged to the memory cgroup rather than `RLIMIT_MEMLOCK`; the
//! pool is still sized to fit an 8 MiB memlock limit. 8 KiB holds a typical
//! request head in one buffer; bodies arrive as several.
//!
//! # Measured
//! RSS per idle keep-alive connection, 10k connections, each served one
//! request (tests/io_idle_rss.rs, debug build, including the echo task
//! waiting on it): **1.1 KiB**, and no receive buffer held.
//!
//! Bare byte forwarder (examples/forwarder.rs) vs nginx 1.22 proxy, per
//! shared/BENCH.md (origin nginx + `wrk -t1 -c64 -d10s` on CPU 0, proxy alone
//! on CPU 1, 100-byte responses, proxy restarted every run, interleaved),
//! proxy CPU per request from /proc/PID/task/*/schedstat:
//!
//! BENCH_TABLE
pub use self::bufring::RecvBuf;
pub use self::config::{
    RingConfig, RingStats, SetupMode, DEFAULT_BUFFER_COUNT, DEFAULT_BUFFER_SIZE, DEFAULT_ENTRIES,
    DEFAULT_MAX_UNREAD_BYTES,
};
pub use self::conn::{RecvHalf, SendHalf, TcpConn};
pub use self::error::IoSetupError;
pub use self::listener::Listener;
pub use self::ring::Ring;
pub use self::send::SendBuf;

mod bufring;
mod config;
mod conn;
mod error;
mod listener;
mod op;
mod ring;
mod send;
