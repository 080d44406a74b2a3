//! `[metrics]`, `[access_log]` and `server.watch_config`, each with a flag
//! that overrides the file.

use crate::checker::{cast, size_of, Checker, Key};
use crate::cli::Cli;
use crate::defaults::*;
use crate::file::FileConfig;
use crate::observe::{AccessLog, LogDest, MetricsConfig, ReloadConfig};
use crate::tuning::ConfigSource;

/// Label caps.
pub(crate) fn metrics(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> MetricsConfig {
    let m = &raw.metrics;
    let range = 1..=MAX_METRICS_LABELS as u64;
    let routes = c.int(
        cli.metrics_max_routes,
        Key::METRICS_MAX_ROUTES,
        m.max_routes.as_ref(),
        range.clone(),
    );
    let backends = c.int(
        cli.metrics_max_backends,
        Key::METRICS_MAX_BACKENDS,
        m.max_backends.as_ref(),
        range,
    );
    let enabled = c.pick(
        cli.metrics_off.then_some(false),
        Key::METRICS_ENABLED,
        m.enabled.as_ref(),
        |&b| Ok(b),
    );
    MetricsConfig {
        enabled: enabled.is_none_or(|g| g.value),
        max_routes: cast(routes, DEFAULT_METRICS_MAX_ROUTES),
        max_backends: cast(backends, DEFAULT_METRICS_MAX_BACKENDS),
    }
}

/// Destination, sampling, filtering and buffering of the access log.
pub(crate) fn access_log(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> AccessLog {
    let a = &raw.access_log;
    let dest = c.pick(
        cli.access_log.clone(),
        Key::ACCESS_LOG,
        a.path.as_ref(),
        |t| LogDest::parse(t),
    );
    let sample = c.pick(
        cli.access_log_sample.map(|s| s.0),
        Key::ACCESS_LOG_SAMPLE,
        a.sample.as_ref(),
        |&f| Ok(f),
    );
    let sample = c.accept(sample, |&f| match (0.0..=1.0).contains(&f) {
        true => Ok(()),
        false => Err(format!("must be from 0 to 1, got {f}")),
    });
    let errors_only = c.pick(
        cli.access_log_errors_only.then_some(true),
        Key::ACCESS_LOG_ERRORS_ONLY,
        a.errors_only.as_ref(),
        |&b| Ok(b),
    );
    let queue = c.int(
        cli.access_log_queue,
        Key::ACCESS_LOG_QUEUE,
        a.queue.as_ref(),
        1..=MAX_ACCESS_LOG_QUEUE as u64,
    );
    let max_query = c.pick(
        cli.access_log_max_query,
        Key::ACCESS_LOG_MAX_QUERY,
        a.max_query_bytes.as_ref(),
        size_of,
    );
    let max_query = c.accept(max_query, |&n| {
        crate::checker::within(n, &(0..=MAX_ACCESS_LOG_MAX_QUERY as u64))
    });
    AccessLog {
        dest: dest.map_or(LogDest::Off, |g| g.value),
        sample: sample.map_or(DEFAULT_ACCESS_LOG_SAMPLE, |g| g.value),
        errors_only: errors_only.is_some_and(|g| g.value),
        queue: cast(queue, DEFAULT_ACCESS_LOG_QUEUE),
        max_query_bytes: cast(max_query, DEFAULT_ACCESS_LOG_MAX_QUERY),
    }
}

/// `--watch-config` / `server.watch_config`: only a file named by
/// `--config` can be watched.
pub(crate) fn reload(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
    source: &ConfigSource,
) -> ReloadConfig {
    let watch = c.pick(
        cli.watch_config.then_some(true),
        Key::WATCH_CONFIG,
        raw.server.watch_config.as_ref(),
        |&b| Ok(b),
    );
    let watch = c.accept(watch, |&on| match (on, source) {
        (true, ConfigSource::Quick) => {
            Err("quick mode (--upstream) has no config file to watch".to_owned())
        }
        (true, ConfigSource::Embedded) => {
            Err("no --config given: the embedded default is never reloaded".to_owned())
        }
        _ => Ok(()),
    });
    ReloadConfig {
        watch: watch.is_some_and(|g| g.value),
    }
}
