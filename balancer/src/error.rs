//! Errors from building a backend set.

use std::net::SocketAddr;

/// Why a [`BackendSet`](crate::BackendSet) could not be built.
///
/// Small and `Copy`; the offending value travels in the variant's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BalancerError {
    /// The group has no backends.
    #[error("backend group is empty")]
    Empty,
    /// Every backend has weight 0, so nothing could ever be picked.
    #[error("backend weights sum to zero ({backends} backends)")]
    ZeroWeight {
        /// Number of backends in the group.
        backends: usize,
    },
    /// The same address appears twice; a backend's identity is its address.
    #[error("backend {addr} is listed twice")]
    Duplicate {
        /// The repeated address.
        addr: SocketAddr,
    },
    /// More backends than the algorithm can index.
    #[error("{backends} backends exceed the limit of {max}")]
    TooMany {
        /// Number of backends given.
        backends: usize,
        /// The most the algorithm accepts.
        max: usize,
    },
    /// The Maglev table size must be a prime larger than the backend count.
    #[error("maglev table size {size} is not a prime above the backend count")]
    TableSize {
        /// The size asked for.
        size: usize,
    },
}
