//! TLS settings compiled into rustls configs, off the data path.
//!
//! ```text
//!   tuning::TlsProfile ──server()──→ ServerTls  (ServerConfig: SNI map, suites, tickets, mTLS)
//!   tuning::UpstreamTls ─client()──→ ClientTls  (ClientConfig: roots, client cert, SNI)
//!   tuning::Tuning ──────check()───→ [Finding]  (coregate check: keys, chains, expiry, names)
//! ```
//!
//! The engine builds these at start and on every reload, publishes them in
//! its snapshot, and a handshake only reads them: the SNI map is immutable
//! and swapped whole with its `ServerConfig`, so no lock is taken on the
//! handshake path. One rotating ticketer ([`ticketer`]) is shared by every
//! shard and survives reloads, so any shard resumes a ticket another
//! issued; each profile binds its tickets to itself ([`bound`]), so a
//! ticket never resumes on another profile (one without client
//! certificates cannot open a session on one that requires them). The crypto provider is aws-lc-rs, rustls's default.
//!
//! This crate does no socket I/O; the record layer over the engine's
//! io_uring lives in the engine's transport (`engine::io::TlsConn`).

mod check;
mod client;
mod error;
mod info;
mod load;
mod server;
mod sni;
mod suites;
mod tickets;

pub use check::{check, Finding, Level, EXPIRY_WARNING_SECS};
pub use client::{client, ClientTls};
pub use error::TlsError;
pub use info::{subject_of, CertInfo, MAX_SUBJECT_LEN};
pub use load::{certified_key, chain, key, roots, system_roots};
pub use server::{server, LoadedCert, ServerTls};
pub use sni::SniResolver;
pub use suites::{known as known_suites, provider};
pub use tickets::{bound, ticketer, FILE_TICKET_LIFETIME, TAG_LEN};
