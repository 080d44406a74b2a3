//! `coregate report` end to end: the binary's subcommand over a file and
//! over stdin. The numbers themselves (rates, percentiles, top errors) are
//! tested in the analytics crate (`analytics/tests/report.rs`); here a small
//! log checks the wiring: flags, output, stderr notes and exit status.
//!
//! | minute | api | static | auth | no route (404) |
//! |--------|-----|--------|------|----------------|
//! | 13:00  | 10  | 5      | 2    | 1              |
//! | 13:01  | 20  | 5      | 2    |                |
//! | 13:02  | 30  | 5      | 2    |                |

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const T0: &str = "2026-11-26T13:00:00Z";
const MINUTE_US: i64 = 60_000_000;

/// One access-log line in the shape the gateway writes.
fn line(at: i64, route: Option<&str>, status: u16) -> String {
    let route = route.map_or("null".to_owned(), |r| format!("{r:?}"));
    format!(
        r#"{{"ts":"{}","shard":0,"id":"0","client":"127.0.0.1:53422","method":"GET","host":"h","path":"/","query":"","proto":"HTTP/1.1","status":{status},"bytes_in":1,"bytes_out":1,"route":{route},"upstream":null,"upstream_status":null,"connect_us":null,"head_us":null,"total_us":1000,"error":null,"consumer":null,"ua":null}}"#,
        analytics::format_rfc3339(at),
    )
}

/// The table above, then three malformed lines.
fn log_lines() -> Vec<String> {
    let t0 = analytics::parse_rfc3339(T0).unwrap();
    let mut out = vec![line(t0, None, 404)];
    for minute in 0..3 {
        let start = t0 + minute * MINUTE_US;
        for (route, n) in [("api", 10 * (minute + 1)), ("static", 5), ("auth", 2)] {
            out.extend((0..n).map(|i| line(start + i * MINUTE_US / n, Some(route), 200)));
        }
    }
    out.extend(["not json", "{\"ts\":\"yesterday\"}", "{\"status\":200"].map(String::from));
    out
}

/// The log in a folder of its own per test (tests run in parallel).
fn write_log(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coregate-report-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    std::fs::write(&path, log_lines().join("\n") + "\n").unwrap();
    path
}

fn report(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coregate"))
        .arg("report")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut pipe, stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn report_over_a_file_notes_malformed_lines_on_stderr() {
    let log = write_log("file");
    let path = log.to_str().unwrap();
    let out = report(&["--format", "json", "--since", "2m", path], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Newest line 13:02:58; 2m before it rounds up to 13:01:00.
    assert_eq!(v["summary"]["requests"], 27 + 37);
    assert!(
        stderr(&out).contains("skipped 3 malformed lines"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn report_over_stdin() {
    let text = std::fs::read(write_log("stdin")).unwrap();
    let out = report(&["-", "--top", "1"], Some(&text));
    assert!(out.status.success(), "{}", stderr(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("## Traffic by route, 1m buckets (top 1 of 4)"),
        "{md}"
    );

    // Refused before stdin is read, so none is sent.
    let out = report(&["-", "--since", "1h"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not stdin"), "{}", stderr(&out));
}
