//! Observability and reload settings: metric label caps, the access log,
//! and whether the config file is watched.

use std::path::PathBuf;

use crate::defaults::*;

/// Caps on metric label values, against cardinality blow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Per-route/group/backend statistics and latency histograms.
    pub enabled: bool,
    /// Route label values kept (top-K by traffic); the rest fold into `other`.
    pub max_routes: usize,
    /// Backend label values kept; the rest fold into `other`.
    pub max_backends: usize,
}

/// The access log: one line per request, written off the data path.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    /// Where lines go.
    pub dest: LogDest,
    /// Fraction of requests logged, 0 to 1.
    pub sample: f64,
    /// Log only 4xx and 5xx responses and coregate's own errors.
    pub errors_only: bool,
    /// Lines buffered per shard; more are dropped (and counted).
    pub queue: usize,
    /// Query strings longer than this are truncated in the log.
    pub max_query_bytes: usize,
}

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// No access log (`off`), the default.
    Off,
    /// Standard output (`stdout`).
    Stdout,
    /// Appended to this file.
    File(PathBuf),
}

/// Config reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReloadConfig {
    /// Reload when the config file changes (`--watch-config`).
    pub watch: bool,
}

// === impl MetricsConfig ===

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            max_routes: DEFAULT_METRICS_MAX_ROUTES,
            max_backends: DEFAULT_METRICS_MAX_BACKENDS,
        }
    }
}

// === impl AccessLog ===

impl AccessLog {
    /// Whether any line is ever written.
    pub fn is_enabled(&self) -> bool {
        self.dest != LogDest::Off && self.sample > 0.0
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            dest: LogDest::Off,
            sample: DEFAULT_ACCESS_LOG_SAMPLE,
            errors_only: false,
            queue: DEFAULT_ACCESS_LOG_QUEUE,
            max_query_bytes: DEFAULT_ACCESS_LOG_MAX_QUERY,
        }
    }
}

/// `sample` is validated to lie in 0..=1, so it is never NaN and equality
/// is total, which lets [`Tuning`](crate::Tuning) stay `Eq`.
impl Eq for AccessLog {}

// === impl LogDest ===

impl LogDest {
    /// `off`, `stdout`, or a file path. `stderr` and `-` are refused, as
    /// they would silently become files of that name.
    pub fn parse(text: &str) -> Result<LogDest, String> {
        match text.trim() {
            "off" => Ok(LogDest::Off),
            "stdout" => Ok(LogDest::Stdout),
            "" => Err("empty: use \"off\", \"stdout\" or a file path".to_owned()),
            t @ ("stderr" | "-") => Err(format!(
                "{t:?} is not supported: use \"stdout\", \"off\" or a file path (write \"./{t}\" for a file of that name)"
            )),
            t => Ok(LogDest::File(PathBuf::from(t))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_destinations() {
        assert_eq!(LogDest::parse("off"), Ok(LogDest::Off));
        assert_eq!(LogDest::parse("stdout"), Ok(LogDest::Stdout));
        assert_eq!(
            LogDest::parse("/var/log/coregate.log"),
            Ok(LogDest::File("/var/log/coregate.log".into()))
        );
        assert!(LogDest::parse("").is_err());
        assert!(LogDest::parse("stderr").is_err());
        assert_eq!(
            LogDest::parse("./stderr"),
            Ok(LogDest::File("./stderr".into()))
        );
    }

    #[test]
    fn default_log_is_off() {
        assert!(!AccessLog::default().is_enabled());
        let on = AccessLog {
            dest: LogDest::Stdout,
            ..AccessLog::default()
        };
        assert!(on.is_enabled());
    }
}
