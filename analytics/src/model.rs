//! What a report holds, once aggregated: the shape `--format json` prints
//! and the Markdown and SVG views are drawn from.

use serde::Serialize;

use super::time::Micros;

/// A finished report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The field traffic is broken down by: `route`, `upstream`, `status`,
    /// `consumer`, `app`, `team`, `provider` or `model`.
    pub by: &'static str,
    /// Bucket width in seconds.
    pub bucket_seconds: f64,
    /// The top keys by request count, most requests first.
    pub keys: Vec<String>,
    /// Time buckets with at least one request, oldest first.
    pub buckets: Vec<Bucket>,
    /// Failures by (error kind or 5xx status) × key, most frequent first.
    pub top_errors: Vec<ErrorRow>,
    /// Totals over the whole window.
    pub summary: Summary,
}

/// One time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Start of the bucket, RFC 3339.
    pub start: String,
    /// Start of the bucket, microseconds since the epoch.
    #[serde(skip)]
    pub start_us: Micros,
    /// Seconds of the bucket inside the `--since`/`--until` window: what
    /// the rates divide by.
    pub seconds: f64,
    /// Every request in the bucket, whatever its key.
    pub total: Row,
    /// One row per top key, in the order of [`Report::keys`], zero when the
    /// key had no requests in this bucket.
    pub keys: Vec<KeyRow>,
}

/// Traffic of one bucket × key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Row {
    /// Requests logged.
    pub requests: u64,
    /// Requests that got a 5xx or failed with a coregate error.
    pub errors: u64,
    /// Requests per second.
    pub rate: f64,
    /// `errors / requests`, 0 when there were none.
    pub error_rate: f64,
    /// Median `total_us`, to the histogram's 1% precision.
    pub p50_us: Option<u64>,
    /// 99th percentile of `total_us`.
    pub p99_us: Option<u64>,
    /// What the AI calls among these requests used; all zero when none.
    pub ai: AiRow,
}

/// Usage of the AI calls (lines with an `ai` object) of a bucket × key, or
/// of the whole window: sums of the log's counters. Other requests add
/// nothing here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AiRow {
    /// AI calls.
    pub calls: u64,
    /// Input tokens (`ai.tokens_in`).
    pub tokens_in: u64,
    /// Output tokens (`ai.tokens_out`).
    pub tokens_out: u64,
    /// Cached input tokens (`ai.tokens_cached`).
    pub tokens_cached: u64,
    /// Reasoning tokens (`ai.tokens_reasoning`).
    pub tokens_reasoning: u64,
    /// Cost in micro-dollars (`ai.cost_microusd`).
    pub cost_microusd: u64,
    /// Calls that failed over at least once (non-empty `ai.failovers`).
    pub failovers: u64,
    /// Median time to first token (`ai.first_token_us`), to 1%.
    pub first_token_p50_us: Option<u64>,
    /// 99th percentile of the time to first token.
    pub first_token_p99_us: Option<u64>,
}

/// A [`Row`] and the key it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    /// The route, upstream, status, consumer, app, team, provider or model.
    pub key: String,
    /// Its traffic.
    #[serde(flatten)]
    pub row: Row,
}

/// One line of the error table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorRow {
    /// coregate's error kind (`upstream_connect`), or the 5xx status.
    pub error: String,
    /// The route, upstream, status, consumer, app, team, provider or model.
    pub key: String,
    /// How many requests failed this way.
    pub count: u64,
    /// First time seen, RFC 3339.
    pub first_seen: String,
    /// Last time seen, RFC 3339.
    pub last_seen: String,
}

/// Totals over the whole window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Input files read (`-` counts as one).
    pub files: usize,
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines that were not a valid access-log object, skipped.
    pub malformed: u64,
    /// `file:line` of the first malformed line.
    pub first_malformed: Option<String>,
    /// Valid lines outside `--since`/`--until`.
    pub outside_window: u64,
    /// Requests inside the window.
    pub requests: u64,
    /// Of which failed (5xx or a coregate error).
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Median `total_us` over the window.
    pub p50_us: Option<u64>,
    /// 99th percentile of `total_us` over the window.
    pub p99_us: Option<u64>,
    /// Oldest request in the window, RFC 3339.
    pub first: Option<String>,
    /// Newest request in the window, RFC 3339.
    pub last: Option<String>,
    /// `--since`, resolved.
    pub since: Option<String>,
    /// `--until`, resolved.
    pub until: Option<String>,
    /// Distinct keys seen.
    pub distinct_keys: usize,
    /// True when more keys were seen than a report tracks, and the rest
    /// were folded into `(other)`.
    pub keys_folded: bool,
    /// AI usage over the window; all zero when the logs had no AI call.
    pub ai: AiRow,
}
