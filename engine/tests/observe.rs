//! Observability end to end: /metrics and /stats counts, the Prometheus
//! format checked with a real parser, and the access log.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Two shards, one backend. 5xx responses do not count towards passive
/// ejection here: the tests send 503s on purpose, and whether five of them
/// in a row land on one shard (and eject the backend there) would depend on
/// how SO_REUSEPORT spreads the connections.
fn gw_config(origin: SocketAddr, extra: &str) -> tuning::Tuning {
    config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 2\nadmin = \"127.0.0.1:0\"\n{extra}\n\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\
         [upstreams.app.outlier]\non_5xx = false\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nstrip_prefix = true\nupstream = \"app\"\n\n\
         [[routes]]\nname = \"hello\"\npath = \"/hello\"\nrespond = {{ status = 200, body = \"hi\" }}\n"
    ))
}

fn get(admin: SocketAddr, path: &str) -> String {
    request(
        admin,
        format!("GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes(),
    )
    .text()
}

/// Sum of a counter's samples that match every given label.
fn sum(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format")
}

#[test]
fn metrics_and_stats_count_exactly_what_was_sent() {
    let origin = Origin::start();
    let gw = start(gw_config(origin.addr, ""));
    let (addr, admin) = (gw.local_addrs()[0], gw.admin_addr().unwrap());
    for _ in 0..25 {
        assert_eq!(
            request(addr, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
    for _ in 0..5 {
        assert_eq!(
            request(
                addr,
                b"GET /api/status?code=503 HTTP/1.1\r\nHost: a\r\n\r\n"
            )
            .status,
            503
        );
    }
    for _ in 0..7 {
        assert_eq!(
            request(addr, b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(
            request(addr, b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n").status,
            404
        );
    }
    for _ in 0..2 {
        assert_eq!(
            request(addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status,
            400
        );
    }

    let text = get(admin, "/metrics");
    let m = parse(&text);
    assert_eq!(
        sum(
            &m,
            "coregate_requests_total",
            &[("route", "api"), ("status_class", "2xx")]
        ),
        25.0
    );
    assert_eq!(
        sum(
            &m,
            "coregate_requests_total",
            &[("route", "api"), ("status_class", "5xx")]
        ),
        5.0
    );
    assert_eq!(
        sum(&m, "coregate_requests_total", &[("route", "hello")]),
        7.0
    );
    assert_eq!(
        sum(
            &m,
            "coregate_requests_total",
            &[("route", "unrouted"), ("status_class", "4xx")]
        ),
        3.0
    );
    assert_eq!(sum(&m, "coregate_requests_total", &[]), 40.0);
    let listener = addr.to_string();
    assert_eq!(
        sum(
            &m,
            "coregate_listener_requests_total",
            &[("listener", &listener)]
        ),
        40.0
    );
    assert_eq!(sum(&m, "coregate_connections_idle", &[]), 0.0);
    assert_eq!(sum(&m, "coregate_parse_errors_total", &[]), 2.0);
    assert_eq!(
        sum(&m, "coregate_errors_total", &[("kind", "no_route")]),
        3.0
    );
    assert_eq!(sum(&m, "coregate_connections_accepted_total", &[]), 42.0);
    assert_eq!(
        sum(&m, "coregate_backend_requests_total", &[("group", "app")]),
        30.0
    );
    assert_eq!(
        sum(&m, "coregate_backend_healthy", &[("group", "app")]),
        1.0
    );
    assert_eq!(sum(&m, "coregate_snapshot_version", &[]), 1.0);
    assert!(sum(&m, "coregate_route_bytes_sent_total", &[("route", "api")]) > 30.0 * 50.0);
    assert!(
        sum(
            &m,
            "coregate_route_bytes_received_total",
            &[("route", "hello")]
        ) > 7.0 * 20.0
    );
    // Every upstream connection coregate opened is pooled and idle now.
    let idle = sum(&m, "coregate_upstream_connections", &[("state", "idle")]);
    assert!(idle >= 1.0, "{idle}");
    assert_eq!(
        sum(&m, "coregate_upstream_connections", &[("state", "active")]),
        0.0
    );
    // The route's latency histogram counted every request exactly once.
    let count = m.samples.iter().find(|s| {
        s.metric == "coregate_request_duration_seconds" && s.labels.get("route") == Some("api")
    });
    match count.map(|s| &s.value) {
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            let inf = buckets
                .iter()
                .find(|b| b.less_than == f64::INFINITY)
                .unwrap();
            assert_eq!(inf.count, 30.0);
            assert!(
                buckets.windows(2).all(|w| w[0].count <= w[1].count),
                "cumulative buckets"
            );
        }
        other => panic!("no histogram for route api: {other:?}\n{text}"),
    }
    // Every metric family has HELP and TYPE lines.
    for family in [
        "coregate_requests_total",
        "coregate_request_duration_seconds",
        "coregate_upstream_connects_total",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }

    // Per-shard values add up to the totals.
    let per_shard: f64 = (0..2)
        .map(|s| sum(&m, "coregate_requests_total", &[("shard", &s.to_string())]))
        .sum();
    assert_eq!(per_shard, 40.0);
    let ups: serde_json::Value = serde_json::from_str(&get(admin, "/upstreams")).unwrap();
    let b = &ups[0]["backends"][0];
    assert_eq!(b["healthy"], true);
    assert_eq!(b["in_flight"], 0);
    assert_eq!(b["ejected_on_shards"], 0);
    let shards = b["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{ups}");
    assert!(
        shards.iter().any(|s| s["ewma_ms"].as_f64().unwrap() > 0.0),
        "{ups}"
    );
    let stats: serde_json::Value = serde_json::from_str(&get(admin, "/stats")).unwrap();
    assert_eq!(stats["total"]["requests"], 40);
    assert_eq!(stats["total"]["responses_2xx"], 32);
    let shard_sum: u64 = stats["per_shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(shard_sum, 42);
}

#[test]
fn route_labels_are_capped() {
    let origin = Origin::start();
    let mut routes = String::new();
    for i in 0..20 {
        routes.push_str(&format!(
            "[[routes]]\nname = \"r{i}\"\npath_prefix = \"/r{i}\"\nupstream = \"app\"\n\n"
        ));
    }
    let t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"127.0.0.1:0\"\n[metrics]\nmax_routes = 5\n\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n{routes}",
        origin.addr
    ));
    let gw = start(t);
    for i in 0..20 {
        let raw = format!("GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(request(gw.local_addrs()[0], raw.as_bytes()).status, 200);
    }
    let m = parse(&get(gw.admin_addr().unwrap(), "/metrics"));
    let routes: std::collections::HashSet<String> = m
        .samples
        .iter()
        .filter(|s| s.metric == "coregate_requests_total")
        .filter_map(|s| s.labels.get("route").map(str::to_string))
        .collect();
    assert_eq!(routes.len(), 6, "{routes:?}");
    assert_eq!(
        sum(&m, "coregate_requests_total", &[("route", "other")]),
        15.0
    );
}

#[test]
fn scraping_a_thousand_routes_is_fast() {
    let origin = Origin::start();
    let mut routes = String::new();
    for i in 0..1000 {
        routes.push_str(&format!(
            "[[routes]]\nname = \"r{i}\"\npath_prefix = \"/r{i}\"\nupstream = \"app\"\n\n"
        ));
    }
    let t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 2\nadmin = \"127.0.0.1:0\"\n[metrics]\nmax_routes = 1000\n\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n{routes}",
        origin.addr
    ));
    let gw = start(t);
    let mut c = Client::connect(gw.local_addrs()[0]);
    for i in 0..1000 {
        assert_eq!(c.get(&format!("/r{i}")).status, 200);
    }
    let started = Instant::now();
    let text = get(gw.admin_addr().unwrap(), "/metrics");
    let took = started.elapsed();
    let m = parse(&text);
    assert_eq!(sum(&m, "coregate_requests_total", &[]), 1000.0);
    // Recorded, not asserted: timing is for the benchmark notes.
    eprintln!("scrape of 1000 routes: {took:?}, {} bytes", text.len());
}

fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn wait_lines(paths: &[&std::path::Path], n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got: usize = paths.iter().map(|p| log_lines(p).len()).sum();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn access_log_has_one_json_line_per_request_with_its_fields() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-log-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let mut t = gw_config(origin.addr, "");
    t.access_log.dest = tuning::LogDest::File(path.clone());
    let gw = start(t);
    let addr = gw.local_addrs()[0];
    let r = request(addr, b"GET /api/x?q=1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: test-agent\r\nX-Request-Id: rid-1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        request(
            addr,
            b"POST /hello HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\n\r\n"
        )
        .status,
        200
    );
    assert_eq!(request(addr, b"GET /nope HTTP/1.0\r\n\r\n").status, 404);
    assert_eq!(wait_lines(&[&path], 3), 3);
    let lines = log_lines(&path);
    let by_id: HashMap<String, &serde_json::Value> = lines
        .iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l))
        .collect();
    let l = by_id["rid-1"];
    assert_eq!(l["method"], "GET");
    assert_eq!(l["host"], "shop");
    assert_eq!(l["path"], "/api/x");
    assert_eq!(l["query"], "q=1");
    assert_eq!(l["proto"], "HTTP/1.1");
    assert_eq!(l["status"], 200);
    assert_eq!(l["route"], "api");
    assert_eq!(l["upstream"], origin.addr.to_string());
    assert_eq!(l["upstream_status"], 200);
    assert_eq!(l["ua"], "test-agent");
    assert!(l["bytes_in"].as_u64().unwrap() > 50);
    assert!(l["bytes_out"].as_u64().unwrap() > 50);
    assert!(l["total_us"].as_u64().unwrap() >= l["head_us"].as_u64().unwrap());
    assert!(l["ts"].as_str().unwrap().ends_with('Z'));
    for key in ["shard", "client", "connect_us", "error", "consumer"] {
        assert!(l.get(key).is_some(), "{key}");
    }
    let miss = lines.iter().find(|l| l["status"] == 404).unwrap();
    assert_eq!(miss["error"], "no_route");
    assert_eq!(miss["route"], serde_json::Value::Null);
    assert_eq!(miss["proto"], "HTTP/1.0");
}

#[test]
fn sigusr1_reopens_the_log_and_loses_no_line() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-rot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&rotated);
    let listen = free_port();
    let mut child = Command::new(coregate_bin())
        .args([
            "--listen",
            &listen.to_string(),
            "--upstream",
            &origin.addr.to_string(),
            "--shards",
            "2",
        ])
        .args(["--admin", "off", "--access-log"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(listen);
    let send = |n: usize| {
        for _ in 0..n {
            assert_eq!(
                request(listen, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
                200
            );
        }
    };
    send(40);
    std::fs::rename(&path, &rotated).unwrap();
    // Lines written before the reopen land in the renamed file.
    send(10);
    let st = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    // The reopen happens on the writer thread, asynchronously: keep sending
    // (bounded) until lines show up in the new file.
    let mut sent = 50;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        send(10);
        sent += 10;
        if wait_lines(&[&path, &rotated], sent) == sent && !log_lines(&path).is_empty() {
            break;
        }
    }
    assert!(
        !log_lines(&path).is_empty(),
        "the reopened file gets the new lines"
    );
    assert_eq!(wait_lines(&[&path, &rotated], sent), sent, "no line lost");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn a_full_log_queue_drops_and_counts_lines_but_never_a_request() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-drop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let _ = std::fs::remove_file(&path);
    let mut t = gw_config(origin.addr, "");
    t.shards = 1;
    t.access_log.dest = tuning::LogDest::File(path.clone());
    t.access_log.queue = 5;
    let gw = start(t);
    let mut c = Client::connect(gw.local_addrs()[0]);
    let n = 300;
    for _ in 0..n {
        assert_eq!(c.get("/api/x").status, 200);
    }
    thread::sleep(Duration::from_millis(300));
    let m = parse(&get(gw.admin_addr().unwrap(), "/metrics"));
    let dropped = sum(&m, "coregate_access_log_dropped_total", &[]) as usize;
    let written = wait_lines(&[&path], n - dropped);
    assert!(
        dropped > 0,
        "a 5-line queue overflows under 300 quick requests"
    );
    assert_eq!(written + dropped, n);
}

/// Each retry is counted once per group in /metrics, and agrees with the
/// shard counter (connect failures against a closed port, retried on the
/// live backend).
#[test]
fn group_retries_are_counted_once() {
    let live = Origin::start();
    let dead = free_port();
    let t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"127.0.0.1:0\"\n\n\
         [upstreams.app]\nbackends = [\"{dead}\", \"{}\"]\nalgorithm = \"round_robin\"\n\
         [upstreams.app.outlier]\nconsecutive_failures = 0\n\n\
         [[routes]]\nname = \"all\"\nupstream = \"app\"\n\
         retries = {{ attempts = 1, on = [\"connect_failure\"], budget_percent = 100, min_per_second = 100 }}\n",
        live.addr
    ));
    let gw = start(t);
    for _ in 0..20 {
        let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
    }
    let shard: u64 = gw.stats().iter().map(|s| s.upstream_retries).sum();
    assert!(shard >= 5, "retries happened: {shard}");
    let m = parse(&get(gw.admin_addr().unwrap(), "/metrics"));
    let group = sum(&m, "coregate_upstream_retries_total", &[("group", "app")]);
    assert_eq!(group, shard as f64);
}

/// Polls /metrics until `name{labels}` reaches `want` (the access to the
/// shards' counters happens after the connection ends), or 5 s pass.
fn wait_metric(
    admin: SocketAddr,
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) -> prometheus_parse::Scrape {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = parse(&get(admin, "/metrics"));
        if sum(&m, name, labels) >= want || Instant::now() > deadline {
            return m;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A client that goes away before any response (here mid-body, so the
/// upstream never answers) is counted as `status_class="none"`, not 1xx.
#[test]
fn a_request_that_got_no_response_is_status_class_none() {
    use std::io::Write as _;
    let origin = Origin::start();
    let gw = start(gw_config(origin.addr, ""));
    let (addr, admin) = (gw.local_addrs()[0], gw.admin_addr().unwrap());
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"POST /api/echo HTTP/1.1\r\nHost: a\r\ncontent-length: 100\r\n\r\nhalf")
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    drop(c);

    let none = [("route", "api"), ("status_class", "none")];
    let m = wait_metric(admin, "coregate_requests_total", &none, 1.0);
    assert_eq!(sum(&m, "coregate_requests_total", &none), 1.0);
    assert_eq!(
        sum(&m, "coregate_requests_total", &[("status_class", "1xx")]),
        0.0
    );
    let listener = addr.to_string();
    assert_eq!(
        sum(
            &m,
            "coregate_listener_requests_total",
            &[("listener", &listener), ("status_class", "none")]
        ),
        1.0
    );
    assert_eq!(
        sum(&m, "coregate_errors_total", &[("kind", "client_closed")]),
        1.0
    );
}

/// A client that sends half a request and stalls holds one admin
/// connection, not the admin listener: a scrape on another connection is
/// answered at once. Past `MAX_ADMIN_CLIENTS` (16) stalled connections,
/// the next is answered 503, and scrapes work again once they go.
#[test]
fn a_stalled_admin_client_does_not_hold_up_a_scrape() {
    use std::io::Write as _;
    let origin = Origin::start();
    let gw = start(gw_config(origin.addr, ""));
    let admin = gw.admin_addr().unwrap();
    let mut stalled = std::net::TcpStream::connect(admin).unwrap();
    stalled.write_all(b"GET /metr").unwrap();
    thread::sleep(Duration::from_millis(100));

    let started = Instant::now();
    let m = parse(&get(admin, "/metrics"));
    let took = started.elapsed();
    assert_eq!(sum(&m, "coregate_shards", &[]), 2.0);
    assert!(took < Duration::from_secs(2), "scrape took {took:?}");
    eprintln!("scrape beside a stalled admin client: {took:?}");

    let more: Vec<_> = (1..16)
        .map(|_| std::net::TcpStream::connect(admin).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    let r = request(admin, b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_eq!(r.status, 503, "{}", r.text());
    drop(more);
    drop(stalled);
    thread::sleep(Duration::from_millis(200));
    let r = request(admin, b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_eq!(r.status, 200);
}

/// An origin that sends a head and half of a 1000-byte body, then stalls
/// (holding the connection open) for `stall`.
fn stalling_origin(stall: Duration) -> SocketAddr {
    use std::io::{BufRead as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || {
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut w = s;
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
                let _ = w.write_all(&[b'x'; 500]);
                thread::sleep(stall);
            });
        }
    });
    addr
}

/// A stall mid-body ends as `upstream_body_timeout` (after
/// `timeouts.upstream_body`), a reset mid-body as `upstream_truncated`,
/// and the two are told apart in the error counters and the access log.
#[test]
fn a_stall_mid_body_is_a_body_timeout_and_a_reset_is_truncated() {
    let stall = stalling_origin(Duration::from_secs(3));
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let _ = std::fs::remove_file(&log);
    let mut t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"127.0.0.1:0\"\n\n\
         [timeouts]\nupstream_body = \"300ms\"\n\n\
         [upstreams.stall]\nbackends = [\"{stall}\"]\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nname = \"stall\"\npath = \"/stall\"\nupstream = \"stall\"\n\n\
         [[routes]]\nname = \"reset\"\npath = \"/reset\"\nupstream = \"app\"\n",
        origin.addr
    ));
    t.access_log.dest = tuning::LogDest::File(log.clone());
    let gw = start(t);
    let (addr, admin) = (gw.local_addrs()[0], gw.admin_addr().unwrap());
    for path in ["/stall", "/reset"] {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert!(c.read(false).is_err(), "{path}: a cut response");
    }
    let m = wait_metric(
        admin,
        "coregate_errors_total",
        &[("kind", "upstream_truncated")],
        1.0,
    );
    let kind = |k| sum(&m, "coregate_errors_total", &[("kind", k)]);
    assert_eq!(kind("upstream_body_timeout"), 1.0);
    assert_eq!(kind("upstream_truncated"), 1.0);
    assert_eq!(wait_lines(&[&log], 2), 2);
    let errors: HashMap<String, String> = log_lines(&log)
        .iter()
        .map(|l| (l["route"].to_string(), l["error"].to_string()))
        .collect();
    assert_eq!(errors["\"stall\""], "\"upstream_body_timeout\"");
    assert_eq!(errors["\"reset\""], "\"upstream_truncated\"");
    let _ = std::fs::remove_dir_all(&dir);
}
