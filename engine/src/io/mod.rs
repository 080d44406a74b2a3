//! The per-shard completion-based socket layer.
//!
//! Every io_uring call in coregate lives under this module, and nothing here
//! touches the glommio executor directly: parking, yielding and timers go
//! through `crate::shard`.
//!
//! Each shard owns one [`Ring`] (one io_uring, SINGLE_ISSUER|DEFER_TASKRUN
//! where the kernel has it) for all downstream and upstream socket I/O:
//! multishot accept, multishot recv into a provided buffer ring, send and
//! sendmsg, connect, close and cancel. One glommio task per shard
//! ([`Ring::run`]) drives it; when idle it parks on the ring's eventfd.
pub use self::bufring::RecvBuf;
pub use self::conn::{RecvHalf, SendBuf, SendHalf, TcpConn};
pub use self::error::IoSetupError;
pub use self::listener::Listener;
pub use self::ring::{
    Ring, RingConfig, RingStats, SetupMode, DEFAULT_BUFFER_COUNT, DEFAULT_BUFFER_SIZE, DEFAULT_ENTRIES,
    DEFAULT_MAX_UNREAD_BYTES,
};

mod bufring;
mod conn;
mod error;
mod listener;
mod op;
mod ring;
