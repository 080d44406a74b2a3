//! The machinery of validation: where a value came from ([`Given`]), and a
//! [`Checker`] that takes the flag over the file field, checks it, and
//! records every problem with its location instead of stopping.

use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use toml::Spanned;

use crate::error::{ConfigError, Location, TuningError};
use crate::file::{IntOrText, Loaded};
use crate::tuning::Tuning;
use crate::units::{parse_duration, parse_size};
use crate::unknown::Seg;

/// A setting's two names: the flag and the file field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    /// Without the leading `--`.
    pub(crate) flag: &'static str,
    /// Dotted path in the file.
    pub(crate) field: &'static str,
}

// === impl Key ===

impl Key {
    const fn new(flag: &'static str, field: &'static str) -> Key {
        Key { flag, field }
    }

    pub(crate) const LISTEN: Key = Key::new("listen", "server.listen");
    pub(crate) const SHARDS: Key = Key::new("shards", "server.shards");
    pub(crate) const CPUS: Key = Key::new("cpus", "server.cpus");
    pub(crate) const BACKLOG: Key = Key::new("backlog", "server.backlog");
    pub(crate) const MAX_CONNECTIONS: Key = Key::new("max-connections", "server.max_connections");
    pub(crate) const ADMIN: Key = Key::new("admin", "server.admin");
    pub(crate) const DATA_DIR: Key = Key::new("data-dir", "access.data_dir");
    pub(crate) const API: Key = Key::new("api", "access.api");
    pub(crate) const STORE: Key = Key::new("store", "access.store");
    pub(crate) const API_TOKEN_FILE: Key = Key::new("api-token-file", "access.api_token_file");
    pub(crate) const CLIENT_HEADER: Key =
        Key::new("client-header-timeout", "timeouts.client_header");
    pub(crate) const CLIENT_BODY: Key = Key::new("client-body-timeout", "timeouts.client_body");
    pub(crate) const CLIENT_KEEPALIVE: Key =
        Key::new("client-keepalive-timeout", "timeouts.client_keepalive");
    pub(crate) const UPSTREAM_CONNECT: Key =
        Key::new("upstream-connect-timeout", "timeouts.upstream_connect");
    pub(crate) const UPSTREAM_HEADER: Key =
        Key::new("upstream-header-timeout", "timeouts.upstream_header");
    pub(crate) const UPSTREAM_BODY: Key =
        Key::new("upstream-body-timeout", "timeouts.upstream_body");
    pub(crate) const UPSTREAM_IDLE: Key =
        Key::new("upstream-idle-timeout", "timeouts.upstream_idle");
    pub(crate) const CLIENT_SEND: Key = Key::new("client-send-timeout", "timeouts.client_send");
    pub(crate) const MAX_RESPONSE_HEAD_BYTES: Key =
        Key::new("max-response-head-bytes", "limits.max_response_head_bytes");
    pub(crate) const CLIENT_BODY_MIN_RATE: Key =
        Key::new("client-body-min-rate", "limits.client_body_min_rate");
    pub(crate) const DRAIN: Key = Key::new("drain-timeout", "timeouts.drain");
    pub(crate) const TUNNEL_IDLE: Key = Key::new("tunnel-idle-timeout", "timeouts.tunnel_idle");
    pub(crate) const MAX_HEAD_BYTES: Key = Key::new("max-head-bytes", "limits.max_head_bytes");
    pub(crate) const MAX_HEADERS: Key = Key::new("max-headers", "limits.max_headers");
    pub(crate) const MAX_TARGET_BYTES: Key =
        Key::new("max-target-bytes", "limits.max_target_bytes");
    pub(crate) const MAX_BODY_BYTES: Key = Key::new("max-body-bytes", "limits.max_body_bytes");
    pub(crate) const RING_ENTRIES: Key = Key::new("io-ring-entries", "io.ring_entries");
    pub(crate) const BUFFERS: Key = Key::new("io-buffers", "io.buffers");
    pub(crate) const BUFFER_SIZE: Key = Key::new("io-buffer-size", "io.buffer_size");
    pub(crate) const MAX_UNREAD: Key = Key::new("io-max-unread", "io.max_unread");
    pub(crate) const DIRECT_WAIT: Key = Key::new("io-direct-wait", "io.direct_wait");
    pub(crate) const MAX_IDLE: Key = Key::new("upstream-max-idle", "pool.max_idle");
    pub(crate) const MERGE_SLASHES: Key = Key::new("merge-slashes", "server.merge_slashes");
    pub(crate) const WATCH_CONFIG: Key = Key::new("watch-config", "server.watch_config");
    pub(crate) const METRICS_ENABLED: Key = Key::new("metrics-off", "metrics.enabled");
    pub(crate) const METRICS_MAX_ROUTES: Key = Key::new("metrics-max-routes", "metrics.max_routes");
    pub(crate) const METRICS_MAX_BACKENDS: Key =
        Key::new("metrics-max-backends", "metrics.max_backends");
    pub(crate) const ACCESS_LOG: Key = Key::new("access-log", "access_log.path");
    pub(crate) const ACCESS_LOG_SAMPLE: Key = Key::new("access-log-sample", "access_log.sample");
    pub(crate) const ACCESS_LOG_ERRORS_ONLY: Key =
        Key::new("access-log-errors-only", "access_log.errors_only");
    pub(crate) const ACCESS_LOG_QUEUE: Key = Key::new("access-log-queue", "access_log.queue");
    pub(crate) const ACCESS_LOG_MAX_QUERY: Key =
        Key::new("access-log-max-query", "access_log.max_query_bytes");
}

/// A value and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Given<T> {
    pub(crate) value: T,
    pub(crate) location: Location,
    pub(crate) field: String,
}

/// Collects errors, each placed in the file or on the command line.
#[derive(Debug)]
pub(crate) struct Checker<'a> {
    file: Option<&'a Loaded>,
    errors: Vec<ConfigError>,
}

// === impl Checker ===

impl<'a> Checker<'a> {
    /// Starts with the unknown keys already found in `file`.
    pub(crate) fn new(file: Option<&'a Loaded>) -> Checker<'a> {
        let errors = file.map_or_else(Vec::new, |f| f.unknown.clone());
        Checker { file, errors }
    }

    /// The file line holding `span`.
    pub(crate) fn at(&self, span: Range<usize>) -> Location {
        match self.file {
            Some(f) => Location::File {
                path: f.path.clone(),
                line: Some(crate::locate::line_of(&f.text, span.start)),
            },
            None => Location::CommandLine,
        }
    }

    /// The directory relative paths in the file are resolved against;
    /// `None` for flags alone.
    pub(crate) fn base_dir(&self) -> Option<&'a std::path::Path> {
        self.file.and_then(|f| f.path.parent())
    }

    /// The line of the table or key at the dotted `path` (`tls.edge`), for
    /// a value without a span.
    pub(crate) fn at_key(&self, path: &str) -> Location {
        match self.file {
            Some(f) => {
                let segs: Vec<Seg> = path.split('.').map(|k| Seg::Key(k.to_owned())).collect();
                Location::File {
                    path: f.path.clone(),
                    line: crate::locate::line_of_key(&f.text, &segs),
                }
            }
            None => Location::CommandLine,
        }
    }

    /// The file as a whole, for something missing from it.
    pub(crate) fn whole_file(&self) -> Location {
        match self.file {
            Some(f) => Location::File {
                path: f.path.clone(),
                line: None,
            },
            None => Location::CommandLine,
        }
    }

    /// Records one problem.
    pub(crate) fn fail(
        &mut self,
        location: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            location,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records a problem with a value at `span` in the file.
    pub(crate) fn fail_at(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let location = self.at(span);
        self.fail(location, field, message);
    }

    pub(crate) fn fail_given<T>(&mut self, given: &Given<T>, message: impl Into<String>) {
        self.fail(given.location.clone(), given.field.clone(), message);
    }

    /// The flag if given, else the file value converted, else `None`.
    pub(crate) fn pick<R, T>(
        &mut self,
        flag: Option<T>,
        key: Key,
        raw: Option<&Spanned<R>>,
        convert: impl FnOnce(&R) -> Result<T, String>,
    ) -> Option<Given<T>> {
        if let Some(value) = flag {
            return Some(Given {
                value,
                location: Location::CommandLine,
                field: format!("--{}", key.flag),
            });
        }
        let raw = raw?;
        let location = self.at(raw.span());
        match convert(raw.get_ref()) {
            Ok(value) => Some(Given {
                value,
                location,
                field: key.field.to_owned(),
            }),
            Err(message) => {
                self.fail(location, key.field, message);
                None
            }
        }
    }

    /// Keeps `given` if `check` passes; records the problem otherwise.
    pub(crate) fn accept<T>(
        &mut self,
        given: Option<Given<T>>,
        check: impl FnOnce(&T) -> Result<(), String>,
    ) -> Option<Given<T>> {
        let given = given?;
        match check(&given.value) {
            Ok(()) => Some(given),
            Err(message) => {
                self.fail_given(&given, message);
                None
            }
        }
    }

    /// An integer setting within `range`.
    pub(crate) fn int(
        &mut self,
        flag: Option<u64>,
        key: Key,
        raw: Option<&Spanned<i64>>,
        range: RangeInclusive<u64>,
    ) -> Option<Given<u64>> {
        let given = self.pick(flag, key, raw, |&n| non_negative(n));
        self.accept(given, |n| within(*n, &range))
    }

    /// A byte-size setting (`16384` or `"16k"`) within `range`.
    pub(crate) fn size(
        &mut self,
        flag: Option<u64>,
        key: Key,
        raw: Option<&Spanned<IntOrText>>,
        range: RangeInclusive<u64>,
    ) -> Option<Given<u64>> {
        let given = self.pick(flag, key, raw, size_of);
        self.accept(given, |n| within(*n, &range))
    }

    /// A power of two within `range`.
    pub(crate) fn power_of_two(
        &mut self,
        flag: Option<u64>,
        key: Key,
        raw: Option<&Spanned<i64>>,
        range: RangeInclusive<u64>,
    ) -> Option<Given<u64>> {
        let given = self.pick(flag, key, raw, |&n| non_negative(n));
        self.accept(given, |&n| {
            match n.is_power_of_two() && range.contains(&n) {
                true => Ok(()),
                false => Err(format!(
                    "must be a power of two from {} to {}, got {n}",
                    range.start(),
                    range.end()
                )),
            }
        })
    }

    /// A timeout; zero is refused unless `allow_zero`.
    pub(crate) fn duration(
        &mut self,
        flag: Option<Duration>,
        key: Key,
        raw: Option<&Spanned<String>>,
        default: Duration,
        allow_zero: bool,
    ) -> Duration {
        let given = self.pick(flag, key, raw, |text| parse_duration(text));
        let given = self.accept(given, |d| match allow_zero || !d.is_zero() {
            true => Ok(()),
            false => Err("must be greater than zero".to_owned()),
        });
        given.map_or(default, |g| g.value)
    }

    /// A file-only value (per group or per route, so no flag): converted,
    /// or `None` with the problem recorded at its line.
    pub(crate) fn field<R, T>(
        &mut self,
        field: &str,
        raw: Option<&Spanned<R>>,
        convert: impl FnOnce(&R) -> Result<T, String>,
    ) -> Option<T> {
        let raw = raw?;
        match convert(raw.get_ref()) {
            Ok(value) => Some(value),
            Err(message) => {
                self.fail_at(raw.span(), field, message);
                None
            }
        }
    }

    /// A file-only integer within `range`.
    pub(crate) fn field_int(
        &mut self,
        field: &str,
        raw: Option<&Spanned<i64>>,
        range: RangeInclusive<u64>,
    ) -> Option<u64> {
        self.field(field, raw, |&n| {
            let n = non_negative(n)?;
            within(n, &range).map(|()| n)
        })
    }

    /// A file-only duration, greater than zero.
    pub(crate) fn field_duration(
        &mut self,
        field: &str,
        raw: Option<&Spanned<String>>,
    ) -> Option<Duration> {
        self.field(field, raw, |text| {
            let d = parse_duration(text)?;
            match d.is_zero() {
                true => Err("must be greater than zero".to_owned()),
                false => Ok(d),
            }
        })
    }

    /// The value, or every error found: flags first, then the file in line order.
    pub(crate) fn finish(mut self, tuning: Tuning) -> Result<Tuning, TuningError> {
        self.errors.sort_by_key(|e| match &e.location {
            Location::CommandLine => (0, 0),
            Location::File {
                line: Some(line), ..
            } => (1, *line),
            Location::File { line: None, .. } => (2, 0),
        });
        match self.errors.is_empty() {
            true => Ok(tuning),
            false => Err(TuningError::Invalid(self.errors)),
        }
    }
}

/// A checked value in its target type; the range checks make the fallback unreachable.
pub(crate) fn cast<T: TryFrom<u64>>(given: Option<Given<u64>>, default: T) -> T {
    given
        .and_then(|g| T::try_from(g.value).ok())
        .unwrap_or(default)
}

pub(crate) fn non_negative(n: i64) -> Result<u64, String> {
    u64::try_from(n).map_err(|_| format!("must not be negative, got {n}"))
}

pub(crate) fn within(n: u64, range: &RangeInclusive<u64>) -> Result<(), String> {
    match range.contains(&n) {
        true => Ok(()),
        false => Err(format!(
            "must be from {} to {}, got {n}",
            range.start(),
            range.end()
        )),
    }
}

/// Bytes from `16384` or `"16k"`.
pub(crate) fn size_of(raw: &IntOrText) -> Result<u64, String> {
    match raw {
        IntOrText::Int(n) => non_negative(*n),
        IntOrText::Text(text) => parse_size(text),
    }
}
