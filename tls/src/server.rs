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
    /// A handshake must end with a verified client certificate (checked
    /// again after the handshake, resumed sessions included).
    pub client_cert_required: bool,
}

/// One certificate as loaded.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// The certificate file.
    pub path: PathBuf,
    /// Its leaf's names and validity.
    pub info: CertInfo,
}

/// Compiles `profile`; every shard's listener shares the result. Tickets
/// are sealed with the profile's `ticket_key_files` when it has some,
/// else with `shared` (rotating keys every shard and reload share), and
/// are bound to the profile either way ([`crate::tickets::bound`]), so any
/// shard resumes any of this profile's tickets and no other profile's.
pub fn server(
    profile: &TlsProfile,
    shared: &Arc<dyn ProducesTickets>,
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
        let keys = match profile.ticket_key_files.is_empty() {
            true => Arc::clone(shared),
            false => crate::tickets::ticketer(&profile.ticket_key_files)?,
        };
        config.ticketer = crate::tickets::bound(keys, ticket_tag(profile)?);
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
        client_cert_required: profile.client_auth.as_ref().is_some_and(|a| a.required),
    })
}

/// What a resumed session of `profile` skips: the profile's name and its
/// client-certificate policy, the CA's bytes included (a new CA voids the
/// old tickets).
fn ticket_tag(profile: &TlsProfile) -> Result<[u8; crate::tickets::TAG_LEN], TlsError> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(profile.name.as_bytes());
    ctx.update(&[0]);
    if let Some(auth) = &profile.client_auth {
        ctx.update(&[1, u8::from(auth.required)]);
        ctx.update(&load::read(&auth.ca)?);
    }
    let mut tag = [0u8; crate::tickets::TAG_LEN];
    tag.copy_from_slice(&ctx.finish().as_ref()[..crate::tickets::TAG_LEN]);
    Ok(tag)
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
