//! Provided-buffer exhaustion and per-connection backpressure: readers slow
//! down, data is never dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod io_support;

use engine::io::{Listener, RingConfig, TcpConn};
use io_support::*;

const KIB: usize = 1024;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A tiny pool and a slow reader holding buffers: the multishot recv ends
/// with ENOBUFS and is re-armed when buffers return; every byte arrives.
#[test]
fn pool_exhaustion_slows_reader_without_loss() {
    run(|| async {
        let cfg = RingConfig {
            buffer_count: 4,
            buffer_size: 4 * KIB as u32,
            max_unread_bytes: 1 << 20,
            ..Default::default()
        };
        let ring = ring(cfg);
        let (l, addr) = bind();
        let l = Listener::new(&ring, l);
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut server, _) = l.accept().await.expect("accept");
        let payload = data(2 << 20);
        let want = fnv(FNV0, &payload);
        let send = async {
            client.send(payload.clone()).await.expect("send");
            client.shutdown_write().expect("shutdown");
        };
        let recv = async {
            let (mut h, mut n, mut held) = (FNV0, 0, Vec::new());
            while let Some(b) = server.recv().await.expect("recv") {
                h = fnv(h, &b);
                n += b.len();
                // Hold up to 3 buffers for a while: the pool runs dry.
                held.push(b);
                if held.len() == 3 {
                    sleep_ms(1).await;
                    held.clear();
                }
            }
            (h, n)
        };
        let ((), (h, n)) = futures_lite::future::zip(send, recv).await;
        assert_eq!(n, payload.len());
        assert_eq!(h, want);
        let st = ring.stats();
        assert!(st.enobufs > 0, "pool never ran dry: {st:?}");
        assert!(st.rearms > 0, "{st:?}");
        drop((client, server));
        sleep_ms(20).await;
        let st = ring.stats();
        assert_eq!(st.buffers_free, st.buffers_total, "{st:?}");
        ring.shutdown();
    });
}

/// Many connections share a small pool; all their data arrives intact.
#[test]
fn pool_shared_by_many_slow_readers() {
    run(|| async {
        let cfg = RingConfig {
            buffer_count: 8,
            buffer_size: 2 * KIB as u32,
            ..Default::default()
        };
        let ring = ring(cfg);
        let addr = echo_server(&ring);
        let mut tasks = Vec::new();
        for i in 0..32usize {
            let ring = ring.clone();
            tasks.push(glommio::spawn_local(async move {
                let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
                let msg = data(64 * KIB + i);
                let (mut rh, mut sh) = c.split();
                let send = async { sh.send(msg.clone()).await.expect("send") };
                let recv = async {
                    let mut got = Vec::new();
                    while got.len() < msg.len() {
                        let b = rh.recv().await.expect("recv").expect("data");
                        got.extend_from_slice(&b);
                    }
                    got
                };
                let ((), got) = futures_lite::future::zip(send, recv).await;
                assert!(got == msg, "conn {i}: data corrupted");
            }));
        }
        for t in tasks {
            t.await;
        }
        sleep_ms(20).await;
        let st = ring.stats();
        assert_eq!(st.buffers_free, st.buffers_total, "{st:?}");
        ring.shutdown();
    });
}

/// A reader that does not read: receiving pauses at `max_unread_bytes`
/// (plus what was already in flight), then resumes as it drains.
#[test]
fn unread_bytes_are_bounded() {
    run(|| async {
        let max = 32 * KIB;
        let cfg = RingConfig {
            buffer_count: 256,
            buffer_size: 4 * KIB as u32,
            max_unread_bytes: max,
            ..Default::default()
        };
        let ring = ring(cfg);
        let (l, addr) = bind();
        let l = Listener::new(&ring, l);
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut server, _) = l.accept().await.expect("accept");
        let payload = data(4 << 20);
        let want = fnv(FNV0, &payload);
        let (mut rh, mut sh) = client.split();
        let send = async {
            sh.send(payload.clone()).await.expect("send");
            sh.shutdown_write().expect("shutdown");
        };
        let check = async {
            sleep_ms(200).await;
            let unread = server.unread_bytes();
            // Bounded: the limit plus what the kernel posted before the
            // cancel landed (one batch of task work: up to 32 CQEs per
            // wake-up, at most a couple of wake-ups).
            assert!(unread >= max, "should have filled up: {unread}");
            assert!(unread <= max + 96 * 4 * KIB, "unbounded: {unread}");
            assert!(ring.stats().recv_pauses > 0);
            let (mut h, mut n) = (FNV0, 0);
            while let Some(b) = server.recv().await.expect("recv") {
                h = fnv(h, &b);
                n += b.len();
            }
            (h, n)
        };
        let ((), (h, n)) = futures_lite::future::zip(send, check).await;
        assert_eq!(n, payload.len());
        assert_eq!(h, want);
        assert!(rh.try_recv().is_none(), "the server sent nothing");
        drop((client, server));
        ring.shutdown();
    });
}
