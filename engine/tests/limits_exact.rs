//! One key's rate is exact across the host's shards: 64 connections over
//! 2 shards against 200/s with no burst for 5 s. Alone in its test binary,
//! so that no other test's load stalls the machine for longer than one
//! interval (with no burst, a stall's budget is lost).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Origin};

fn gateway(origin: &Origin, limit: &str) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\nrate_limit = {limit}\n",
        origin.addr
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

#[test]
fn one_key_is_exact_across_shards() {
    let origin = Origin::start();
    let server = gateway(
        &origin,
        "{ name = \"per-ip\", rate = \"200/s\", burst = 0, key = \"ip\" }",
    );
    let gw = server.local_addrs()[0];
    let (ok, limited) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now() + Duration::from_millis(200);
    // Each connection sends every 20 ms, the 64 of them spread evenly: a
    // request reaches the limiter every 0.31 ms, 16 times the limit. Paced
    // rather than flat out, so that the load itself does not starve the
    // 2-CPU machine into stalls longer than an interval (5 ms): with no
    // burst, the budget of a stall with no request in it is lost.
    let period = Duration::from_millis(20);
    let threads: Vec<_> = (0..64u32)
        .map(|i| {
            let (ok, limited) = (ok.clone(), limited.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(gw);
                let mut next = start + period * i / 64;
                while next < start + Duration::from_secs(5) {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    match c.get("/").status {
                        200 => ok.fetch_add(1, Ordering::SeqCst),
                        429 => limited.fetch_add(1, Ordering::SeqCst),
                        s => panic!("unexpected status {s}"),
                    };
                    next += period;
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let (ok, limited) = (ok.load(Ordering::SeqCst), limited.load(Ordering::SeqCst));
    eprintln!("admitted {ok}, limited {limited} in 5 s");
    assert!((990..=1010).contains(&ok), "admitted {ok}, want 1000 ± 1%");
    assert!(limited > 1000, "the load exceeded the limit: {limited}");
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        ok,
        "only admitted requests went upstream"
    );
}
