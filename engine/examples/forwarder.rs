//! A bare byte forwarder on coregate's io layer, for measuring the socket
//! layer's cost side by side with nginx (see `engine::io` docs).
//!
//! Usage: `forwarder LISTEN UPSTREAM` (e.g. `127.0.0.1:8099 127.0.0.1:8081`).
//! Per client it opens one upstream connection and relays both ways, with
//! no HTTP parsing: received buffers are forwarded as is (no copy).
//! Runs one shard on the current thread; pin it with `taskset`.
#![allow(clippy::expect_used, missing_docs)]

use std::net::SocketAddr;

use engine::io::{Listener, RecvHalf, Ring, RingConfig, SendHalf, TcpConn};
use glommio::{LocalExecutorBuilder, Placement};

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8099".into())
        .parse()
        .expect("LISTEN");
    let upstream: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8081".into())
        .parse()
        .expect("UPSTREAM");
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(64 << 10)
        .ring_depth(128)
        .spawn(move || serve(listen, upstream))
        .expect("executor")
        .join()
        .expect("join");
}

async fn serve(listen: SocketAddr, upstream: SocketAddr) {
    // FWD_DIRECT_US: the driver's direct-wait window (0 turns it off).
    let mut cfg = RingConfig::default();
    if let Some(us) = std::env::var("FWD_DIRECT_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.direct_wait = std::time::Duration::from_micros(us);
    }
    let ring = match Ring::new(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("forwarder: {e}");
            std::process::exit(1);
        }
    };
    glommio::spawn_local(ring.clone().run()).detach();
    if std::env::var_os("FWD_STATS").is_some() {
        glommio::spawn_local(print_stats(ring.clone())).detach();
    }
    let listener = Listener::new(&ring, bind(listen));
    eprintln!("forwarder: {listen} -> {upstream}");
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                engine::io::spawn(relay(ring.clone(), client, upstream));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// With `FWD_STATS` set: prints the ring's counters every 2 s.
async fn print_stats(ring: Ring) {
    loop {
        glommio::timer::sleep(std::time::Duration::from_secs(2)).await;
        eprintln!("{:?}", ring.stats());
    }
}

fn bind(addr: SocketAddr) -> std::net::TcpListener {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.set_reuse_port(true).expect("SO_REUSEPORT");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.bind(&addr.into()).expect("bind");
    s.listen(4096).expect("listen");
    s.into()
}

async fn relay(ring: Ring, mut client: TcpConn, upstream: SocketAddr) {
    let mut up = match TcpConn::connect(&ring, upstream).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect {upstream}: {e}");
            return;
        }
    };
    let (cr, cw) = client.split();
    let (ur, uw) = up.split();
    futures_lite::future::zip(pipe(cr, uw), pipe(ur, cw)).await;
}

/// Copies one direction until EOF or error, then half-closes the other side.
async fn pipe(mut from: RecvHalf<'_>, mut to: SendHalf<'_>) {
    while let Ok(Some(buf)) = from.recv().await {
        if to.send(buf).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown_write();
}
