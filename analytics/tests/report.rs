//! `coregate report` over a generated access log with known traffic:
//! three routes over three minutes, known latencies, 404s without a route,
//! 502s from a backend, `upstream_connect` failures and malformed lines.
//!
//! | minute | api (2 ms, 1 in 50 at 80 ms) | static (0.5 ms)  | auth (10 ms)              | no route (404) |
//! |--------|------------------------------|------------------|---------------------------|----------------|
//! | 13:00  | 57                           | 30               | 12                        | 3              |
//! | 13:01  | 120                          | 30, 6 of them 502 | 12                       |                |
//! | 13:02  | 180                          | 30               | 12, 4 upstream_connect    |                |

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use analytics::{AnalyticsError, Dimension, Format, Report, ReportArgs, Row, When};

const T0: &str = "2026-11-26T13:00:00Z";
const MINUTE_US: i64 = 60_000_000;

/// One generated request.
struct Req {
    at: i64,
    route: Option<&'static str>,
    upstream: Option<&'static str>,
    status: u16,
    error: Option<&'static str>,
    total_us: u64,
}

fn traffic() -> Vec<Req> {
    let t0 = analytics::parse_rfc3339(T0).unwrap();
    let mut out = Vec::new();
    for minute in 0..3i64 {
        let start = t0 + minute * MINUTE_US;
        let api = 60 * (minute as usize + 1);
        for i in 0..api {
            let at = start + i as i64 * MINUTE_US / api as i64;
            let no_route = minute == 0 && i < 3;
            out.push(Req {
                at,
                route: (!no_route).then_some("api"),
                upstream: (!no_route).then_some("127.0.0.1:9000"),
                status: if no_route { 404 } else { 200 },
                error: None,
                total_us: match (no_route, i % 50) {
                    (true, _) => 300,
                    (false, 49) => 80_000,
                    _ => 2_000,
                },
            });
        }
        for i in 0..30 {
            out.push(Req {
                at: start + i * MINUTE_US / 30,
                route: Some("static"),
                upstream: Some("127.0.0.1:9001"),
                status: if minute == 1 && i < 6 { 502 } else { 200 },
                error: None,
                total_us: 500,
            });
        }
        for i in 0..12 {
            let failed = minute == 2 && i < 4;
            out.push(Req {
                at: start + i * MINUTE_US / 12,
                route: Some("auth"),
                upstream: Some("127.0.0.1:9002"),
                status: if failed { 502 } else { 200 },
                error: failed.then_some("upstream_connect"),
                total_us: 10_000,
            });
        }
    }
    out
}

fn json_str(v: Option<&str>) -> String {
    v.map_or("null".to_owned(), |s| format!("{s:?}"))
}

fn line(r: &Req, n: usize) -> String {
    let upstream_status = if r.error.is_some() || r.upstream.is_none() {
        "null".to_owned()
    } else {
        r.status.to_string()
    };
    format!(
        r#"{{"ts":"{}","shard":{},"id":"{n:032x}","client":"127.0.0.1:53422","method":"GET","host":"api.example.com","path":"/v1/x","query":"","proto":"HTTP/1.1","status":{},"bytes_in":512,"bytes_out":2048,"route":{},"upstream":{},"upstream_status":{upstream_status},"connect_us":null,"head_us":null,"total_us":{},"error":{},"consumer":null,"ua":"curl/8.0"}}"#,
        analytics::format_rfc3339(r.at),
        n % 2,
        r.status,
        json_str(r.route),
        json_str(r.upstream),
        r.total_us,
        json_str(r.error),
    )
}

const MALFORMED: [&str; 3] = [
    "not json at all",
    r#"{"ts":"2026-11-26T13:00:30Z","status":200,"route":"api""#,
    r#"{"ts":"yesterday","status":200}"#,
];

/// The log as lines, in the order the shards might have written them:
/// interleaved, not sorted, with malformed and blank lines mixed in.
fn log_lines() -> Vec<String> {
    let reqs = traffic();
    let mut lines: Vec<String> = reqs.iter().enumerate().map(|(n, r)| line(r, n)).collect();
    // A fixed permutation: stride through the lines.
    let len = lines.len();
    let stride = 97;
    assert_eq!(gcd(stride, len), 1);
    lines = (0..len).map(|i| lines[i * stride % len].clone()).collect();
    for (i, bad) in MALFORMED.iter().enumerate() {
        lines.insert(100 * (i + 1), (*bad).to_owned());
    }
    lines.insert(50, String::new());
    lines
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coregate-report-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_log(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn args(logs: Vec<PathBuf>) -> ReportArgs {
    let mut a = ReportArgs::new(logs);
    a.top = 3;
    a
}

/// `run` with the report written to a file, so tests print nothing.
fn run(mut a: ReportArgs, dir: &Path) -> Report {
    a.out.get_or_insert(dir.join("report.out"));
    analytics::run(&a).unwrap()
}

fn key_row<'r>(r: &'r Report, bucket: usize, key: &str) -> &'r Row {
    let b = &r.buckets[bucket];
    &b.keys.iter().find(|k| k.key == key).unwrap().row
}

/// The band of nearest-rank quantiles `value_at_quantile` may land in,
/// widened by the histograms' 1% precision.
fn assert_quantile(got: Option<u64>, mut values: Vec<u64>, q: f64) {
    values.sort_unstable();
    let n = values.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    let lo = values[rank.saturating_sub(2)] as f64 * 0.99;
    let hi = values[rank.min(n - 1)] as f64 * 1.01;
    let got = got.unwrap() as f64;
    assert!(lo <= got && got <= hi, "q{q}: {got} not in [{lo}, {hi}]");
}

fn latencies(pred: impl Fn(&Req) -> bool) -> Vec<u64> {
    traffic()
        .iter()
        .filter(|r| pred(r))
        .map(|r| r.total_us)
        .collect()
}

fn minute_of(r: &Req, m: i64) -> bool {
    let t0 = analytics::parse_rfc3339(T0).unwrap();
    (r.at - t0) / MINUTE_US == m
}

#[test]
fn counts_rates_and_errors_per_minute() {
    let dir = temp_dir("counts");
    let log = write_log(&dir, "access.log", &log_lines());
    let r = run(args(vec![log]), &dir);

    assert_eq!(r.keys, ["api", "static", "auth"]);
    assert_eq!(r.bucket_seconds, 60.0);
    let starts: Vec<&str> = r.buckets.iter().map(|b| b.start.as_str()).collect();
    assert_eq!(
        starts,
        [
            "2026-11-26T13:00:00Z",
            "2026-11-26T13:01:00Z",
            "2026-11-26T13:02:00Z"
        ]
    );
    let totals: Vec<(u64, u64)> = r
        .buckets
        .iter()
        .map(|b| (b.total.requests, b.total.errors))
        .collect();
    assert_eq!(totals, [(102, 0), (162, 6), (222, 4)]);
    let api: Vec<u64> = (0..3).map(|b| key_row(&r, b, "api").requests).collect();
    assert_eq!(api, [57, 120, 180]);
    assert_eq!(key_row(&r, 0, "api").rate, 57.0 / 60.0);
    assert_eq!(key_row(&r, 2, "api").rate, 3.0);
    assert_eq!(r.buckets[1].total.rate, 162.0 / 60.0);
    assert_eq!(r.buckets[1].total.error_rate, 6.0 / 162.0);
    assert_eq!(key_row(&r, 1, "static").error_rate, 0.2);
    assert_eq!(key_row(&r, 2, "auth").errors, 4);
    assert_eq!(key_row(&r, 0, "static").errors, 0);

    let s = &r.summary;
    assert_eq!(
        (s.lines, s.malformed, s.requests, s.errors),
        (489, 3, 486, 10)
    );
    assert_eq!(s.error_rate, 10.0 / 486.0);
    assert_eq!(s.first.as_deref(), Some(T0));
    assert_eq!(s.last.as_deref(), Some("2026-11-26T13:02:59.666666Z"));
    assert_eq!(s.distinct_keys, 4);
    assert!(
        s.first_malformed
            .as_deref()
            .unwrap()
            .ends_with("access.log:102"),
        "{s:?}"
    );
}

#[test]
fn latency_percentiles_match_the_generated_values() {
    let dir = temp_dir("latency");
    let log = write_log(&dir, "access.log", &log_lines());
    let r = run(args(vec![log]), &dir);
    for m in 0..3 {
        let api = key_row(&r, m as usize, "api");
        // 1 in 50 api requests is slow: p99 is the slow value, p50 the fast.
        assert_quantile(api.p50_us, vec![2_000], 0.5);
        assert_quantile(api.p99_us, vec![80_000], 0.5);
        let all = latencies(|q| minute_of(q, m));
        let total = &r.buckets[m as usize].total;
        assert_quantile(total.p50_us, all.clone(), 0.5);
        assert_quantile(total.p99_us, all, 0.99);
    }
    assert_quantile(key_row(&r, 1, "static").p99_us, vec![500], 0.99);
    assert_quantile(r.summary.p99_us, latencies(|_| true), 0.99);
    assert_quantile(r.summary.p50_us, latencies(|_| true), 0.5);
}

#[test]
fn top_errors_are_ordered_by_count_with_first_and_last_seen() {
    let dir = temp_dir("errors");
    let log = write_log(&dir, "access.log", &log_lines());
    let r = run(args(vec![log]), &dir);
    let rows: Vec<(&str, &str, u64)> = r
        .top_errors
        .iter()
        .map(|e| (e.error.as_str(), e.key.as_str(), e.count))
        .collect();
    assert_eq!(
        rows,
        [("502", "static", 6), ("upstream_connect", "auth", 4)]
    );
    let e = &r.top_errors[0];
    assert_eq!(e.first_seen, "2026-11-26T13:01:00Z");
    assert_eq!(e.last_seen, "2026-11-26T13:01:10Z");
    assert_eq!(r.top_errors[1].last_seen, "2026-11-26T13:02:15Z");
}

#[test]
fn since_filters_by_time_and_rates_use_the_covered_seconds() {
    let dir = temp_dir("since");
    let log = write_log(&dir, "access.log", &log_lines());
    let mut a = args(vec![log.clone()]);
    a.since = When::parse("2026-11-26T13:01:30Z");
    a.until = When::parse("2026-11-26T13:02:00Z");
    let r = run(a, &dir);
    assert_eq!(r.buckets.len(), 1);
    let b = &r.buckets[0];
    assert_eq!(b.seconds, 30.0);
    // api: 2 a second; static: one every 2 s, the 502s all before 13:01:12.
    assert_eq!(key_row(&r, 0, "api").requests, 60);
    assert_eq!(key_row(&r, 0, "api").rate, 2.0);
    assert_eq!((b.total.requests, b.total.errors), (60 + 15 + 6, 0));
    assert_eq!(r.summary.outside_window, 486 - 81);
    assert!(r.top_errors.is_empty());

    // Relative: one minute before the newest line (13:02:59.67) is
    // 13:01:59.67, moved up to the next bucket: the last minute, whole.
    let mut a = args(vec![log.clone()]);
    a.since = When::parse("1m");
    let r = run(a, &dir);
    assert_eq!(r.summary.since.as_deref(), Some("2026-11-26T13:02:00Z"));
    assert_eq!(r.buckets.len(), 1);
    assert_eq!(r.buckets[0].total.requests, 222);
    assert_eq!(r.buckets[0].seconds, 60.0);
    assert_eq!(r.top_errors.len(), 1);

    // Relative times move inward to 30s boundaries: since 13:00:29.67 up
    // to 13:00:30, until 13:01:59.67 down to 13:01:30.
    let mut a = args(vec![log]);
    a.since = When::parse("150s");
    a.until = When::parse("1m");
    a.bucket = Duration::from_secs(30);
    let r = run(a, &dir);
    let s = &r.summary;
    let window = (s.since.as_deref(), s.until.as_deref());
    assert_eq!(
        window,
        (Some("2026-11-26T13:00:30Z"), Some("2026-11-26T13:01:30Z"))
    );
    let totals: Vec<(u64, u64)> = r
        .buckets
        .iter()
        .map(|b| (b.total.requests, b.total.errors))
        .collect();
    assert_eq!(totals, [(30 + 15 + 6, 0), (60 + 15 + 6, 6)]);
    assert!(r.buckets.iter().all(|b| b.seconds == 30.0));
}

#[test]
fn by_status_and_by_upstream() {
    let dir = temp_dir("by");
    let log = write_log(&dir, "access.log", &log_lines());
    let mut a = args(vec![log.clone()]);
    a.by = Dimension::Status;
    let r = run(a, &dir);
    assert_eq!(r.by, "status");
    assert_eq!(r.keys, ["200", "502", "404"]);
    let per_key: Vec<u64> = (0..3)
        .map(|k| r.buckets.iter().map(|b| b.keys[k].row.requests).sum())
        .collect();
    assert_eq!(per_key, [473, 10, 3]);
    let rows: Vec<(&str, &str)> = r
        .top_errors
        .iter()
        .map(|e| (e.error.as_str(), e.key.as_str()))
        .collect();
    assert_eq!(rows, [("502", "502"), ("upstream_connect", "502")]);

    let mut a = args(vec![log]);
    a.by = Dimension::Upstream;
    a.top = 10;
    let r = run(a, &dir);
    assert_eq!(
        r.keys,
        ["127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9002", "-"]
    );
    assert_eq!(key_row(&r, 0, "-").requests, 3);
    assert_eq!(key_row(&r, 1, "-").requests, 0);
    assert_eq!(key_row(&r, 1, "-").p99_us, None);
}

#[test]
fn several_files_add_up_like_one() {
    let dir = temp_dir("files");
    let lines = log_lines();
    let (a, b) = lines.split_at(lines.len() / 3);
    let one = run(args(vec![write_log(&dir, "all.log", &lines)]), &dir);
    let two = run(
        args(vec![
            write_log(&dir, "a.log", a),
            write_log(&dir, "b.log", b),
        ]),
        &dir,
    );
    assert_eq!(two.summary.files, 2);
    assert_eq!(two.summary.requests, one.summary.requests);
    assert_eq!(two.top_errors, one.top_errors);
    for (x, y) in one.buckets.iter().zip(&two.buckets) {
        assert_eq!(x.total, y.total);
    }
}

#[test]
fn markdown_json_and_svg_outputs() {
    let dir = temp_dir("outputs");
    let log = write_log(&dir, "access.log", &log_lines());
    let mut a = args(vec![log.clone()]);
    let md_path = dir.join("report.md");
    let svg_path = dir.join("report.svg");
    a.out = Some(md_path.clone());
    a.svg = Some(svg_path.clone());
    run(a, &dir);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("| time (UTC) | route | req/s |"), "{md}");
    assert!(
        md.contains("| 2026-11-26T13:01:00Z | **total** | 2.70 | 162 | 6 | 3.70% |"),
        "{md}"
    );
    assert!(
        md.contains("|  | static | 0.50 | 30 | 6 | 20.00% | 0.50 | 0.50 |"),
        "{md}"
    );
    assert!(
        md.contains("| 502 | static | 6 | 2026-11-26T13:01:00Z | 2026-11-26T13:01:10Z |"),
        "{md}"
    );
    assert!(md.contains("skipped 3 malformed lines"), "{md}");
    assert!(md.contains("489 lines read from 1 file"), "{md}");

    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<path").count(),
        2 * 4,
        "total + 3 keys, 2 panels"
    );
    for name in [
        "api",
        "static",
        "auth",
        "Requests per second",
        "p99 latency",
    ] {
        assert!(svg.contains(name), "{name}");
    }

    let mut a = args(vec![log]);
    a.format = Format::Json;
    let json_path = dir.join("report.json");
    a.out = Some(json_path.clone());
    run(a, &dir);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(v["buckets"].as_array().unwrap().len(), 3);
    assert_eq!(v["buckets"][1]["total"]["requests"], 162);
    assert_eq!(v["buckets"][1]["keys"][1]["key"], "static");
    assert_eq!(v["buckets"][1]["keys"][1]["errors"], 6);
    assert_eq!(v["top_errors"][1]["error"], "upstream_connect");
    assert_eq!(v["summary"]["requests"], 486);
    assert_eq!(v["summary"]["malformed"], 3);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = temp_dir("bad");
    let missing = args(vec![dir.join("nope.log")]);
    let e = analytics::run(&missing).unwrap_err();
    assert!(matches!(e, AnalyticsError::Read { .. }), "{e}");

    // Binary junk and an empty file: all malformed or nothing, no panic.
    let junk = dir.join("junk.log");
    std::fs::write(&junk, b"\xff\xfe\x00{\n\n{\"ts\":1}\n[]\n").unwrap();
    let empty = write_log(&dir, "empty.log", &[]);
    let r = run(args(vec![junk, empty]), &dir);
    assert_eq!(
        (r.summary.lines, r.summary.malformed, r.summary.requests),
        (3, 3, 0)
    );
    assert!(r.buckets.is_empty());

    // One bucket per second over 10,001 seconds outgrows the cell bound.
    let t0 = analytics::parse_rfc3339(T0).unwrap();
    let many: Vec<String> = (0..10_001)
        .map(|i| {
            let r = Req {
                at: t0 + i * 1_000_000,
                route: Some("api"),
                upstream: None,
                status: 200,
                error: None,
                total_us: 1,
            };
            line(&r, i as usize)
        })
        .collect();
    let mut a = args(vec![write_log(&dir, "many.log", &many)]);
    a.bucket = Duration::from_secs(1);
    let e = analytics::run(&a).unwrap_err();
    assert!(matches!(e, AnalyticsError::TooManyCells { .. }), "{e}");
    a.bucket = Duration::from_secs(60);
    assert_eq!(run(a, &dir).summary.requests, 10_001);
}

/// The Markdown and JSON of [`log_lines`] as written before AI usage was
/// reported: a log without AI calls must still report byte for byte the
/// same Markdown, and the same JSON once the additive `ai` objects are
/// taken out. `BLESS_GOLDEN=1` rewrites the files.
#[test]
fn non_ai_reports_match_the_golden_files() {
    let dir = temp_dir("golden");
    let log = write_log(&dir, "access.log", &log_lines());
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("BLESS_GOLDEN").is_some();
    for (format, name) in [
        (Format::Markdown, "report.md"),
        (Format::Json, "report.json"),
    ] {
        let mut a = args(vec![log.clone()]);
        a.format = format;
        a.out = Some(dir.join(name));
        run(a, &dir);
        let got = std::fs::read_to_string(dir.join(name))
            .unwrap()
            .replace(&format!("{}/", dir.display()), "");
        if bless {
            std::fs::write(golden.join(name), &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(golden.join(name)).unwrap();
        if format == Format::Markdown {
            assert_eq!(got, want);
            continue;
        }
        let mut got: serde_json::Value = serde_json::from_str(&got).unwrap();
        strip_ai(&mut got);
        let want: serde_json::Value = serde_json::from_str(&want).unwrap();
        assert_eq!(got, want);
    }
}

/// Removes every `ai` member, to compare with JSON written before it.
fn strip_ai(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("ai");
            map.values_mut().for_each(strip_ai);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_ai),
        _ => {}
    }
}
