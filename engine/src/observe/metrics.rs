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
    /// TLS handshakes completed with clients.
    tls_handshakes,
    /// Of those, resumed sessions (a ticket).
    tls_resumed,
    /// Completed handshakes by version and AEAD: TLS 1.3, AES-128-GCM.
    tls13_aes128,
    /// TLS 1.3, AES-256-GCM.
    tls13_aes256,
    /// TLS 1.3, ChaCha20-Poly1305.
    tls13_chacha20,
    /// TLS 1.2, AES-128-GCM.
    tls12_aes128,
    /// TLS 1.2, AES-256-GCM.
    tls12_aes256,
    /// TLS 1.2, ChaCha20-Poly1305.
    tls12_chacha20,
    /// Client handshakes that failed: past the handshake timeout.
    tls_fail_timeout,
    /// Plain HTTP on a TLS port (answered 400).
    tls_fail_plain_http,
    /// Closed or reset mid-handshake.
    tls_fail_closed,
    /// No common version, suite or protocol.
    tls_fail_incompatible,
    /// SNI name refused (no certificate for it).
    tls_fail_unknown_sni,
    /// Client certificate missing or not verified.
    tls_fail_client_cert,
    /// Certificate not verified.
    tls_fail_bad_certificate,
    /// Malformed or unexpected TLS.
    tls_fail_protocol,
    /// TLS handshakes completed with backends.
    upstream_tls_handshakes,
    /// TLS handshakes with backends that failed.
    upstream_tls_failures,
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

// === impl ShardMetrics (TLS) ===

impl ShardMetrics {
    /// Counts a completed client handshake.
    pub(crate) fn tls_handshake(&self, t: &crate::io::TlsSummary) {
        bump(&self.tls_handshakes, 1);
        if t.resumed {
            bump(&self.tls_resumed, 1);
        }
        let v13 = t.version == "TLSv1.3";
        let c = match (v13, t.cipher) {
            (_, c) if c.contains("CHACHA20") => {
                if v13 {
                    &self.tls13_chacha20
                } else {
                    &self.tls12_chacha20
                }
            }
            (_, c) if c.contains("AES_256") => {
                if v13 {
                    &self.tls13_aes256
                } else {
                    &self.tls12_aes256
                }
            }
            _ => {
                if v13 {
                    &self.tls13_aes128
                } else {
                    &self.tls12_aes128
                }
            }
        };
        bump(c, 1);
    }

    /// Counts a failed client handshake by its reason.
    pub(crate) fn tls_failure(&self, why: crate::io::HandshakeFailure) {
        use crate::io::HandshakeFailure as F;
        let c = match why {
            F::Timeout => &self.tls_fail_timeout,
            F::PlainHttp => &self.tls_fail_plain_http,
            F::Closed => &self.tls_fail_closed,
            F::Incompatible => &self.tls_fail_incompatible,
            F::UnknownSni => &self.tls_fail_unknown_sni,
            F::ClientCert => &self.tls_fail_client_cert,
            F::BadCertificate => &self.tls_fail_bad_certificate,
            F::Protocol => &self.tls_fail_protocol,
        };
        bump(c, 1);
    }
}
