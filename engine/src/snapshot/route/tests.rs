use super::*;
use tuning::{BackendAddr, HeaderMatch, PathMatch, Route as R, RouteAction, UpstreamGroup};

fn head(raw: &str) -> RequestHead {
    let mut b = bytes::BytesMut::from(raw.as_bytes());
    parser::parse_request(&mut b, &parser::Limits::default())
        .unwrap()
        .unwrap()
}

fn route(name: &str, host: HostMatch, path: PathMatch) -> R {
    let mut r = R::catch_all(name, RouteAction::Proxy { group: 0 });
    r.host = host;
    if let PathMatch::Prefix(p) = &path {
        r.path_prefix = p.clone();
    }
    r.path = path;
    r
}

fn tuning_with(routes: Vec<R>) -> Tuning {
    let mut t = Tuning::default();
    t.upstreams = vec![UpstreamGroup::new(
        "g",
        vec![BackendAddr {
            address: SocketAddr::from(([127, 0, 0, 1], 9000)),
            weight: 1,
        }],
    )];
    t.routes = routes;
    t
}

fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.into())
}

fn name<'a>(s: &'a Snapshot, host: &str, path: &str) -> Option<&'a str> {
    let h = head(&format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Canary: 1\r\n\r\n"
    ));
    s.find(host.as_bytes(), path.as_bytes(), &h)
        .map(|(_, r)| &*r.name)
}

fn sample() -> Snapshot {
    Snapshot::build(
        &tuning_with(vec![
            route("any", HostMatch::Any, prefix("/")),
            route(
                "api",
                HostMatch::Exact("API.example.com".into()),
                prefix("/v1"),
            ),
            route(
                "wild",
                HostMatch::Suffix(".example.com".into()),
                prefix("/"),
            ),
            route("deep", HostMatch::Any, prefix("/static/")),
            route(
                "exact",
                HostMatch::Any,
                PathMatch::Exact("/static/logo.png".into()),
            ),
            route(
                "re",
                HostMatch::Any,
                PathMatch::Regex("^/users/[0-9]+$".into()),
            ),
        ]),
        1,
        None,
    )
}

#[test]
fn exact_host_then_wildcard_then_any() {
    let s = sample();
    assert_eq!(name(&s, "api.example.com:8080", "/v1/users"), Some("api"));
    assert_eq!(name(&s, "api.EXAMPLE.com.", "/v2"), Some("wild"));
    assert_eq!(name(&s, "www.example.com", "/"), Some("wild"));
    assert_eq!(name(&s, "example.com", "/"), Some("any"));
    assert_eq!(name(&s, "other", "/static/a.css"), Some("deep"));
}

#[test]
fn exact_beats_regex_beats_prefix() {
    let s = sample();
    assert_eq!(name(&s, "other", "/static/logo.png"), Some("exact"));
    assert_eq!(name(&s, "other", "/static/logo.png?v=2"), Some("exact"));
    assert_eq!(name(&s, "other", "/users/42"), Some("re"));
    assert_eq!(name(&s, "other", "/users/x"), Some("any"));
}

#[test]
fn prefix_matches_whole_segments() {
    let s = sample();
    assert_eq!(name(&s, "api.example.com", "/v1"), Some("api"));
    assert_eq!(name(&s, "api.example.com", "/v1?x=1"), Some("api"));
    assert_eq!(name(&s, "api.example.com", "/v10"), Some("wild"));
    assert_eq!(name(&s, "other", "/static"), Some("any"));
}

#[test]
fn priority_methods_and_headers() {
    let mut low = route("low", HostMatch::Any, prefix("/a"));
    low.priority = 0;
    let mut high = route("high", HostMatch::Any, prefix("/"));
    high.priority = 10;
    high.methods = Some(vec!["POST".into()]);
    let mut canary = route("canary", HostMatch::Any, prefix("/a"));
    canary.headers = vec![HeaderMatch {
        name: "x-canary".into(),
        value: Some("1".into()),
    }];
    canary.priority = 5;
    let mut absent = route("absent", HostMatch::Any, prefix("/a"));
    absent.headers = vec![HeaderMatch {
        name: "x-missing".into(),
        value: None,
    }];
    absent.priority = 20;
    let s = Snapshot::build(&tuning_with(vec![low, high, canary, absent]), 1, None);
    let find = |raw: &str, path: &str| {
        s.find(b"h", path.as_bytes(), &head(raw))
            .map(|(_, r)| r.name.to_string())
    };
    assert_eq!(
        find("POST /a HTTP/1.1\r\nHost: h\r\n\r\n", "/a").as_deref(),
        Some("high")
    );
    assert_eq!(
        find("GET /a HTTP/1.1\r\nHost: h\r\nX-Canary: 1\r\n\r\n", "/a").as_deref(),
        Some("canary")
    );
    assert_eq!(
        find("GET /a HTTP/1.1\r\nHost: h\r\nX-Canary: 2\r\n\r\n", "/a").as_deref(),
        Some("low")
    );
    assert_eq!(find("GET /b HTTP/1.1\r\nHost: h\r\n\r\n", "/b"), None);
}

#[test]
fn prefix_rewrites() {
    let strip = Rewrite::Prefix {
        matched: b"/api".as_slice().into(),
        with: Box::new([]),
    };
    let mut out = Vec::new();
    for (inp, want) in [("/api/x?q", "/x?q"), ("/api", "/"), ("/api?q", "/?q")] {
        assert!(strip.apply(inp.as_bytes(), &mut out));
        assert_eq!(out, want.as_bytes(), "{inp}");
    }
    let replace = Rewrite::Prefix {
        matched: b"/old".as_slice().into(),
        with: b"/v2".as_slice().into(),
    };
    assert!(replace.apply(b"/old/a", &mut out));
    assert_eq!(out, b"/v2/a");
    assert!(replace.apply(b"/old", &mut out));
    assert_eq!(out, b"/v2");
    assert!(!Rewrite::None.apply(b"/x", &mut out));
}

#[test]
fn a_thousand_routes_still_find_the_right_one() {
    let routes = (0..1000)
        .map(|i| {
            route(
                &format!("r{i}"),
                HostMatch::Exact(format!("h{}.test", i % 10)),
                prefix(&format!("/p{i}/x")),
            )
        })
        .collect();
    let s = Snapshot::build(&tuning_with(routes), 1, None);
    assert_eq!(name(&s, "h7.test", "/p977/x/y"), Some("r977"));
    assert_eq!(name(&s, "h7.test", "/p976/x/y"), None);
}

#[test]
fn overlong_or_odd_hosts_fall_back_to_any() {
    let s = sample();
    let long = "a".repeat(400);
    assert_eq!(name(&s, &long, "/"), Some("any"));
    assert_eq!(name(&s, "[::1]:80", "/"), Some("any"));
    assert_eq!(name(&s, "", "/"), Some("any"));
}
