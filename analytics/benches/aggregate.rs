//! `analytics::analyze` over a generated access log (`Throughput::Elements`,
//! one element per line): 100,000 lines over one hour, 8 routes, 1 in 20 a
//! 502, read from a file in the page cache, by route in 1-minute buckets.
//! The result is stated in the crate docs.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use analytics::{analyze, format_rfc3339, parse_rfc3339, ReportArgs};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const LINES: i64 = 100_000;
const HOUR_US: i64 = 3_600_000_000;

/// One access-log line as the gateway writes it.
fn line(n: i64, t0: i64) -> String {
    let route = [
        "api", "static", "auth", "search", "cart", "user", "admin", "img",
    ][n as usize % 8];
    let status = if n % 20 == 0 { 502 } else { 200 };
    format!(
        r#"{{"ts":"{}","shard":{},"id":"{n:032x}","client":"10.0.0.7:53422","method":"GET","host":"api.example.com","path":"/v1/{route}/items","query":"page=2","proto":"HTTP/1.1","status":{status},"bytes_in":512,"bytes_out":2048,"route":"{route}","upstream":"10.0.1.{}:8080","upstream_status":{status},"connect_us":null,"head_us":{},"total_us":{},"error":null,"consumer":null,"ua":"curl/8.0"}}"#,
        format_rfc3339(t0 + n * HOUR_US / LINES),
        n % 4,
        n % 3,
        900 + n % 1_000,
        1_000 + n % 5_000,
    )
}

fn write_log() -> PathBuf {
    let t0 = parse_rfc3339("2026-11-26T13:00:00Z").unwrap();
    let text: String = (0..LINES).map(|n| line(n, t0) + "\n").collect();
    let path = std::env::temp_dir().join(format!(
        "coregate-analytics-bench-{}.log",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn aggregate(c: &mut Criterion) {
    let path = write_log();
    let args = ReportArgs::new(vec![path.clone()]);
    let mut g = c.benchmark_group("analyze");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("100k_lines_8_routes", |b| {
        b.iter(|| analyze(&args).unwrap().summary.requests)
    });
    g.finish();
    let _ = std::fs::remove_file(path);
}

criterion_group!(benches, aggregate);
criterion_main!(benches);
