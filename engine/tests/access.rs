//! Access control end to end over real sockets: objects created through
//! the management API gate the data path within a second, the credential
//! never reaches the upstream, the identity does, and the state outlives a
//! restart. Tenants cannot see or change each other's objects.

mod common;
#[path = "../../access/tests/support/pg.rs"]
mod pg;

use std::net::SocketAddr;
use std::time::Duration;

use common::mgmt::{id, shop, until, Mgmt};
use common::{request, Origin};

/// A config whose store is `store` (an `[access]` line): `/orders/...`
/// belongs to the service `orders` (prefix stripped), everything else is
/// open; the API on `api`, the admin listener on `admin`.
fn config_text(store: &str, origin: SocketAddr, api: &str, admin: &str) -> String {
    config_on("127.0.0.1:0", store, origin, api, admin)
}

fn config_on(listen: &str, store: &str, origin: SocketAddr, api: &str, admin: &str) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\nadmin = \"{admin}\"\nshards = 2\n\n\
         [access]\n{store}\napi = \"{api}\"\n\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\npath_prefix = \"/orders\"\nstrip_prefix = true\nupstream = \"o\"\nservice = \"orders\"\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\n"
    )
}

/// An in-process gateway on `store`.
fn gateway(store: &str, origin: SocketAddr) -> engine::Server {
    gateway_logging(store, origin, None)
}

/// As [`gateway`], writing its access log to `log`.
fn gateway_logging(
    store: &str,
    origin: SocketAddr,
    log: Option<&std::path::Path>,
) -> engine::Server {
    let mut text = config_text(store, origin, "127.0.0.1:0", "off");
    if let Some(log) = log {
        text.push_str(&format!("\n[access_log]\npath = \"{}\"\n", log.display()));
    }
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

fn sqlite(dir: &std::path::Path) -> String {
    format!("data_dir = \"{}\"", dir.display())
}

fn call(gw: SocketAddr, path: &str, extra: &str) -> common::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nhost: shop\r\n{extra}\r\n");
    request(gw, raw.as_bytes())
}

fn status(gw: SocketAddr, path: &str, extra: &str) -> u16 {
    call(gw, path, extra).status
}

#[test]
fn subscriptions_gate_the_data_path_and_outlive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    flow(&sqlite(dir.path()));
}

#[test]
fn subscriptions_gate_the_data_path_and_outlive_a_restart_on_postgres() {
    let pg = pg::Postgres::start();
    flow(&format!("store = \"{}\"", pg.database("gw")));
}

/// The whole flow, on the store `store`.
fn flow(store: &str) {
    let origin = Origin::start();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let server = gateway_logging(store, origin.addr, Some(&log));
    let gw = server.local_addrs()[0];
    let api = Mgmt::new(server.api_addr().unwrap(), None);

    let team = id(&api.post("/teams", r#"{"name":"shop"}"#));
    let svc = id(&api.post(
        "/services",
        &format!(r#"{{"team":{team},"name":"orders","approval":"required","auth":["key"]}}"#),
    ));
    let app = id(&api.post("/apps", &format!(r#"{{"team":{team},"name":"mobile"}}"#)));
    let cred = api.post(&format!("/apps/{app}/credentials"), r#"{"kind":"key"}"#);
    let key = cred["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cg_") && key.len() == 46, "{key}");
    let listed = api.get(&format!("/apps/{app}/credentials"));
    assert!(
        !listed.to_string().contains(&key),
        "a key is shown once only"
    );
    let with_key = format!("x-api-key: {key}\r\n");

    // Valid key, no subscription yet: 403 (once the service is compiled in).
    until(Duration::from_secs(1), 403, || {
        status(gw, "/orders/seen", &with_key)
    });
    let denied = call(gw, "/orders/seen", "");
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Key realm=\"coregate\"")
    );
    assert_eq!(denied.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&denied.body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    let wrong = call(gw, "/orders/seen", "x-api-key: cg_not-a-key\r\n");
    assert_eq!((wrong.status, wrong.body.len()), (401, denied.body.len()));
    assert_eq!(
        status(gw, "/open", ""),
        200,
        "routes without a service stay open"
    );

    let sub = api.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    );
    assert_eq!(sub["state"], "pending");
    let pending = api.get("/subscriptions?state=pending");
    assert_eq!(pending["items"][0]["id"], sub["id"]);
    api.expect(
        200,
        "POST",
        &format!("/subscriptions/{}/approve", id(&sub)),
        None,
    );
    let took = until(Duration::from_secs(1), 200, || {
        status(gw, "/orders/seen", &with_key)
    });
    eprintln!("approval reached the data path in {took:?}");

    // Upstream: the identity, never the key, and no spoofed identity.
    let spoof = format!("{with_key}x-consumer-app: evil\r\nX-Consumer-Team: evil\r\n");
    let seen = call(gw, "/orders/seen", &spoof).text().to_ascii_lowercase();
    let lines: Vec<&str> = seen.lines().map(str::trim_end).collect();
    assert!(lines.contains(&"x-consumer-app: mobile"), "{seen}");
    assert!(lines.contains(&"x-consumer-team: shop"), "{seen}");
    assert!(
        !seen.contains("evil") && !seen.contains(&key.to_ascii_lowercase()),
        "{seen}"
    );

    // A key in the query string, once the service allows it, is stripped too.
    api.expect(
        200,
        "PUT",
        &format!("/services/{svc}"),
        Some(r#"{"name":"orders","approval":"required","auth":["key"],"key_query":"apikey"}"#),
    );
    let q = format!("/orders/echo?a=1&apikey={key}&b=2");
    until(Duration::from_secs(1), 200, || status(gw, &q, ""));
    let targets: Vec<String> = origin.targets.try_iter().collect();
    assert_eq!(targets.last().map(String::as_str), Some("/echo?a=1&b=2"));

    api.expect(
        200,
        "POST",
        &format!("/subscriptions/{}/revoke", id(&sub)),
        None,
    );
    until(Duration::from_secs(1), 403, || {
        status(gw, "/orders/seen", &with_key)
    });

    // The log names the caller of every request a credential identified,
    // a 403 included, and never the key (a query parameter's included).
    let (entries, lines) = common::log_entries(&log);
    let named = |status: u64| {
        entries
            .iter()
            .any(|e| e["status"] == status && e["consumer"] == "mobile" && e["team"] == "shop")
    };
    assert!(named(200) && named(403), "{lines}");
    assert!(entries
        .iter()
        .any(|e| e["status"] == 401 && e["consumer"].is_null()));
    // Once the service takes keys in the query, they are cut from the log
    // (the 401s before that carried a parameter the gateway had no reason
    // to think secret, as any other).
    let let_in: Vec<&serde_json::Value> = entries.iter().filter(|e| e["status"] == 200).collect();
    assert!(
        let_in.iter().all(|e| !e.to_string().contains(&key)),
        "{lines}"
    );
    assert!(let_in.iter().any(|e| e["query"] == "a=1&b=2"), "{lines}");

    server.stop();
    server.wait().unwrap();
    let server = gateway(store, origin.addr);
    let gw = server.local_addrs()[0];
    assert_eq!(
        status(gw, "/orders/seen", &with_key),
        403,
        "revocation persists"
    );
    let api = Mgmt::new(server.api_addr().unwrap(), None);
    api.expect(
        409,
        "POST",
        &format!("/subscriptions/{}/revoke", id(&sub)),
        None,
    );
    let again = api.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    );
    api.expect(
        200,
        "POST",
        &format!("/subscriptions/{}/approve", id(&again)),
        None,
    );
    until(Duration::from_secs(1), 200, || {
        status(gw, "/orders/seen", &with_key)
    });
}

/// A `coregate` process, killed when dropped.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `store.up` in the admin listener's `/stats`.
fn store_up(admin: SocketAddr) -> bool {
    let r = request(
        admin,
        b"GET /stats HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["store"]["up"] == serde_json::Value::Bool(true)
}

#[test]
fn two_gateways_share_one_postgres_and_ride_out_its_outage() {
    let pg = pg::Postgres::start();
    let store = format!("store = \"{}\"", pg.database("shared"));
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let mut hosts = Vec::new();
    for i in 0..2 {
        let (listen, api, admin) = (
            common::free_port(),
            common::free_port(),
            common::free_port(),
        );
        let path = dir.path().join(format!("gw{i}.toml"));
        let text = config_on(
            &listen.to_string(),
            &store,
            origin.addr,
            &api.to_string(),
            &admin.to_string(),
        );
        std::fs::write(&path, text).unwrap();
        let child = Proc(common::spawn_with_config(&path, &[]));
        for a in [listen, api, admin] {
            common::wait_for_port(a);
        }
        hosts.push((child, listen, api, admin));
    }
    let (gw1, gw2) = (hosts[0].1, hosts[1].1);
    let (api1, admin2) = (Mgmt::new(hosts[0].2, None), hosts[1].3);

    // Created on host 1, enforced on host 2.
    let team = id(&api1.post("/teams", r#"{"name":"shop"}"#));
    let svc = id(&api1.post(
        "/services",
        &format!(r#"{{"team":{team},"name":"orders"}}"#),
    ));
    let app = id(&api1.post("/apps", &format!(r#"{{"team":{team},"name":"web"}}"#)));
    let cred = api1.post(&format!("/apps/{app}/credentials"), r#"{"kind":"key"}"#);
    let with_key = format!("x-api-key: {}\r\n", cred["key"].as_str().unwrap());
    until(Duration::from_secs(1), 403, || {
        status(gw2, "/orders/x", &with_key)
    });
    let sub = id(&api1.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    ));
    api1.expect(200, "POST", &format!("/subscriptions/{sub}/approve"), None);
    let took = until(Duration::from_secs(1), 200, || {
        status(gw2, "/orders/x", &with_key)
    });
    eprintln!("an approval on host 1 reached host 2 in {took:?}");
    assert_eq!(status(gw1, "/orders/x", &with_key), 200);
    assert!(store_up(admin2));
    let metrics = request(
        admin2,
        b"GET /metrics HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    .text();
    for class in ["2xx", "4xx"] {
        let series = format!(
            "coregate_app_requests_total{{app=\"web\",team=\"shop\",status_class=\"{class}\"}} "
        );
        assert!(
            metrics.lines().any(|l| l.starts_with(&series)),
            "{series} in\n{metrics}"
        );
    }
    assert!(metrics.contains("coregate_store_up 1"), "{metrics}");

    // The database goes away: both hosts keep serving the last policy.
    pg.stop();
    until(Duration::from_secs(2), 0, || u16::from(store_up(admin2)));
    for gw in [gw1, gw2] {
        assert_eq!(status(gw, "/orders/x", &with_key), 200);
        assert_eq!(status(gw, "/orders/x", ""), 401);
    }
    assert_eq!(api1.call("GET", "/apps", None).status, 503);

    // It comes back: a revocation made then reaches both hosts.
    pg.restart();
    let revoke = format!("/subscriptions/{sub}/revoke");
    until(Duration::from_secs(3), 200, || {
        api1.call("POST", &revoke, None).status
    });
    for gw in [gw2, gw1] {
        until(Duration::from_secs(3), 403, || {
            status(gw, "/orders/x", &with_key)
        });
    }
    assert!(store_up(admin2));
}

#[test]
fn basic_credentials_verify_once_and_stop_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start();
    let server = gateway(&sqlite(dir.path()), origin.addr);
    let gw = server.local_addrs()[0];
    let api = Mgmt::new(server.api_addr().unwrap(), None);
    let (_, svc, app) = shop(&api, r#"["key","basic"]"#, "batch");
    let cred = api.post(
        &format!("/apps/{app}/credentials"),
        r#"{"kind":"basic","username":"alice","password":"s3cret: pass"}"#,
    );
    assert!(!cred.to_string().contains("s3cret"), "{cred}");
    api.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    );

    // base64("alice:s3cret: pass"), base64("alice:wrong")
    let good = "authorization: Basic YWxpY2U6czNjcmV0OiBwYXNz\r\n";
    // Each probe pays an argon2id (a dummy one while the user is unknown),
    // slow in a debug build: the 1 s propagation is checked with keys.
    until(Duration::from_secs(5), 200, || {
        status(gw, "/orders/seen", good)
    });
    let seen = call(gw, "/orders/seen", good).text().to_ascii_lowercase();
    assert!(
        !seen.contains("authorization"),
        "the credential stays here: {seen}"
    );
    assert!(
        seen.lines()
            .any(|l| l.trim_end() == "x-consumer-app: batch"),
        "{seen}"
    );
    for _ in 0..20 {
        assert_eq!(status(gw, "/orders/x", good), 200);
    }
    let wrong = call(gw, "/orders/x", "authorization: Basic YWxpY2U6d3Jvbmc=\r\n");
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Key realm=\"coregate\", Basic realm=\"coregate\", charset=\"UTF-8\"")
    );
    for bad in [
        "authorization: Basic !!!\r\n",
        "authorization: Basic Ym9iOng=\r\n",
        "authorization: Bearer x\r\n",
    ] {
        assert_eq!(status(gw, "/orders/x", bad), 401, "{bad}");
    }
    // A flood of wrong passwords: each shard checks at most 8 at once and
    // answers the rest 503 at once, instead of queueing them all.
    let flood: Vec<_> = (0..40)
        .map(|_| {
            std::thread::spawn(move || {
                status(gw, "/orders/x", "authorization: Basic YWxpY2U6d3Jvbmc=\r\n")
            })
        })
        .collect();
    let answers: Vec<u16> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 503),
        "{answers:?}"
    );
    assert!(
        answers.contains(&401) && answers.contains(&503),
        "{answers:?}"
    );
    assert_eq!(
        status(gw, "/orders/x", good),
        200,
        "the cache still answers the known caller"
    );
    api.expect(204, "DELETE", &format!("/credentials/{}", id(&cred)), None);
    until(Duration::from_secs(5), 401, || {
        status(gw, "/orders/x", good)
    });
}
