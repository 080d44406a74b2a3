//! Routing on the normalised path, over real sockets: dot segments (plain
//! or percent-encoded) cannot carry a request out of a `path_prefix` route,
//! climbing paths and encoded slashes get a 400, and the origin receives
//! the normalised path unless the route forwards the original bytes.

// Test code: a failed setup step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// `/public` and `/files` (encoded slashes allowed) and `/raw` (original
/// bytes forwarded) to `origin`; everything else a 403.
fn gateway(origin: &Origin, server: &str) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"off\"\n{server}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\
         [[routes]]\nname = \"public\"\npath_prefix = \"/public\"\nupstream = \"app\"\n\
         [[routes]]\nname = \"files\"\npath_prefix = \"/files\"\nupstream = \"app\"\nallow_encoded_slashes = true\n\
         [[routes]]\nname = \"raw\"\npath_prefix = \"/raw\"\nupstream = \"app\"\nforward_path = \"original\"\n\
         [[routes]]\nname = \"deny\"\nrespond = {{ status = 403, body = \"denied\\n\" }}\n",
        origin.addr
    );
    start(config(&text))
}

/// Sends `GET target` on a fresh connection.
fn get(gw: &engine::Server, target: &str) -> Response {
    let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    request(gw.local_addrs()[0], raw.as_bytes())
}

/// The targets the origin received since the last call.
fn received(origin: &Origin) -> Vec<String> {
    origin.targets.try_iter().collect()
}

#[test]
fn dot_segments_cannot_leave_the_public_route() {
    let origin = Origin::start();
    let gw = gateway(&origin, "");
    let cases = [
        ("/public/../private", 403),
        ("/public/%2e%2e/private", 403),
        ("/public/%2E%2E/private", 403),
        ("/public/.%2e/private", 403),
        ("/public/x/../../private", 403),
        ("/public/..", 403),
        ("/public/%2e%2e", 403),
        ("http://a/public/../private", 403),
        ("/public/..#/private", 403),
        ("/public/..%2fprivate", 400),
        ("/public/..%2Fprivate", 400),
        ("/public/..;/private", 400),
        ("/public/.;/x", 400),
        ("/public/../../etc/passwd", 400),
        ("/..", 400),
        ("/public/%zz", 400),
    ];
    for (target, want) in cases {
        let r = get(&gw, target);
        assert_eq!(r.status, want, "{target}: {}", r.text());
        if want == 400 {
            assert_eq!(r.header("x-coregate-error"), Some("bad_path"), "{target}");
        }
    }
    assert_eq!(received(&origin), Vec::<String>::new());
    // `//..` removes the empty segment: still inside /public, and the
    // origin gets the resolved path, so it cannot climb out either.
    assert_eq!(get(&gw, "/public//../private").status, 200);
    assert_eq!(received(&origin), ["/public/private"]);
}

#[test]
fn the_origin_gets_the_normalised_path() {
    let origin = Origin::start();
    let gw = gateway(&origin, "");
    for target in [
        "/public/./a/%41b/../c?x=/../%2e&y=%41",
        "/%70ublic/a/c?x=/../%2e&y=%41",
        "http://a/public/a/./c?x=/../%2e&y=%41",
    ] {
        assert_eq!(get(&gw, target).status, 200, "{target}");
    }
    assert_eq!(
        received(&origin),
        ["/public/a/c?x=/../%2e&y=%41"; 3],
        "unreserved escapes decoded, dot segments removed, query untouched"
    );
    assert_eq!(get(&gw, "/public/a%3bb%252e").status, 200);
    assert_eq!(received(&origin), ["/public/a%3Bb%252e"]);
}

#[test]
fn encoded_slashes_need_the_route_option() {
    let origin = Origin::start();
    let gw = gateway(&origin, "");
    for target in [
        "/public/a%2Fb",
        "/public/a%2fb",
        "/public/a%5Cb",
        "/public/a%5cb",
        "/public/a\\b",
        "/a%2F..%2Fpublic",
    ] {
        let r = get(&gw, target);
        assert_eq!(r.status, 400, "{target}");
        assert_eq!(r.header("x-coregate-error"), Some("bad_path"), "{target}");
    }
    assert_eq!(received(&origin), Vec::<String>::new());
    for target in ["/files/a%2fb", "/files/x/../a%5Cb", "/files/a\\b"] {
        assert_eq!(get(&gw, target).status, 200, "{target}");
    }
    assert_eq!(
        received(&origin),
        ["/files/a%2Fb", "/files/a%5Cb", "/files/a\\b"]
    );
}

#[test]
fn forward_path_original_passes_the_client_bytes() {
    let origin = Origin::start();
    let gw = gateway(&origin, "");
    for target in ["/raw/./a/%41?q=%2e", "http://a/raw/b/../c%7e"] {
        assert_eq!(get(&gw, target).status, 200, "{target}");
    }
    assert_eq!(received(&origin), ["/raw/./a/%41?q=%2e", "/raw/b/../c%7e"]);
    // Routing still uses the normalised path.
    assert_eq!(get(&gw, "/raw/../private").status, 403);
    assert_eq!(get(&gw, "/raw/../../x").status, 400);
    assert_eq!(received(&origin), Vec::<String>::new());
}

#[test]
fn merge_slashes_applies_before_routing() {
    let origin = Origin::start();
    let gw = gateway(&origin, "merge_slashes = true");
    assert_eq!(get(&gw, "/public//../private").status, 403);
    assert_eq!(get(&gw, "//public///a//b").status, 200);
    assert_eq!(received(&origin), ["/public/a/b"]);
}
