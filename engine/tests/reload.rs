//! Reloading the configuration: SIGHUP, `POST /reload`, and reloads under
//! load that must not fail a single request.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;

fn admin_request(addr: std::net::SocketAddr, raw: &str) -> Response {
    request(addr, raw.as_bytes())
}

fn config(listen: &str, admin: &str, backend: std::net::SocketAddr, body_marker: &str) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\nadmin = \"{admin}\"\nshards = 1\n\n\
         [upstreams.app]\nbackends = [\"{backend}\"]\n\n\
         [[routes]]\nname = \"marker\"\npath_prefix = \"/marker\"\nrespond = {{ status = 200, body = \"{body_marker}\" }}\n\n\
         [[routes]]\nname = \"app\"\nupstream = \"app\"\n"
    )
}

#[test]
fn post_reload_applies_a_new_file_and_rejects_a_bad_one() {
    let a = Origin::start();
    let b = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("coregate.toml");
    let listen = free_port();
    let admin = free_port();
    std::fs::write(
        &path,
        config(&listen.to_string(), &admin.to_string(), a.addr, "one"),
    )
    .unwrap();

    let mut child = spawn_with_config(&path, &[]);
    wait_for_port(listen);
    wait_for_port(admin);
    let get = |p: &str| {
        request(
            listen,
            format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(get("/marker").text(), "one");
    assert_eq!(
        get("/").header("x-origin-port"),
        Some(a.addr.port().to_string().as_str())
    );

    std::fs::write(
        &path,
        config(&listen.to_string(), &admin.to_string(), b.addr, "two"),
    )
    .unwrap();
    let r = admin_request(
        admin,
        "POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"version\":2"), "{}", r.text());
    assert_eq!(get("/marker").text(), "two");
    assert_eq!(
        get("/").header("x-origin-port"),
        Some(b.addr.port().to_string().as_str())
    );

    // A broken file is refused whole, with file, line and field; the old
    // snapshot keeps serving.
    std::fs::write(
        &path,
        "[server]\nlisten = [\"127.0.0.1:1\"]\n[[routes]]\nupstream = \"nope\"\n",
    )
    .unwrap();
    let r = admin_request(
        admin,
        "POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("coregate.toml:4"), "{}", r.text());
    assert_eq!(get("/marker").text(), "two");

    // SIGHUP reloads too.
    std::fs::write(
        &path,
        config(&listen.to_string(), &admin.to_string(), a.addr, "three"),
    )
    .unwrap();
    let st = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut seen = String::new();
    for _ in 0..100 {
        seen = get("/marker").text();
        if seen == "three" {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(seen, "three");
    let stats = admin_request(admin, "GET /stats HTTP/1.1\r\nHost: admin\r\n\r\n").text();
    assert!(stats.contains("\"snapshot_version\": 3"), "{stats}");
    assert!(stats.contains("\"failed\": 1"), "{stats}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn reload_without_a_config_file_says_so() {
    let origin = Origin::start();
    let mut t = quick_tuning(&[origin.addr]);
    t.shards = 1;
    t.admin = Some("127.0.0.1:0".parse().unwrap());
    let gw = start(t);
    let admin = gw.admin_addr().unwrap();
    let r = admin_request(admin, "POST /reload HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("without --config"), "{}", r.text());
}

#[test]
fn stats_count_exactly_what_was_sent() {
    let origin = Origin::start();
    let mut t = quick_tuning(&[origin.addr]);
    t.shards = 2;
    t.admin = Some("127.0.0.1:0".parse().unwrap());
    let gw = start(t);
    for _ in 0..37 {
        assert_eq!(
            request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
    // A request is counted just after its response is sent: the last one
    // may land a moment after the client read it.
    let stats = || {
        let text = admin_request(
            gw.admin_addr().unwrap(),
            "GET /stats HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .text();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut v = stats();
    while v["total"]["requests"] != 37 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        v = stats();
    }
    assert_eq!(v["total"]["requests"], 37);
    assert_eq!(v["total"]["responses_2xx"], 37);
    let per: u64 = v["per_shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per, 37);
}

#[test]
fn in_process_reload_under_load_fails_nothing() {
    let a = Origin::start();
    let b = Origin::start();
    let make = |backend, marker: &str| {
        let mut t = quick_tuning(&[backend]);
        t.shards = 2;
        t.routes.insert(
            0,
            tuning::Route::catch_all(
                "marker",
                tuning::RouteAction::Respond {
                    status: 200,
                    headers: vec![],
                    body: marker.to_string(),
                },
            ),
        );
        t.routes[0].path_prefix = "/marker".into();
        t
    };
    let gw = start(make(a.addr, "a"));
    let addr = gw.local_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 200_000 {
                    let r = c.get("/");
                    assert_eq!(r.status, 200, "{}", r.text());
                    let m = c.get("/marker");
                    assert!(m.text() == "a" || m.text() == "b", "{}", m.text());
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let control = gw.control();
    for i in 0..50 {
        let t = if i % 2 == 0 {
            make(b.addr, "b")
        } else {
            make(a.addr, "a")
        };
        let r = control.reload_with(t).unwrap();
        assert_eq!(r.version, i + 2);
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("no request failed");
    }
    assert!(done.load(Ordering::Relaxed) > 100);
    assert_eq!(gw.snapshot_version(), 51);
}

#[test]
fn watch_config_reloads_when_the_file_changes() {
    let a = Origin::start();
    let dir = std::env::temp_dir().join(format!("coregate-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("coregate.toml");
    let listen = free_port();
    let admin = free_port();
    std::fs::write(
        &path,
        config(&listen.to_string(), &admin.to_string(), a.addr, "before"),
    )
    .unwrap();
    let mut child = spawn_with_config(&path, &["--watch-config"]);
    wait_for_port(listen);
    let get = || request(listen, b"GET /marker HTTP/1.1\r\nHost: x\r\n\r\n").text();
    assert_eq!(get(), "before");
    thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &path,
        config(&listen.to_string(), &admin.to_string(), a.addr, "after!"),
    )
    .unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        seen = get();
        if seen == "after!" {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, "after!");
    let _ = child.kill();
    let _ = child.wait();
}
