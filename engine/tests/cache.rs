//! The response cache over real sockets, against a scripted origin on
//! 127.0.0.1: what is stored and for how long, Vary, revalidation, stale
//! content, coalesced misses, purges, sizes, ranges, and a poisoning
//! attempt. The 2-shard hit ratio is `cache_shards.rs`.

mod cache_support;
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use cache_support::{field, raw_exchange, without_cache_fields, Reply, Scripted};

fn gateway(origin: SocketAddr, cache: &str, extra: &str) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"127.0.0.1:0\"\nshards = 2\n\n{extra}\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"o\"\ncache = {cache}\n\n\
         [[routes]]\nname = \"plain\"\npath_prefix = \"/plain/\"\nupstream = \"o\"\n"
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

fn get(gw: &engine::Server, path: &str, headers: &str) -> (String, Vec<u8>) {
    let addr = gw.local_addrs()[0];
    raw_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: test\r\n{headers}connection: close\r\n\r\n"),
    )
}

fn status(head: &str) -> u16 {
    head[9..12].parse().unwrap()
}

fn cache_status(head: &str) -> String {
    field(head, "cache-status").unwrap_or("").to_owned()
}

fn admin(gw: &engine::Server, req: &str) -> (String, Vec<u8>) {
    raw_exchange(gw.admin_addr().unwrap(), req)
}

/// Serves `/v/<anything>` as `body-<n>` (n counts the origin's requests)
/// with `cc` as its Cache-Control.
fn counting(cc: &'static str) -> (Scripted, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let origin = Scripted::start(move |_| {
        let i = n2.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::ok(&format!("body-{i}"), &[("cache-control", cc)])
    });
    (origin, n)
}

#[test]
fn a_fresh_response_is_served_from_the_cache() {
    let (origin, _) = counting("max-age=60");
    let gw = gateway(origin.addr, "{}", "");
    let (h1, b1) = get(&gw, "/v/a", "");
    assert_eq!(status(&h1), 200);
    assert!(cache_status(&h1).contains("fwd=uri-miss"), "{h1}");
    assert!(cache_status(&h1).contains("stored"), "{h1}");
    let (h2, b2) = get(&gw, "/v/a", "");
    assert_eq!(b1, b2);
    assert!(cache_status(&h2).starts_with("coregate; hit"), "{h2}");
    assert!(field(&h2, "age").is_some());
    assert_eq!(origin.count("/v/a"), 1);
    // The query is part of the key; a route without `cache` never stores.
    get(&gw, "/v/a?x=1", "");
    assert_eq!(origin.count("/v/a"), 2);
    get(&gw, "/plain/p", "");
    get(&gw, "/plain/p", "");
    assert_eq!(origin.count("/plain/p"), 2);
    let (_, metrics) = admin(&gw, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("coregate_cache_requests_total{route=\"r\",result=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("coregate_cache_requests_total{route=\"r\",result=\"miss\"} 2"));
}

#[test]
fn what_the_origin_forbids_is_not_stored() {
    let origin = Scripted::start(|req| {
        let cc = match req.target.as_str() {
            "/no-store" => "no-store",
            "/private" => "private, max-age=60",
            "/cookie" | "/auth" => "max-age=60",
            "/auth-public" => "public, max-age=60",
            _ => "max-age=60",
        };
        let mut r = Reply::ok("x", &[("cache-control", cc)]);
        if req.target == "/cookie" {
            r.headers.push(("set-cookie".into(), "s=1".into()));
        }
        if req.target == "/star" {
            r.headers.push(("vary".into(), "*".into()));
        }
        r
    });
    let gw = gateway(origin.addr, "{}", "");
    for (path, auth, stored) in [
        ("/no-store", "", false),
        ("/private", "", false),
        ("/cookie", "", false),
        ("/star", "", false),
        ("/auth", "authorization: Bearer t\r\n", false),
        ("/auth-public", "authorization: Bearer t\r\n", true),
    ] {
        get(&gw, path, auth);
        get(&gw, path, auth);
        let want = if stored { 1 } else { 2 };
        assert_eq!(origin.count(path), want, "{path}");
    }
}

#[test]
fn set_cookie_is_stored_when_the_route_says_so() {
    let origin = Scripted::start(|_| {
        Reply::ok(
            "x",
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
        )
    });
    let gw = gateway(origin.addr, "{ set_cookie = true }", "");
    get(&gw, "/c", "");
    let (h, _) = get(&gw, "/c", "");
    assert_eq!(origin.count("/c"), 1);
    assert_eq!(field(&h, "set-cookie"), Some("s=1"));
}

#[test]
fn head_is_answered_from_the_get_entry() {
    let (origin, _) = counting("max-age=60");
    let gw = gateway(origin.addr, "{}", "");
    let (_, body) = get(&gw, "/v/h", "");
    let addr = gw.local_addrs()[0];
    let (head, none) = raw_exchange(
        addr,
        "HEAD /v/h HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n",
    );
    assert!(none.is_empty());
    assert_eq!(
        field(&head, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(cache_status(&head).contains("hit"), "{head}");
    assert_eq!(origin.count("/v/h"), 1);
}

#[test]
fn vary_keeps_gzip_and_plain_apart() {
    let origin = Scripted::start(|req| {
        let ae = req
            .header("accept-encoding")
            .unwrap_or("")
            .to_ascii_lowercase();
        let gz = ae.contains("gzip");
        let mut r = Reply::ok(
            if gz { "GZIPPED" } else { "plain" },
            &[("cache-control", "max-age=60"), ("vary", "Accept-Encoding")],
        );
        if gz {
            r.headers.push(("content-encoding".into(), "gzip".into()));
        }
        r
    });
    let gw = gateway(origin.addr, "{}", "");
    assert_eq!(
        get(&gw, "/z", "accept-encoding: gzip, br\r\n").1,
        b"GZIPPED"
    );
    assert_eq!(get(&gw, "/z", "").1, b"plain");
    let (h, b) = get(&gw, "/z", "accept-encoding: br;q=1, GZIP\r\n");
    assert_eq!(b, b"GZIPPED", "the same codings, written otherwise");
    assert!(cache_status(&h).contains("hit"));
    let (h, b) = get(&gw, "/z", "");
    assert_eq!(b, b"plain");
    assert!(cache_status(&h).contains("hit"));
    assert_eq!(field(&h, "content-encoding"), None);
    assert_eq!(origin.count("/z"), 2);
}

#[test]
fn a_stale_entry_is_revalidated_and_a_304_refreshes_it() {
    let origin = Scripted::start(|req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            let mut r = Reply::ok("", &[("cache-control", "max-age=60"), ("etag", "\"v1\"")]);
            r.status = 304;
            return r;
        }
        Reply::ok(
            "full body",
            &[("cache-control", "max-age=0"), ("etag", "\"v1\"")],
        )
    });
    let gw = gateway(origin.addr, "{}", "");
    let (h1, b1) = get(&gw, "/e", "");
    assert_eq!((status(&h1), b1.as_slice()), (200, &b"full body"[..]));
    let (h2, b2) = get(&gw, "/e", "");
    assert_eq!(b2, b"full body");
    assert_eq!(
        origin.last("/e", "if-none-match").as_deref(),
        Some("\"v1\"")
    );
    assert!(
        cache_status(&h2).contains("fwd=stale") && cache_status(&h2).contains("fwd-status=304"),
        "{h2}"
    );
    // The 304's max-age=60 now holds: a hit.
    let (h3, _) = get(&gw, "/e", "");
    assert!(cache_status(&h3).starts_with("coregate; hit; ttl="), "{h3}");
    assert_eq!(origin.count("/e"), 2);
    // A client's own validators get a 304 from the cache.
    let (h4, b4) = get(&gw, "/e", "if-none-match: \"v1\"\r\n");
    assert_eq!(status(&h4), 304);
    assert!(b4.is_empty());
    assert_eq!(field(&h4, "etag"), Some("\"v1\""));
    let (h5, _) = get(&gw, "/e", "if-none-match: \"other\"\r\n");
    assert_eq!(status(&h5), 200);
    assert_eq!(origin.count("/e"), 2);
}

#[test]
fn last_modified_revalidates_too() {
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    let origin = Scripted::start(move |req| {
        if req.header("if-modified-since") == Some(lm) {
            let mut r = Reply::ok("", &[]);
            r.status = 304;
            return r;
        }
        Reply::ok(
            "dated",
            &[("cache-control", "no-cache"), ("last-modified", lm)],
        )
    });
    let gw = gateway(origin.addr, "{}", "");
    get(&gw, "/d", "");
    let (h, b) = get(&gw, "/d", "");
    assert_eq!(b, b"dated");
    assert_eq!(origin.last("/d", "if-modified-since").as_deref(), Some(lm));
    assert!(cache_status(&h).contains("fwd-status=304"), "{h}");
    let (h, _) = get(&gw, "/d", &format!("if-modified-since: {lm}\r\n"));
    assert_eq!(status(&h), 304);
}

#[test]
fn stale_while_revalidate_answers_stale_and_refreshes() {
    let (origin, _) = counting("max-age=1, stale-while-revalidate=60");
    let gw = gateway(origin.addr, "{}", "");
    assert_eq!(get(&gw, "/v/s", "").1, b"body-1");
    std::thread::sleep(Duration::from_millis(2100));
    let (h, b) = get(&gw, "/v/s", "");
    assert_eq!(b, b"body-1", "stale, at once");
    assert!(cache_status(&h).contains("fwd=stale"), "{h}");
    // The refresh ran after the stale answer.
    let mut fresh = Vec::new();
    for _ in 0..50 {
        fresh = get(&gw, "/v/s", "").1;
        if fresh == b"body-2" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fresh, b"body-2");
    assert_eq!(origin.count("/v/s"), 2);
}

#[test]
fn stale_if_error_answers_while_the_origin_is_down() {
    let (origin, _) = counting("max-age=1, stale-if-error=60");
    let gw = gateway(origin.addr, "{}", "");
    assert_eq!(get(&gw, "/v/down", "").1, b"body-1");
    std::thread::sleep(Duration::from_millis(2100));
    origin.set_down(true);
    let (h, b) = get(&gw, "/v/down", "");
    assert_eq!((status(&h), b.as_slice()), (200, &b"body-1"[..]), "{h}");
    assert!(cache_status(&h).contains("stale-if-error"), "{h}");
    // Without a stale-if-error window, the failure shows.
    let (origin2, _) = counting("max-age=1");
    let gw2 = gateway(origin2.addr, "{}", "");
    get(&gw2, "/v/x", "");
    std::thread::sleep(Duration::from_millis(2100));
    origin2.set_down(true);
    assert_eq!(status(&get(&gw2, "/v/x", "").0), 502);
}

#[test]
fn the_route_default_stale_if_error_covers_5xx() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let origin = Scripted::start(move |_| match n2.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::ok("good", &[("cache-control", "max-age=1")]),
        _ => {
            let mut r = Reply::ok("broken", &[]);
            r.status = 503;
            r
        }
    });
    let gw = gateway(origin.addr, "{ stale_if_error = \"1m\" }", "");
    get(&gw, "/f", "");
    std::thread::sleep(Duration::from_millis(2100));
    let (h, b) = get(&gw, "/f", "");
    assert_eq!((status(&h), b.as_slice()), (200, &b"good"[..]), "{h}");
}

#[test]
fn a_hundred_concurrent_misses_make_one_origin_request() {
    let origin = Scripted::start(|_| {
        let mut r = Reply::ok(&"x".repeat(50_000), &[("cache-control", "max-age=60")]);
        r.delay = Duration::from_millis(400);
        r
    });
    let gw = Arc::new(gateway(origin.addr, "{}", ""));
    let barrier = Arc::new(Barrier::new(100));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (gw, barrier) = (gw.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&gw, "/herd", "")
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(origin.count("/herd"), 1);
    let collapsed = answers
        .iter()
        .filter(|(h, _)| cache_status(h).contains("collapsed"))
        .count();
    assert!(collapsed >= 50, "{collapsed} of 100 waited on the fetch");
    for (h, b) in &answers {
        assert_eq!(status(h), 200);
        assert_eq!(b.len(), 50_000);
    }
}

#[test]
fn a_waiter_past_lock_timeout_goes_upstream_itself() {
    let origin = Scripted::start(|_| {
        let mut r = Reply::ok("slow", &[("cache-control", "max-age=60")]);
        r.delay = Duration::from_millis(800);
        r
    });
    let gw = Arc::new(gateway(origin.addr, "{ lock_timeout = \"100ms\" }", ""));
    let g2 = gw.clone();
    let first = std::thread::spawn(move || get(&g2, "/slow", ""));
    std::thread::sleep(Duration::from_millis(200));
    let (h, b) = get(&gw, "/slow", "");
    assert_eq!((status(&h), b.as_slice()), (200, &b"slow"[..]));
    assert!(!cache_status(&h).contains("collapsed"), "{h}");
    first.join().unwrap();
    assert_eq!(origin.count("/slow"), 2);
}

#[test]
fn a_miss_streams_to_waiters_as_it_arrives() {
    // A chunked 300 KB body, sent slowly: a waiter gets it whole, once.
    let origin = Scripted::start(|_| {
        let mut r = Reply::ok(&"y".repeat(300_000), &[("cache-control", "max-age=60")]);
        r.delay = Duration::from_millis(300);
        r
    });
    let gw = Arc::new(gateway(origin.addr, "{ max_object_bytes = \"1m\" }", ""));
    let g2 = gw.clone();
    let leader = std::thread::spawn(move || get(&g2, "/big", ""));
    std::thread::sleep(Duration::from_millis(100));
    let (h, b) = get(&gw, "/big", "");
    assert_eq!(b.len(), 300_000);
    assert!(cache_status(&h).contains("collapsed"), "{h}");
    assert_eq!(leader.join().unwrap().1.len(), 300_000);
    assert_eq!(origin.count("/big"), 1);
}

#[test]
fn large_bodies_stream_through_unstored() {
    let origin = Scripted::start(|req| {
        let n = if req.target.starts_with("/large") {
            200_000
        } else {
            30_000
        };
        let mut r = Reply::ok(&"z".repeat(n), &[("cache-control", "max-age=60")]);
        r.chunked = req.target.ends_with("chunked");
        r
    });
    let gw = gateway(origin.addr, "{ max_object_bytes = \"64k\" }", "");
    for path in ["/large", "/large-chunked"] {
        assert_eq!(get(&gw, path, "").1.len(), 200_000);
        let (h, b) = get(&gw, path, "");
        assert_eq!(b.len(), 200_000);
        assert!(!cache_status(&h).contains("hit"), "{path}: {h}");
        assert_eq!(origin.count(path), 2, "{path}");
    }
    for path in ["/small", "/small-chunked"] {
        get(&gw, path, "");
        let (h, b) = get(&gw, path, "");
        assert_eq!(b.len(), 30_000);
        assert!(cache_status(&h).contains("hit"), "{path}: {h}");
        assert_eq!(origin.count(path), 1, "{path}");
    }
}

#[test]
fn ranges_are_served_from_a_stored_object() {
    let origin = Scripted::start(|_| {
        Reply::ok(
            "0123456789abcdef",
            &[("cache-control", "max-age=60"), ("etag", "\"r\"")],
        )
    });
    let gw = gateway(origin.addr, "{}", "");
    get(&gw, "/r", "");
    let (h, b) = get(&gw, "/r", "range: bytes=2-5\r\n");
    assert_eq!((status(&h), b.as_slice()), (206, &b"2345"[..]), "{h}");
    assert_eq!(field(&h, "content-range"), Some("bytes 2-5/16"));
    let (h, b) = get(&gw, "/r", "range: bytes=-3\r\n");
    assert_eq!((status(&h), b.as_slice()), (206, &b"def"[..]));
    let (h, _) = get(&gw, "/r", "range: bytes=99-\r\n");
    assert_eq!(status(&h), 416);
    assert_eq!(field(&h, "content-range"), Some("bytes */16"));
    let (h, b) = get(&gw, "/r", "range: bytes=2-5\r\nif-range: \"old\"\r\n");
    assert_eq!(
        (status(&h), b.len()),
        (200, 16),
        "a stale If-Range gets the whole"
    );
    assert_eq!(origin.count("/r"), 1);
    // A range of an object not stored goes to the origin as it is.
    get(&gw, "/r2", "range: bytes=0-1\r\n");
    assert_eq!(origin.last("/r2", "range").as_deref(), Some("bytes=0-1"));
    // A fetch never carries a client's conditional fields.
    get(&gw, "/r3", "if-none-match: \"zzz\"\r\n");
    assert_eq!(origin.last("/r3", "if-none-match"), None);
}

#[test]
fn purges_drop_urls_variants_prefixes_and_routes() {
    let origin = Scripted::start(|req| {
        let gz = req
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"));
        Reply::ok(
            if gz { "g" } else { "p" },
            &[
                ("cache-control", "max-age=600"),
                ("vary", "accept-encoding"),
            ],
        )
    });
    let gw = gateway(origin.addr, "{}", "");
    for path in ["/p/a", "/p/b", "/q/c"] {
        get(&gw, path, "");
        get(&gw, path, "accept-encoding: gzip\r\n");
    }
    let purge = |q: &str| {
        let (h, b) = admin(
            &gw,
            &format!(
                "POST /cache/purge?{q} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n"
            ),
        );
        (status(&h), String::from_utf8(b).unwrap())
    };
    assert_eq!(
        purge("url=http%3A%2F%2Ftest%2Fp%2Fa"),
        (200, "{\"purged\":1}\n".into())
    );
    get(&gw, "/p/a", "");
    get(&gw, "/p/a", "accept-encoding: gzip\r\n");
    assert_eq!(origin.count("/p/a"), 4, "both variants went");
    assert_eq!(purge("prefix=http://test/p/").0, 200);
    get(&gw, "/p/b", "");
    get(&gw, "/q/c", "");
    assert_eq!((origin.count("/p/b"), origin.count("/q/c")), (3, 2));
    assert_eq!(purge("route=r").0, 200);
    get(&gw, "/q/c", "");
    assert_eq!(origin.count("/q/c"), 3);
    assert_eq!(purge("nothing=1").0, 400);
    let (h, _) = admin(
        &gw,
        "GET /cache/purge?all=true HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    );
    assert_eq!(status(&h), 405);
    let (h, _) = admin(
        &gw,
        "POST /cache/purge?all=true HTTP/1.1\r\nhost: evil.example\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(status(&h), 403, "a rebinding page's Host is refused");
}

#[test]
fn purges_need_the_root_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a-long-enough-root-token\n").unwrap();
    let (origin, _) = counting("max-age=60");
    let extra = format!("[access]\napi_token_file = \"{}\"\n", token.display());
    let gw = gateway(origin.addr, "{}", &extra);
    let ask = |auth: &str| {
        let (h, _) = admin(&gw, &format!("POST /cache/purge?all=true HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}content-length: 0\r\n\r\n"));
        status(&h)
    };
    assert_eq!(ask(""), 401);
    assert_eq!(
        ask("authorization: Bearer wrong-token-wrong-token\r\n"),
        401
    );
    assert_eq!(
        ask("authorization: Bearer a-long-enough-root-token\r\n"),
        200
    );
}

#[test]
fn unsafe_methods_invalidate_and_only_if_cached_is_504() {
    let (origin, _) = counting("max-age=60");
    let gw = gateway(origin.addr, "{}", "");
    get(&gw, "/v/u", "");
    let addr = gw.local_addrs()[0];
    let (h, _) = raw_exchange(
        addr,
        "POST /v/u HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
    );
    assert_eq!(status(&h), 200);
    let (h, _) = get(&gw, "/v/u", "");
    assert!(cache_status(&h).contains("uri-miss"), "{h}");
    let (h, _) = get(&gw, "/v/never", "cache-control: only-if-cached\r\n");
    assert_eq!(status(&h), 504);
    assert_eq!(origin.count("/v/never"), 0);
}

#[test]
fn an_unkeyed_header_cannot_poison_the_cache() {
    // The origin reflects X-Forwarded-Host, as apps that build absolute
    // links do; an attacker sends its own.
    let origin = Scripted::start(|req| {
        let host = req.header("x-forwarded-host").unwrap_or("-").to_owned();
        Reply::ok(
            &format!("link to {host}"),
            &[("cache-control", "max-age=60")],
        )
    });
    let gw = gateway(
        origin.addr,
        "{ key = [\"header:x-tenant\", \"cookie:lang\"] }",
        "",
    );
    let (_, b) = get(&gw, "/page", "x-forwarded-host: evil.example\r\n");
    assert_eq!(b, b"link to test", "coregate sets X-Forwarded-Host itself");
    let (_, b) = get(&gw, "/page", "");
    assert_eq!(b, b"link to test");
    // An absolute-form target keys on its own authority, not the Host.
    let addr = gw.local_addrs()[0];
    raw_exchange(
        addr,
        "GET http://evil.example/page HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n",
    );
    let (_, b) = get(&gw, "/page", "");
    assert_eq!(b, b"link to test");
    // Key parts cannot run into each other.
    let n = origin.count("/page");
    get(&gw, "/page", "x-tenant: a\r\ncookie: lang=b\r\n");
    get(&gw, "/page", "x-tenant: ab\r\ncookie: lang=\r\n");
    assert_eq!(origin.count("/page"), n + 2);
}

#[test]
fn a_hit_is_the_miss_byte_for_byte_but_age_and_cache_status() {
    // Random fields and bodies: the hit must repeat the miss.
    let origin = Scripted::start(|req| {
        let seed: u64 = req.target[3..].parse().unwrap();
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let headers: Vec<(String, String)> = (0..next() % 8)
            .map(|i| (format!("x-f{i}"), format!("v{}", next())))
            .chain([("cache-control".into(), "max-age=600".into())])
            .collect();
        let len = (next() % 70_000) as usize;
        let body: Vec<u8> = (0..len).map(|_| (next() % 251) as u8).collect();
        Reply {
            status: [200, 203, 404][(next() % 3) as usize],
            headers,
            body,
            delay: Duration::ZERO,
            chunked: next() % 2 == 0,
        }
    });
    let gw = gateway(origin.addr, "{ max_object_bytes = \"1m\" }", "");
    for seed in 1..=40u64 {
        let path = format!("/p/{seed}");
        let (h1, b1) = get(&gw, &path, "");
        let (h2, b2) = get(&gw, &path, "");
        assert!(cache_status(&h2).contains("hit"), "{path}: {h2}");
        assert_eq!(b1, b2, "{path}");
        // A chunked miss (length unknown while it streamed) is a hit with
        // a Content-Length: the framing, hop-by-hop, is all that differs.
        let h1 = match field(&h1, "transfer-encoding") {
            Some("chunked") => h1.replace(
                "transfer-encoding: chunked",
                &format!("content-length: {}", b1.len()),
            ),
            _ => h1,
        };
        assert_eq!(
            without_cache_fields(&h1),
            without_cache_fields(&h2),
            "{path}"
        );
    }
}

#[test]
fn memory_stays_within_the_budget() {
    let origin =
        Scripted::start(|_| Reply::ok(&"m".repeat(20_000), &[("cache-control", "max-age=600")]));
    let gw = gateway(origin.addr, "{}", "[cache]\nmemory = \"1m\"\n");
    for i in 0..200 {
        get(&gw, &format!("/m/{i}"), "");
    }
    let (_, metrics) = admin(&gw, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
    let metrics = String::from_utf8(metrics).unwrap();
    let gauge = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (bytes, cap) = (
        gauge("coregate_cache_bytes"),
        gauge("coregate_cache_capacity_bytes"),
    );
    assert_eq!(cap, 1 << 20);
    assert!(bytes <= cap && bytes > cap / 4, "{bytes} of {cap}");
    assert!(gauge("coregate_cache_urls") < 60);
}

#[test]
fn one_app_never_gets_another_apps_cached_answer() {
    use common::mgmt::{id, Mgmt};
    let dir = tempfile::tempdir().unwrap();
    // The origin answers per app, from the identity header coregate sets.
    let origin = Scripted::start(|req| {
        let app = req.header("x-consumer-app").unwrap_or("-").to_owned();
        Reply::ok(&format!("for {app}"), &[("cache-control", "max-age=60")])
    });
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"127.0.0.1:0\"\n\n\
         [[access.teams]]\nname = \"shop\"\n\n[[access.teams]]\nname = \"bank\"\n\n\
         [[access.services]]\nteam = \"shop\"\nname = \"orders\"\nauth = [\"key\"]\n\n\
         [[access.apps]]\nteam = \"shop\"\nname = \"mobile\"\n\n\
         [[access.apps]]\nteam = \"bank\"\nname = \"teller\"\n\n\
         [[access.subscriptions]]\napp = \"shop/mobile\"\nservice = \"orders\"\n\n\
         [[access.subscriptions]]\napp = \"bank/teller\"\nservice = \"orders\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[routes]]\npath_prefix = \"/orders\"\nupstream = \"o\"\nservice = \"orders\"\ncache = {{}}\n",
        dir.path().display(),
        origin.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    let gw = common::start(t);
    let api = Mgmt::new(gw.api_addr().unwrap(), None);
    let apps = api.get("/apps");
    let key_of = |name: &str| {
        let app = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone();
        let made = api.post(
            &format!("/apps/{}/credentials", id(&app)),
            r#"{"kind":"key"}"#,
        );
        made["key"].as_str().unwrap().to_owned()
    };
    let (mobile, teller) = (key_of("mobile"), key_of("teller"));
    // The policy reaches the shards within a second of the keys' creation.
    let ask = |key: &str| {
        for _ in 0..100 {
            let (h, b) = get(&gw, "/orders/x", &format!("x-api-key: {key}\r\n"));
            if status(&h) == 200 {
                return (h, String::from_utf8(b).unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no 200 for {key}");
    };
    assert_eq!(ask(&mobile).1, "for mobile");
    let (h, b) = ask(&teller);
    assert_eq!(b, "for teller", "{h}");
    let (h, b) = ask(&mobile);
    assert_eq!(b, "for mobile");
    assert!(cache_status(&h).contains("hit"), "{h}");
    assert_eq!(origin.count("/orders/x"), 2);
}

#[test]
fn an_authorized_request_reuses_only_shareable_entries() {
    let origin = Scripted::start(|req| {
        let cc = match req.target.as_str() {
            "/public" => "public, max-age=60",
            _ => "max-age=60",
        };
        Reply::ok("x", &[("cache-control", cc)])
    });
    let gw = gateway(origin.addr, "{}", "");
    let auth = "authorization: Bearer t\r\n";
    for (path, reused) in [("/mine", false), ("/public", true)] {
        get(&gw, path, "");
        get(&gw, path, "");
        let (h, _) = get(&gw, path, auth);
        assert_eq!(cache_status(&h).contains("hit"), reused, "{path}: {h}");
        assert_eq!(origin.count(path), if reused { 1 } else { 2 }, "{path}");
    }
}

#[test]
fn the_access_log_says_how_the_cache_answered() {
    let (origin, _) = counting("max-age=60");
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let extra = format!("[access_log]\npath = \"{}\"\n", log.display());
    let gw = gateway(origin.addr, "{}", &extra);
    get(&gw, "/v/log", "");
    get(&gw, "/v/log", "");
    get(&gw, "/plain/x", "");
    // Shards flush their lines on their own: compare in path order.
    let mut results = Vec::new();
    for _ in 0..50 {
        let (entries, _) = common::log_entries(&log);
        results = entries
            .iter()
            .map(|e| (e["path"].to_string(), e["cache"].to_string()))
            .collect::<Vec<_>>();
        if results.len() == 3 {
            break;
        }
    }
    results.sort();
    let want = [
        ("\"/plain/x\"", "null"),
        ("\"/v/log\"", "\"hit\""),
        ("\"/v/log\"", "\"miss\""),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(results, want, "a route without cache logs no cache field");
}

#[test]
fn routes_sharing_a_path_never_share_entries() {
    // A canary route (told apart by a header, another upstream) on the
    // main route's host and path: its answers stay its own.
    let main = Scripted::start(|_| Reply::ok("main", &[("cache-control", "max-age=60")]));
    let canary = Scripted::start(|_| Reply::ok("canary", &[("cache-control", "max-age=60")]));
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 1\n\n\
         [upstreams.main]\nbackends = [\"{}\"]\n\n[upstreams.canary]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nname = \"canary\"\npath_prefix = \"/\"\nheaders = [{{ name = \"x-canary\", value = \"1\" }}]\nupstream = \"canary\"\ncache = {{}}\n\n\
         [[routes]]\nname = \"main\"\npath_prefix = \"/\"\nupstream = \"main\"\ncache = {{}}\n",
        main.addr, canary.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    let gw = common::start(t);
    assert_eq!(get(&gw, "/app.js", "x-canary: 1\r\n").1, b"canary");
    assert_eq!(get(&gw, "/app.js", "").1, b"main");
    let (h, b) = get(&gw, "/app.js", "");
    assert_eq!(b, b"main");
    assert!(cache_status(&h).contains("hit"), "{h}");
}

#[test]
fn a_hit_carries_one_age_and_counts_the_origins() {
    let origin =
        Scripted::start(|_| Reply::ok("aged", &[("cache-control", "max-age=60"), ("age", "30")]));
    let gw = gateway(origin.addr, "{}", "");
    let (h1, _) = get(&gw, "/a", "");
    let (h2, _) = get(&gw, "/a", "");
    for h in [&h1, &h2] {
        let ages: Vec<&str> = h
            .split("\r\n")
            .filter(|l| l.to_ascii_lowercase().starts_with("age:"))
            .collect();
        assert_eq!(ages.len(), 1, "{h}");
        let age: u64 = ages[0][4..].trim().parse().unwrap();
        assert!((30..=32).contains(&age), "{h}");
    }
}

#[test]
fn vary_on_a_field_coregate_sets_is_not_stored() {
    // The origin saw coregate's X-Forwarded-For, not the client's: a
    // variant keyed on the client's would serve one client's answer to
    // another.
    let origin = Scripted::start(|req| {
        let xff = req.header("x-forwarded-for").unwrap_or("-").to_owned();
        Reply::ok(
            &xff,
            &[("cache-control", "max-age=60"), ("vary", "X-Forwarded-For")],
        )
    });
    let gw = gateway(origin.addr, "{}", "");
    get(&gw, "/who", "");
    let (h, _) = get(&gw, "/who", "");
    assert!(!cache_status(&h).contains("hit"), "{h}");
    assert_eq!(origin.count("/who"), 2);
}

#[test]
fn a_leader_that_does_not_read_never_holds_up_its_waiters() {
    // An 8 MB object, larger than the socket buffers between coregate and
    // a client that reads nothing: the fill goes on without that client.
    const SIZE: usize = 8 << 20;
    let origin = Scripted::start(|_| {
        let mut r = Reply::ok("", &[("cache-control", "max-age=60")]);
        r.body = vec![b'q'; SIZE];
        r.delay = Duration::from_millis(300);
        r
    });
    let gw = gateway(origin.addr, "{ max_object_bytes = \"16m\" }", "");
    let addr = gw.local_addrs()[0];
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut leader: std::net::TcpStream = sock.into();
    std::io::Write::write_all(&mut leader, b"GET /huge HTTP/1.1\r\nhost: test\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (h, b) = get(&gw, "/huge", "");
    assert_eq!(b.len(), SIZE, "{h}");
    assert!(cache_status(&h).contains("collapsed"), "{h}");
    assert_eq!(origin.count("/huge"), 1);
    drop(leader);
}
