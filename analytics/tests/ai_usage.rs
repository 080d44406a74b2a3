//! AI usage in `coregate report`: tokens, cost and failovers summed per
//! bucket and per app, team, provider and model, over a small log written
//! in the gateway's shape.
//!
//! | time     | app    | team   | provider | model | in   | out | cached | reasoning | cost µ$ | first token | failovers |
//! |----------|--------|--------|----------|-------|------|-----|--------|-----------|---------|-------------|-----------|
//! | 13:00:05 | mobile | shop   | claude   | smart | 100  | 40  | 10     | 0         | 1000    | 5 ms        |           |
//! | 13:00:20 | web    | search | openai   | fast  | 200  | 80  | 0      | 5         | 2500    | 3 ms        | 1         |
//! | 13:00:30 | tablet | shop   | claude   | smart | 1000 | 400 | 0      | 100       | 20000   | 8 ms        |           |
//! | 13:00:40 | mobile | shop   | openai   | fast  | 50   | 20  | 0      | 0         | 300     | 2 ms        |           |
//! | 13:00:50 | mobile | shop   | (not an AI call)                                                                    |
//! | 13:01:10 | web    | search | claude   | smart | 300  | 120 | 30     | 10        | 4000    | 6 ms        |           |
//! | 13:01:30 | mobile | shop   | claude   | smart | 10   | 5   | 0      | 0         | 150     | null        | 2         |
//! | 13:01:45 | null   | null   | null     | smart | 0    | 0   | 0      | 0         | 0       | null        | 1         |
//! | 13:01:50 | null   | null   | (not an AI call)                                                                    |

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use analytics::{AiRow, Dimension, Format, Report, ReportArgs};

/// One generated AI call.
struct Call {
    provider: Option<&'static str>,
    model: &'static str,
    tokens: [u64; 4],
    cost: u64,
    first_token_us: Option<u64>,
    failovers: &'static [&'static str],
}

/// One generated request: at `13:MM:SS`, by an app of a team.
struct Req {
    at: &'static str,
    app: Option<(&'static str, &'static str)>,
    ai: Option<Call>,
}

const fn call(
    provider: &'static str,
    model: &'static str,
    tokens: [u64; 4],
    cost: u64,
    first_token_us: Option<u64>,
    failovers: &'static [&'static str],
) -> Option<Call> {
    Some(Call {
        provider: Some(provider),
        model,
        tokens,
        cost,
        first_token_us,
        failovers,
    })
}

fn traffic() -> Vec<Req> {
    let (mobile, web, tablet) = (
        Some(("mobile", "shop")),
        Some(("web", "search")),
        Some(("tablet", "shop")),
    );
    vec![
        Req {
            at: "00:05",
            app: mobile,
            ai: call("claude", "smart", [100, 40, 10, 0], 1000, Some(5000), &[]),
        },
        Req {
            at: "00:20",
            app: web,
            ai: call(
                "openai",
                "fast",
                [200, 80, 0, 5],
                2500,
                Some(3000),
                &["claude/main:429"],
            ),
        },
        Req {
            at: "00:30",
            app: tablet,
            ai: call(
                "claude",
                "smart",
                [1000, 400, 0, 100],
                20_000,
                Some(8000),
                &[],
            ),
        },
        Req {
            at: "00:40",
            app: mobile,
            ai: call("openai", "fast", [50, 20, 0, 0], 300, Some(2000), &[]),
        },
        Req {
            at: "00:50",
            app: mobile,
            ai: None,
        },
        Req {
            at: "01:10",
            app: web,
            ai: call("claude", "smart", [300, 120, 30, 10], 4000, Some(6000), &[]),
        },
        Req {
            at: "01:30",
            app: mobile,
            ai: call(
                "claude",
                "smart",
                [10, 5, 0, 0],
                150,
                None,
                &["openai/main:500", "openai/backup:429"],
            ),
        },
        Req {
            at: "01:45",
            app: None,
            ai: Some(Call {
                provider: None,
                model: "smart",
                tokens: [0; 4],
                cost: 0,
                first_token_us: None,
                failovers: &["claude/main:529"],
            }),
        },
        Req {
            at: "01:50",
            app: None,
            ai: None,
        },
    ]
}

fn json_str(v: Option<&str>) -> String {
    v.map_or("null".to_owned(), |s| format!("{s:?}"))
}

/// A line as the gateway writes it, prompt and answer included on AI calls.
fn line(r: &Req) -> String {
    let ai = r.ai.as_ref().map_or_else(String::new, |c| {
        let [tin, tout, cached, reasoning] = c.tokens;
        let failovers: Vec<String> = c.failovers.iter().map(|f| format!("{f:?}")).collect();
        format!(
            r#","ai":{{"provider":{},"model":"{}","key":"main","stream":true,"tokens_in":{tin},"tokens_out":{tout},"tokens_cached":{cached},"tokens_reasoning":{reasoning},"cost_microusd":{},"first_token_us":{},"failovers":[{}],"prompt":"what is \"2\" + 2?","answer":"4"}}"#,
            json_str(c.provider),
            c.model,
            c.cost,
            c.first_token_us.map_or("null".to_owned(), |t| t.to_string()),
            failovers.join(","),
        )
    });
    let route = if r.ai.is_some() { "chat" } else { "api" };
    format!(
        r#"{{"ts":"2026-11-26T13:{}Z","shard":0,"id":"5f0c","client":"127.0.0.1:53422","method":"POST","host":"api.example.com","path":"/v1/chat/completions","query":"","proto":"HTTP/1.1","status":200,"bytes_in":512,"bytes_out":2048,"route":"{route}","upstream":null,"upstream_status":null,"connect_us":null,"head_us":null,"total_us":9000,"error":null,"consumer":{},"team":{},"rate_limit":null{ai},"ua":"curl/8.0","tls":null,"tls_resumed":null,"sni":null}}"#,
        r.at,
        json_str(r.app.map(|a| a.0)),
        json_str(r.app.map(|a| a.1)),
    )
}

fn write_log(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("coregate-ai-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = traffic().iter().map(line).collect();
    let path = dir.join("access.log");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (dir, path)
}

fn report(by: Dimension, name: &str) -> Report {
    let (dir, log) = write_log(name);
    let mut a = ReportArgs::new(vec![log]);
    a.by = by;
    a.top = 10;
    a.out = Some(dir.join("report.md"));
    analytics::run(&a).unwrap()
}

/// The sums of a row: calls, tokens in, out, cached, reasoning, cost,
/// failovers.
fn sums(a: &AiRow) -> [u64; 7] {
    [
        a.calls,
        a.tokens_in,
        a.tokens_out,
        a.tokens_cached,
        a.tokens_reasoning,
        a.cost_microusd,
        a.failovers,
    ]
}

/// A key's sums over every bucket.
fn per_key(r: &Report) -> Vec<(String, [u64; 7])> {
    r.keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut total = [0; 7];
            for b in &r.buckets {
                assert_eq!(&b.keys[i].key, key);
                for (t, n) in total.iter_mut().zip(sums(&b.keys[i].row.ai)) {
                    *t += n;
                }
            }
            (key.clone(), total)
        })
        .collect()
}

fn named(rows: &[(&str, [u64; 7])]) -> Vec<(String, [u64; 7])> {
    rows.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
}

const ALL: [u64; 7] = [7, 1660, 665, 40, 115, 27_950, 3];

#[test]
fn sums_per_app() {
    let r = report(Dimension::App, "app");
    assert_eq!(r.by, "app");
    // Ranked by requests: mobile has a non-AI request too.
    assert_eq!(
        per_key(&r),
        named(&[
            ("mobile", [3, 160, 65, 10, 0, 1450, 1]),
            ("-", [1, 0, 0, 0, 0, 0, 1]),
            ("web", [2, 500, 200, 30, 15, 6500, 1]),
            ("tablet", [1, 1000, 400, 0, 100, 20_000, 0]),
        ])
    );
    let mobile: Vec<[u64; 7]> = r.buckets.iter().map(|b| sums(&b.keys[0].row.ai)).collect();
    assert_eq!(
        mobile,
        [[2, 150, 60, 10, 0, 1300, 0], [1, 10, 5, 0, 0, 150, 1]]
    );
    assert_eq!(r.buckets[0].keys[0].row.requests, 3);
    assert_eq!(sums(&r.summary.ai), ALL);
}

#[test]
fn sums_per_team() {
    let r = report(Dimension::Team, "team");
    assert_eq!(
        per_key(&r),
        named(&[
            ("shop", [4, 1160, 465, 10, 100, 21_450, 1]),
            ("-", [1, 0, 0, 0, 0, 0, 1]),
            ("search", [2, 500, 200, 30, 15, 6500, 1]),
        ])
    );
}

#[test]
fn sums_per_provider_and_model() {
    let r = report(Dimension::Provider, "provider");
    assert_eq!(
        per_key(&r),
        named(&[
            ("claude", [4, 1410, 565, 40, 110, 25_150, 1]),
            // Two requests that were not AI calls, one call no one answered.
            ("-", [1, 0, 0, 0, 0, 0, 1]),
            ("openai", [2, 250, 100, 0, 5, 2800, 1]),
        ])
    );
    let requests: Vec<u64> = (0..3)
        .map(|k| r.buckets.iter().map(|b| b.keys[k].row.requests).sum())
        .collect();
    assert_eq!(requests, [4, 3, 2]);

    let r = report(Dimension::Model, "model");
    assert_eq!(
        per_key(&r),
        named(&[
            ("smart", [5, 1410, 565, 40, 110, 25_150, 2]),
            ("-", [0; 7]),
            ("fast", [2, 250, 100, 0, 5, 2800, 1]),
        ])
    );
}

#[test]
fn sums_per_bucket_and_first_token_times() {
    let r = report(Dimension::Route, "bucket");
    let totals: Vec<[u64; 7]> = r.buckets.iter().map(|b| sums(&b.total.ai)).collect();
    assert_eq!(
        totals,
        [
            [4, 1350, 540, 10, 105, 23_800, 1],
            [3, 310, 125, 30, 10, 4150, 2]
        ]
    );
    // Lines without `ai` add nothing.
    assert_eq!(r.keys, ["chat", "api"]);
    assert_eq!(r.buckets[0].keys[1].row.ai, AiRow::default());
    assert_eq!(r.buckets[0].keys[1].row.requests, 1);

    // 1% precision, never under-stated.
    let near = |got: Option<u64>, want: u64| {
        let got = got.unwrap();
        assert!(
            want <= got && got as f64 <= want as f64 * 1.01,
            "{got} vs {want}"
        );
    };
    let first = &r.buckets[0].total.ai;
    near(first.first_token_p50_us, 3000);
    near(first.first_token_p99_us, 8000);
    // Only one call of the second minute had a first token.
    let second = &r.buckets[1].total.ai;
    near(second.first_token_p50_us, 6000);
    near(second.first_token_p99_us, 6000);
    near(r.summary.ai.first_token_p50_us, 5000);
    near(r.summary.ai.first_token_p99_us, 8000);
}

#[test]
fn markdown_and_json_show_ai_usage() {
    let (dir, log) = write_log("outputs");
    let mut a = ReportArgs::new(vec![log.clone()]);
    a.by = Dimension::Team;
    let md_path = dir.join("report.md");
    a.out = Some(md_path.clone());
    analytics::run(&a).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    for want in [
        "## AI usage by team, 1m buckets\n",
        "| time (UTC) | team | AI calls | tokens in | tokens out | cached | reasoning | cost | failovers | first token p50 ms | first token p99 ms |",
        "| 2026-11-26T13:00:00Z | **total** | 4 | 1350 | 540 | 10 | 105 | $0.0238 | 1 |",
        "|  | shop | 3 | 1150 | 460 | 10 | 100 | $0.0213 | 0 |",
        "|  | search | 1 | 200 | 80 | 0 | 5 | $0.0025 | 1 | 3.01 | 3.01 |",
        "| 2026-11-26T13:01:00Z | **total** | 3 | 310 | 125 | 30 | 10 | $0.00415 | 2 | 6.01 | 6.01 |",
        "|  | - | 1 | 0 | 0 | 0 | 0 | $0.0000 | 1 | - | - |",
        "; 7 AI calls: 1660 tokens in (40 cached), 665 out (115 reasoning), cost $0.02795, 3 failed over, first token p50 5.02 ms, p99 8.03 ms.",
    ] {
        assert!(md.contains(want), "{want}\n{md}");
    }
    // The traffic table is the one non-AI reports have.
    assert!(md.contains("| time (UTC) | team | req/s | requests | errors |"));
    assert!(!md.contains("prompt") && !md.contains("2\" + 2"));

    a.format = Format::Json;
    let json_path = dir.join("report.json");
    a.out = Some(json_path.clone());
    analytics::run(&a).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let ai = &v["summary"]["ai"];
    assert_eq!(ai["calls"], 7);
    assert_eq!(ai["cost_microusd"], 27_950);
    assert_eq!(ai["tokens_reasoning"], 115);
    let b1 = &v["buckets"][1];
    assert_eq!(b1["total"]["ai"]["failovers"], 2);
    assert_eq!(b1["total"]["requests"], 4);
    assert_eq!(b1["keys"][0]["key"], "shop");
    assert_eq!(b1["keys"][0]["ai"]["tokens_in"], 10);
    assert_eq!(
        b1["keys"][0]["ai"]["first_token_p50_us"],
        serde_json::Value::Null
    );
    assert_eq!(b1["keys"][2]["key"], "search");
    assert_eq!(b1["keys"][2]["ai"]["cost_microusd"], 4000);
}

#[test]
fn ai_sums_saturate_instead_of_wrapping() {
    let (dir, _) = write_log("saturate");
    let big = u64::MAX - 1;
    let line = |at: &str| {
        format!(
            r#"{{"ts":"2026-11-26T13:{at}Z","status":200,"ai":{{"model":"m","tokens_in":{big},"cost_microusd":{big},"failovers":null}}}}"#
        )
    };
    let path = dir.join("big.log");
    std::fs::write(&path, format!("{}\n{}\n", line("00:01"), line("00:02"))).unwrap();
    let mut a = ReportArgs::new(vec![path]);
    a.out = Some(dir.join("big.md"));
    let r = analytics::run(&a).unwrap();
    assert_eq!(r.summary.ai.calls, 2);
    assert_eq!(r.summary.ai.tokens_in, u64::MAX);
    assert_eq!(r.summary.ai.cost_microusd, u64::MAX);
    assert_eq!(r.summary.ai.failovers, 0);
    assert!(Path::new(&dir.join("big.md")).exists());
}
