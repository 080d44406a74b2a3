//! Access objects declared in the config file (GitOps): written into the
//! store at start, read-only through the API, and changed by a reload.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::mgmt::{id, until, Mgmt};
use common::{request, Origin};

fn text(dir: &std::path::Path, origin: SocketAddr, subscribed: bool) -> String {
    let sub = match subscribed {
        true => "[[access.subscriptions]]\napp = \"shop/mobile\"\nservice = \"orders\"\n",
        false => "",
    };
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 1\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"127.0.0.1:0\"\n\n\
         [[access.teams]]\nname = \"shop\"\n\n\
         [[access.services]]\nteam = \"shop\"\nname = \"orders\"\nauth = [\"key\"]\n\n\
         [[access.apps]]\nteam = \"shop\"\nname = \"mobile\"\n\n{sub}\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\npath_prefix = \"/orders\"\nupstream = \"o\"\nservice = \"orders\"\n",
        dir.display()
    )
}

fn tuning(text: &str) -> tuning::Tuning {
    let mut t = common::config(text);
    t.cpus = None;
    t
}

#[test]
fn declared_objects_are_served_read_only_and_follow_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start();
    let server = common::start(tuning(&text(dir.path(), origin.addr, true)));
    let gw = server.local_addrs()[0];
    let api = Mgmt::new(server.api_addr().unwrap(), None);

    let services = api.get("/services");
    let svc = &services["items"][0];
    assert_eq!(
        (&svc["name"], &svc["declared"]),
        (&"orders".into(), &true.into())
    );
    let app = api.get("/apps")["items"][0].clone();
    assert_eq!(app["declared"], true);
    let app_id = id(&app);
    // Read-only: 409, saying where to change it.
    let put = api.call(
        "PUT",
        &format!("/services/{}", id(svc)),
        Some(r#"{"name":"x"}"#),
    );
    assert_eq!(put.status, 409, "{}", put.text());
    assert!(put.text().contains("config file"));
    assert_eq!(
        api.call("DELETE", &format!("/apps/{app_id}"), None).status,
        409
    );
    let sub = api.get("/subscriptions")["items"][0].clone();
    assert_eq!(
        (&sub["state"], &sub["declared"]),
        (&"approved".into(), &true.into())
    );
    let revoke = format!("/subscriptions/{}/revoke", id(&sub));
    assert_eq!(api.call("POST", &revoke, None).status, 409);

    // Credentials are never declared: a key is added through the API.
    let key = api.post(&format!("/apps/{app_id}/credentials"), r#"{"kind":"key"}"#)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = || {
        let raw = format!("GET /orders/x HTTP/1.1\r\nhost: h\r\nx-api-key: {key}\r\n\r\n");
        request(gw, raw.as_bytes()).status
    };
    until(Duration::from_secs(1), 200, call);

    // A reload without the subscription takes it away.
    let report = server
        .control()
        .reload_with(tuning(&text(dir.path(), origin.addr, false)))
        .unwrap();
    assert!(report.version > 1);
    until(Duration::from_secs(1), 403, call);
    assert!(api.get("/subscriptions")["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        api.get("/apps")["items"][0]["id"],
        app_id,
        "the app stays, with its key"
    );

    // A name made through the API is not taken over by a declaration: the
    // reload is refused and says why.
    api.post("/teams", r#"{"name":"squat"}"#);
    let with_squat = text(dir.path(), origin.addr, false).replace(
        "[[access.teams]]\nname = \"shop\"\n",
        "[[access.teams]]\nname = \"shop\"\n\n[[access.teams]]\nname = \"squat\"\n",
    );
    let err = server
        .control()
        .reload_with(tuning(&with_squat))
        .unwrap_err()
        .to_string();
    assert!(err.contains("made through the API"), "{err}");
    assert_eq!(call(), 403, "the previous configuration keeps serving");
}
