//! The driver parks on the eventfd when idle and wakes promptly, in every
//! setup mode.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod io_support;

use std::time::{Duration, Instant};

use engine::io::{Ring, RingConfig, SetupMode, TcpConn};
use io_support::*;

fn ping_pong(mode: SetupMode) {
    run(move || async move {
        let ring = Ring::with_modes(&RingConfig::default(), &[mode]).expect("ring");
        assert_eq!(ring.stats().mode, mode);
        glommio::spawn_local(ring.clone().run()).detach();
        let addr = echo_server(&ring);
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        let t = Instant::now();
        for _ in 0..300 {
            c.send(&b"ping"[..]).await.expect("send");
            assert_eq!(recv_exact(&mut c, 4).await, b"ping");
        }
        let el = t.elapsed();
        let st = ring.stats();
        eprintln!("{mode:?}: 300 round trips in {el:?}; {st:?}");
        // With a lost wake-up each round trip would wait for the 50 ms safety net.
        assert!(el < Duration::from_secs(3), "{el:?}");
        drop(c);
        ring.shutdown();
    });
}

#[test]
fn deferred_ping_pong() {
    ping_pong(SetupMode::Deferred);
}

#[test]
fn cooperative_ping_pong() {
    ping_pong(SetupMode::Cooperative);
}

#[test]
fn plain_ping_pong() {
    ping_pong(SetupMode::Plain);
}

/// One request, a second of silence (the driver parks), then another request
/// answered promptly.
#[test]
fn idle_then_request() {
    run(|| async {
        let ring = ring(RingConfig::default());
        let addr = echo_server(&ring);
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        c.send(&b"one"[..]).await.expect("send");
        assert_eq!(recv_exact(&mut c, 3).await, b"one");
        let parks = ring.stats().parks;
        sleep_ms(1000).await;
        assert!(ring.stats().parks > parks, "driver never parked");
        let t = Instant::now();
        c.send(&b"two"[..]).await.expect("send");
        assert_eq!(recv_exact(&mut c, 3).await, b"two");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(c);
        ring.shutdown();
    });
}

/// `run` returns after `shutdown`, and operations fail cleanly afterwards.
#[test]
fn shutdown_ends_driver() {
    run(|| async {
        let ring = Ring::new(&RingConfig::default()).expect("ring");
        let driver = glommio::spawn_local(ring.clone().run());
        let addr = echo_server(&ring);
        let mut c = TcpConn::connect(&ring, addr).await.expect("connect");
        c.send(&b"x"[..]).await.expect("send");
        assert_eq!(recv_exact(&mut c, 1).await, b"x");
        ring.shutdown();
        let t = Instant::now();
        driver.await;
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(c.send(&b"y"[..]).await.is_err());
        assert!(TcpConn::connect(&ring, addr).await.is_err());
    });
}
