use super::*;

/// The normalised target as text, or the error.
fn norm(t: &str) -> Result<String, PathError> {
    normalize(t.as_bytes(), false).map(|n| String::from_utf8_lossy(&n.target).into_owned())
}

fn merged(t: &str) -> Result<String, PathError> {
    normalize(t.as_bytes(), true).map(|n| String::from_utf8_lossy(&n.target).into_owned())
}

fn slashes(t: &str) -> bool {
    normalize(t.as_bytes(), false).is_ok_and(|n| n.slashes)
}

fn ok(t: &str) -> String {
    norm(t).unwrap_or_else(|e| panic!("{t:?}: {e:?}"))
}

#[test]
fn plain_paths_are_borrowed() {
    for t in [
        "/",
        "/public/x",
        "/a/b/c?x=1",
        "/.well-known/acme",
        "/a/...",
        "/a/..b",
        "/a/b.",
        "/a//b",
        "/a;v=1/b",
    ] {
        let n = normalize(t.as_bytes(), false).unwrap();
        assert!(matches!(n.target, Cow::Borrowed(_)), "{t}");
        assert_eq!(&*n.target, t.as_bytes());
        assert!(!n.slashes, "{t}");
    }
}

#[test]
fn dot_segments_are_removed() {
    assert_eq!(ok("/a/./b"), "/a/b");
    assert_eq!(ok("/a/b/.."), "/a/");
    assert_eq!(ok("/a/b/."), "/a/b/");
    assert_eq!(ok("/a/b/../c"), "/a/c");
    assert_eq!(ok("/./"), "/");
    assert_eq!(ok("/."), "/");
    assert_eq!(ok("/a/.."), "/");
}

#[test]
fn attack_paths_leave_public() {
    assert_eq!(ok("/public/../private"), "/private");
    assert_eq!(ok("/public/%2e%2e/private"), "/private");
    assert_eq!(ok("/public/%2E%2E/private"), "/private");
    assert_eq!(ok("/public/.%2e/private"), "/private");
    assert_eq!(ok("/public/%2e./private"), "/private");
    assert_eq!(ok("/public/x/../../private"), "/private");
    assert_eq!(ok("/public/.."), "/");
    assert_eq!(ok("/public/%2e%2e"), "/");
    assert_eq!(ok("/public/%2e"), "/public/");
}

#[test]
fn empty_segments_follow_rfc_3986() {
    // `//..` removes the empty segment, staying inside /public.
    assert_eq!(ok("/public//../private"), "/public/private");
    assert_eq!(ok("/a//.."), "/a/");
    assert_eq!(ok("//.."), "/");
}

#[test]
fn merge_slashes_first() {
    assert_eq!(merged("/public//../private"), Ok("/private".into()));
    assert_eq!(merged("//a///b//"), Ok("/a/b/".into()));
    assert_eq!(merged("//"), Ok("/".into()));
    assert_eq!(merged("/a/b"), Ok("/a/b".into()));
    assert_eq!(merged("/a//b?x//y"), Ok("/a/b?x//y".into()));
}

#[test]
fn climbing_above_root_is_refused() {
    for t in [
        "/..",
        "/../x",
        "/public/../../etc/passwd",
        "/public/%2e%2e/%2E%2E/etc",
        "/a/./../..",
        "/%2e%2e",
    ] {
        assert_eq!(norm(t), Err(PathError::Climbs), "{t}");
    }
}

#[test]
fn unreserved_escapes_are_decoded_once() {
    assert_eq!(ok("/%41"), "/A");
    assert_eq!(ok("/%7e%2D%5f%30"), "/~-_0");
    assert_eq!(ok("/a%252e%252e/"), "/a%252e%252e/");
    assert_eq!(ok("/%252e%252e/x"), "/%252e%252e/x");
    assert_eq!(ok("/a%20b%3bc"), "/a%20b%3Bc");
    assert_eq!(ok("/a%3F"), "/a%3F");
}

#[test]
fn bad_escapes_are_refused() {
    for t in ["/a%", "/a%2", "/a%zz", "/a%2g/b", "/%%41"] {
        assert_eq!(norm(t), Err(PathError::BadEscape), "{t}");
    }
}

#[test]
fn encoded_slashes_are_kept_and_flagged() {
    assert_eq!(ok("/a%2Fb"), "/a%2Fb");
    assert_eq!(ok("/a%2fb"), "/a%2Fb");
    assert_eq!(ok("/public/..%2fprivate"), "/public/..%2Fprivate");
    assert_eq!(ok("/a%5cb"), "/a%5Cb");
    assert_eq!(ok("/a\\b"), "/a\\b");
    for t in [
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a%5cb",
        "/a\\b",
        "/public/..%2fprivate",
    ] {
        assert!(slashes(t), "{t}");
    }
    for t in ["/a/b", "/a%20b", "/a%252Fb", "/a?x=%2F", "/a?x=\\"] {
        assert!(!slashes(t), "{t}");
    }
}

#[test]
fn dot_parameters_are_refused() {
    for t in [
        "/public/..;/private",
        "/public/..;x=1/private",
        "/public/.;/x",
        "/public/%2e%2e;/private",
        "/public/..%3b/private",
        "/public/.%3B",
    ] {
        assert_eq!(norm(t), Err(PathError::DotParam), "{t}");
    }
    assert_eq!(ok("/a;b/c"), "/a;b/c");
    assert_eq!(ok("/a/x..;/c"), "/a/x..;/c");
}

#[test]
fn the_query_is_never_touched() {
    assert_eq!(ok("/a/../b?x=/../%2e%2e&y=%41"), "/b?x=/../%2e%2e&y=%41");
    assert_eq!(ok("/a?../.."), "/a?../..");
    assert_eq!(ok("/a/%2e?"), "/a/?");
    assert_eq!(norm("/a?%zz"), Ok("/a?%zz".into()));
    // A stray fragment ends the path as it would at an origin.
    assert_eq!(ok("/public/..#/x"), "/#/x");
    assert_eq!(ok("/a#/../.."), "/a#/../..");
}

#[test]
fn non_paths_are_untouched() {
    assert_eq!(ok("*"), "*");
    assert_eq!(ok(""), "");
    assert_eq!(ok("?x=/../.."), "?x=/../..");
}

/// A reference implementation: RFC 3986 §5.2.4 on a decoded string,
/// written the RFC's way (input and output buffers, rules A to E).
fn reference(path: &str) -> Option<String> {
    let mut input = path.to_owned();
    let mut out = String::new();
    while !input.is_empty() {
        if input.starts_with("/./") || input == "/." {
            input.replace_range(..2, "");
            if input.is_empty() {
                input.push('/');
            }
        } else if input.starts_with("/../") || input == "/.." {
            input.replace_range(..3, "");
            if input.is_empty() {
                input.push('/');
            }
            out.truncate(out.rfind('/')?);
        } else {
            let next = input[1..].find('/').map_or(input.len(), |i| i + 1);
            out.push_str(&input[..next]);
            input.replace_range(..next, "");
        }
    }
    Some(out)
}

#[test]
fn matches_the_rfc_algorithm() {
    let parts = ["a", "b", ".", "..", "", "%2e", "x%41"];
    let mut cases = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for c in &cases {
            for p in parts {
                next.push(format!("{c}/{p}"));
            }
        }
        cases.extend(next);
    }
    for t in cases.iter().filter(|c| !c.is_empty()) {
        let decoded = t.replace("%2e", ".").replace("%41", "A");
        assert_eq!(norm(t).ok(), reference(&decoded), "{t}");
    }
}
