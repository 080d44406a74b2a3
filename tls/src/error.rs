//! What went wrong with a TLS file or setting, naming the file.

use std::fmt;
use std::path::{Path, PathBuf};

/// A TLS setting that cannot be used: the file it came from, and what is
/// wrong with it (never any key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The file at fault, when there is one.
    pub file: Option<PathBuf>,
    /// What is wrong, for an operator.
    pub what: String,
}

// === impl TlsError ===

impl TlsError {
    /// An error about `file`.
    pub fn file(file: &Path, what: impl Into<String>) -> TlsError {
        TlsError {
            file: Some(file.to_path_buf()),
            what: what.into(),
        }
    }

    /// An error about a setting, not a file.
    pub fn setting(what: impl Into<String>) -> TlsError {
        TlsError {
            file: None,
            what: what.into(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for TlsError {}
