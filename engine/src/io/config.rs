//! The ring's settings, the setup mode the kernel accepted, and counters.

use std::time::Duration;

use super::error::IoSetupError;

/// Default submission queue entries per shard.
pub const DEFAULT_ENTRIES: u32 = 1024;
/// Default number of provided receive buffers per shard (a power of two).
pub const DEFAULT_BUFFER_COUNT: u16 = 1024;
/// Default size of each provided receive buffer.
pub const DEFAULT_BUFFER_SIZE: u32 = 8 * 1024;
/// Default bound on a connection's received-but-unread bytes.
pub const DEFAULT_MAX_UNREAD_BYTES: usize = 64 * 1024;
/// Default window in which the driver waits in its own ring (see
/// [`RingConfig::direct_wait`]).
pub const DEFAULT_DIRECT_WAIT: Duration = Duration::from_millis(5);

/// Per-shard ring settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingConfig {
    /// Submission queue entries (the completion queue gets 4x).
    pub entries: u32,
    /// Provided receive buffers; a power of two, at most 32768.
    pub buffer_count: u16,
    /// Bytes per provided buffer.
    pub buffer_size: u32,
    /// Stop receiving on a connection once this many bytes wait unread.
    pub max_unread_bytes: usize,
    /// After each park through glommio, for this long, an idle driver waits
    /// for completions by blocking in its own ring's `io_uring_enter`
    /// instead of parking through glommio's ring and the eventfd (one
    /// syscall per wake-up instead of three and an eventfd signal). glommio's
    /// own timers and eventfds are served at the end of the window, so this
    /// bounds how late they can run. Zero turns it off.
    pub direct_wait: Duration,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            entries: DEFAULT_ENTRIES,
            buffer_count: DEFAULT_BUFFER_COUNT,
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_unread_bytes: DEFAULT_MAX_UNREAD_BYTES,
            direct_wait: DEFAULT_DIRECT_WAIT,
        }
    }
}

impl RingConfig {
    pub(crate) fn validate(&self) -> Result<(), IoSetupError> {
        if !self.buffer_count.is_power_of_two() || self.buffer_count > 32768 {
            return Err(IoSetupError::Config(
                "buffer_count must be a power of two <= 32768",
            ));
        }
        if self.buffer_size == 0 || self.buffer_size > 1 << 30 {
            return Err(IoSetupError::Config("buffer_size must be in 1..=1 GiB"));
        }
        if self.entries == 0 || self.entries > 32768 {
            return Err(IoSetupError::Config("entries must be in 1..=32768"));
        }
        if self.direct_wait > Duration::from_millis(10) {
            return Err(IoSetupError::Config("direct_wait must be at most 10 ms"));
        }
        if self.max_unread_bytes == 0 {
            return Err(IoSetupError::Config("max_unread_bytes must be > 0"));
        }
        Ok(())
    }
}

/// Which io_uring setup flags the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupMode {
    /// SINGLE_ISSUER | DEFER_TASKRUN (Linux >= 6.1): completions run only when
    /// the driver enters the ring, in batches.
    Deferred,
    /// COOP_TASKRUN | TASKRUN_FLAG (Linux >= 5.19): no IPIs, task work runs
    /// at the next kernel entry.
    Cooperative,
    /// No setup flags.
    Plain,
}

/// A snapshot of one ring's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingStats {
    /// Setup flags in use.
    pub mode: SetupMode,
    /// Provided buffers in the pool.
    pub buffers_total: u32,
    /// Provided buffers not held by a `RecvBuf`.
    pub buffers_free: u32,
    /// Operations the kernel has not completed yet (incl. cancels and closes).
    pub ops_in_flight: u32,
    /// Connection sockets whose fd is still open.
    pub sockets_open: u32,
    /// Multishot recvs re-armed after the kernel ended them.
    pub rearms: u64,
    /// Multishot recvs ended because the buffer pool was empty.
    pub enobufs: u64,
    /// Receives paused because a connection reached `max_unread_bytes`.
    pub recv_pauses: u64,
    /// Receives copied to the heap because the buffer pool was low.
    pub spills: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Completions reaped.
    pub cqes: u64,
    /// Times the driver parked on the eventfd.
    pub parks: u64,
    /// Times the driver blocked in its own ring waiting for a completion.
    pub direct_waits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_fits_memlock() {
        let c = RingConfig::default();
        assert!(c.validate().is_ok());
        // The buffer pool (not pinned, but sized as if it were) fits 8 MiB.
        assert!(usize::from(c.buffer_count) * c.buffer_size as usize <= 8 << 20);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            RingConfig {
                buffer_count: 1000,
                ..Default::default()
            },
            RingConfig {
                buffer_size: 0,
                ..Default::default()
            },
            RingConfig {
                entries: 0,
                ..Default::default()
            },
            RingConfig {
                max_unread_bytes: 0,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(IoSetupError::Config(_))),
                "{c:?}"
            );
        }
    }
}
