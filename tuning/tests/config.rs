//! The config file end to end: the sample from the docs, every validation
//! error with its line and field, flags over file, quick mode, the embedded default.

// Helpers outside #[test] functions panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tuning::{
    parse_file, parse_toml, BackendAddr, Cli, ConfigSource, HostMatch, RouteAction, Tuning,
    TuningError,
};

const SAMPLE: &str = r#"[server]
listen = ["127.0.0.1:8080"]
shards = 1
cpus = [0]
backlog = 4096
max_connections = 16384
admin = "127.0.0.1:9901"

[timeouts]
client_header = "10s"
client_body = "60s"
client_keepalive = "75s"
upstream_connect = "5s"
upstream_header = "60s"
upstream_body = "60s"
upstream_idle = "60s"
drain = "30s"

[limits]
max_head_bytes = 16384
max_headers = 100
max_target_bytes = 8192
max_body_bytes = "1g"

[io]
ring_entries = 1024
buffers = 1024
buffer_size = 16384
max_unread = 262144

[pool]
max_idle = 256

[upstreams.api]
backends = [ { address = "127.0.0.1:9000", weight = 2 }, "127.0.0.1:9001" ]

[[routes]]
name = "api"
host = "*.example.com"
path_prefix = "/api"
upstream = "api"

[[routes]]
respond = { status = 200, body = "hello\n", headers = { "content-type" = "text/plain" } }
"#;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every error for `text`, as printed.
fn errors(text: &str) -> Vec<String> {
    match parse_toml("coregate.toml", text) {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

/// `text` must fail with exactly one error, starting with `prefix`.
#[track_caller]
fn one_error(text: &str, prefix: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with(prefix),
        "want {prefix:?}, got {:?}",
        errors[0]
    );
}

/// A valid minimal file with `extra` appended to `[server]`'s neighbours.
fn with(extra: &str) -> String {
    format!("{extra}\n[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"api\"\n")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tuning-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sample_config_validates() {
    let t = parse_toml("coregate.toml", SAMPLE).unwrap();
    assert_eq!(t.listen, vec![addr("127.0.0.1:8080")]);
    assert_eq!((t.shards, t.cpus.as_deref()), (1, Some(&[0][..])));
    assert_eq!(t.admin, Some(addr("127.0.0.1:9901")));
    assert_eq!(t.timeouts.client_keepalive, Duration::from_secs(75));
    assert_eq!(t.limits.max_body_bytes, 1 << 30);
    assert_eq!(t.upstreams.len(), 1);
    assert_eq!(
        t.upstreams[0].backends,
        vec![
            BackendAddr {
                address: addr("127.0.0.1:9000"),
                weight: 2
            },
            BackendAddr {
                address: addr("127.0.0.1:9001"),
                weight: 1
            },
        ]
    );
    assert_eq!(t.routes[0].name, "api");
    assert_eq!(t.routes[0].host, HostMatch::Suffix(".example.com".into()));
    assert_eq!(t.routes[0].path_prefix, "/api");
    assert_eq!(t.routes[0].action, RouteAction::Proxy { group: 0 });
    assert_eq!(t.routes[1].name, "route-1");
    assert_eq!(t.routes[1].path_prefix, "/");
    assert_eq!(
        t.routes[1].action,
        RouteAction::Respond {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "hello\n".into(),
        }
    );
    assert_eq!(t.source, ConfigSource::File("coregate.toml".into()));
}

#[test]
fn unset_fields_take_defaults() {
    let t = parse_toml("c.toml", &with("")).unwrap();
    let d = Tuning::default();
    assert_eq!(
        (t.listen, t.backlog, t.admin),
        (d.listen, d.backlog, d.admin)
    );
    assert_eq!(
        (t.timeouts, t.limits, t.io, t.pool),
        (d.timeouts, d.limits, d.io, d.pool)
    );
    assert_eq!(t.shards, d.shards);
    assert_eq!(t.cpus, None);
}

#[test]
fn admin_off_and_cpu_text() {
    let t = parse_toml("c.toml", &with("[server]\nadmin = \"off\"\ncpus = \"0\"\n")).unwrap();
    assert_eq!(t.admin, None);
    assert_eq!((t.shards, t.cpus), (1, Some(vec![0])));
}

#[test]
fn max_body_bytes_zero_is_unlimited() {
    let t = parse_toml("c.toml", &with("[limits]\nmax_body_bytes = 0\n")).unwrap();
    assert_eq!(t.limits.max_body_bytes, u64::MAX);
}

#[test]
fn each_error_names_line_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[server]\nlisten = [\"nope\"]",
            "coregate.toml:2: server.listen[0]: invalid address \"nope\"",
        ),
        (
            "[server]\nlisten = []",
            "coregate.toml:2: server.listen: no listen addresses",
        ),
        (
            "[server]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]",
            "coregate.toml:2: server.listen[1]: 127.0.0.1:1 is listed twice",
        ),
        (
            "[server]\n\nshards = 0",
            "coregate.toml:3: server.shards: must be from 1 to",
        ),
        (
            "[server]\ncpus = [99999]",
            "coregate.toml:2: server.cpus: CPU 99999 not available to this process",
        ),
        (
            "[server]\ncpus = \"0,0\"",
            "coregate.toml:2: server.cpus: CPU 0 is listed twice",
        ),
        (
            "[server]\ncpus = []",
            "coregate.toml:2: server.cpus: empty CPU list",
        ),
        (
            "[server]\ncpus = [0]\nshards = 2",
            "coregate.toml:3: server.shards: 2 shards but only 1 CPUs listed in server.cpus",
        ),
        (
            "[server]\nbacklog = -1",
            "coregate.toml:2: server.backlog: must not be negative",
        ),
        (
            "[server]\nadmin = \"localhost:9901\"",
            "coregate.toml:2: server.admin: invalid address",
        ),
        (
            "[timeouts]\nclient_header = \"10\"",
            "coregate.toml:2: timeouts.client_header: invalid duration \"10\"",
        ),
        (
            "[timeouts]\nupstream_connect = \"0s\"",
            "coregate.toml:2: timeouts.upstream_connect: must be greater than zero",
        ),
        (
            "[limits]\nmax_head_bytes = 10",
            "coregate.toml:2: limits.max_head_bytes: must be from 1024",
        ),
        (
            "[limits]\nmax_headers = 0",
            "coregate.toml:2: limits.max_headers: must be from 1",
        ),
        (
            "[limits]\nmax_target_bytes = \"32k\"",
            "coregate.toml:2: limits.max_target_bytes: 32768 is larger than max_head_bytes (16384)",
        ),
        (
            "[limits]\nmax_body_bytes = \"1t\"",
            "coregate.toml:2: limits.max_body_bytes: invalid size \"1t\"",
        ),
        (
            "[io]\nbuffers = 1000",
            "coregate.toml:2: io.buffers: must be a power of two from 1 to 32768, got 1000",
        ),
        (
            "[io]\nring_entries = 65536",
            "coregate.toml:2: io.ring_entries: must be a power of two from 8 to 32768",
        ),
        (
            "[io]\nbuffer_size = 512",
            "coregate.toml:2: io.buffer_size: must be from 4096",
        ),
        (
            "[io]\nbuffer_size = \"64k\"\nmax_unread = \"32k\"",
            "coregate.toml:3: io.max_unread: 32768 is smaller than one read buffer",
        ),
        (
            "[pool]\nmax_idle = -3",
            "coregate.toml:2: pool.max_idle: must not be negative",
        ),
    ];
    for (extra, prefix) in cases {
        one_error(&with(extra), prefix);
    }
}

#[test]
fn route_and_upstream_errors_name_line_and_field() {
    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n";
    let cases: &[(String, &str)] = &[
        (format!("{up}\n[[routes]]\nupstream = \"api\"\n\n[[routes]]\nupstream = \"apii\"\n"),
         "coregate.toml:8: routes[1].upstream: unknown upstream group \"apii\" (defined: api)"),
        (format!("{up}[[routes]]\nupstream = \"api\"\nrespond = {{ status = 200 }}\n"),
         "coregate.toml:3: routes[0]: has both `upstream` and `respond`"),
        (format!("{up}[[routes]]\nname = \"x\"\n"), "coregate.toml:3: routes[0]: has no action"),
        ("[upstreams.api]\nbackends = []\n[[routes]]\nupstream = \"api\"\n".into(),
         "coregate.toml:2: upstreams.api.backends: no backends"),
        ("[upstreams.api]\nbackends = [{ address = \"127.0.0.1:1\", weight = 0 }]\n[[routes]]\nupstream = \"api\"\n".into(),
         "coregate.toml:2: upstreams.api.backends[0].weight: must be from 1 to"),
        ("[upstreams.api]\nbackends = [\n  \"127.0.0.1:1\",\n  \"bad\",\n]\n[[routes]]\nupstream = \"api\"\n".into(),
         "coregate.toml:4: upstreams.api.backends[1]: invalid address \"bad\""),
        ("[upstreams.api]\nbackends = [\"127.0.0.1:1\", { address = \"127.0.0.1:1\" }]\n[[routes]]\nupstream = \"api\"\n".into(),
         "coregate.toml:2: upstreams.api.backends[1]: 127.0.0.1:1 is listed twice"),
        (format!("{up}[[routes]]\nrespond = {{ status = 600 }}\n"), "coregate.toml:4: routes[0].respond.status: must be from 100 to 599, got 600"),
        (format!("{up}[[routes]]\nrespond = {{ status = 99 }}\n"), "coregate.toml:4: routes[0].respond.status: must be from 100 to 599, got 99"),
        (format!("{up}[[routes]]\nrespond = {{ status = 204, body = \"x\" }}\n"), "coregate.toml:4: routes[0].respond.body: a 204 response cannot have a body"),
        (format!("{up}[[routes]]\nrespond = {{ headers = {{ \"content-length\" = \"1\" }} }}\n"),
         "coregate.toml:4: routes[0].respond.headers.content-length: content-length is set by coregate"),
        (format!("{up}[[routes]]\nrespond = {{ headers = {{ X-A = \"1\", x-a = \"2\" }} }}\n"),
         "coregate.toml:4: routes[0].respond.headers.x-a: x-a is set twice (header names ignore case)"),
        (format!("{up}[[routes]]\nupstream = \"api\"\npath_prefix = \"api\"\n"), "coregate.toml:5: routes[0].path_prefix: must start with \"/\""),
        (format!("{up}[[routes]]\nupstream = \"api\"\nhost = \"a.*.com\"\n"), "coregate.toml:5: routes[0].host: invalid host pattern"),
        (format!("{up}[[routes]]\nupstream = \"api\"\nhost = \"example.com:80\"\n"), "coregate.toml:5: routes[0].host: host pattern \"example.com:80\" has a port"),
        (format!("{up}[[routes]]\nname = \"a\"\nupstream = \"api\"\n[[routes]]\nname = \"a\"\nupstream = \"api\"\n"),
         "coregate.toml:7: routes[1].name: duplicate route name \"a\" (first used by routes[0], line 4)"),
        (format!("{up}[[routes]]\nname = \"route-1\"\nupstream = \"api\"\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:6: routes[1].name: duplicate route name \"route-1\""),
        (up.to_owned(), "coregate.toml: routes: no routes"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
}

#[test]
fn deserializer_errors_name_line_and_field() {
    one_error(
        &with("[server]\nlisen = []"),
        "coregate.toml:2: server.lisen: unknown field `lisen`",
    );
    one_error(
        &with("[server]\nshards = \"2\""),
        "coregate.toml:2: server.shards: invalid type",
    );
    one_error(
        &with("[sever]\n"),
        "coregate.toml:1: sever: unknown field `sever`",
    );
    one_error("[server\n", "coregate.toml:1:");
}

#[test]
fn unknown_fields_are_all_reported_with_the_rest() {
    let text = "[server]\nlisen = [\"127.0.0.1:1\"]\nshards = 0\n\n[upstreams.api]\n\
                backends = [{ address = \"127.0.0.1:1\", wieght = 2 }]\n\n[[routes]]\nupstream = \"api\"\npath_prefx = \"/x\"\n";
    assert_eq!(
        errors(text),
        [
            "coregate.toml:2: server.lisen: unknown field `lisen` (did you mean `listen`?)",
            "coregate.toml:3: server.shards: must be from 1 to 4096, got 0",
            "coregate.toml:6: upstreams.api.backends[0].wieght: unknown field `wieght` (did you mean `weight`?)",
            "coregate.toml:10: routes[0].path_prefx: unknown field `path_prefx` (did you mean `path_prefix`?)",
        ]
    );
}

#[test]
fn collects_every_error() {
    let text = "[server]\nshards = 0\n\n[io]\nbuffers = 3\n\n[upstreams.api]\nbackends = []\n\n\
                [[routes]]\nupstream = \"nope\"\n\n[[routes]]\n";
    let errors = errors(text);
    let lines: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "coregate.toml:2",
            "coregate.toml:5",
            "coregate.toml:8",
            "coregate.toml:11",
            "coregate.toml:13"
        ],
        "{errors:#?}"
    );
}

#[test]
fn flags_override_file() {
    let path = temp_file("override.toml", SAMPLE);
    let cli = Cli::try_parse_from([
        "coregate",
        "--config",
        path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--client-header-timeout",
        "500ms",
        "--max-body-bytes",
        "0",
        "--admin",
        "off",
        "--io-buffers",
        "64",
        "--upstream-max-idle",
        "0",
    ])
    .unwrap();
    let t = Tuning::from_cli(cli).unwrap();
    assert_eq!(t.listen, vec![addr("127.0.0.1:0")]);
    assert_eq!(t.timeouts.client_header, Duration::from_millis(500));
    assert_eq!(
        t.timeouts.client_body,
        Duration::from_secs(60),
        "file value kept"
    );
    assert_eq!(t.limits.max_body_bytes, u64::MAX);
    assert_eq!(t.admin, None);
    assert_eq!(t.io.buffers, 64);
    assert_eq!(t.pool.max_idle, 0);
    assert_eq!(t.routes.len(), 2, "routes come from the file");
    assert_eq!(t.source, ConfigSource::File(path));
}

#[test]
fn bad_flag_over_good_file_is_a_command_line_error() {
    let path = temp_file("flagerr.toml", SAMPLE);
    let cli = Cli::try_parse_from([
        "coregate",
        "--config",
        path.to_str().unwrap(),
        "--io-buffers",
        "1000",
    ])
    .unwrap();
    let err = Tuning::from_cli(cli).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: --io-buffers: must be a power of two from 1 to 32768, got 1000"
    );
}

#[test]
fn flag_shards_against_file_cpus() {
    let path = temp_file("shards.toml", SAMPLE);
    let cli = Cli::try_parse_from([
        "coregate",
        "--config",
        path.to_str().unwrap(),
        "--shards",
        "3",
    ])
    .unwrap();
    let err = Tuning::from_cli(cli).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: --shards: 3 shards but only 1 CPUs listed in server.cpus"
    );
}

#[test]
fn parse_file_reads_and_reports_path() {
    let path = temp_file(
        "bad.toml",
        "[server]\nshards = 0\n[[routes]]\nrespond = {}\n",
    );
    let err = parse_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: server.shards: must be from 1 to 4096, got 0",
            path.display()
        )
    );
    let missing = path.with_file_name("missing.toml");
    assert!(matches!(
        parse_file(&missing),
        Err(TuningError::Read { .. })
    ));
}

#[test]
fn quick_mode_from_flags() {
    let cli = Cli::try_parse_from([
        "coregate",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9000",
        "--upstream",
        "127.0.0.1:9001",
        "--shards",
        "1",
    ])
    .unwrap();
    let t = Tuning::from_cli(cli).unwrap();
    let want = Tuning {
        shards: 1,
        ..Tuning::quick(
            vec![addr("127.0.0.1:0")],
            vec![addr("127.0.0.1:9000"), addr("127.0.0.1:9001")],
        )
    };
    assert_eq!(t, want);
}

#[test]
fn embedded_default_is_the_default() {
    let t = Tuning::embedded_default();
    assert_eq!(t, Tuning::default());
    let from_flags = Tuning::from_cli(Cli::try_parse_from(["coregate"]).unwrap()).unwrap();
    assert_eq!(from_flags, t);
    let RouteAction::Respond {
        status,
        headers,
        body,
    } = &t.routes[0].action
    else {
        panic!()
    };
    assert_eq!(*status, 200);
    assert!(headers[0].1.starts_with("text/plain"));
    assert!(
        body.contains("--upstream 127.0.0.1:9000") && body.contains("--config FILE"),
        "{body}"
    );
    assert_eq!(t.source, ConfigSource::Embedded);
}

#[test]
fn flags_apply_over_embedded_default() {
    let cli = Cli::try_parse_from([
        "coregate",
        "--listen",
        "127.0.0.1:0",
        "--drain-timeout",
        "0s",
    ])
    .unwrap();
    let t = Tuning::from_cli(cli).unwrap();
    assert_eq!(t.listen, vec![addr("127.0.0.1:0")]);
    assert_eq!(t.timeouts.drain, Duration::ZERO);
    assert_eq!(t.source, ConfigSource::Embedded);
}

#[test]
fn access_settings_and_their_errors() {
    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n";
    let cases: &[(String, &str)] = &[
        (format!("{up}[[routes]]\nupstream = \"api\"\nservice = \"orders\"\n"),
         "coregate.toml:5: routes[0].service: services live in the store: set access.data_dir"),
        (format!("[access]\napi = \"127.0.0.1:9902\"\n{up}[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:2: access.api: the management API needs a store"),
        (format!("[access]\ndata_dir = \"/d\"\napp_header = \"bad header\"\n{up}[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:3: access.app_header: invalid header name"),
        (format!("[access]\ndata_dir = \"/d\"\napi = \"127.0.0.1:9901\"\n{up}[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:3: access.api: 127.0.0.1:9901 is already a listen or admin address"),
        (format!("[access]\ndata_dir = \"/d\"\nap = \"off\"\n{up}[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:3: access.ap: unknown field `ap` (did you mean `api`?)"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
    let text = format!(
        "[access]\ndata_dir = \"data\"\n{up}[[routes]]\nupstream = \"api\"\nservice = \"orders\"\n"
    );
    let t = parse_toml("/etc/coregate/coregate.toml", &text).unwrap();
    assert_eq!(t.access.data_dir, Some(PathBuf::from("/etc/coregate/data")));
    assert_eq!(t.access.api, Some("127.0.0.1:9902".parse().unwrap()));
    assert_eq!(t.routes[0].service.as_deref(), Some("orders"));
    assert_eq!(t.access.app_header, "X-Consumer-App");
    assert_eq!(Tuning::default().access.api, None);
}

#[test]
fn route_guards_and_their_errors() {
    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n";
    let cases: &[(String, &str)] = &[
        (format!("{up}[[routes]]\nupstream = \"api\"\nallow_ips = [\"10.0.0.1/8\"]\n"),
         "coregate.toml:5: routes[0].allow_ips[0]: \"10.0.0.1/8\" has host bits set"),
        (format!("{up}[[routes]]\nupstream = \"api\"\ndeny_ips = [\"10.0.0.0/8\", \"nope\"]\n"),
         "coregate.toml:5: routes[0].deny_ips[1]: invalid address or CIDR block \"nope\""),
        (format!("{up}[[routes]]\nupstream = \"api\"\ncors = {{ origins = [\"*\"], credentials = true }}\n"),
         "coregate.toml:5: routes[0].cors.credentials: credentials cannot go with any origin"),
        (format!("{up}[[routes]]\nupstream = \"api\"\ncors = {{ credentials = true }}\n"),
         "coregate.toml:5: routes[0].cors.credentials: credentials cannot go with any origin"),
        (format!("{up}[[routes]]\nupstream = \"api\"\ncors = {{ origins = [\"app.example.com\"] }}\n"),
         "coregate.toml:5: routes[0].cors.origins: \"app.example.com\" is not an origin"),
        (format!("{up}[[routes]]\nupstream = \"api\"\ncors = {{ origin = [\"x\"] }}\n"),
         "coregate.toml:5: routes[0].cors.origin: unknown field `origin` (did you mean `origins`?)"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
    let text = format!("{up}[[routes]]\nupstream = \"api\"\nallow_ips = [\"::1\", \"127.0.0.0/8\"]\ncors = {{ origins = [\"https://A.example\"], max_age = \"1m\" }}\n");
    let t = parse_toml("coregate.toml", &text).unwrap();
    let r = &t.routes[0];
    assert_eq!(r.allow_ips.len(), 2);
    assert!(r.allow_ips[1].contains("127.1.2.3".parse().unwrap()));
    let cors = r.cors.as_ref().unwrap();
    assert_eq!(cors.origins, ["https://a.example"]);
    assert_eq!(cors.max_age, Duration::from_secs(60));
}

#[test]
fn declared_access_objects_and_their_errors() {
    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n[[routes]]\nupstream = \"api\"\n";
    let store = "[access]\ndata_dir = \"/d\"\n";
    let cases: &[(String, &str)] = &[
        (format!("{store}jwt_skew = \"1h\"\n{up}"),
         "coregate.toml:3: access.jwt_skew: at most 10m"),
        (format!("{store}[[access.services]]\nteam = \"nobody\"\nname = \"s\"\n{up}"),
         "coregate.toml:4: access.services[0].team: not a team of [[access.teams]]"),
        (format!("{store}[[access.teams]]\nname = \"t\"\n[[access.teams]]\nname = \"t\"\n{up}"),
         "coregate.toml:6: access.teams[1].name: declared twice"),
        (format!("{store}[[access.teams]]\nname = \"t\"\n[[access.apps]]\nteam = \"t\"\nname = \"a\"\n[[access.subscriptions]]\napp = \"a\"\nservice = \"s\"\n{up}"),
         "coregate.toml:9: access.subscriptions[0].app: expected \"team/app\" of [[access.apps]]"),
        (format!("{store}[[access.teams]]\nname = \"t\"\n[[access.services]]\nteam = \"t\"\nname = \"s\"\napproval = \"maybe\"\n{up}"),
         "coregate.toml:8: access.services[0].approval: must be one of required, auto"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
    let typo = format!("{store}[[access.teams]]\nnam = \"t\"\n{up}");
    let err = parse_toml("coregate.toml", &typo).unwrap_err().to_string();
    assert!(
        err.contains(
            "coregate.toml:4: access.teams[0].nam: unknown field `nam` (did you mean `name`?)"
        ),
        "{err}"
    );
    let no_store = format!("[[access.teams]]\nname = \"t\"\n{up}");
    let err = parse_toml("coregate.toml", &no_store)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("access: declared teams, services and apps live in the store"),
        "{err}"
    );
}

#[test]
fn rate_limits_and_their_errors() {
    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n";
    let cases: &[(String, &str)] = &[
        (format!("{up}[[routes]]\nupstream = \"api\"\nrate_limit = {{ rate = \"5/d\" }}\n"),
         "coregate.toml:5: routes[0].rate_limit.rate: invalid rate \"5/d\""),
        (format!("{up}[[routes]]\nupstream = \"api\"\nrate_limit = {{ rate = \"5/s\", burst = -1 }}\n"),
         "coregate.toml:5: routes[0].rate_limit.burst: must be from 0 to"),
        (format!("{up}[[routes]]\nupstream = \"api\"\nrate_limit = {{ rate = \"5/s\", key = \"cookie:x\" }}\n"),
         "coregate.toml:5: routes[0].rate_limit.key: unknown key \"cookie:x\""),
        (format!("{up}[[routes]]\nupstream = \"api\"\nrate_limit = {{ rate = \"5/s\", brust = 1 }}\n"),
         "coregate.toml:5: routes[0].rate_limit.brust: unknown field `brust` (did you mean `burst`?)"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
    let text = format!("{up}[[routes]]\nname = \"r\"\nupstream = \"api\"\nrate_limit = {{ rate = \"100/s\", burst = 20, key = \"ip/24\" }}\n");
    let limit = parse_toml("coregate.toml", &text).unwrap().routes[0].limits[0].clone();
    let tuning::LimitKind::Rate(rate) = &limit.kind else {
        panic!("{limit:?}")
    };
    assert_eq!((rate.burst, rate.interval), (20, Duration::from_millis(10)));
    assert_eq!(limit.key, vec![tuning::LimitKey::Ip(Some(24))]);
}

#[test]
fn named_policies_attach_to_routes_and_services() {
    let text = r#"
[access]
data_dir = "/var/lib/coregate"

[upstreams.api]
backends = ["127.0.0.1:9000"]

[[rate_limits]]
name = "per-app"
service = "orders"
rate = "10/s"
key = ["app", "header:x-user"]
missing_key = "skip"

[[rate_limits]]
name = "daily"
quota = "10000/day"
window = "rolling"
key = "app"
cost_header = "x-usage-tokens"

[[rate_limits]]
name = "inflight"
concurrency = 4

[[routes]]
path_prefix = "/orders"
service = "orders"
upstream = "api"
rate_limits = ["daily", "inflight"]

[[routes]]
upstream = "api"
"#;
    let t = parse_toml("coregate.toml", text).unwrap();
    let names: Vec<&str> = t.routes[0].limits.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["daily", "inflight", "per-app"],
        "named first, then the service's"
    );
    assert!(t.routes[1].limits.is_empty());
    let daily = &t.routes[0].limits[0];
    assert_eq!(daily.cost_header.as_deref(), Some("x-usage-tokens"));
    assert!(matches!(
        daily.kind,
        tuning::LimitKind::Quota(tuning::Quota {
            limit: 10000,
            period: tuning::Period::Day,
            rolling: true
        })
    ));
    assert_eq!(
        t.routes[0].limits[1].kind,
        tuning::LimitKind::Concurrency(4)
    );
    let per_app = &t.routes[0].limits[2];
    assert_eq!(per_app.missing, tuning::MissingKey::Skip);
    assert_eq!(per_app.key.len(), 2);

    let up = "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n";
    let cases: &[(String, &str)] = &[
        (format!("{up}[[routes]]\nupstream = \"api\"\nrate_limits = [\"nope\"]\n"),
         "coregate.toml:5: routes[0].rate_limits: no [[rate_limits]] policy named \"nope\""),
        (format!("{up}[[rate_limits]]\nname = \"g\"\nrate = \"5/s\"\nglobal = \"exact\"\n[[routes]]\nupstream = \"api\"\nrate_limits = [\"g\"]\n"),
         "coregate.toml: redis.url: policy \"g\" is global: give [redis] url"),
        (format!("{up}[[rate_limits]]\nname = \"q\"\nquota = \"5/day\"\nwindow = \"rolling\"\nglobal = \"exact\"\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:7: rate_limits[0].global: only a `rate` or a calendar `quota` is counted across hosts"),
        (format!("{up}[[rate_limits]]\nname = \"q\"\nquota = \"5/year\"\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:5: rate_limits[0].quota: invalid quota \"5/year\""),
        (format!("{up}[[rate_limits]]\nname = \"q\"\nrate = \"5/s\"\nconcurrency = 3\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:3: rate_limits[0]: give exactly one of `rate`, `quota` and `concurrency`"),
        (format!("{up}[[rate_limits]]\nname = \"q\"\nconcurrency = 3\nmissing_key = \"drop\"\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:6: rate_limits[0].missing_key: expected \"ip\" or \"skip\""),
        (format!("{up}[[rate_limits]]\nname = \"b\"\nrate = \"1/h\"\nburst = 6000000\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:6: rate_limits[0].burst: too large"),
        (format!("{up}[redis]\nurl = \"redis://127.0.0.1:1\"\n[[rate_limits]]\nname = \"l\"\nrate = \"5/s\"\nglobal = \"exact\"\nlease = 3\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:9: rate_limits[0].lease: `lease` goes with global = \"lease\""),
        (format!("{up}[redis]\nurl = \"http://x\"\n[[routes]]\nupstream = \"api\"\n"),
         "coregate.toml:4: redis.url: expected redis://"),
    ];
    for (text, prefix) in cases {
        one_error(text, prefix);
    }
}
