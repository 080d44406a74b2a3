//! Per-route guards over real sockets: client IP allow and deny lists, and
//! CORS (a preflight answered at the gateway before any credential check,
//! the headers added to the upstream's response).

mod common;

use std::sync::atomic::Ordering;

use common::{request, Origin};

fn start(routes: &str, origin: &Origin) -> engine::Server {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 1\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"off\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n{routes}",
        dir.path().join("store").display(),
        origin.addr
    );
    std::mem::forget(dir); // lives as long as the test process
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

fn get(gw: &engine::Server, path: &str, extra: &str) -> common::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nhost: h\r\n{extra}\r\n");
    request(gw.local_addrs()[0], raw.as_bytes())
}

#[test]
fn ip_lists_let_in_and_turn_away_by_cidr() {
    let origin = Origin::start();
    let gw = start(
        "[[routes]]\npath = \"/denied\"\nupstream = \"o\"\ndeny_ips = [\"127.0.0.0/8\"]\n\n\
         [[routes]]\npath = \"/elsewhere\"\nupstream = \"o\"\nallow_ips = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n\n\
         [[routes]]\npath = \"/mine\"\nupstream = \"o\"\nallow_ips = [\"127.0.0.1\"]\ndeny_ips = [\"10.0.0.0/8\"]\n",
        &origin,
    );
    for path in ["/denied", "/elsewhere"] {
        let r = get(&gw, path, "x-forwarded-for: 10.1.1.1\r\n");
        assert_eq!(r.status, 403, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], "ip_denied");
    }
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        0,
        "nothing went upstream"
    );
    assert_eq!(get(&gw, "/mine", "").status, 200);
}

#[test]
fn cors_preflights_are_answered_here_and_responses_carry_the_headers() {
    let origin = Origin::start();
    let gw = start(
        "[[routes]]\npath_prefix = \"/api\"\nupstream = \"o\"\nservice = \"guarded\"\n\
         cors = { origins = [\"https://app.example.com\"], methods = [\"GET\", \"POST\"], \
         expose_headers = [\"x-origin-port\"], credentials = true, max_age = \"1h\" }\n\n\
         [[routes]]\npath_prefix = \"/open\"\nupstream = \"o\"\ncors = { origins = [\"*\"] }\n",
        &origin,
    );
    let pre = "OPTIONS /api/x HTTP/1.1\r\nhost: h\r\norigin: https://app.example.com\r\n\
               access-control-request-method: POST\r\naccess-control-request-headers: x-api-key, content-type\r\n\r\n";
    let r = request(gw.local_addrs()[0], pre.as_bytes());
    assert_eq!(
        r.status,
        204,
        "a preflight needs no credential: {}",
        r.text()
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-api-key, content-type")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("3600"));
    let evil = pre.replace("https://app.example.com", "https://evil.example");
    let r = request(gw.local_addrs()[0], evil.as_bytes());
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        0,
        "preflights stay at the gateway"
    );

    let r = get(&gw, "/open/x", "origin: https://any.example\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("vary"), Some("origin"));
    let r = get(&gw, "/open/x", "");
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "no Origin, no CORS headers"
    );
}
