//! Bulk and concurrent traffic through the io layer, checked end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod io_support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use engine::io::{RingConfig, SendBuf, TcpConn};
use io_support::*;

const MIB: usize = 1024 * 1024;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 64 MiB from a std client through a ring echo server and back, full duplex.
#[test]
fn echo_64mib_std_client() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        run(move || async move {
            let ring = ring(RingConfig::default());
            tx.send(echo_server(&ring)).unwrap();
            while done_rx.try_recv().is_err() {
                sleep_ms(20).await;
            }
            let st = ring.stats();
            assert_eq!(st.buffers_free, st.buffers_total, "{st:?}");
            ring.shutdown();
        })
    });
    let addr = rx.recv().unwrap();
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let data = pattern(64 * MIB, 7);
    let want = fnv(FNV0, &data);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for chunk in data.chunks(256 * 1024) {
            w.write_all(chunk).unwrap();
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let (mut r, mut got, mut h) = (s, 0usize, FNV0);
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h = fnv(h, &buf[..n]);
        got += n;
    }
    writer.join().unwrap();
    assert_eq!(got, 64 * MIB);
    assert_eq!(h, want);
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

/// 64 MiB from a ring client (split: send and recv concurrently) through a
/// ring echo server, with vectored sends; both ends on one ring.
#[test]
fn echo_64mib_ring_client_split() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let addr = echo_server(&ring);
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        let data = Bytes::from(pattern(64 * MIB, 11));
        let want = fnv(FNV0, &data);
        let (mut rh, mut sh) = c.split();
        let send = async {
            for chunk in data.chunks(300_000) {
                let b = data.slice_ref(chunk);
                let mid = b.len() / 3;
                let parts: Vec<SendBuf> = vec![b.slice(..mid).into(), b.slice(mid..).into()];
                sh.send_vectored(parts).await.expect("send");
            }
            sh.shutdown_write().expect("shutdown");
        };
        let recv = async {
            let (mut h, mut n) = (FNV0, 0);
            while let Some(b) = rh.recv().await.expect("recv") {
                h = fnv(h, &b);
                n += b.len();
            }
            (h, n)
        };
        let ((), (h, n)) = futures_lite::future::zip(send, recv).await;
        assert_eq!(n, 64 * MIB);
        assert_eq!(h, want);
        drop(c);
        ring.shutdown();
    });
}

/// 500 connections at once, each doing 20 round trips of varied sizes.
#[test]
fn many_concurrent_connections() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let addr = echo_server(&ring);
        let ok = Rc::new(std::cell::Cell::new(0));
        let mut tasks = Vec::new();
        for i in 0..500usize {
            let (ring, ok) = (ring.clone(), ok.clone());
            tasks.push(glommio::spawn_local(async move {
                let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
                for j in 0..20usize {
                    let msg = pattern(1 + (i * 37 + j * 101) % 20_000, (i * 1000 + j) as u64);
                    c.send(msg.clone()).await.expect("send");
                    assert_eq!(recv_exact(&mut c, msg.len()).await, msg);
                }
                ok.set(ok.get() + 1);
            }));
        }
        for t in tasks {
            t.await;
        }
        assert_eq!(ok.get(), 500);
        sleep_ms(50).await;
        let st = ring.stats();
        assert_eq!(st.buffers_free, st.buffers_total, "{st:?}");
        ring.shutdown();
    });
}

/// After the peer half-closes, the conn sees EOF but can still send.
#[test]
fn half_close() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = engine::io::Listener::new(&ring, l);
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut server, peer) = l.accept().await.expect("accept");
        assert_eq!(Some(peer), client.peer_addr().map(|_| peer));
        client.send(&b"request"[..]).await.expect("send");
        client.shutdown_write().expect("shutdown");
        assert_eq!(recv_exact(&mut server, 7).await, b"request");
        assert!(server.recv().await.expect("eof").is_none());
        assert!(server.is_closed());
        // The other direction still works after the peer's FIN.
        server
            .send(&b"response"[..])
            .await
            .expect("send after peer FIN");
        server.shutdown_write().expect("shutdown");
        assert_eq!(recv_exact(&mut client, 8).await, b"response");
        assert!(client.recv().await.expect("eof").is_none());
        drop((client, server));
        ring.shutdown();
    });
}

/// An idle pooled connection notices the peer closing without a recv call
/// (its multishot recv stays armed), and holds no buffer while idle.
#[test]
fn idle_conn_notices_peer_close() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = engine::io::Listener::new(&ring, l);
        let mut up = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut peer, _) = l.accept().await.expect("accept");
        up.send(&b"ping"[..]).await.expect("send");
        assert_eq!(recv_exact(&mut peer, 4).await, b"ping");
        peer.send(&b"pong"[..]).await.expect("send");
        assert_eq!(recv_exact(&mut up, 4).await, b"pong");
        sleep_ms(20).await;
        assert!(!up.is_closed());
        let st = ring.stats();
        assert_eq!(
            st.buffers_free, st.buffers_total,
            "idle conns hold no buffer"
        );
        drop(peer);
        for _ in 0..100 {
            if up.is_closed() {
                break;
            }
            sleep_ms(10).await;
        }
        assert!(up.is_closed(), "peer close not noticed");
        drop(up);
        ring.shutdown();
    });
}
