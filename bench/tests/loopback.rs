//! End to end on loopback: the origin in-process on 127.0.0.1:0, and short,
//! bounded loads against it whose counts must add up.

use std::sync::Arc;
use std::time::Duration;

use bench::origin::Origin;
use bench::report::Report;
use bench::scenario::{RequestSpec, Scenario, Stop};
use bench::{loadgen, BenchError};

fn scenario(origin: &Origin, connections: usize, threads: usize, stop: Stop) -> Scenario {
    let authority = origin.addr().to_string();
    let spec = RequestSpec {
        method: "GET".into(),
        authority: authority.clone(),
        paths: vec!["/".into(), "/other".into()],
        headers: vec!["X-Test: 1".into()],
        body_size: 0,
        close: false,
    };
    Scenario {
        addr: origin.addr(),
        url: format!("http://{authority}/"),
        connections,
        threads,
        stop,
        rate: None,
        close: false,
        no_body: false,
        timeout: Duration::from_secs(5),
        hold: None,
        requests: spec.build(),
    }
}

fn run(scenario: Scenario) -> Result<Report, BenchError> {
    let scenario = Arc::new(scenario);
    let outcome = loadgen::run(&scenario, false)?;
    Ok(Report::new(&scenario, &outcome.stats, outcome.elapsed))
}

#[test]
fn closed_loop_request_count_adds_up() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 100, 1).unwrap();
    let report = run(scenario(&origin, 8, 2, Stop::Requests(5_000))).unwrap();
    assert_eq!(report.requests + report.errors.total(), 5_000);
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(report.status.s2xx, 5_000);
    assert_eq!(report.connects, 8);
    assert_eq!(origin.served(), 5_000);
    let head_bytes = report.bytes_read / 5_000 - 100;
    assert!(head_bytes > 50 && head_bytes < 200, "{head_bytes}");
    assert!(report.latency.p50_us > 0.0 && report.latency.p50_us <= report.latency.max_us);
    origin.stop().unwrap();
}

#[test]
fn connection_per_request_with_body() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 16 * 1024, 1).unwrap();
    let mut load = scenario(&origin, 4, 1, Stop::Requests(400));
    let spec = RequestSpec {
        method: "POST".into(),
        authority: origin.addr().to_string(),
        paths: vec!["/".into()],
        headers: vec![],
        body_size: 3000,
        close: true,
    };
    load.requests = spec.build();
    load.close = true;
    let report = run(load).unwrap();
    assert_eq!(report.requests, 400, "{report:?}");
    assert_eq!(report.connects, 400);
    assert_eq!(report.errors.total(), 0);
    assert!(report.bytes_read >= 400 * 16 * 1024);
    assert_eq!(origin.served(), 400);
    origin.stop().unwrap();
}

#[test]
fn open_loop_keeps_the_rate() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 100, 1).unwrap();
    let mut load = scenario(&origin, 10, 1, Stop::After(Duration::from_millis(1000)));
    load.rate = Some(2_000.0);
    let report = run(load).unwrap();
    assert_eq!(report.errors.total(), 0);
    // 2000 req/s for 1 s; the last slots may still be in flight at the end.
    assert!(
        (1_900..=2_001).contains(&report.requests),
        "{}",
        report.requests
    );
    origin.stop().unwrap();
}

#[test]
fn hold_keeps_connections_open() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 10, 1).unwrap();
    let mut load = scenario(&origin, 600, 1, Stop::After(Duration::from_secs(1)));
    load.hold = Some(Duration::from_millis(1));
    let scenario = Arc::new(load);
    let outcome = loadgen::run(&scenario, false).unwrap();
    assert_eq!(outcome.stats.responses, 600);
    assert_eq!(outcome.held.len(), 600);
    origin.stop().unwrap();
}

#[test]
fn refused_connections_are_counted_not_fatal() {
    let origin = Origin::start("127.0.0.1:0".parse().unwrap(), 10, 1).unwrap();
    let addr = origin.addr();
    origin.stop().unwrap();
    let mut load = scenario(
        &Origin::start("127.0.0.1:0".parse().unwrap(), 10, 1).unwrap(),
        2,
        1,
        Stop::Requests(10),
    );
    load.addr = addr; // nothing listens there any more
    let report = run(load).unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(report.errors.connect, 10);
}
