//! The cache's hit ratio does not fall with the number of shards: the
//! same Zipf workload (100k keys, s = 0.99) and the same memory budget,
//! on 1 shard and on 2, with the connections spread over the shards.
//! With one store per shard, each would hold half the bytes and the hot
//! keys twice; the shared store holds each key once.

mod cache_support;
mod common;

use std::sync::Arc;

use cache_support::{Reply, Scripted};
use common::Client;

const KEYS: usize = 100_000;
const REQUESTS: usize = 24_000;
const CONNECTIONS: usize = 8;

fn gateway(origin: std::net::SocketAddr, shards: usize) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = {shards}\n\n\
         [cache]\nmemory = \"4m\"\n\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\ncache = {{}}\n"
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

/// Key ranks drawn from Zipf(0.99) over [`KEYS`], the same every run.
fn workload() -> Vec<usize> {
    let weights: Vec<f64> = (1..=KEYS).map(|r| 1.0 / (r as f64).powf(0.99)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(KEYS);
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..REQUESTS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c < u).min(KEYS - 1)
        })
        .collect()
}

/// Runs the workload over [`CONNECTIONS`] keep-alive connections (each
/// takes every n-th request, in order); returns the hit ratio.
fn hit_ratio(shards: usize, origin: &Scripted, work: &Arc<Vec<usize>>) -> f64 {
    let gw = gateway(origin.addr, shards);
    let addr = gw.local_addrs()[0];
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let work = work.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut hits = 0usize;
                for &k in work.iter().skip(c).step_by(CONNECTIONS) {
                    let r = client.get(&format!("/z/{k}"));
                    assert_eq!(r.status, 200);
                    hits +=
                        usize::from(r.header("cache-status").is_some_and(|v| v.contains("hit")));
                }
                hits
            })
        })
        .collect();
    let hits: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    hits as f64 / REQUESTS as f64
}

#[test]
fn two_shards_keep_the_one_shard_hit_ratio() {
    let origin =
        Scripted::start(|_| Reply::ok(&"b".repeat(1024), &[("cache-control", "max-age=600")]));
    let work = Arc::new(workload());
    let one = hit_ratio(1, &origin, &work);
    let two = hit_ratio(2, &origin, &work);
    eprintln!(
        "hit ratio: 1 shard {one:.4}, 2 shards {two:.4} ({:.3}x)",
        two / one
    );
    assert!(one > 0.2, "the workload reuses keys: {one}");
    assert!(
        two >= 0.95 * one,
        "2 shards {two:.4} < 0.95 x 1 shard {one:.4}"
    );
}
