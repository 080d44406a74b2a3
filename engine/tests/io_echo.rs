//! Loopback echo through the io layer: accept, recv, send, connect.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod io_support;

use std::io::{Read, Write};
use std::time::Duration;

use engine::io::{RingConfig, TcpConn};
use io_support::*;

#[test]
fn echo_ring_client() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let addr = echo_server(&ring);
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        for i in 0..100u32 {
            let msg = format!("hello {i}");
            c.send(msg.clone().into_bytes()).await.expect("send");
            let got = recv_exact(&mut c, msg.len()).await;
            assert_eq!(got, msg.as_bytes());
        }
        c.shutdown_write().expect("shutdown");
        assert!(c.recv().await.expect("eof").is_none());
        assert!(c.is_closed());
        drop(c);
        ring.shutdown();
    });
}

/// TCP_NODELAY on both ends: set on the listening socket once, so accepted
/// sockets inherit it without a setsockopt each, and set on connect.
#[test]
fn accepted_and_connected_sockets_have_nodelay() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = engine::io::Listener::new(&ring, l);
        let c = TcpConn::connect(&ring, addr).await.expect("connect");
        let (a, _) = l.accept().await.expect("accept");
        for fd in [a.fd(), c.fd()] {
            // SAFETY: the fd stays open while `a` and `c` live.
            #[allow(unsafe_code)]
            let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            assert!(socket2::SockRef::from(&b).nodelay().expect("getsockopt"));
        }
        drop((a, c));
        ring.shutdown();
    });
}

#[test]
fn echo_std_client() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        run(move || async move {
            let ring = ring(RingConfig::default());
            let addr = echo_server(&ring);
            tx.send(addr).unwrap();
            sleep_ms(3000).await;
            ring.shutdown();
        })
    });
    let addr = rx.recv().unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for i in 0..50 {
        let msg = vec![i as u8; 1000 + i * 100];
        s.write_all(&msg).unwrap();
        let mut got = vec![0; msg.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    }
    drop(s);
    server.join().unwrap();
}
