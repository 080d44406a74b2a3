//! Dropped futures, resets, closes: nothing lost, leaked or reordered.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod io_support;

use std::io::Write;
use std::time::{Duration, Instant};

use engine::io::{Listener, RingConfig, TcpConn};
use futures_lite::future;
use io_support::*;

/// fd counts are process-wide: tests that compare them run one at a time.
#[allow(clippy::disallowed_types)] // test-only, across test threads
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

async fn timeout<T>(ms: u64, f: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(f.await) }, async {
        sleep_ms(ms).await;
        None
    })
    .await
}

/// A recv future dropped while waiting loses nothing: the data that arrives
/// afterwards is returned by the next recv.
#[test]
fn cancel_recv_loses_nothing() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = Listener::new(&ring, l);
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut server, _) = l.accept().await.expect("accept");
        for i in 0..20u8 {
            assert!(
                timeout(5, server.recv()).await.is_none(),
                "nothing was sent yet"
            );
            client.send(vec![i; 100]).await.expect("send");
            assert!(timeout(5, server.recv()).await.is_some() || i > 0);
        }
        // Everything sent arrives exactly once, in order.
        drop(client);
        let mut got = Vec::new();
        while let Some(b) = server.recv().await.expect("recv") {
            got.extend_from_slice(&b);
        }
        let mut want: Vec<u8> = Vec::new();
        (0..20u8).for_each(|i| want.extend(std::iter::repeat_n(i, 100)));
        // The recvs inside the loop may have taken some chunks: compare suffix.
        assert!(want.ends_with(&got), "data lost or reordered");
        drop(server);
        ring.shutdown();
    });
}

/// The same, counting bytes exactly: no recv may be dropped with data in it.
#[test]
fn cancel_recv_exact_count() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = Listener::new(&ring, l);
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (mut server, _) = l.accept().await.expect("accept");
        let mut total = 0;
        for i in 0..50u8 {
            if let Some(r) = timeout(1, server.recv()).await {
                total += r.expect("recv").expect("data").len();
            }
            client.send(vec![i; 1000]).await.expect("send");
        }
        drop(client);
        while let Some(b) = server.recv().await.expect("recv") {
            total += b.len();
        }
        assert_eq!(total, 50 * 1000);
        drop(server);
        ring.shutdown();
    });
}

/// A send dropped mid-flight poisons later sends; dropping the conn then
/// cancels the send, frees its buffer and closes the fd.
#[test]
fn cancel_send_poisons_and_cleans_up() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, addr) = bind();
        let l = Listener::new(&ring, l);
        // Arm the listener's multishot accept before taking the baseline.
        let warm = TcpConn::connect(&ring, addr).await.expect("connect");
        drop((warm, l.accept().await.expect("accept")));
        sleep_ms(50).await;
        let base = ring.stats();
        let fds = fd_count();
        let mut client = TcpConn::connect(&ring, addr).await.expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        // The server never reads: 64 MiB cannot fit in the socket buffers.
        let big = vec![1u8; 64 << 20];
        assert!(
            timeout(200, client.send(big)).await.is_none(),
            "send should block"
        );
        let e = client.send(&b"more"[..]).await.expect_err("poisoned");
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
        drop(client);
        drop(server);
        let t = Instant::now();
        while ring.stats().ops_in_flight > base.ops_in_flight
            && t.elapsed() < Duration::from_secs(5)
        {
            sleep_ms(10).await;
        }
        let st = ring.stats();
        assert_eq!(st.ops_in_flight, base.ops_in_flight, "{st:?}");
        assert_eq!(st.sockets_open, base.sockets_open, "{st:?}");
        assert_eq!(fd_count(), fds);
        ring.shutdown();
    });
}

/// A reset from the peer surfaces as an error on recv and on send.
#[test]
fn peer_reset() {
    let _serial = serial();
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        run(move || async move {
            let ring = ring(RingConfig::default());
            let (l, addr) = bind();
            let l = Listener::new(&ring, l);
            tx.send(addr).unwrap();
            let (mut c, _) = l.accept().await.expect("accept");
            assert_eq!(recv_exact(&mut c, 5).await, b"hello");
            go_tx.send(()).unwrap();
            let r = c.recv().await;
            let e = r.expect_err("reset must be an error");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
            assert!(c.is_closed());
            assert!(c.send(&b"x"[..]).await.is_err(), "send to a reset peer");
            drop(c);
            ring.shutdown();
        })
    });
    let addr = rx.recv().unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"hello").unwrap();
    go_rx.recv().unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    server.join().unwrap();
}

/// Thousands of connections opened, used and closed: no fd, buffer, slot
/// or socket leaks.
#[test]
fn open_close_loop_leaks_nothing() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        let addr = echo_server(&ring);
        // Warm up (first connection allocates tables).
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        c.send(&b"x"[..]).await.expect("send");
        recv_exact(&mut c, 1).await;
        drop(c);
        sleep_ms(100).await;
        let (fds, base) = (fd_count(), ring.stats());
        for i in 0..3000u32 {
            let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
            let msg = i.to_le_bytes().to_vec();
            c.send(msg.clone()).await.expect("send");
            assert_eq!(recv_exact(&mut c, 4).await, msg);
            if i % 3 == 0 {
                c.shutdown_write().expect("shutdown");
            }
            // Every other conn is dropped with its recv still armed.
        }
        let t = Instant::now();
        loop {
            let st = ring.stats();
            let settled =
                st.sockets_open == base.sockets_open && st.ops_in_flight == base.ops_in_flight;
            if (settled && fd_count() == fds) || t.elapsed() > Duration::from_secs(5) {
                break;
            }
            sleep_ms(20).await;
        }
        let st = ring.stats();
        assert_eq!(fd_count(), fds, "fd leak: {st:?}");
        assert_eq!(st.sockets_open, base.sockets_open, "{st:?}");
        assert_eq!(st.ops_in_flight, base.ops_in_flight, "{st:?}");
        assert_eq!(st.buffers_free, st.buffers_total, "{st:?}");
        ring.shutdown();
    });
}

/// Closing a listener fails a pending accept and closes its fd.
#[test]
fn listener_close_fails_pending_accept() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        let (l, _) = bind();
        let fds = fd_count();
        let l = std::rc::Rc::new(Listener::new(&ring, l));
        let l2 = l.clone();
        let pending = glommio::spawn_local(async move { l2.accept().await.map(|_| ()) });
        sleep_ms(20).await;
        l.close();
        let r = timeout(2000, pending).await.expect("accept must return");
        assert!(r.is_err());
        sleep_ms(50).await;
        assert_eq!(fd_count(), fds - 1, "listener fd not closed");
        ring.shutdown();
    });
}

/// A connect future dropped before completion cancels and closes its socket.
#[test]
fn dropped_connect_closes_socket() {
    let _serial = serial();
    run(|| async {
        let ring = ring(RingConfig::default());
        // A listener with a full backlog that never accepts: SYNs are
        // dropped, so a further connect hangs.
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let mut fill = Vec::new();
        for _ in 0..4 {
            if let Some(Ok(c)) = timeout(100, TcpConn::connect(&ring, addr)).await {
                fill.push(c);
            }
        }
        sleep_ms(50).await;
        let base = ring.stats();
        let fds = fd_count();
        let r = timeout(100, TcpConn::connect(&ring, addr)).await;
        assert!(r.is_none(), "connect to a full backlog should hang");
        let t = Instant::now();
        while ring.stats().ops_in_flight > base.ops_in_flight
            && t.elapsed() < Duration::from_secs(3)
        {
            sleep_ms(10).await;
        }
        assert_eq!(ring.stats().ops_in_flight, base.ops_in_flight);
        assert_eq!(fd_count(), fds);
        drop(fill);
        ring.shutdown();
    });
}
