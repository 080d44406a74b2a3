//! Limit policies over real sockets: a limited request gets a 429 with
//! `Retry-After`, the IETF `RateLimit-Policy` and `RateLimit` fields and a
//! JSON body; combined keys, missing and long keys, concurrency caps,
//! quotas charged by the upstream and kept across a restart. (The
//! exactness test is `limits_exact.rs`, alone in its binary.)

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Client, Origin};

fn gateway(origin: &Origin, limit: &str) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\nrate_limit = {limit}\n",
        origin.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

#[test]
fn a_limited_request_is_told_when_to_come_back() {
    let origin = Origin::start();
    let server = gateway(
        &origin,
        "{ name = \"slow\", rate = \"1/m\", burst = 0, key = \"header:x-client\" }",
    );
    let gw = server.local_addrs()[0];
    let mut c = Client::connect(gw);
    let get = |c: &mut Client, who: &str| {
        c.send(format!("GET / HTTP/1.1\r\nhost: h\r\nx-client: {who}\r\n\r\n").as_bytes());
        c.read(false).unwrap()
    };
    assert_eq!(get(&mut c, "a").status, 200);
    let r = get(&mut c, "a");
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&wait), "{wait}");
    assert_eq!(r.header("ratelimit-policy"), Some("\"slow\";q=1;w=60"));
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"slow\";r=0;t={wait}").as_str())
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (&v["error"], &v["policy"]),
        (&"rate_limited".into(), &"slow".into())
    );
    assert_eq!(
        get(&mut c, "b").status,
        200,
        "another key has its own budget, on the same connection"
    );
}

#[test]
fn decisions_show_in_headers_metrics_and_the_log() {
    let origin = Origin::start();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"127.0.0.1:0\"\nshards = 1\n\n\
         [access_log]\npath = \"{}\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\n\
         rate_limit = {{ name = \"hdr\", rate = \"10/s\", burst = 4, key = \"route\", headers = true }}\n",
        log.display(),
        origin.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    let server = common::start(t);
    let mut c = Client::connect(server.local_addrs()[0]);
    let first = c.get("/");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-policy"), Some("\"hdr\";q=10;w=1"));
    assert_eq!(first.header("ratelimit"), Some("\"hdr\";r=4;t=1"));
    let statuses: Vec<u16> = (0..9).map(|_| c.get("/").status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    let admin = server.admin_addr().unwrap();
    let metrics = common::request(
        admin,
        b"GET /metrics HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    .text();
    assert!(
        metrics.contains("coregate_ratelimit_requests_total{policy=\"hdr\",result=\"admitted\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("coregate_ratelimit_requests_total{policy=\"hdr\",result=\"limited\"} 5"),
        "{metrics}"
    );
    let (entries, lines) = common::log_entries(&log);
    assert!(
        entries.iter().any(|e| e["status"] == 429
            && e["rate_limit"] == "hdr"
            && e["error"] == "rate_limited"),
        "{lines}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == 200 && e["rate_limit"].is_null()),
        "{lines}"
    );
}

fn gateway_with(origin: &Origin, policies: &str, route: &str) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n{policies}\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\n{route}\n",
        origin.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

fn get_as(c: &mut Client, path: &str, header: &str) -> common::Response {
    c.send(format!("GET {path} HTTP/1.1\r\nhost: h\r\n{header}\r\n").as_bytes());
    c.read(false).unwrap()
}

#[test]
fn a_combined_key_skips_requests_without_it_and_refuses_long_ones() {
    let origin = Origin::start();
    let server = gateway_with(
        &origin,
        "[[rate_limits]]\nname = \"per-user\"\nrate = \"1/m\"\nkey = [\"ip\", \"header:x-user\"]\n\
         missing_key = \"skip\"\nkey_max = 16\nlong_key = \"reject\"\n",
        "rate_limits = [\"per-user\"]",
    );
    let mut c = Client::connect(server.local_addrs()[0]);
    for _ in 0..3 {
        assert_eq!(c.get("/").status, 200, "no x-user: not counted");
    }
    assert_eq!(get_as(&mut c, "/", "x-user: a\r\n").status, 200);
    assert_eq!(get_as(&mut c, "/", "x-user: a\r\n").status, 429);
    assert_eq!(get_as(&mut c, "/", "x-user: b\r\n").status, 200);
    let long = get_as(&mut c, "/", &format!("x-user: {}\r\n", "x".repeat(17)));
    assert_eq!(long.status, 400);
    let v: serde_json::Value = serde_json::from_slice(&long.body).unwrap();
    assert_eq!(
        (&v["error"], &v["policy"]),
        (&"limit_key_too_long".into(), &"per-user".into())
    );
    assert_eq!(origin.requests.load(Ordering::SeqCst), 5);
}

#[test]
fn a_concurrency_limit_caps_requests_in_flight_across_shards() {
    let origin = Origin::start();
    let server = gateway_with(
        &origin,
        "[[rate_limits]]\nname = \"two\"\nconcurrency = 2\nkey = \"route\"\n",
        "rate_limits = [\"two\"]",
    );
    let gw = server.local_addrs()[0];
    // Two slow requests on two connections (likely two shards) hold both slots.
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || Client::connect(gw).get("/slow?ms=4000").status))
        .collect();
    let mut c = Client::connect(gw);
    let deadline = Instant::now() + Duration::from_secs(5);
    while origin.requests.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let third = c.get("/");
    assert_eq!(third.status, 429, "a third request while two are in flight");
    assert_eq!(third.header("ratelimit-policy"), Some("\"two\";q=2"));
    for s in slow {
        assert_eq!(s.join().unwrap(), 200);
    }
    assert_eq!(c.get("/").status, 200, "slots come back when responses end");
}

#[test]
fn a_quota_is_charged_what_the_upstream_reports() {
    let origin = Origin::start();
    let server = gateway_with(
        &origin,
        "[[rate_limits]]\nname = \"tokens\"\nquota = \"100/day\"\nkey = \"header:x-app\"\n\
         cost_header = \"x-usage-tokens\"\nheaders = true\n",
        "rate_limits = [\"tokens\"]",
    );
    let mut c = Client::connect(server.local_addrs()[0]);
    let first = get_as(&mut c, "/usage?tokens=40", "x-app: a\r\n");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-usage-tokens"), Some("40"));
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"tokens\";q=100;w=86400")
    );
    let r: Vec<u16> = (0..3)
        .map(|_| get_as(&mut c, "/usage?tokens=40", "x-app: a\r\n").status)
        .collect();
    // 40 and 80 used before the next two; 120 after them.
    assert_eq!(r, [200, 200, 429]);
    let over = get_as(&mut c, "/usage?tokens=40", "x-app: a\r\n");
    let wait: u64 = over.header("retry-after").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let midnight = (now / 86_400 + 1) * 86_400;
    assert!(
        wait.abs_diff(midnight - now) <= 2,
        "until midnight UTC: {wait}"
    );
    assert_eq!(
        get_as(&mut c, "/usage?tokens=40", "x-app: b\r\n").status,
        200
    );
}

/// Kills the gateway process when dropped.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_quota_outlives_a_restart() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let (listen, api) = (common::free_port(), common::free_port());
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nadmin = \"off\"\nshards = 2\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"{api}\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[rate_limits]]\nname = \"daily\"\nquota = \"3/day\"\nkey = \"ip\"\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\nrate_limits = [\"daily\"]\n",
        dir.path().join("data").display(),
        origin.addr
    );
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, text).unwrap();
    let run = || {
        let p = Proc(common::spawn_with_config(&path, &[]));
        common::wait_for_port(listen);
        p
    };
    // The first answer once every shard serves (a connection that comes
    // while the listeners are still being set up may be refused or reset).
    let status = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match common::try_get(listen, "/") {
                Ok(s) => return s,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("retrying: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let first = run();
    let statuses: Vec<u16> = (0..4).map(|_| status()).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Counts are saved every second; the process is then killed outright.
    std::thread::sleep(Duration::from_millis(2500));
    drop(first);
    let _second = run();
    assert_eq!(status(), 429, "the day's count came back from the store");
}
