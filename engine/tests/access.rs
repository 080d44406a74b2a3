//! Access control end to end over real sockets: objects created through
//! the management API gate the data path within a second, the credential
//! never reaches the upstream, the identity does, and the state outlives a
//! restart. Tenants cannot see or change each other's objects.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::mgmt::{id, until, Mgmt};
use common::{request, Origin};

/// A gateway with a store in `dir`: `/orders/...` belongs to the service
/// `orders` (prefix stripped), everything else is open.
fn gateway(dir: &std::path::Path, origin: SocketAddr) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"127.0.0.1:0\"\n\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\npath_prefix = \"/orders\"\nstrip_prefix = true\nupstream = \"o\"\nservice = \"orders\"\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\n",
        dir.display()
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

fn call(gw: SocketAddr, path: &str, extra: &str) -> common::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nhost: shop\r\n{extra}\r\n");
    request(gw, raw.as_bytes())
}

fn status(gw: SocketAddr, path: &str, extra: &str) -> u16 {
    call(gw, path, extra).status
}

#[test]
fn subscriptions_gate_the_data_path_and_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start();
    let server = gateway(dir.path(), origin.addr);
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

    server.stop();
    server.wait().unwrap();
    let server = gateway(dir.path(), origin.addr);
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
