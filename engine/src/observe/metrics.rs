//! Per-shard counters: single writer, read on demand.
//!
//! Each shard owns one [`ShardMetrics`] and is the only thread that writes
//! it; readers (tests, the admin listener) merge the shards when asked. A
//! single-writer `Relaxed` load-add-store is a plain increment on x86 with no
//! locked instruction, and each shard's block sits on its own cache lines.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {
        /// One shard's counters.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub(crate) struct ShardMetrics {
            $(#[$doc] pub(crate) $name: AtomicU64,)*
        }

        /// A plain copy of one shard's counters.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub struct ShardStats {
            $(#[$doc] pub $name: u64,)*
        }

        // === impl ShardMetrics ===

        impl ShardMetrics {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> ShardStats {
                ShardStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        // === impl ShardStats ===

        impl ShardStats {
            /// Adds another shard's counters to these.
            pub fn merge(&mut self, other: &ShardStats) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Connections accepted.
    accepted,
    /// Connections refused because the shard was at `max_connections`.
    refused,
    /// Client connections open now.
    active_connections,
    /// Of those, idle between keep-alive requests.
    idle_connections,
    /// Requests whose head was read.
    requests,
    /// Responses sent with a 1xx status.
    responses_1xx,
    /// Responses sent with a 2xx status.
    responses_2xx,
    /// Responses sent with a 3xx status.
    responses_3xx,
    /// Responses sent with a 4xx status.
    responses_4xx,
    /// Responses sent with a 5xx status.
    responses_5xx,
    /// Requests rejected by the parser.
    parse_errors,
    /// New upstream connections opened.
    upstream_connects,
    /// Requests sent on a pooled upstream connection.
    upstream_reuses,
    /// Requests retried on a fresh connection after a stale pooled one.
    upstream_retries,
    /// Upstream failures (connect, timeout, reset, bad response).
    upstream_errors,
    /// Upgrade tunnels opened.
    tunnels,
    /// Upgrade tunnels closed by `tunnel_idle` (nothing moved either way).
    tunnel_timeouts,
    /// Connection tasks ended by a panic (each closed that connection only).
    panics,
    /// Picks made with no healthy backend left (the group failed open).
    failed_open,
    /// Backends ejected by passive outlier detection.
    ejections,
    /// Request bytes read from clients.
    bytes_in,
    /// Response bytes written to clients.
    bytes_out,
}

/// Increments a counter of the current shard (single writer).
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Decrements a gauge of the current shard (single writer).
#[inline]
pub(crate) fn drop_one(c: &AtomicU64) {
    c.store(
        c.load(Ordering::Relaxed).saturating_sub(1),
        Ordering::Relaxed,
    );
}

// === impl ShardMetrics ===

impl ShardMetrics {
    /// Counts a response sent, by its status class. Status 0 (nothing
    /// sent) is no response and is not counted here; the per-route and
    /// per-listener series count it as `status_class="none"`.
    pub(crate) fn response(&self, status: u16) {
        let c = match status {
            0 => return,
            1..=199 => &self.responses_1xx,
            200..=299 => &self.responses_2xx,
            300..=399 => &self.responses_3xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        bump(c, 1);
    }
}
