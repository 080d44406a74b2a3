//! The transport seam: a connection that yields owned received buffers and
//! takes owned sends, whatever carries it.
//!
//! The HTTP and proxy code talk only to [`Transport`], for client and
//! upstream connections alike. Plain TCP on the shard's ring implements it
//! today; TLS adds a variant here, and nothing above this module needs to
//! know which one it has. With one variant the `match`es compile away: the
//! seam costs nothing per request (the headline A/B batch in README).

use std::io;
use std::net::SocketAddr;

use super::bufring::RecvBuf;
use super::conn::{RecvHalf, SendHalf, TcpConn};
use super::send::SendBuf;

/// A connection as the layers above the io layer see it.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP on the shard's ring.
    Tcp(TcpConn),
}

// === impl Transport ===

impl Transport {
    /// The next received bytes, in order; `Ok(None)` at EOF. Cancel-safe.
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        match self {
            Transport::Tcp(c) => c.recv().await,
        }
    }

    /// Already-received bytes (or EOF/error) without waiting.
    pub fn try_recv(&mut self) -> Option<io::Result<Option<RecvBuf>>> {
        match self {
            Transport::Tcp(c) => c.try_recv(),
        }
    }

    /// Sends all of `buf`.
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.send(buf).await,
        }
    }

    /// Sends all of `bufs` in order, gathered where the carrier can.
    pub async fn send_vectored(&mut self, bufs: Vec<SendBuf>) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.send_vectored(bufs).await,
        }
    }

    /// Ends the sending direction (a FIN for TCP).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(c) => c.shutdown_write(),
        }
    }

    /// The peer has said nothing (no bytes, no EOF) since the last receive.
    pub fn is_quiet(&self) -> bool {
        match self {
            Transport::Tcp(c) => c.is_quiet(),
        }
    }

    /// The coming close is abortive: the peer sees an error, not an end.
    pub fn abort_on_close(&mut self) {
        match self {
            Transport::Tcp(c) => c.abort_on_close(),
        }
    }

    /// The peer's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Transport::Tcp(c) => c.peer_addr(),
        }
    }

    /// Halves that receive and send concurrently (tunnels).
    pub fn split(&mut self) -> (TransportRecv<'_>, TransportSend<'_>) {
        match self {
            Transport::Tcp(c) => {
                let (r, s) = c.split();
                (TransportRecv::Tcp(r), TransportSend::Tcp(s))
            }
        }
    }
}

impl From<TcpConn> for Transport {
    fn from(c: TcpConn) -> Self {
        Transport::Tcp(c)
    }
}

/// The receiving half of a split [`Transport`].
pub enum TransportRecv<'a> {
    /// Of a TCP connection.
    Tcp(RecvHalf<'a>),
}

// === impl TransportRecv ===

impl TransportRecv<'_> {
    /// As [`Transport::recv`].
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        match self {
            TransportRecv::Tcp(h) => h.recv().await,
        }
    }
}

/// The sending half of a split [`Transport`].
pub enum TransportSend<'a> {
    /// Of a TCP connection.
    Tcp(SendHalf<'a>),
}

// === impl TransportSend ===

impl TransportSend<'_> {
    /// As [`Transport::send`].
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        match self {
            TransportSend::Tcp(h) => h.send(buf).await,
        }
    }

    /// As [`Transport::shutdown_write`].
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            TransportSend::Tcp(h) => h.shutdown_write(),
        }
    }
}
