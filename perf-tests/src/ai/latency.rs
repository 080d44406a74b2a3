//! The concurrency-1 scenarios: `openai-c1`, `anthropic-c1` (whole answers)
//! and `stream-ttft` (time to the first content frame), each straight to the
//! mock, through coregate's AI route, and (the control) the direct request
//! byte for byte through a plain proxy route of coregate, in interleaved
//! rounds; the headlines are the added p99 and the AI overhead (AI route
//! less plain proxy). Measured on the 2-core VM: see results/*-ai.md.

use std::net::SocketAddr;

use crate::ai::client::{self, Budget, Until};
use crate::ai::http::{Api, Call};
use crate::ai::measure::{verdict, Percentiles};
use crate::ai::procs::{self, Gateway, MockShape, ANTHROPIC_KEY, OPENAI_KEY};
use crate::ai::{Ctx, Section};

/// Rounds each side is split into (direct, coregate, direct, coregate...).
const ROUNDS: u64 = 2;

/// Path prefix of coregate's plain proxy route to the mock (`strip_prefix`).
const PLAIN: &str = "/plain";

/// One comparison: the same exchange straight to the mock and through
/// coregate's AI route (the plain proxy row sends `direct` under [`PLAIN`]).
struct Pair<'a> {
    label: &'a str,
    direct: Call<'a>,
    through: Call<'a>,
}

/// The percentiles of the four rows of a pair.
struct Rows {
    direct: Percentiles,
    through: Percentiles,
    plain: Percentiles,
    cross: Percentiles,
}

fn openai_key() -> Vec<String> {
    vec![format!("authorization: Bearer {OPENAI_KEY}")]
}

fn anthropic_keys() -> Vec<String> {
    vec![
        format!("x-api-key: {ANTHROPIC_KEY}"),
        "anthropic-version: 2023-06-01".to_owned(),
    ]
}

/// `openai-c1`: non-streamed OpenAI chat, direct vs `openai/m` through coregate.
pub fn openai_c1(ctx: &Ctx) -> Result<Section, String> {
    let key = openai_key();
    let pair = Pair {
        label: "OpenAI chat",
        direct: call(Api::OpenAi, "", "m", false, &key),
        through: call(Api::OpenAi, "/ai", "openai/m", false, &[]),
    };
    one_pair(ctx, "openai-c1", &[pair], Until::Complete, 100.0)
}

/// `anthropic-c1`: Anthropic Messages direct vs `claude/m` (translated) through coregate.
pub fn anthropic_c1(ctx: &Ctx) -> Result<Section, String> {
    let keys = anthropic_keys();
    let pair = Pair {
        label: "Anthropic messages",
        direct: call(Api::Anthropic, "", "m", false, &keys),
        through: call(Api::OpenAi, "/ai", "claude/m", false, &[]),
    };
    one_pair(ctx, "anthropic-c1", &[pair], Until::Complete, 150.0)
}

/// `stream-ttft`: streamed, time to the first content frame, both providers.
pub fn stream_ttft(ctx: &Ctx) -> Result<Section, String> {
    let (okey, akeys) = (openai_key(), anthropic_keys());
    let pairs = [
        Pair {
            label: "OpenAI stream",
            direct: call(Api::OpenAi, "", "m", true, &okey),
            through: call(Api::OpenAi, "/ai", "openai/m", true, &[]),
        },
        Pair {
            label: "Anthropic stream",
            direct: call(Api::Anthropic, "", "m", true, &akeys),
            through: call(Api::OpenAi, "/ai", "claude/m", true, &[]),
        },
    ];
    one_pair(ctx, "stream-ttft", &pairs, Until::FirstContent, 200.0)
}

fn call<'a>(
    api: Api,
    prefix: &'a str,
    model: &'a str,
    stream: bool,
    headers: &'a [String],
) -> Call<'a> {
    Call {
        api,
        prefix,
        model,
        stream,
        headers,
    }
}

/// Starts a mock and a coregate, measures every pair, writes the section.
fn one_pair(
    ctx: &Ctx,
    name: &str,
    pairs: &[Pair<'_>],
    until: Until,
    goal: f64,
) -> Result<Section, String> {
    let shape = MockShape {
        words: 8,
        frame_delay_ms: 0,
    };
    let dir = ctx.dir(name)?;
    let mock = procs::start_mock(&ctx.bins, &dir, shape)?;
    let gw = procs::start_gateway(
        &ctx.bins,
        &dir,
        &Gateway {
            shards: 1,
            ..Gateway::default()
        },
        &[mock.addr],
    );
    let result = gw.and_then(|gw| {
        let out = measure_pairs(ctx, name, pairs, until, goal, mock.addr, gw.addr);
        gw.proc.stop();
        out
    });
    mock.proc.stop();
    result
}

fn measure_pairs(
    ctx: &Ctx,
    name: &str,
    pairs: &[Pair<'_>],
    until: Until,
    goal: f64,
    mock: SocketAddr,
    gw: SocketAddr,
) -> Result<Section, String> {
    let what = match until {
        Until::Complete => "whole answer",
        Until::FirstContent => "first content frame",
    };
    let mut md = format!(
        "Concurrency 1, one keep-alive connection, timed to the {what}; mock (8 words) and load on CPU {}, coregate 1 shard on CPU {}, access log off; {} rounds interleaved.\n\n\
         | exchange | path | requests | p50 µs | p99 µs | p99.9 µs |\n|---|---|---|---|---|---|\n",
        procs::LOAD_CPU,
        procs::PROXY_CPU,
        ROUNDS
    );
    let mut summary = Vec::new();
    let mut control = Vec::new();
    for pair in pairs {
        let r = measure_pair(ctx, pair, until, mock, gw)?;
        let added = r.through.p99 - r.direct.p99;
        let rows = [
            ("direct to mock", &r.direct),
            ("through coregate", &r.through),
            ("through coregate, plain proxy route (no AI)", &r.plain),
        ];
        for (path, p) in rows {
            md.push_str(&format!("| {} | {path} | {} |\n", pair.label, p.cells()));
        }
        md.push_str(&format!(
            "| {} | direct, client on CPU {} (reference) | {} |\n",
            pair.label,
            procs::PROXY_CPU,
            r.cross.cells()
        ));
        let (ai99, ai50) = (r.through.p99 - r.plain.p99, r.through.p50 - r.plain.p50);
        summary.push(format!(
            "{}: added p99 {added:.1} µs {}; AI overhead p99 {ai99:.1} µs, p50 {ai50:.1} µs (AI route − plain proxy)",
            pair.label,
            verdict(added, goal, "µs")
        ));
        let share = if ai99 < 0.0 {
            "below the plain route's p99: within this run's noise".to_owned()
        } else {
            format!("{:.0} % of the added p99", 100.0 * ai99 / added.max(1e-9))
        };
        control.push(format!(
            "{}: the plain proxy adds {:.1} µs at p99 and {:.1} µs at p50 over direct; the AI route {ai99:.1} / {ai50:.1} µs more ({share})",
            pair.label,
            r.plain.p99 - r.direct.p99,
            r.plain.p50 - r.direct.p50,
        ));
    }
    md.push_str(&format!(
        "\nThe reference row reaches the mock from CPU {}: one cross-CPU round trip, which a proxy on CPU {} pays twice (client → proxy → mock and back), so about twice its excess over the direct row is the floor of any proxy's added latency on this VM.\n\n",
        procs::PROXY_CPU,
        procs::PROXY_CPU
    ));
    md.push_str(&format!(
        "The plain proxy row is the control: the direct row's request, byte for byte, through coregate's route `path_prefix = \"{PLAIN}\"`, `upstream = \"mock\"`, `strip_prefix = true` (no AI), same process, shard and connections. What coregate's own proxying costs on this VM is its excess over the direct row; the AI route's excess over it (the AI overhead) is what parsing, translating and re-framing the exchange costs on top.\n\n"
    ));
    for line in &control {
        md.push_str(&format!("- Control: {line}\n"));
    }
    md.push('\n');
    for line in &summary {
        md.push_str(&format!("- {line}\n"));
    }
    Ok(Section {
        name: name.to_owned(),
        markdown: md,
        summary: summary.join("; "),
    })
}

/// Warms every path, then alternates rounds; percentiles of each row.
fn measure_pair(
    ctx: &Ctx,
    pair: &Pair<'_>,
    until: Until,
    mock: SocketAddr,
    gw: SocketAddr,
) -> Result<Rows, String> {
    let direct_req = pair.direct.bytes(mock);
    let through_req = pair.through.bytes(gw);
    let plain_req = Call {
        prefix: PLAIN,
        ..pair.direct.clone()
    }
    .bytes(gw);
    check(mock, &direct_req, "the mock")?;
    check(gw, &through_req, "coregate")?;
    check(gw, &plain_req, "coregate's plain route")?;
    let warm = ctx.sizes.c1_warmup;
    client::run(mock, &direct_req, warm, until)?;
    client::run(gw, &through_req, warm, until)?;
    client::run(gw, &plain_req, warm, until)?;
    let round = Budget {
        count: ctx.sizes.c1.count / ROUNDS,
        time: ctx.sizes.c1.time / ROUNDS as u32,
    };
    let mut hists = [(); 4].map(|()| client::ns_histogram());
    for _ in 0..ROUNDS {
        let runs = [
            client::run(mock, &direct_req, round, until)?,
            client::run(gw, &through_req, round, until)?,
            client::run(gw, &plain_req, round, until)?,
            on_proxy_cpu(mock, &direct_req, round, until)?,
        ];
        for (hist, run) in hists.iter_mut().zip(&runs) {
            if run.bad > 0 {
                return Err(format!("{}: {} failed answers", pair.label, run.bad));
            }
            hist.add(&run.hist).map_err(|e| e.to_string())?;
        }
    }
    let [direct, through, plain, cross] = hists.map(|h| Percentiles::of(&h));
    Ok(Rows {
        direct,
        through,
        plain,
        cross,
    })
}

/// The direct exchange with the client on coregate's CPU: what crossing
/// between the two CPUs alone costs (waking an idle virtual CPU).
fn on_proxy_cpu(
    addr: SocketAddr,
    request: &[u8],
    budget: Budget,
    until: Until,
) -> Result<client::Run, String> {
    let request = request.to_vec();
    std::thread::spawn(move || {
        crate::ai::pin_to(procs::PROXY_CPU)?;
        client::run(addr, &request, budget, until)
    })
    .join()
    .map_err(|_| "the client thread panicked".to_owned())?
}

/// One request must come back 200.
pub fn check(
    addr: std::net::SocketAddr,
    request: &[u8],
    who: &str,
) -> Result<(u16, u64, bool), String> {
    let got = client::probe(addr, request)?;
    if got.0 != 200 {
        return Err(format!(
            "{who} answered {} to {}",
            got.0,
            first_line(request)
        ));
    }
    Ok(got)
}

fn first_line(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.lines().next().unwrap_or_default().to_owned()
}
