//! The transport seam: a connection that yields owned received buffers and
//! takes owned sends, whatever carries it.
//!
//! The HTTP and proxy code talk only to [`Transport`], for client and
//! upstream connections alike: plain TCP on the shard's ring, or TLS over
//! it ([`TlsConn`], rustls). Nothing above this module knows which one it
//! has, beyond asking for the TLS summary. The plain `match` arm costs one
//! branch per call (the headline A/B batch in README).

use std::io;
use std::net::SocketAddr;

use super::bufring::RecvBuf;
use super::conn::{RecvHalf, SendHalf, TcpConn, TlsConn, TlsSummary};
use super::send::SendBuf;

/// A connection as the layers above the io layer see it.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP on the shard's ring.
    Tcp(TcpConn),
    /// TLS over TCP (boxed: rustls's state is large, plain TCP is not).
    Tls(Box<TlsConn>),
}

// === impl Transport ===

impl Transport {
    /// The next received bytes, in order; `Ok(None)` at EOF. Cancel-safe.
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        match self {
            Transport::Tcp(c) => c.recv().await,
            Transport::Tls(c) => c.recv().await,
        }
    }

    /// Already-received bytes (or EOF/error) without waiting.
    pub fn try_recv(&mut self) -> Option<io::Result<Option<RecvBuf>>> {
        match self {
            Transport::Tcp(c) => c.try_recv(),
            Transport::Tls(c) => c.try_recv(),
        }
    }

    /// Sends all of `buf`.
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.send(buf).await,
            Transport::Tls(c) => c.send_all(&[buf.into()]).await,
        }
    }

    /// Sends all of `bufs` in order, gathered where the carrier can.
    pub async fn send_vectored(&mut self, bufs: Vec<SendBuf>) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.send_vectored(bufs).await,
            Transport::Tls(c) => c.send_all(&bufs).await,
        }
    }

    /// Ends the sending direction (close_notify for TLS, then a FIN).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.shutdown_write(),
            Transport::Tls(c) => c.shutdown_write().await,
        }
    }

    /// The peer has said nothing (no bytes, no EOF) since the last receive.
    pub fn is_quiet(&self) -> bool {
        match self {
            Transport::Tcp(c) => c.is_quiet(),
            Transport::Tls(c) => c.is_quiet(),
        }
    }

    /// The coming close is abortive: the peer sees an error, not an end.
    pub fn abort_on_close(&mut self) {
        match self {
            Transport::Tcp(c) => c.abort_on_close(),
            Transport::Tls(c) => c.tcp_mut().abort_on_close(),
        }
    }

    /// The peer's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Transport::Tcp(c) => c.peer_addr(),
            Transport::Tls(c) => c.tcp().peer_addr(),
        }
    }

    /// What TLS negotiated; `None` for plain TCP.
    pub fn tls_summary(&self) -> Option<TlsSummary> {
        match self {
            Transport::Tcp(_) => None,
            Transport::Tls(c) => Some(c.summary()),
        }
    }

    /// Halves that receive and send concurrently (tunnels).
    pub fn split(&mut self) -> (TransportRecv<'_>, TransportSend<'_>) {
        match self {
            Transport::Tcp(c) => {
                let (r, s) = c.split();
                (TransportRecv::Tcp(r), TransportSend::Tcp(s))
            }
            Transport::Tls(c) => (TransportRecv::Tls(c), TransportSend::Tls(c)),
        }
    }
}

impl From<TcpConn> for Transport {
    fn from(c: TcpConn) -> Self {
        Transport::Tcp(c)
    }
}

impl From<TlsConn> for Transport {
    fn from(c: TlsConn) -> Self {
        Transport::Tls(Box::new(c))
    }
}

/// The receiving half of a split [`Transport`].
pub enum TransportRecv<'a> {
    /// Of a TCP connection.
    Tcp(RecvHalf<'a>),
    /// Of a TLS connection (its state is shared with the sending half;
    /// neither holds it across an await).
    Tls(&'a TlsConn),
}

// === impl TransportRecv ===

impl TransportRecv<'_> {
    /// As [`Transport::recv`].
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        match self {
            TransportRecv::Tcp(h) => h.recv().await,
            TransportRecv::Tls(c) => c.recv().await,
        }
    }
}

/// The sending half of a split [`Transport`].
pub enum TransportSend<'a> {
    /// Of a TCP connection.
    Tcp(SendHalf<'a>),
    /// Of a TLS connection.
    Tls(&'a TlsConn),
}

// === impl TransportSend ===

impl TransportSend<'_> {
    /// As [`Transport::send`].
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        match self {
            TransportSend::Tcp(h) => h.send(buf).await,
            TransportSend::Tls(c) => c.send_all(&[buf.into()]).await,
        }
    }

    /// As [`Transport::shutdown_write`].
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            TransportSend::Tcp(h) => h.shutdown_write(),
            TransportSend::Tls(c) => c.shutdown_write().await,
        }
    }
}
