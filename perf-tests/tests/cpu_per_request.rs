//! The harness's measurement path end to end, in-process and on loopback:
//! an origin on 127.0.0.1:0 stands in for a proxy, a bounded load runs
//! against it, and the process's CPU time from /proc is divided by the
//! completed requests, as `compare` does for each proxy.
//!
//! The engine's own perf tests (alloc_budget, throughput, core_skew,
//! reload_under_load) wait for the engine; they will reuse these helpers.

use std::sync::Arc;
use std::time::Duration;

use bench::loadgen;
use bench::origin::Origin;
use bench::scenario::{RequestSpec, Scenario, Stop};
use perf_tests::procfs::{process_tree, sum_status_kb, CpuSample};

#[test]
fn cpu_per_request_of_a_loopback_load() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 100, 1).unwrap();
    let spec = RequestSpec {
        method: "GET".into(),
        authority: origin.addr().to_string(),
        paths: vec!["/".into()],
        headers: Vec::new(),
        body_size: 0,
        close: false,
    };
    let scenario = Arc::new(Scenario {
        addr: origin.addr(),
        url: format!("http://{}/", origin.addr()),
        connections: 16,
        threads: 1,
        stop: Stop::Requests(20_000),
        rate: None,
        close: false,
        no_body: false,
        timeout: Duration::from_secs(5),
        hold: None,
        requests: spec.build(),
    });
    let me = process_tree(std::process::id());
    let before = CpuSample::of(&me);
    let outcome = loadgen::run(&scenario, false).unwrap();
    let after = CpuSample::of(&me);
    assert_eq!(
        outcome.stats.responses + outcome.stats.errors.total(),
        20_000
    );
    assert_eq!(origin.served(), outcome.stats.responses);
    let per_request = after.sched_micros_since(&before) / outcome.stats.responses as f64;
    // Client and server in one process: a few µs each on loopback, far
    // below a millisecond even in a debug build on a busy host.
    assert!(
        per_request > 0.1 && per_request < 1000.0,
        "{per_request} µs/request"
    );
    assert!(sum_status_kb(&me, "VmHWM") > 0);
    origin.stop().unwrap();
}
