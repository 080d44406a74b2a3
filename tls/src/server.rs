//! A listener's TLS profile compiled into one rustls `ServerConfig`:
//! versions, cipher suites, ALPN, the SNI map, client-certificate checks
//! and the shared ticketer. Built at start and on every reload, off the
//! data path; a handshake only reads it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, ProducesTickets, WebPkiClientVerifier};
use rustls::{ServerConfig, SupportedProtocolVersion};
use tuning::{TlsProfile, TlsVersion, UnknownSni};

use crate::error::TlsError;
use crate::info::CertInfo;
use crate::load;
use crate::sni::SniResolver;

/// A compiled TLS profile.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The profile's name (`[tls.NAME]`, or `cli` for the flags).
    pub name: String,
    /// What every handshake on the listener uses.
    pub config: Arc<ServerConfig>,
    /// The certificates it serves, in profile order.
    pub certs: Vec<LoadedCert>,
    /// A handshake that takes longer is closed.
    pub handshake_timeout: Duration,
    /// Header that carries a verified client certificate's subject upstream.
    pub subject_header: Option<String>,
}

/// One certificate as loaded.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// The certificate file.
    pub path: PathBuf,
    /// Its leaf's names and validity.
    pub info: CertInfo,
}

/// Compiles `profile`; every shard's listener shares the result, and
/// every profile shares `ticketer`, so any shard resumes any ticket.
pub fn server(
    profile: &TlsProfile,
    ticketer: &Arc<dyn ProducesTickets>,
) -> Result<ServerTls, TlsError> {
    let provider = Arc::new(crate::suites::provider(&profile.ciphers)?);
    let (resolver, certs) = resolver(profile, &provider)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(&profile.versions))
        .map_err(|e| TlsError::setting(format!("tls.{}: {e}", profile.name)))?;
    let builder = match &profile.client_auth {
        Some(auth) => builder.with_client_cert_verifier(client_verifier(auth, &provider)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = profile.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Stateless resumption only: no session cache, so no lock is taken.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    if profile.session_tickets {
        config.ticketer = Arc::clone(ticketer);
        config.send_tls13_tickets = 1;
    } else {
        config.send_tls13_tickets = 0;
    }
    Ok(ServerTls {
        name: profile.name.clone(),
        config: Arc::new(config),
        certs,
        handshake_timeout: profile.handshake_timeout,
        subject_header: profile
            .client_auth
            .as_ref()
            .and_then(|a| a.subject_header.clone()),
    })
}

fn versions(wanted: &[TlsVersion]) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    if wanted.is_empty() || wanted.contains(&TlsVersion::Tls13) {
        out.push(&rustls::version::TLS13);
    }
    if wanted.is_empty() || wanted.contains(&TlsVersion::Tls12) {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// Loads every certificate of `profile` into an SNI map.
fn resolver(
    profile: &TlsProfile,
    provider: &CryptoProvider,
) -> Result<(SniResolver, Vec<LoadedCert>), TlsError> {
    let mut sni = SniResolver::new(profile.unknown_sni == UnknownSni::Refuse);
    let mut certs = Vec::with_capacity(profile.certificates.len());
    for c in &profile.certificates {
        let key = load::certified_key(&c.cert, &c.key, c.ocsp.as_deref(), provider)?;
        let info = CertInfo::of(&key.cert[0])
            .ok_or_else(|| TlsError::file(&c.cert, "the leaf certificate does not parse"))?;
        let names = if c.names.is_empty() {
            &info.names
        } else {
            &c.names
        };
        for name in names {
            sni.add(name, &key);
        }
        if c.default {
            sni.add_default(&key);
        }
        certs.push(LoadedCert {
            path: c.cert.clone(),
            info,
        });
    }
    Ok((sni, certs))
}

fn client_verifier(
    auth: &tuning::ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = Arc::new(load::roots(&auth.ca)?);
    let builder = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(provider));
    let builder = if auth.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| TlsError::file(&auth.ca, format!("cannot verify clients with it: {e}")))
}
