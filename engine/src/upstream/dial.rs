//! Opening a connection to a backend: TCP through the shard's ring, then
//! TLS when the group asks for it (SNI, verification and ALPN from the
//! group's compiled settings). Proxied requests and health checks both
//! dial through here, so a TLS group is checked over TLS too.

use crate::io::{HandshakeFailure, Ring, TcpConn, TlsConn, Transport};
use crate::snapshot::tls::GroupTls;
use std::net::SocketAddr;

/// Why a dial failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialError {
    /// The TCP connect failed (refused, unreachable).
    Connect,
    /// The TLS handshake failed.
    Tls(HandshakeFailure),
}

/// A connection to `addr`, over TLS when `tls` is set. The caller bounds
/// it in time (the connect timeout covers the handshake).
pub(crate) async fn dial(
    ring: &Ring,
    addr: SocketAddr,
    tls: Option<&GroupTls>,
) -> Result<Transport, DialError> {
    let tcp = TcpConn::connect(ring, addr)
        .await
        .map_err(|_| DialError::Connect)?;
    let Some(t) = tls else {
        return Ok(Transport::from(tcp));
    };
    let name = t.client.server_name(addr);
    let conn = TlsConn::connect(tcp, t.client.config.clone(), name)
        .await
        .map_err(DialError::Tls)?;
    Ok(Transport::from(conn))
}
