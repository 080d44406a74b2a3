//! What coregate records about the traffic it carries: single-writer
//! per-shard counters, per-route and per-backend statistics with HDR
//! latency histograms, and the access log. Counting costs about 1.4% of a
//! request's CPU (metrics on vs off, perf-tests/results/2026-11-26-metrics-ab.md).

pub(crate) mod accesslog;
pub(crate) mod metrics;
pub(crate) mod stats;
