//! Heap allocations per proxied keep-alive request, counted by a global
//! allocator over 10,000 requests after warm-up, as the parser crate counts
//! its own. Only the shard's thread is counted (the data path), not the
//! control thread nor this test's client; the origin is a second coregate
//! process with a fixed response.
//!
//! Measured 2026-12-02 (debug build): 5.7 to 5.95 per request on an idle
//! machine. Five whole ones, by size: the request's state machine
//! (10.8 KB), a 4 KB buffer, 248 bytes, and the 40- and 24-byte headers
//! `bytes` allocates when it shares a buffer; the rest is amortised
//! buffer growth. With both CPUs busy (a build running) the least of three
//! windows was 8.0: sends that do not complete at once and buffers still
//! shared when handed back allocate more. The goal is none; until then
//! the ceiling sits above the loaded figure, so the test does not depend
//! on the machine, and fails on a regression of a few allocations per
//! request.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread is a shard: 0 not known yet, 1 yes, 2 no.
    static SHARD: Cell<u8> = const { Cell::new(0) };
}

/// Counts one allocation if this thread is a shard. Finding out may
/// allocate (the thread's handle), which the "no" set first keeps from
/// recursing.
fn count() {
    let known = SHARD.with(|s| {
        if s.get() == 0 {
            s.set(2);
            let shard = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("shard-"));
            s.set(if shard { 1 } else { 2 });
        }
        s.get()
    });
    if known == 1 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call goes straight to the system allocator with the
// caller's arguments; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per request the keep-alive proxy path may make today
/// (the least of three windows of [`MEASURED`] requests).
const CEILING: f64 = 9.0;
const WARM_UP: usize = 2_000;
const MEASURED: usize = 10_000;

/// One response read into `buf` without allocating: the head up to its
/// blank line, then Content-Length bytes of body.
fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..]).unwrap();
        assert!(n > 0, "the proxy closed the connection");
        filled += n;
        let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = &buf[..end];
        assert!(
            head.starts_with(b"HTTP/1.1 200 "),
            "{}",
            String::from_utf8_lossy(head)
        );
        let length = content_length(head);
        if filled >= end + 4 + length {
            return filled;
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    let at = head
        .windows(16)
        .position(|w| w.eq_ignore_ascii_case(b"content-length: "))
        .expect("content-length");
    head[at + 16..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, b| n * 10 + usize::from(b - b'0'))
}

#[test]
fn keep_alive_proxy_path_allocations_per_request() {
    let origin_addr = free_port();
    let dir = std::env::temp_dir().join(format!("coregate-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("origin.toml");
    let body = "x".repeat(100);
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"{origin_addr}\"]\nshards = 1\nadmin = \"off\"\n\n\
             [[routes]]\nname = \"fixed\"\nrespond = {{ status = 200, body = \"{body}\" }}\n"
        ),
    )
    .unwrap();
    let mut origin = spawn_with_config(&path, &[]);
    wait_for_port(origin_addr);
    let server = start_quick(&[origin_addr], 1);
    let mut client = TcpStream::connect(server.local_addrs()[0]).unwrap();
    client.set_nodelay(true).unwrap();
    let request = b"GET /a HTTP/1.1\r\nHost: alloc.test\r\nUser-Agent: count\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    let mut run = |n: usize| {
        for _ in 0..n {
            client.write_all(request).unwrap();
            read_response(&mut client, &mut buf);
        }
    };
    run(WARM_UP);
    // Timing adds allocations (a send that does not complete at once, a
    // buffer still shared when it is handed back) and never removes any:
    // the least of three windows is the path's own count.
    let per_request = (0..3)
        .map(|_| {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            run(MEASURED);
            let after = ALLOCATIONS.load(Ordering::Relaxed);
            (after - before) as f64 / MEASURED as f64
        })
        .fold(f64::INFINITY, f64::min);
    eprintln!("allocations per request: {per_request:.2}");
    let _ = origin.kill();
    let _ = origin.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        per_request <= CEILING,
        "{per_request:.2} allocations per request, more than {CEILING}"
    );
}
