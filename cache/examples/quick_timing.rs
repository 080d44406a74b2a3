//! Criterion-free timing of the per-request decisions, run by hand:
//! `cargo run --release -p cache --example quick_timing`.

use std::hint::black_box;
use std::time::Instant;

use cache::{
    storable, variant_key, CacheKey, Directives, EntryMeta, KeyInput, KeyPart, ReqView, RespView,
    StoreOpts, Times,
};

const N: u32 = 2_000_000;

type Headers = Vec<(&'static [u8], &'static [u8])>;

fn request() -> Headers {
    vec![
        (b"Host", b"api.example.com"),
        (b"User-Agent", b"curl/8.5.0"),
        (b"Accept", b"*/*"),
        (b"Accept-Encoding", b"gzip, deflate, br"),
        (b"Cache-Control", b"max-age=60"),
        (b"X-Tenant", b"acme"),
    ]
}

fn response() -> Headers {
    vec![
        (b"Date", b"Tue, 14 Nov 2023 22:13:20 GMT"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"100"),
        (
            b"Cache-Control",
            b"public, max-age=300, stale-while-revalidate=30",
        ),
        (b"ETag", b"\"abc123\""),
        (b"Vary", b"Accept-Encoding"),
    ]
}

fn time(name: &str, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..N {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(N);
    println!("{name:<44} {ns:>8.1} ns");
}

fn main() {
    let (req, resp) = (request(), response());
    let opts = StoreOpts::default();
    let times = Times {
        request: 1_700_000_000,
        response: 1_700_000_000,
    };
    let parts = [KeyPart::header(b"x-tenant")];
    let input = KeyInput {
        method: b"GET",
        scheme: b"https",
        host: b"api.example.com",
        target: b"/v1/items?id=42",
    };
    let rv = RespView::new(200, &resp);
    let meta = EntryMeta::new(&rv, &opts, times);
    let vary = [&b"accept-encoding"[..]];

    time("request Cache-Control parse", || {
        black_box(Directives::from_headers(black_box(&req)));
    });
    time("CacheKey::new (one header part)", || {
        black_box(CacheKey::new(black_box(&input), &parts, &req));
    });
    time("variant_key (Vary: Accept-Encoding)", || {
        black_box(variant_key(&vary, black_box(&req)));
    });
    time("EntryMeta::state", || {
        black_box(meta.state(black_box(&Directives::default()), 1_700_000_100));
    });
    time("hit path (all four above)", || {
        let cc = Directives::from_headers(black_box(&req));
        black_box(CacheKey::new(&input, &parts, &req));
        black_box(variant_key(&vary, &req));
        black_box(meta.state(&cc, 1_700_000_100));
    });
    time("miss path: storable (views + EntryMeta)", || {
        let r = storable(
            &ReqView::new(b"GET", black_box(&req)),
            &RespView::new(200, &resp),
            &opts,
            times,
        );
        let _ = black_box(r);
    });
}
