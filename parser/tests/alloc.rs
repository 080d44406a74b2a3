//! Head parsing allocates nothing: a counting global allocator watches a
//! steady-state connection buffer parse pipelined requests and responses,
//! read every accessor, and scan a chunked body.

#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::BytesMut;
use parser::{parse_request, parse_response, BodyKind, BodyScanner, Limits, Method};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a relaxed atomic that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn api_request() -> Vec<u8> {
    let mut req =
        b"POST /v1/orders?id=42 HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0\r\n"
            .to_vec();
    for i in 0..27 {
        req.extend_from_slice(format!("X-Header-{i}: value-{i}-abcdefghijklmnop\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

#[test]
fn parsing_heads_allocates_nothing() {
    const N: usize = 64;
    let limits = Limits::default();
    let req = api_request();
    let res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: up\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    let mut buf = BytesMut::with_capacity((N + 1) * (req.len() + res.len()));
    for _ in 0..=N {
        buf.extend_from_slice(&req);
        buf.extend_from_slice(res);
    }
    // The first split turns the Vec-backed BytesMut into a shared buffer: one
    // allocation per connection buffer, made by `bytes`, not per request.
    drop(parse_request(&mut buf, &limits).unwrap().unwrap());
    let mut warm = parse_response(&mut buf, &limits, Method::Post)
        .unwrap()
        .unwrap();
    let scan = BodyScanner::new(warm.body()).scan(&buf, &limits).unwrap();
    bytes::Buf::advance(&mut buf, scan.consumed);

    let mut seen = 0usize;
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..N {
        let head = parse_request(&mut buf, &limits).unwrap().unwrap();
        seen += head.headers().count() + head.target().len() + head.method_bytes().len();
        seen += usize::from(head.host().is_some()) + usize::from(head.keep_alive());
        seen += usize::from(head.header("x-header-26").is_some())
            + usize::from(head.is_hop_by_hop(b"x-header-1"));
        seen += usize::from(head.body() == BodyKind::Empty);
        warm = parse_response(&mut buf, &limits, head.method())
            .unwrap()
            .unwrap();
        let mut scanner = BodyScanner::new(warm.body());
        let scan = scanner.scan(&buf, &limits).unwrap();
        assert!(scan.done);
        bytes::Buf::advance(&mut buf, scan.consumed);
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "allocations while parsing {N} request/response pairs"
    );
    assert!(seen > N * 30 && buf.is_empty() && warm.status() == 200);
}
