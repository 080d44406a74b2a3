//! Upstream groups (algorithms, circuit breakers, health checks, outlier
//! ejection), route matching and per-route policy, observability and
//! reload: a full sample, the defaults, and each validation rule with its
//! line and field.

// Helpers outside #[test] functions panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use clap::Parser;
use tuning::{
    parse_toml, Algorithm, Cli, ForwardPath, HashKey, HeaderMatch, HeaderOps, HealthCheck, LogDest,
    Outlier, PathMatch, Retries, RetryOn, Rewrite, RouteAction, RouteTimeouts, Tuning, TuningError,
};

const SAMPLE: &str = r#"[server]
watch_config = true

[metrics]
max_routes = 50
max_backends = 20

[access_log]
path = "/var/log/coregate/access.log"
sample = 0.25
errors_only = true
queue = 1024
max_query_bytes = "1k"

[upstreams.api]
backends = [ { address = "127.0.0.1:9000", weight = 2 }, "127.0.0.1:9001" ]
algorithm = "maglev"
max_connections = 1024
max_pending = 0

[upstreams.api.health_check]
path = "/healthz"
interval = "2s"
timeout = "500ms"
expected_statuses = ["200-299", 304]
rise = 1
fall = 4
host = "health.internal"

[upstreams.api.outlier]
consecutive_failures = 3
base_ejection = "5s"
max_ejection = "1m"
on_5xx = false

[upstreams.web]
backends = ["127.0.0.1:9100"]

[[routes]]
name = "api"
priority = 10
host = "*.example.com"
path_prefix = "/api"
methods = ["GET", "HEAD"]
headers = [ { name = "X-Canary", value = "1" }, { name = "x-debug" } ]
upstream = "api"
hash_key = "header:X-User"
strip_prefix = true
request_headers = { add = { "x-a" = "1" }, set = { "X-B" = "2" }, remove = ["x-c"] }
response_headers = { set = { "cache-control" = "no-store" } }
timeouts = { upstream_connect = "1s", upstream_header = "5s" }
retries = { attempts = 2, on = ["connect_failure", "502", 503], non_idempotent = true, budget_percent = 50, min_per_second = 0 }

[[routes]]
name = "v1"
path_prefix = "/v1"
upstream = "web"
rewrite_prefix = "/v2"

[[routes]]
name = "exact"
path = "/exact"
respond = { status = 204 }

[[routes]]
name = "users"
path_regex = "^/users/[0-9]+$"
upstream = "web"
"#;

/// Every error for `text`, as printed.
fn errors(text: &str) -> Vec<String> {
    match parse_toml("c.toml", text) {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

/// `text` must fail with exactly this one error.
#[track_caller]
fn one_error(text: &str, want: &str) {
    assert_eq!(errors(text), [want], "for:\n{text}");
}

/// A group `api` with `group` appended to its table, and one route to it
/// with `route` appended.
fn config(group: &str, route: &str) -> String {
    format!(
        "[upstreams.api]\nbackends = [\"127.0.0.1:9000\"]\n{group}\n[[routes]]\nupstream = \"api\"\n{route}\n"
    )
}

fn ok(text: &str) -> Tuning {
    parse_toml("c.toml", text).unwrap_or_else(|e| panic!("{e}\nfor:\n{text}"))
}

#[test]
fn sample_validates() {
    let t = ok(SAMPLE);
    assert!(t.reload.watch);
    assert_eq!((t.metrics.max_routes, t.metrics.max_backends), (50, 20));
    let log = &t.access_log;
    assert_eq!(
        log.dest,
        LogDest::File("/var/log/coregate/access.log".into())
    );
    assert_eq!(
        (log.sample, log.errors_only, log.queue, log.max_query_bytes),
        (0.25, true, 1024, 1024)
    );

    let api = &t.upstreams[0];
    assert_eq!(api.algorithm, Algorithm::Maglev);
    assert_eq!((api.max_connections, api.max_pending), (Some(1024), None));
    assert_eq!(
        api.health_check,
        Some(HealthCheck {
            path: "/healthz".into(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(500),
            expected_statuses: vec![(200, 299), (304, 304)],
            rise: 1,
            fall: 4,
            host: Some("health.internal".into()),
        })
    );
    assert_eq!(
        api.outlier,
        Outlier {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(60),
            on_5xx: false,
        }
    );
    let web = &t.upstreams[1];
    assert_eq!(web.algorithm, Algorithm::RoundRobin);
    assert_eq!(
        (web.health_check.as_ref(), web.outlier),
        (None, Outlier::default())
    );

    let r = &t.routes[0];
    assert_eq!((r.priority, r.path_prefix.as_str()), (10, "/api"));
    assert_eq!(r.path, PathMatch::Prefix("/api".into()));
    assert_eq!(r.methods, Some(vec!["GET".into(), "HEAD".into()]));
    assert_eq!(
        r.headers,
        [
            HeaderMatch {
                name: "x-canary".into(),
                value: Some("1".into())
            },
            HeaderMatch {
                name: "x-debug".into(),
                value: None
            },
        ]
    );
    assert_eq!(r.hash_key, HashKey::Header("x-user".into()));
    assert_eq!(r.rewrite, Rewrite::StripPrefix);
    assert_eq!(
        r.request_headers,
        HeaderOps {
            add: vec![("x-a".into(), "1".into())],
            set: vec![("x-b".into(), "2".into())],
            remove: vec!["x-c".into()],
        }
    );
    assert_eq!(
        r.response_headers.set,
        [("cache-control".into(), "no-store".into())]
    );
    assert_eq!(
        r.timeouts,
        RouteTimeouts {
            upstream_connect: Some(Duration::from_secs(1)),
            upstream_header: Some(Duration::from_secs(5)),
            upstream_body: None,
        }
    );
    assert_eq!(
        r.retries,
        Retries {
            attempts: 2,
            on: RetryOn {
                connect_failure: true,
                s502: true,
                s503: true,
                s504: false
            },
            non_idempotent: true,
            budget_percent: 50,
            min_per_second: 0,
        }
    );
    assert_eq!(t.routes[1].rewrite, Rewrite::ReplacePrefix("/v2".into()));
    assert_eq!(t.routes[2].path, PathMatch::Exact("/exact".into()));
    assert_eq!(t.routes[2].path_prefix, "/");
    assert_eq!(t.routes[3].path, PathMatch::Regex("^/users/[0-9]+$".into()));
    assert_eq!(t.routes[3].action, RouteAction::Proxy { group: 1 });
}

#[test]
fn new_fields_default() {
    let t = ok(&config("", ""));
    let d = Tuning::default();
    assert_eq!(
        (t.metrics, &t.access_log, t.reload),
        (d.metrics, &d.access_log, d.reload)
    );
    assert_eq!(t.access_log.dest, LogDest::Off);
    let g = &t.upstreams[0];
    assert_eq!(g.algorithm, Algorithm::RoundRobin);
    assert_eq!((g.max_connections, g.max_pending), (None, None));
    assert_eq!(
        (g.health_check.as_ref(), g.outlier),
        (None, Outlier::default())
    );
    let r = &t.routes[0];
    assert_eq!(r.path, PathMatch::Prefix("/".into()));
    assert_eq!(
        (r.methods.as_ref(), r.headers.len(), r.priority),
        (None, 0, 0)
    );
    assert_eq!(
        (&r.hash_key, &r.rewrite),
        (&HashKey::ClientIp, &Rewrite::None)
    );
    assert!(r.request_headers.is_empty() && r.response_headers.is_empty());
    assert_eq!(r.timeouts, RouteTimeouts::default());
    assert_eq!(r.retries, Retries::default());
    assert_eq!(
        (
            r.retries.attempts,
            r.retries.on,
            r.retries.budget_percent,
            r.retries.min_per_second
        ),
        (1, RetryOn::default(), 20, 10)
    );
    let hc = ok(&config("[upstreams.api.health_check]\npath = \"/h\"", ""));
    assert_eq!(hc.upstreams[0].health_check, Some(HealthCheck::new("/h")));
}

#[test]
fn weights_pick_weighted_by_default() {
    let t = ok("[upstreams.a]\nbackends = [{ address = \"127.0.0.1:1\", weight = 3 }]\n[[routes]]\nupstream = \"a\"\n");
    assert_eq!(t.upstreams[0].algorithm, Algorithm::Weighted);
}

#[test]
fn group_errors() {
    let cases = [
        (
            "algorithm = \"roundrobin\"",
            "c.toml:3: upstreams.api.algorithm: unknown algorithm \"roundrobin\": expected one of round_robin, weighted, least_conn, p2c_ewma, random, maglev",
        ),
        (
            "max_connections = -1",
            "c.toml:3: upstreams.api.max_connections: must not be negative, got -1",
        ),
        (
            "max_pending = 5000000000",
            "c.toml:3: upstreams.api.max_pending: must be from 0 to 4294967295, got 5000000000",
        ),
    ];
    for (group, want) in cases {
        one_error(&config(group, ""), want);
    }
    let text = "[upstreams.api]\nbackends = [{ address = \"127.0.0.1:1\", weight = 2 }]\nalgorithm = \"round_robin\"\n[[routes]]\nupstream = \"api\"\n";
    one_error(
        text,
        "c.toml:3: upstreams.api.algorithm: round_robin ignores weights: use \"weighted\" (the default when a backend has a weight other than 1)",
    );
}

#[test]
fn health_check_errors() {
    let hc = |body: &str| config(&format!("[upstreams.api.health_check]\n{body}"), "");
    let cases = [
        ("interval = \"2s\"", "c.toml:3: upstreams.api.health_check.path: required: the path to request, e.g. path = \"/healthz\""),
        ("path = \"healthz\"", "c.toml:4: upstreams.api.health_check.path: must start with \"/\", got \"healthz\""),
        ("path = \"/h\"\ninterval = \"50ms\"", "c.toml:5: upstreams.api.health_check.interval: must be at least 100ms, got 50ms"),
        ("path = \"/h\"\ninterval = \"5\"", "c.toml:5: upstreams.api.health_check.interval: invalid duration \"5\": expected e.g. \"500ms\", \"10s\", \"2m\", \"1h\""),
        ("path = \"/h\"\ntimeout = \"0s\"", "c.toml:5: upstreams.api.health_check.timeout: must be greater than zero"),
        ("path = \"/h\"\ninterval = \"1s\"\ntimeout = \"1s\"", "c.toml:6: upstreams.api.health_check.timeout: 1s must be shorter than interval (1s)"),
        ("path = \"/h\"\ninterval = \"500ms\"", "c.toml:5: upstreams.api.health_check.interval: 500ms is not longer than the default timeout (1s): set `timeout` too"),
        ("path = \"/h\"\nexpected_statuses = []", "c.toml:5: upstreams.api.health_check.expected_statuses: empty: list the healthy statuses, e.g. [\"200-299\"]"),
        ("path = \"/h\"\nexpected_statuses = [\"2xx\"]", "c.toml:5: upstreams.api.health_check.expected_statuses[0]: invalid status \"2xx\": expected a code such as \"200\" or a range such as \"200-299\", within 100-599"),
        ("path = \"/h\"\nexpected_statuses = [\"200\", \"399-300\"]", "c.toml:5: upstreams.api.health_check.expected_statuses[1]: invalid status \"399-300\": expected a code such as \"200\" or a range such as \"200-299\", within 100-599"),
        ("path = \"/h\"\nexpected_statuses = [600]", "c.toml:5: upstreams.api.health_check.expected_statuses[0]: invalid status \"600\": expected a code such as \"200\" or a range such as \"200-299\", within 100-599"),
        ("path = \"/h\"\nrise = 0", "c.toml:5: upstreams.api.health_check.rise: must be from 1 to 4294967295, got 0"),
        ("path = \"/h\"\nfall = 0", "c.toml:5: upstreams.api.health_check.fall: must be from 1 to 4294967295, got 0"),
        ("path = \"/h\"\nhost = \"a b\"", "c.toml:5: upstreams.api.health_check.host: invalid Host header value \"a b\""),
    ];
    for (body, want) in cases {
        one_error(&hc(body), want);
    }
}

#[test]
fn outlier_errors() {
    let o = |body: &str| config(&format!("[upstreams.api.outlier]\n{body}"), "");
    let cases = [
        ("consecutive_failures = -1", "c.toml:4: upstreams.api.outlier.consecutive_failures: must not be negative, got -1"),
        ("base_ejection = \"0s\"", "c.toml:4: upstreams.api.outlier.base_ejection: must be greater than zero"),
        ("max_ejection = \"5s\"", "c.toml:4: upstreams.api.outlier.max_ejection: 5s is shorter than base_ejection (10s)"),
        ("base_ejection = \"10m\"", "c.toml:4: upstreams.api.outlier.base_ejection: 10m is longer than the default max_ejection (5m): set `max_ejection` too"),
        ("base_ejection = \"20s\"\nmax_ejection = \"10s\"", "c.toml:5: upstreams.api.outlier.max_ejection: 10s is shorter than base_ejection (20s)"),
    ];
    for (body, want) in cases {
        one_error(&o(body), want);
    }
    let off = ok(&o("consecutive_failures = 0"));
    assert!(!off.upstreams[0].outlier.is_enabled());
}

#[test]
fn path_match_errors() {
    let cases = [
        ("path_prefix = \"/a\"\npath = \"/b\"", "c.toml:7: routes[0].path: `path_prefix` and `path` both given: a route matches the path one way"),
        ("path = \"/b\"\npath_regex = \"^/c\"", "c.toml:7: routes[0].path_regex: `path` and `path_regex` both given: a route matches the path one way"),
        ("path = \"b\"", "c.toml:6: routes[0].path: must start with \"/\", got \"b\""),
        ("path = \"/b?x=1\"", "c.toml:6: routes[0].path: must not contain '?'"),
        ("path_prefix = \"/a b\"", "c.toml:6: routes[0].path_prefix: must not contain ' '"),
        ("path_regex = \"\"", "c.toml:6: routes[0].path_regex: empty regex: use path_prefix = \"/\" to match every path"),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
    let bad_regex = errors(&config("", "path_regex = \"^/users/[0-9+$\""));
    assert_eq!(bad_regex.len(), 1, "{bad_regex:?}");
    assert!(
        bad_regex[0]
            .starts_with("c.toml:6: routes[0].path_regex: invalid regex \"^/users/[0-9+$\": "),
        "{bad_regex:?}"
    );
}

#[test]
fn method_and_header_match_errors() {
    let cases = [
        ("methods = []", "c.toml:6: routes[0].methods: empty: omit `methods` to match every method"),
        ("methods = [\"get\"]", "c.toml:6: routes[0].methods[0]: methods are case-sensitive: write \"GET\""),
        ("methods = [\"GET\", \"GET\"]", "c.toml:6: routes[0].methods[1]: GET is listed twice"),
        ("methods = [\"GE T\"]", "c.toml:6: routes[0].methods[0]: invalid method \"GE T\""),
        ("headers = [{ value = \"1\" }]", "c.toml:6: routes[0].headers[0].name: required: the header to match, e.g. { name = \"x-canary\", value = \"1\" }"),
        ("headers = [{ name = \"x y\" }]", "c.toml:6: routes[0].headers[0].name: invalid header name \"x y\""),
        ("headers = [{ name = \"X-A\" }, { name = \"x-a\" }]", "c.toml:6: routes[0].headers[1].name: x-a is matched twice (header names ignore case)"),
        ("headers = [{ name = \"x-a\", value = \"1\\r\\n\" }]", "c.toml:6: routes[0].headers[0].value: header value contains a control character (CR, LF, NUL, ...)"),
        ("priority = 3000000000", "c.toml:6: routes[0].priority: must be from -2147483648 to 2147483647, got 3000000000"),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
    // Custom methods are tokens too, in any case.
    let t = ok(&config(
        "",
        "methods = [\"PURGE\", \"mkcol-x\"]\npriority = -5",
    ));
    assert_eq!(t.routes[0].priority, -5);
}

#[test]
fn rewrite_and_hash_key_errors() {
    let cases = [
        ("path = \"/a\"\nstrip_prefix = true", "c.toml:7: routes[0].strip_prefix: rewrites the matched prefix, so it needs `path_prefix` (not `path` or `path_regex`)"),
        ("path_regex = \"^/a\"\nrewrite_prefix = \"/b\"", "c.toml:7: routes[0].rewrite_prefix: rewrites the matched prefix, so it needs `path_prefix` (not `path` or `path_regex`)"),
        ("path_prefix = \"/a\"\nstrip_prefix = true\nrewrite_prefix = \"/b\"", "c.toml:8: routes[0].rewrite_prefix: `strip_prefix = true` and `rewrite_prefix` both given: use rewrite_prefix = \"/\" to strip"),
        ("path_prefix = \"/a\"\nrewrite_prefix = \"b\"", "c.toml:7: routes[0].rewrite_prefix: must start with \"/\", got \"b\""),
        ("hash_key = \"ip\"", "c.toml:6: routes[0].hash_key: unknown hash_key \"ip\": expected \"client_ip\", \"path\", \"header:NAME\" or \"cookie:NAME\""),
        ("hash_key = \"header:\"", "c.toml:6: routes[0].hash_key: invalid name \"\" in hash_key \"header:\""),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
    let t = ok(&config("", "path_prefix = \"/a\"\nstrip_prefix = false\nrewrite_prefix = \"/b\"\nhash_key = \"cookie:sid\""));
    // `strip_prefix = false` says nothing to rewrite, whatever the path match.
    ok(&config("", "path = \"/a\"\nstrip_prefix = false"));
    assert_eq!(t.routes[0].rewrite, Rewrite::ReplacePrefix("/b".into()));
    assert_eq!(t.routes[0].hash_key, HashKey::Cookie("sid".into()));
}

#[test]
fn path_options() {
    let t = ok(&config(
        "",
        "allow_encoded_slashes = true\nforward_path = \"original\"",
    ));
    assert!(t.routes[0].allow_encoded_slashes);
    assert_eq!(t.routes[0].forward_path, ForwardPath::Original);
    assert!(!t.merge_slashes);
    let d = ok(&config("", ""));
    assert!(!d.routes[0].allow_encoded_slashes);
    assert_eq!(d.routes[0].forward_path, ForwardPath::Normalized);
    let n = ok(&config(
        "",
        "forward_path = \"normalized\"\nstrip_prefix = true",
    ));
    assert_eq!(n.routes[0].forward_path, ForwardPath::Normalized);
    // A fixed response may allow encoded slashes: it decides 400 or not.
    let r = ok("[[routes]]\nrespond = {}\nallow_encoded_slashes = true\n");
    assert!(r.routes[0].allow_encoded_slashes);
    let merged = ok(&format!(
        "[server]\nmerge_slashes = true\n{}",
        config("", "")
    ));
    assert!(merged.merge_slashes);
}

#[test]
fn path_option_errors() {
    let cases = [
        ("forward_path = \"raw\"", "c.toml:6: routes[0].forward_path: unknown forward_path \"raw\": expected \"normalized\" or \"original\""),
        ("path_prefix = \"/a\"\nstrip_prefix = true\nforward_path = \"original\"", "c.toml:8: routes[0].forward_path: \"original\" forwards the client's bytes, so it cannot be combined with `strip_prefix` or `rewrite_prefix`"),
        ("path_prefix = \"/a\"\nrewrite_prefix = \"/b\"\nforward_path = \"original\"", "c.toml:8: routes[0].forward_path: \"original\" forwards the client's bytes, so it cannot be combined with `strip_prefix` or `rewrite_prefix`"),
        ("allow_encoded_slashes = \"yes\"", "c.toml:6: routes[0].allow_encoded_slashes: invalid type: string \"yes\", expected a boolean"),
        ("forward_pth = \"original\"", "c.toml:6: routes[0].forward_pth: unknown field `forward_pth` (did you mean `forward_path`?)"),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
    one_error(
        "[[routes]]\nrespond = {}\nforward_path = \"original\"\n",
        "c.toml:3: routes[0].forward_path: `forward_path` applies to routes with `upstream`; this one answers with `respond`",
    );
    one_error(
        &format!("[server]\nmerge_slashes = 1\n{}", config("", "")),
        "c.toml:2: server.merge_slashes: invalid type: integer `1`, expected a boolean",
    );
}

#[test]
fn merge_slashes_flag() {
    let cli = Cli::try_parse_from([
        "coregate",
        "--upstream",
        "127.0.0.1:9000",
        "--merge-slashes",
    ])
    .unwrap();
    assert!(Tuning::from_cli(cli).unwrap().merge_slashes);
}

#[test]
fn header_op_errors() {
    let cases = [
        ("request_headers = { add = { \"x a\" = \"1\" } }", "c.toml:6: routes[0].request_headers.add.x a: invalid header name \"x a\""),
        ("request_headers = { set = { \"x-a\" = \"1\\n2\" } }", "c.toml:6: routes[0].request_headers.set.x-a: header value contains a control character (CR, LF, NUL, ...)"),
        ("request_headers = { set = { \"X-A\" = \"1\", \"x-a\" = \"2\" } }", "c.toml:6: routes[0].request_headers.set.x-a: x-a is listed twice (header names ignore case)"),
        ("request_headers = { set = { \"x-a\" = \"1\" }, add = { \"X-A\" = \"2\" } }", "c.toml:6: routes[0].request_headers.add.X-A: x-a is already in `set`: a header goes in one of add, set, remove"),
        ("response_headers = { add = { \"x-a\" = \"1\" }, remove = [\"x-a\"] }", "c.toml:6: routes[0].response_headers.remove[0]: x-a is already in `add`: a header goes in one of add, set, remove"),
        ("response_headers = { remove = [\"x-a\", \"X-A\"] }", "c.toml:6: routes[0].response_headers.remove[1]: x-a is listed twice (header names ignore case)"),
        ("request_headers = { set = { \"Content-Length\" = \"1\" } }", "c.toml:6: routes[0].request_headers.set.Content-Length: content-length is managed by coregate"),
        ("response_headers = { remove = [\"connection\"] }", "c.toml:6: routes[0].response_headers.remove[0]: connection is managed by coregate"),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
}

#[test]
fn timeout_and_retry_errors() {
    let cases = [
        ("timeouts = { upstream_connect = \"0s\" }", "c.toml:6: routes[0].timeouts.upstream_connect: must be greater than zero"),
        ("timeouts = { upstream_body = \"1\" }", "c.toml:6: routes[0].timeouts.upstream_body: invalid duration \"1\": expected e.g. \"500ms\", \"10s\", \"2m\", \"1h\""),
        ("retries = { attempts = 6 }", "c.toml:6: routes[0].retries.attempts: must be from 0 to 5, got 6"),
        ("retries = { budget_percent = 101 }", "c.toml:6: routes[0].retries.budget_percent: must be from 0 to 100, got 101"),
        ("retries = { min_per_second = -1 }", "c.toml:6: routes[0].retries.min_per_second: must not be negative, got -1"),
        ("retries = { on = [] }", "c.toml:6: routes[0].retries.on: empty: set attempts = 0 to turn retries off"),
        ("retries = { on = [\"500\"] }", "c.toml:6: routes[0].retries.on[0]: unknown retry condition \"500\": expected one of connect_failure, 502, 503, 504"),
        ("retries = { on = [\"502\", 502] }", "c.toml:6: routes[0].retries.on[1]: 502 is listed twice"),
    ];
    for (route, want) in cases {
        one_error(&config("", route), want);
    }
    let off = ok(&config("", "retries = { attempts = 0 }"));
    assert_eq!(off.routes[0].retries.attempts, 0);
}

#[test]
fn proxy_only_fields_on_a_respond_route() {
    let respond = |extra: &str| format!("[[routes]]\nrespond = {{}}\n{extra}\n");
    for key in [
        "hash_key = \"path\"",
        "strip_prefix = true",
        "rewrite_prefix = \"/b\"",
        "request_headers = {}",
        "response_headers = {}",
        "timeouts = {}",
        "retries = {}",
    ] {
        let name = key.split(' ').next().unwrap();
        one_error(
            &respond(key),
            &format!("c.toml:3: routes[0].{name}: `{name}` applies to routes with `upstream`; this one answers with `respond`"),
        );
    }
    // Matching works the same for both actions.
    ok(&respond(
        "path = \"/x\"\nmethods = [\"GET\"]\nheaders = [{ name = \"x-a\" }]\npriority = 1",
    ));
}

#[test]
fn unknown_keys_in_new_tables() {
    let cases = [
        (config("[upstreams.api.outlier]\nbase_ejecton = \"1s\"", ""), "c.toml:4: upstreams.api.outlier.base_ejecton: unknown field `base_ejecton` (did you mean `base_ejection`?)"),
        (config("", "retries = { atempts = 1 }"), "c.toml:6: routes[0].retries.atempts: unknown field `atempts` (did you mean `attempts`?)"),
        (config("", "request_headers = { append = {} }"), "c.toml:6: routes[0].request_headers.append: unknown field `append`, expected one of `add`, `set`, `remove`"),
        (format!("[access_log]\nsampel = 1\n{}", config("", "")), "c.toml:2: access_log.sampel: unknown field `sampel` (did you mean `sample`?)"),
    ];
    for (text, want) in cases {
        one_error(&text, want);
    }
}

#[test]
fn observability_errors() {
    let with = |extra: &str| format!("{extra}\n{}", config("", ""));
    let cases = [
        ("[metrics]\nmax_routes = 0", "c.toml:2: metrics.max_routes: must be from 1 to 100000, got 0"),
        ("[metrics]\nmax_backends = 100001", "c.toml:2: metrics.max_backends: must be from 1 to 100000, got 100001"),
        ("[access_log]\npath = \"\"", "c.toml:2: access_log.path: empty: use \"off\", \"stdout\" or a file path"),
        ("[access_log]\npath = \"stderr\"", "c.toml:2: access_log.path: \"stderr\" is not supported: use \"stdout\", \"off\" or a file path (write \"./stderr\" for a file of that name)"),
        ("[access_log]\nsample = 1.5", "c.toml:2: access_log.sample: must be from 0 to 1, got 1.5"),
        ("[access_log]\nsample = -0.1", "c.toml:2: access_log.sample: must be from 0 to 1, got -0.1"),
        ("[access_log]\nqueue = 0", "c.toml:2: access_log.queue: must be from 1 to 1048576, got 0"),
        ("[access_log]\nmax_query_bytes = \"1m\"", "c.toml:2: access_log.max_query_bytes: must be from 0 to 65536, got 1048576"),
    ];
    for (extra, want) in cases {
        one_error(&with(extra), want);
    }
    let t = ok(&with(
        "[access_log]\npath = \"stdout\"\nsample = 0\nmax_query_bytes = 0",
    ));
    assert_eq!(t.access_log.dest, LogDest::Stdout);
    assert_eq!(
        (t.access_log.sample, t.access_log.max_query_bytes),
        (0.0, 0)
    );
    assert!(!t.access_log.is_enabled());
}

fn run(args: &[&str]) -> Result<Tuning, TuningError> {
    let cli = Cli::try_parse_from(std::iter::once("coregate").chain(args.iter().copied())).unwrap();
    Tuning::from_cli(cli)
}

#[test]
fn observability_flags() {
    let t = run(&[
        "--upstream",
        "127.0.0.1:9000",
        "--metrics-max-routes",
        "10",
        "--metrics-max-backends",
        "5",
        "--access-log",
        "stdout",
        "--access-log-sample",
        "0.5",
        "--access-log-errors-only",
        "--access-log-queue",
        "16",
        "--access-log-max-query",
        "1k",
    ])
    .unwrap();
    assert_eq!((t.metrics.max_routes, t.metrics.max_backends), (10, 5));
    let log = &t.access_log;
    assert_eq!(log.dest, LogDest::Stdout);
    assert_eq!(
        (log.sample, log.errors_only, log.queue, log.max_query_bytes),
        (0.5, true, 16, 1024)
    );
    let err = run(&["--access-log-sample", "2", "--metrics-max-routes", "0"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: --metrics-max-routes: must be from 1 to 100000, got 0\n\
         command line: --access-log-sample: must be from 0 to 1, got 2"
    );
    for bad in [
        ["--access-log-sample", "NaN"],
        ["--access-log-sample", "x"],
        ["--access-log", "stderr"],
    ] {
        let r = Cli::try_parse_from(std::iter::once("coregate").chain(bad));
        assert!(r.is_err(), "{bad:?}");
    }
}

#[test]
fn flags_override_the_file_for_observability() {
    let path = std::env::temp_dir().join(format!("tuning-schema-{}.toml", std::process::id()));
    let text = format!(
        "[access_log]\npath = \"stdout\"\nsample = 0.5\n[metrics]\nmax_routes = 7\n{}",
        config("", "")
    );
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let t = run(&[
        "--config",
        p,
        "--access-log",
        "off",
        "--metrics-max-routes",
        "9",
    ])
    .unwrap();
    assert_eq!(t.access_log.dest, LogDest::Off);
    assert_eq!((t.access_log.sample, t.metrics.max_routes), (0.5, 9));
    let t = run(&["--config", p, "--watch-config"]).unwrap();
    assert!(t.reload.watch);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn watch_needs_a_config_file() {
    let err = run(&["--upstream", "127.0.0.1:9000", "--watch-config"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: --watch-config: quick mode (--upstream) has no config file to watch"
    );
    let err = run(&["--watch-config"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: --watch-config: no --config given: the embedded default is never reloaded"
    );
    assert!(!ok(&config("", "")).reload.watch);
}
