//! The management API over real sockets: tokens and tenant isolation, bad
//! bodies named by field, names that look like SQL, the OpenAPI document,
//! and the refusal to listen beyond loopback without a root token.

mod common;

use std::net::SocketAddr;

use common::mgmt::{id, Mgmt};

const ROOT: &str = "root-token-0123456789abcdef";

/// A gateway with a store in `dir`, its API on `api`, and the root token
/// in a file when `root` is set.
fn start(dir: &std::path::Path, api: &str, root: bool) -> Result<engine::Server, String> {
    let token_file = dir.join("root.token");
    std::fs::write(&token_file, format!("{ROOT}\n")).unwrap();
    let token = match root {
        true => format!("api_token_file = \"{}\"\n", token_file.display()),
        false => String::new(),
    };
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 1\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"{api}\"\n{token}\n\
         [[routes]]\nrespond = {{ status = 200, body = \"ok\" }}\n",
        dir.display()
    );
    let mut t = common::config(&text);
    t.cpus = None;
    engine::Server::start(t).map_err(|e| e.to_string())
}

fn api_of(s: &engine::Server, token: Option<&str>) -> Mgmt {
    Mgmt::new(s.api_addr().unwrap(), token)
}

#[test]
fn refuses_to_listen_beyond_loopback_without_a_root_token() {
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path(), "0.0.0.0:0", false).err().unwrap();
    assert!(
        err.contains("beyond loopback without a root token"),
        "{err}"
    );
    let s = start(dir.path(), "0.0.0.0:0", true).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", s.api_addr().unwrap().port())
        .parse()
        .unwrap();
    assert_eq!(
        Mgmt::new(addr, None).call("GET", "/teams", None).status,
        401
    );
    Mgmt::new(addr, Some(ROOT)).get("/teams");
}

#[test]
fn a_team_token_sees_and_changes_only_its_own_team() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "127.0.0.1:0", true).unwrap();
    let root = api_of(&s, Some(ROOT));
    let a = id(&root.post("/teams", r#"{"name":"a"}"#));
    let b = id(&root.post("/teams", r#"{"name":"b"}"#));
    let ta = root.post(&format!("/teams/{a}/tokens"), "")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tb = root.post(&format!("/teams/{b}/tokens"), "")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ta, tb) = (root.with_token(&ta), root.with_token(&tb));

    // The operator gives team A a service; services are named by routes, so
    // a team can neither create one nor rename its own.
    let spec =
        |name: &str, vis: &str| format!(r#"{{"team":{a},"name":"{name}","visibility":"{vis}"}}"#);
    assert_eq!(
        ta.call("POST", "/services", Some(&spec("mine", "team")))
            .status,
        403
    );
    let svc = id(&root.post("/services", &spec("a-svc", "team")));
    let rename = format!("/services/{svc}");
    assert_eq!(
        ta.call(
            "PUT",
            &rename,
            Some(r#"{"name":"a-svc2","visibility":"team"}"#)
        )
        .status,
        403
    );
    let kept = ta.expect(
        200,
        "PUT",
        &rename,
        Some(r#"{"name":"a-svc","visibility":"team","approval":"required"}"#),
    );
    assert_eq!(kept["approval"], "required");
    let app_a = id(&ta.post("/apps", r#"{"name":"a-app"}"#));
    ta.post(&format!("/apps/{app_a}/credentials"), r#"{"kind":"key"}"#);
    let app_b = id(&tb.post("/apps", r#"{"name":"b-app"}"#));

    // B can neither read nor change any of it: 404, as if it did not exist.
    for (m, p, body) in [
        ("GET", format!("/apps/{app_a}"), None),
        ("DELETE", format!("/apps/{app_a}"), None),
        ("GET", format!("/apps/{app_a}/credentials"), None),
        (
            "POST",
            format!("/apps/{app_a}/credentials"),
            Some(r#"{"kind":"key"}"#),
        ),
        ("GET", format!("/services/{svc}"), None),
        (
            "PUT",
            format!("/services/{svc}"),
            Some(r#"{"name":"taken"}"#),
        ),
        ("DELETE", format!("/services/{svc}"), None),
        ("GET", format!("/teams/{a}/tokens"), None),
        ("POST", format!("/teams/{a}/tokens"), None),
        (
            "POST",
            "/subscriptions".to_owned(),
            Some(&*format!(r#"{{"app":{app_b},"service":{svc}}}"#)),
        ),
        (
            "POST",
            "/apps".to_owned(),
            Some(&*format!(r#"{{"team":{a},"name":"intruder"}}"#)),
        ),
    ] {
        let r = tb.call(m, &p, body);
        assert_eq!(r.status, 404, "{m} {p}: {}", r.text());
    }
    assert_eq!(
        tb.call("POST", "/teams", Some(r#"{"name":"c"}"#)).status,
        403
    );
    assert_eq!(tb.call("DELETE", &format!("/teams/{a}"), None).status, 403);
    let b_apps = tb.get("/apps").to_string();
    assert!(
        b_apps.contains("b-app") && !b_apps.contains("a-app"),
        "{b_apps}"
    );
    let b_teams = tb.get("/teams").to_string();
    assert!(
        b_teams.contains("\"b\"") && !b_teams.contains("\"a\""),
        "{b_teams}"
    );
    assert!(!tb.get("/services").to_string().contains("a-svc"));

    // A public service of A: B may apply, only A may approve.
    let public = id(&root.post("/services", &spec("a-public", "public")));
    let sub = tb.post(
        "/subscriptions",
        &format!(r#"{{"app":{app_b},"service":{public}}}"#),
    );
    assert_eq!(sub["state"], "pending");
    let approve = format!("/subscriptions/{}/approve", id(&sub));
    assert_eq!(tb.call("POST", &approve, None).status, 404);
    let pending = ta.get("/subscriptions?state=pending");
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    ta.expect(200, "POST", &approve, None);
    assert_eq!(tb.get("/subscriptions")["items"][0]["state"], "approved");

    // No token, a wrong one, a huge one, a malformed header: 401.
    let api = s.api_addr().unwrap();
    for token in [None, Some("cg_wrong"), Some(&*"x".repeat(4096))] {
        let r = Mgmt::new(api, token).call("GET", "/apps", None);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"coregate\"")
        );
    }
    let raw = b"GET /api/v1/apps HTTP/1.1\r\nhost: a\r\nauthorization: Basic Zm9vOmJhcg==\r\nconnection: close\r\n\r\n";
    assert_eq!(common::request(api, raw).status, 401);

    // A revoked token stops working.
    let tid = id(&root.get(&format!("/teams/{b}/tokens"))["items"][0]);
    root.expect(204, "DELETE", &format!("/tokens/{tid}"), None);
    assert_eq!(tb.call("GET", "/apps", None).status, 401);
}

#[test]
fn bad_bodies_are_400_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "127.0.0.1:0", false).unwrap();
    let api = api_of(&s, None);
    let cases = [
        (r#"{"name":"x","colour":"red"}"#, "colour"),
        (r#"{"name":7}"#, "name"),
        (r#"{}"#, "name"),
        (r#"{"name":""}"#, "name"),
        (r#"not json"#, "body"),
    ];
    for (body, field) in cases {
        let v = api.expect(400, "POST", "/teams", Some(body));
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    let team = id(&api.post("/teams", r#"{"name":"o'brien\"; DROP TABLE teams; --"}"#));
    let v = api.expect(
        400,
        "POST",
        "/apps",
        Some(&format!(r#"{{"team":{team},"name":"a","extra":1}}"#)),
    );
    assert_eq!(v["field"], "extra");
    let v = api.expect(
        400,
        "POST",
        "/services",
        Some(&format!(
            r#"{{"team":{team},"name":"s","approval":"sometimes"}}"#
        )),
    );
    assert_eq!(v["field"], "approval");
    let v = api.expect(400, "GET", "/apps/abc", None);
    assert_eq!(v["field"], "path");
    let v = api.expect(400, "GET", "/subscriptions?state=lost", None);
    assert_eq!(v["field"], "query");
    assert_eq!(
        api.get("/teams")["items"][0]["name"],
        "o'brien\"; DROP TABLE teams; --"
    );
    api.expect(404, "GET", "/nothing", None);
    // Without a root token only loopback callers act as root: a page that
    // reaches the API through DNS rebinding names another host.
    let rebound =
        b"GET /api/v1/teams HTTP/1.1\r\nhost: evil.example:9902\r\nconnection: close\r\n\r\n";
    assert_eq!(common::request(s.api_addr().unwrap(), rebound).status, 401);
}

#[test]
fn the_openapi_document_lists_endpoints_that_answer() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "127.0.0.1:0", false).unwrap();
    let api = api_of(&s, None);
    let doc = api.get("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let ops: usize = paths.values().map(|o| o.as_object().unwrap().len()).sum();
    assert_eq!((paths.len(), ops), (13, 25));
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "999999")
                .replace("{action}", "approve");
            let body = matches!(method.as_str(), "post" | "put").then_some("{}");
            let r = api.call(&method.to_uppercase(), &concrete, body);
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            assert_ne!(v["message"], "no such endpoint", "{method} {path}");
            assert_ne!(r.status, 405, "{method} {path}");
        }
    }
}
