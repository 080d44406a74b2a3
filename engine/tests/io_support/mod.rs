//! Shared helpers for the io layer's loopback tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use engine::io::{Listener, Ring, RingConfig, TcpConn};
use glommio::{LocalExecutorBuilder, Placement};

/// Runs `f` on a fresh glommio executor thread and waits for it.
pub fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(64 << 10)
        .ring_depth(128)
        .spawn(f)
        .expect("executor")
        .join()
        .expect("join");
}

/// Builds a ring and spawns its driver on the current executor.
pub fn ring(cfg: RingConfig) -> Ring {
    let ring = Ring::new(&cfg).expect("ring");
    glommio::spawn_local(ring.clone().run()).detach();
    ring
}

/// A loopback listener on an ephemeral port.
pub fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

/// Echoes one connection until EOF, forwarding received buffers as is.
pub async fn echo(mut c: TcpConn) {
    while let Ok(Some(b)) = c.recv().await {
        if c.send(b).await.is_err() {
            return;
        }
    }
    let _ = c.shutdown_write();
}

/// Starts an echo server on `ring`; returns its address.
pub fn echo_server(ring: &Ring) -> SocketAddr {
    let (l, addr) = bind();
    let l = Listener::new(ring, l);
    glommio::spawn_local(async move {
        while let Ok((c, _)) = l.accept().await {
            engine::io::spawn(echo(c));
        }
    })
    .detach();
    addr
}

/// Receives until `n` bytes arrived (or EOF); returns them.
pub async fn recv_exact(c: &mut TcpConn, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        match c.recv().await {
            Ok(Some(b)) => v.extend_from_slice(&b),
            _ => break,
        }
    }
    v
}

/// Number of open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sleeps on the executor.
pub async fn sleep_ms(ms: u64) {
    glommio::timer::sleep(Duration::from_millis(ms)).await;
}

/// FNV-1a over `data`, continuing from `h`.
pub fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// FNV-1a start value.
pub const FNV0: u64 = 0xcbf2_9ce4_8422_2325;
