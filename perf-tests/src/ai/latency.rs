//! The concurrency-1 scenarios: `openai-c1`, `anthropic-c1` (whole answers)
//! and `stream-ttft` (time to the first content frame), each straight to the
//! mock and then through coregate, in interleaved rounds; the headline is
//! the added p99. Measured on the 2-core VM: see results/*-ai.md.

use std::net::SocketAddr;

use crate::ai::client::{self, Budget, Until};
use crate::ai::http::{Api, Call};
use crate::ai::measure::{verdict, Percentiles};
use crate::ai::procs::{self, Gateway, MockShape, ANTHROPIC_KEY, OPENAI_KEY};
use crate::ai::{Ctx, Section};

/// Rounds each side is split into (direct, coregate, direct, coregate...).
const ROUNDS: u64 = 2;

/// One comparison: the same exchange straight to the mock and through coregate.
struct Pair<'a> {
    label: &'a str,
    direct: Call<'a>,
    through: Call<'a>,
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
        mock.addr,
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
    for pair in pairs {
        let [direct, through, cross] = measure_pair(ctx, pair, until, mock, gw)?;
        let added = through.p99 - direct.p99;
        md.push_str(&format!(
            "| {} | direct to mock | {} |\n",
            pair.label,
            direct.cells()
        ));
        md.push_str(&format!(
            "| {} | through coregate | {} |\n",
            pair.label,
            through.cells()
        ));
        md.push_str(&format!(
            "| {} | direct, client on CPU {} (reference) | {} |\n",
            pair.label,
            procs::PROXY_CPU,
            cross.cells()
        ));
        summary.push(format!(
            "{}: added p99 {added:.1} µs {}",
            pair.label,
            verdict(added, goal, "µs")
        ));
    }
    md.push_str(&format!(
        "\nThe reference row reaches the mock from CPU {}: one cross-CPU round trip, which a proxy on CPU {} pays twice (client → proxy → mock and back), so about twice its excess over the direct row is the floor of any proxy's added latency on this VM.\n\n",
        procs::PROXY_CPU,
        procs::PROXY_CPU
    ));
    for line in &summary {
        md.push_str(&format!("- {line}\n"));
    }
    Ok(Section {
        name: name.to_owned(),
        markdown: md,
        summary: summary.join("; "),
    })
}

/// Warms both paths, then alternates rounds; percentiles of each side.
fn measure_pair(
    ctx: &Ctx,
    pair: &Pair<'_>,
    until: Until,
    mock: SocketAddr,
    gw: SocketAddr,
) -> Result<[Percentiles; 3], String> {
    let direct_req = pair.direct.bytes(mock);
    let through_req = pair.through.bytes(gw);
    check(mock, &direct_req, "the mock")?;
    check(gw, &through_req, "coregate")?;
    let warm = ctx.sizes.c1_warmup;
    client::run(mock, &direct_req, warm, until)?;
    client::run(gw, &through_req, warm, until)?;
    let round = Budget {
        count: ctx.sizes.c1.count / ROUNDS,
        time: ctx.sizes.c1.time / ROUNDS as u32,
    };
    let mut hists = [(); 3].map(|()| client::ns_histogram());
    for _ in 0..ROUNDS {
        let runs = [
            client::run(mock, &direct_req, round, until)?,
            client::run(gw, &through_req, round, until)?,
            on_proxy_cpu(mock, &direct_req, round, until)?,
        ];
        for (hist, run) in hists.iter_mut().zip(&runs) {
            if run.bad > 0 {
                return Err(format!("{}: {} failed answers", pair.label, run.bad));
            }
            hist.add(&run.hist).map_err(|e| e.to_string())?;
        }
    }
    Ok(hists.map(|h| Percentiles::of(&h)))
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
