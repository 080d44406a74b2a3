//! Why a report could not be made. Malformed log lines are not errors:
//! they are counted and skipped.

use std::io;
use std::path::PathBuf;

/// A report failed: a flag, a file, or a size bound.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// `--since`/`--until` is neither an RFC 3339 time nor a duration.
    #[error("{flag} {text:?}: expected an RFC 3339 time (2026-11-26T13:00:00Z) or a duration before the newest line (30m, 1h)")]
    BadWhen {
        /// The flag.
        flag: &'static str,
        /// What was given.
        text: String,
    },
    /// A relative `--since`/`--until` needs the newest line before reading,
    /// so the logs are read twice, which stdin cannot be.
    #[error("{flag} {text:?} is counted back from the newest line, which needs files, not stdin: give an RFC 3339 time")]
    RelativeOnStdin {
        /// The flag.
        flag: &'static str,
        /// What was given.
        text: String,
    },
    /// Any other bad flag value.
    #[error("{flag}: {message}")]
    BadFlag {
        /// The flag.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The command given to [`run_command`](super::run_command) is not `report`.
    #[error("not a report command")]
    NotReport,
    /// An input could not be opened or read.
    #[error("reading {path}: {cause}")]
    Read {
        /// The file (`-` for stdin).
        path: PathBuf,
        /// The cause (shown in the message, so not also a `source()`).
        cause: io::Error,
    },
    /// The report or the chart could not be written.
    #[error("writing {path}: {cause}")]
    Write {
        /// The file (`-` for stdout).
        path: PathBuf,
        /// The cause (shown in the message, so not also a `source()`).
        cause: io::Error,
    },
    /// More bucket × key cells than a report holds.
    #[error("more than {limit} time-bucket × key cells (reached at {at}): use a wider --bucket, a narrower --since/--until, or a --by with fewer values")]
    TooManyCells {
        /// [`MAX_CELLS`](super::MAX_CELLS).
        limit: usize,
        /// Time of the line that hit the bound.
        at: String,
    },
}
