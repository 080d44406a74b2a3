//! Counting and reporting: per-thread [`Stats`] merged into a [`Report`],
//! printed as a table or written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Highest latency the histogram records, in nanoseconds (60 s).
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Significant figures kept by the histogram.
const SIGNIFICANT_FIGURES: u8 = 3;

/// Failed requests, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// connect() failed or was refused.
    pub connect: u64,
    /// read() failed (e.g. connection reset).
    pub read: u64,
    /// write() failed.
    pub write: u64,
    /// No complete response within the timeout.
    pub timeout: u64,
    /// The response could not be framed.
    pub parse: u64,
    /// The peer closed before the response was complete.
    pub closed: u64,
}

// === impl Errors ===

impl Errors {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.parse + self.closed
    }

    fn add(&mut self, other: &Self) {
        self.connect += other.connect;
        self.read += other.read;
        self.write += other.write;
        self.timeout += other.timeout;
        self.parse += other.parse;
        self.closed += other.closed;
    }
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// 1xx (only 101 ends a response).
    pub s1xx: u64,
    /// 2xx.
    pub s2xx: u64,
    /// 3xx.
    pub s3xx: u64,
    /// 4xx.
    pub s4xx: u64,
    /// 5xx.
    pub s5xx: u64,
    /// Anything else.
    pub other: u64,
}

// === impl StatusCounts ===

impl StatusCounts {
    /// Counts one status code.
    pub fn count(&mut self, status: u16) {
        let slot = match status / 100 {
            1 => &mut self.s1xx,
            2 => &mut self.s2xx,
            3 => &mut self.s3xx,
            4 => &mut self.s4xx,
            5 => &mut self.s5xx,
            _ => &mut self.other,
        };
        *slot += 1;
    }

    /// Responses that are not 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.s1xx + self.s3xx + self.s4xx + self.s5xx + self.other
    }

    fn add(&mut self, other: &Self) {
        self.s1xx += other.s1xx;
        self.s2xx += other.s2xx;
        self.s3xx += other.s3xx;
        self.s4xx += other.s4xx;
        self.s5xx += other.s5xx;
        self.other += other.other;
    }
}

/// What one worker thread counted.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Complete responses (any status).
    pub responses: u64,
    /// Responses by status class.
    pub status: StatusCounts,
    /// Failed requests.
    pub errors: Errors,
    /// Bytes read from sockets.
    pub bytes_read: u64,
    /// Bytes written to sockets.
    pub bytes_written: u64,
    /// Connections opened.
    pub connects: u64,
    /// Exact codes of the responses that were not 2xx.
    pub non_2xx_codes: BTreeMap<u16, u64>,
    /// Response latency in nanoseconds.
    pub latency: Histogram<u64>,
}

// === impl Stats ===

impl Stats {
    /// Empty counters.
    pub fn new() -> Self {
        let latency = Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_FIGURES);
        Self {
            responses: 0,
            status: StatusCounts::default(),
            errors: Errors::default(),
            bytes_read: 0,
            bytes_written: 0,
            connects: 0,
            non_2xx_codes: BTreeMap::new(),
            // Bounds and figures are constants that hdrhistogram accepts.
            latency: latency.unwrap_or_else(|_| unreachable!("valid histogram bounds")),
        }
    }

    /// Records one complete response.
    #[inline]
    pub fn record(&mut self, status: u16, latency: Duration) {
        self.responses += 1;
        self.status.count(status);
        if !(200..300).contains(&status) {
            *self.non_2xx_codes.entry(status).or_default() += 1;
        }
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos.max(1));
    }

    /// Adds another thread's counts.
    pub fn merge(&mut self, other: &Self) {
        self.responses += other.responses;
        self.status.add(&other.status);
        self.errors.add(&other.errors);
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.connects += other.connects;
        for (&code, &count) in &other.non_2xx_codes {
            *self.non_2xx_codes.entry(code).or_default() += count;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean_us: f64,
    /// Standard deviation.
    pub stdev_us: f64,
    /// Minimum.
    pub min_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// 99.99th percentile.
    pub p9999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// `(percentile, µs)` pairs at 0.1 "nines" steps, 0 to 99.999, for plots.
    pub spectrum: Vec<(f64, f64)>,
}

// === impl Latency ===

impl Latency {
    /// Summarises a nanosecond histogram.
    pub fn from_histogram(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return Self::default();
        }
        let at = |percentile: f64| hist.value_at_quantile(percentile / 100.0) as f64 / 1e3;
        let spectrum = (0..=50)
            .map(|tenths| {
                let percentile = 100.0 * (1.0 - 10f64.powf(-f64::from(tenths) / 10.0));
                (percentile, at(percentile))
            })
            .collect();
        Self {
            mean_us: hist.mean() / 1e3,
            stdev_us: hist.stdev() / 1e3,
            min_us: hist.min() as f64 / 1e3,
            p50_us: at(50.0),
            p90_us: at(90.0),
            p99_us: at(99.0),
            p999_us: at(99.9),
            p9999_us: at(99.99),
            max_us: hist.max() as f64 / 1e3,
            spectrum,
        }
    }
}

/// One run's results: printed as a table, written as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Target URL.
    pub url: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Target rate for open loop.
    pub rate: Option<f64>,
    /// Connections.
    pub connections: usize,
    /// Worker threads.
    pub threads: usize,
    /// `Connection: close` on every request.
    pub close: bool,
    /// Measured wall time in seconds.
    pub duration_s: f64,
    /// Complete responses (any status).
    pub requests: u64,
    /// Responses per second.
    pub rps: f64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes read per second.
    pub read_bytes_per_s: f64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Connections opened.
    pub connects: u64,
    /// Responses by status class.
    pub status: StatusCounts,
    /// Exact codes of the responses that were not 2xx.
    #[serde(default)]
    pub non_2xx_codes: BTreeMap<u16, u64>,
    /// Failed requests, by cause.
    pub errors: Errors,
    /// Latency (from the intended send time in open loop).
    pub latency: Latency,
    /// Connections held idle at the end (`--hold`).
    pub held_connections: Option<u64>,
}

// === impl Report ===

impl Report {
    /// Builds the report of a finished run.
    pub fn new(scenario: &Scenario, stats: &Stats, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Self {
            url: scenario.url.clone(),
            mode: if scenario.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .to_owned(),
            rate: scenario.rate,
            connections: scenario.connections,
            threads: scenario.threads,
            close: scenario.close,
            duration_s: secs,
            requests: stats.responses,
            rps: stats.responses as f64 / secs,
            bytes_read: stats.bytes_read,
            read_bytes_per_s: stats.bytes_read as f64 / secs,
            bytes_written: stats.bytes_written,
            connects: stats.connects,
            status: stats.status,
            non_2xx_codes: stats.non_2xx_codes.clone(),
            errors: stats.errors,
            latency: Latency::from_histogram(&stats.latency),
            held_connections: None,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mode = match self.rate {
            Some(rate) => format!("open loop at {rate:.0} req/s"),
            None => "closed loop".to_owned(),
        };
        let close = if self.close {
            ", Connection: close"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{}: {} connections, {} thread(s), {mode}{close}, {:.2} s",
            self.url, self.connections, self.threads, self.duration_s
        );
        let _ = writeln!(
            out,
            "  requests   {:>12}   {:>10.1} req/s   {:>8.2} MiB/s read   {} connects",
            self.requests,
            self.rps,
            self.read_bytes_per_s / (1024.0 * 1024.0),
            self.connects
        );
        let s = &self.status;
        let _ = writeln!(
            out,
            "  status     2xx {}  3xx {}  4xx {}  5xx {}  other {}",
            s.s2xx,
            s.s3xx,
            s.s4xx,
            s.s5xx,
            s.s1xx + s.other
        );
        if !self.non_2xx_codes.is_empty() {
            let codes: Vec<String> = self
                .non_2xx_codes
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let _ = writeln!(out, "  non-2xx    {}", codes.join("  "));
        }
        let e = &self.errors;
        let _ = writeln!(
            out,
            "  errors     {}  (connect {}  read {}  write {}  timeout {}  parse {}  closed {})",
            e.total(),
            e.connect,
            e.read,
            e.write,
            e.timeout,
            e.parse,
            e.closed
        );
        let l = &self.latency;
        let _ = writeln!(
            out,
            "  latency µs     p50      p90      p99    p99.9   p99.99      max     mean    stdev"
        );
        let _ = writeln!(
            out,
            "             {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
            l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.p9999_us, l.max_us, l.mean_us, l.stdev_us
        );
        if let Some(held) = self.held_connections {
            let _ = writeln!(out, "  held       {held} idle connections");
        }
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // A struct of plain numbers and strings always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let mut counts = StatusCounts::default();
        for status in [200, 204, 301, 404, 503, 999] {
            counts.count(status);
        }
        assert_eq!(counts.s2xx, 2);
        assert_eq!(counts.non_2xx(), 4);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        a.record(200, Duration::from_micros(100));
        b.record(500, Duration::from_micros(300));
        b.errors.timeout = 2;
        a.merge(&b);
        assert_eq!(a.responses, 2);
        assert_eq!(a.status.s5xx, 1);
        assert_eq!(a.non_2xx_codes.get(&500), Some(&1));
        assert_eq!(a.errors.total(), 2);
        assert_eq!(a.latency.len(), 2);
    }

    #[test]
    fn percentiles_and_json_round_trip() {
        let mut stats = Stats::new();
        for micros in 1..=1000 {
            stats.record(200, Duration::from_micros(micros));
        }
        let latency = Latency::from_histogram(&stats.latency);
        assert!((latency.p50_us - 500.0).abs() < 1.0, "{}", latency.p50_us);
        assert!((latency.p99_us - 990.0).abs() < 1.0, "{}", latency.p99_us);
        assert_eq!(latency.spectrum.len(), 51);
        assert!(latency.spectrum.windows(2).all(|w| w[0].1 <= w[1].1));
        let report = Report {
            latency,
            requests: 1000,
            ..Report::default()
        };
        let back: Report = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back.requests, 1000);
        assert_eq!(back.latency.spectrum.len(), 51);
        assert!((back.latency.p99_us - report.latency.p99_us).abs() < 1e-9);
        assert!(report.table().contains("p99.9"));
    }
}
