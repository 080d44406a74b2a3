//! The bench crate's one error type.

use std::io;

/// Everything that can stop a load run or the origin before it starts.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The target URL could not be understood.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A duration such as `10s` could not be parsed.
    #[error("invalid duration {0:?} (examples: 10s, 500ms, 2m, 1.5)")]
    InvalidDuration(String),
    /// A header given with `-H` is not `Name: value`.
    #[error("invalid header {0:?}: expected \"Name: value\"")]
    InvalidHeader(String),
    /// A combination of options makes no sense.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A system call failed; `op` says which and `target` on what.
    #[error("{op} {target}: {source}")]
    Io {
        /// The operation, e.g. `bind` or `write json`.
        op: &'static str,
        /// The address or path it was applied to.
        target: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl BenchError {
    /// Wraps an I/O error with the operation and its target.
    pub fn io(op: &'static str, target: impl ToString, source: impl Into<io::Error>) -> Self {
        Self::Io {
            op,
            target: target.to_string(),
            source: source.into(),
        }
    }
}
