//! Configuration errors. Each names where the bad value came from (file and
//! line, or the command line), the field, and what is wrong:
//! `coregate.toml:12: routes[1].upstream: unknown upstream group "apii"`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why no [`Tuning`](crate::Tuning) could be built.
#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    /// The config file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The flags or the file are invalid; every problem found is listed.
    #[error("{}", Lines(.0))]
    Invalid(Vec<ConfigError>),
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {field}: {message}")]
pub struct ConfigError {
    /// Where the bad value was written.
    pub location: Location,
    /// The field, as written there: `routes[1].upstream` or `--shards`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A config file; `line` is 1-based, `None` when the problem is the
    /// absence of something (no routes at all).
    File {
        /// The file as named on the command line.
        path: PathBuf,
        /// 1-based line number.
        line: Option<usize>,
    },
    /// A command-line flag.
    CommandLine,
}

// === impl TuningError ===

impl TuningError {
    /// Every problem, one per field; a read error yields none.
    pub fn errors(&self) -> &[ConfigError] {
        match self {
            TuningError::Invalid(errors) => errors,
            TuningError::Read { .. } => &[],
        }
    }
}

// === impl Location ===

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Location::File { path, line: None } => write!(f, "{}", path.display()),
            Location::CommandLine => f.write_str("command line"),
        }
    }
}

/// Displays one error per line.
struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: Option<usize>) -> Location {
        Location::File {
            path: "coregate.toml".into(),
            line,
        }
    }

    #[test]
    fn displays_file_line_field_message() {
        let e = ConfigError {
            location: at(Some(12)),
            field: "routes[1].upstream".into(),
            message: "unknown upstream group \"apii\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "coregate.toml:12: routes[1].upstream: unknown upstream group \"apii\""
        );
        let none = ConfigError {
            location: at(None),
            field: "routes".into(),
            message: "none".into(),
        };
        assert_eq!(none.to_string(), "coregate.toml: routes: none");
    }

    #[test]
    fn invalid_lists_one_error_per_line() {
        let e = |field: &str| ConfigError {
            location: Location::CommandLine,
            field: field.into(),
            message: "bad".into(),
        };
        let err = TuningError::Invalid(vec![e("--shards"), e("--cpus")]);
        assert_eq!(
            err.to_string(),
            "command line: --shards: bad\ncommand line: --cpus: bad"
        );
        assert_eq!(err.errors().len(), 2);
    }
}
