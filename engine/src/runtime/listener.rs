//! Listening sockets, built with socket2 so the backlog and options are ours
//! (glommio's own `bind` hard-codes `listen(1024)`).
//!
//! Every shard gets its own SO_REUSEPORT socket on each listen address, so
//! the kernel spreads new connections across shards with no accept lock.

use std::net::{SocketAddr, TcpListener};

use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::EngineError;

/// Binds one SO_REUSEPORT listener per shard on `addr`. A port of 0 is
/// resolved by the first bind, and the other shards join that port.
/// `send_timeout` becomes TCP_USER_TIMEOUT, inherited by every accepted
/// socket: the kernel resets a client whose unread data or zero window
/// stalls sends that long (nginx's `send_timeout`), with no timer per send.
pub(crate) fn bind_all(
    addr: SocketAddr,
    shards: usize,
    backlog: i32,
    send_timeout: Duration,
) -> Result<Vec<TcpListener>, EngineError> {
    let mut out = Vec::with_capacity(shards);
    let mut addr = addr;
    for _ in 0..shards {
        let l = bind(addr, backlog, send_timeout)?;
        addr = l.local_addr().map_err(|e| EngineError::listen(addr, e))?;
        out.push(l);
    }
    Ok(out)
}

fn bind(
    addr: SocketAddr,
    backlog: i32,
    send_timeout: Duration,
) -> Result<TcpListener, EngineError> {
    let err = |e| EngineError::listen(addr, e);
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_reuse_port(true).map_err(err)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(err)?;
    }
    socket.set_nonblocking(true).map_err(err)?;
    // Before listen(2), so every accepted socket inherits it (no
    // setsockopt per connection).
    socket.set_nodelay(true).map_err(err)?;
    socket
        .set_tcp_user_timeout(Some(send_timeout))
        .map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(backlog).map_err(err)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_one_ephemeral_port() {
        let ls = bind_all(
            "127.0.0.1:0".parse().unwrap(),
            3,
            128,
            Duration::from_secs(60),
        )
        .unwrap();
        let ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert!(ports[0] != 0);
        assert!(ports.iter().all(|&p| p == ports[0]));
    }

    #[test]
    fn a_port_in_use_names_the_fix() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind_all(addr, 1, 128, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&addr.to_string()), "{err}");
        assert!(err.contains("another process holds this port"), "{err}");
    }
}
