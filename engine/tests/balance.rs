//! Load balancing, health, retries, circuit breaking and reloads, end to end
//! against several real origins.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn group_config(
    algorithm: &str,
    backends: &[(SocketAddr, u32)],
    extra_group: &str,
    extra_route: &str,
) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|(a, w)| format!("{{ address = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"off\"\n\n\
         [upstreams.app]\nalgorithm = \"{algorithm}\"\nbackends = [{}]\n{extra_group}\n\n\
         [[routes]]\nname = \"app\"\nupstream = \"app\"\n{extra_route}\n",
        list.join(", ")
    )
}

/// Sends `n` requests (new connection each, so nothing sticks by
/// connection) and counts responses per origin port.
fn spread(addr: SocketAddr, n: usize, headers: &str) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let r = request(
            addr,
            format!("GET / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let port: u16 = r.header("x-origin-port").unwrap().parse().unwrap();
        *counts.entry(port).or_default() += 1;
    }
    counts
}

fn origins(n: usize) -> Vec<Origin> {
    (0..n).map(|_| Origin::start()).collect()
}

#[test]
fn round_robin_and_weighted_distribute_exactly() {
    let o = origins(3);
    let gw = start(config(&group_config(
        "round_robin",
        &[(o[0].addr, 1), (o[1].addr, 1), (o[2].addr, 1)],
        "",
        "",
    )));
    let c = spread(gw.local_addrs()[0], 300, "");
    assert!(o.iter().all(|x| c[&x.addr.port()] == 100), "{c:?}");

    let gw = start(config(&group_config(
        "weighted",
        &[(o[0].addr, 3), (o[1].addr, 2), (o[2].addr, 1)],
        "",
        "",
    )));
    let c = spread(gw.local_addrs()[0], 600, "");
    assert_eq!(
        (
            c[&o[0].addr.port()],
            c[&o[1].addr.port()],
            c[&o[2].addr.port()]
        ),
        (300, 200, 100),
        "{c:?}"
    );
}

#[test]
fn random_least_conn_and_p2c_use_every_backend_in_proportion() {
    let o = origins(3);
    let all = [(o[0].addr, 1), (o[1].addr, 1), (o[2].addr, 1)];
    let gw = start(config(&group_config("least_conn", &all, "", "")));
    let c = spread(gw.local_addrs()[0], 300, "");
    assert_eq!(c.len(), 3, "least_conn: {c:?}");
    assert!(c.values().all(|&v| v >= 30), "least_conn: {c:?}");
    // P2C prefers the backends with the lowest observed latency; sequential
    // requests keep every backend idle, so it need not visit all three.
    let gw = start(config(&group_config("p2c_ewma", &all, "", "")));
    let c = spread(gw.local_addrs()[0], 300, "");
    assert!(c.len() >= 2, "p2c_ewma: {c:?}");
    assert_eq!(c.values().sum::<usize>(), 300);
    let gw = start(config(&group_config(
        "random",
        &[(o[0].addr, 2), (o[1].addr, 1), (o[2].addr, 1)],
        "",
        "",
    )));
    let c = spread(gw.local_addrs()[0], 2000, "");
    let share = |p: &Origin| c[&p.addr.port()] as f64 / 2000.0;
    assert!((share(&o[0]) - 0.5).abs() < 0.06, "{c:?}");
    assert!((share(&o[1]) - 0.25).abs() < 0.06, "{c:?}");
}

#[test]
fn maglev_hash_route_sticks_to_one_backend() {
    let o = origins(3);
    let all = [(o[0].addr, 1), (o[1].addr, 1), (o[2].addr, 1)];
    let gw = start(config(&group_config(
        "maglev",
        &all,
        "",
        "hash_key = \"header:x-user\"",
    )));
    let addr = gw.local_addrs()[0];
    let mut used = std::collections::HashSet::new();
    for user in 0..30 {
        let c = spread(addr, 10, &format!("x-user: user-{user}\r\n"));
        assert_eq!(c.len(), 1, "user-{user} moved between backends: {c:?}");
        used.extend(c.keys().copied());
    }
    assert!(
        used.len() >= 2,
        "30 users all hashed to one backend: {used:?}"
    );
}

#[test]
fn retries_on_a_refused_backend_are_invisible() {
    let live = Origin::start();
    let dead = free_port();
    let gw = start(config(&group_config(
        "round_robin",
        &[(dead, 1), (live.addr, 1)],
        "[upstreams.app.outlier]\nconsecutive_failures = 0",
        "retries = { attempts = 1, on = [\"connect_failure\"], budget_percent = 100, min_per_second = 100 }",
    )));
    let addr = gw.local_addrs()[0];
    for _ in 0..100 {
        let r = request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let retries: u64 = gw.stats().iter().map(|s| s.upstream_retries).sum();
    assert!(
        retries >= 40,
        "every other pick hits the dead backend: {retries}"
    );
}

#[test]
fn killed_origin_is_ejected_and_comes_back_through_the_active_check() {
    let mut a = Killable::start();
    let b = Origin::start();
    let a_addr = a.addr;
    let text = group_config(
        "round_robin",
        &[(a_addr, 1), (b.addr, 1)],
        "[upstreams.app.health_check]\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"80ms\"\nrise = 2\nfall = 2",
        "",
    )
    .replace("admin = \"off\"", "admin = \"127.0.0.1:0\"");
    let gw = start(config(&text));
    let addr = gw.local_addrs()[0];
    let admin = gw.admin_addr().unwrap();
    let c = spread(addr, 20, "");
    assert_eq!(c.len(), 2, "{c:?}");

    a.kill();
    // Requests keep succeeding (connect failures are retried elsewhere),
    // and the active check marks the backend down.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let c = spread(addr, 4, "");
        let ups = request(admin, b"GET /upstreams HTTP/1.1\r\nHost: a\r\n\r\n").text();
        let v: serde_json::Value = serde_json::from_str(&ups).unwrap();
        let a_state = v[0]["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["address"] == a_addr.to_string())
            .unwrap()["healthy"]
            .clone();
        if a_state == false {
            assert_eq!(c.len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "never marked unhealthy: {ups}");
        thread::sleep(Duration::from_millis(50));
    }
    let c = spread(addr, 20, "");
    assert_eq!(c.keys().copied().collect::<Vec<_>>(), vec![b.addr.port()]);

    let _a2 = Killable::start_at(a_addr);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let c = spread(addr, 10, "");
        if c.contains_key(&a_addr.port()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted backend never came back"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn passive_ejection_takes_a_failing_backend_out() {
    let live = Origin::start();
    let dead = free_port();
    let gw = start(config(&group_config(
        "round_robin",
        &[(dead, 1), (live.addr, 1)],
        "[upstreams.app.outlier]\nconsecutive_failures = 2\nbase_ejection = \"30s\"",
        "retries = { attempts = 1, on = [\"connect_failure\"], budget_percent = 100, min_per_second = 100 }",
    )));
    let addr = gw.local_addrs()[0];
    for _ in 0..50 {
        assert_eq!(
            request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
    let s: Vec<_> = gw.stats();
    let ejections: u64 = s.iter().map(|x| x.ejections).sum();
    let connects: u64 = s
        .iter()
        .map(|x| x.upstream_errors + x.upstream_retries)
        .sum();
    assert_eq!(ejections, 1);
    assert!(
        connects <= 4,
        "the dead backend stopped being tried: {connects}"
    );
}

#[test]
fn circuit_breaker_answers_503_over_max_pending() {
    let o = Origin::start();
    let gw = start(config(&group_config(
        "round_robin",
        &[(o.addr, 1)],
        "max_pending = 1",
        "",
    )));
    let addr = gw.local_addrs()[0];
    let slow =
        thread::spawn(move || request(addr, b"GET /slow?ms=800 HTTP/1.1\r\nHost: a\r\n\r\n"));
    thread::sleep(Duration::from_millis(200));
    let r = request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-coregate-error"), Some("upstream_overloaded"));
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(
        request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
        200
    );
}

fn two_group_config(to: &str, marker: &str, a: SocketAddr, b: SocketAddr) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 2\nadmin = \"off\"\n\n\
         [upstreams.ga]\nbackends = [\"{a}\"]\n[upstreams.gb]\nbackends = [\"{b}\"]\n\n\
         [[routes]]\nname = \"moving\"\npath_prefix = \"/x\"\nupstream = \"{to}\"\n\
         response_headers = {{ set = {{ \"x-config\" = \"{marker}\" }} }}\n\n\
         [[routes]]\nname = \"rest\"\nupstream = \"ga\"\n"
    )
}

#[test]
fn reload_50_times_under_load_fails_nothing_and_never_mixes_snapshots() {
    let a = Origin::start();
    let b = Origin::start();
    let one = config(&two_group_config("ga", "one", a.addr, b.addr));
    let two = config(&two_group_config("gb", "two", a.addr, b.addr));
    let mut first = one.clone();
    first.listen = vec!["127.0.0.1:0".parse().unwrap()];
    let gw = start(first);
    let addr = gw.local_addrs()[0];
    // Later configs must keep the bound port.
    let mut one = one;
    let mut two = two;
    one.listen = vec![addr];
    two.listen = vec![addr];

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok) = (stop.clone(), ok.clone());
            let (pa, pb) = (a.addr.port().to_string(), b.addr.port().to_string());
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 100_000 {
                    let r = c.get("/x");
                    assert_eq!(r.status, 200, "{}", r.text());
                    let want = match r.header("x-config") {
                        Some("one") => &pa,
                        Some("two") => &pb,
                        other => panic!("no snapshot marker: {other:?}"),
                    };
                    assert_eq!(
                        r.header("x-origin-port"),
                        Some(want.as_str()),
                        "response from a group the snapshot did not route to"
                    );
                    n += 1;
                }
                ok.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let control = gw.control();
    for i in 0..50 {
        let t = if i % 2 == 0 { two.clone() } else { one.clone() };
        control.reload_with(t).unwrap();
        thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a request failed during reloads");
    }
    assert!(ok.load(Ordering::Relaxed) > 200);
    assert_eq!(gw.snapshot_version(), 51);
}
