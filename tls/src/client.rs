//! An upstream group's TLS settings compiled into one rustls
//! `ClientConfig`: trust anchors (the system's or a CA file), an optional
//! client certificate, ALPN and the name to verify.
//!
//! Sessions to backends are resumed from rustls's in-memory cache (one
//! uncontended mutex per new upstream connection; pooled connections take
//! no lock at all).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tuning::UpstreamTls;

use crate::error::TlsError;
use crate::load;

/// A compiled upstream TLS setting.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// What every connection to the group's backends uses.
    pub config: Arc<ClientConfig>,
    /// The configured name; `None`: each backend's address.
    pub sni: Option<ServerName<'static>>,
}

// === impl ClientTls ===

impl ClientTls {
    /// The name to send and verify for a backend at `addr`.
    pub fn server_name(&self, addr: SocketAddr) -> ServerName<'static> {
        match &self.sni {
            Some(name) => name.clone(),
            None => ServerName::IpAddress(addr.ip().into()),
        }
    }
}

/// Compiles `up`.
pub fn client(up: &UpstreamTls) -> Result<ClientTls, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::setting(format!("upstream tls: {e}")))?;
    let builder = if up.verify {
        let roots = match &up.ca {
            Some(ca) => load::roots(ca)?,
            None => load::system_roots()?,
        };
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let mut config = match (&up.cert, &up.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load::chain(cert)?, load::key(key)?)
            .map_err(|e| TlsError::file(key, format!("unusable client key: {e}")))?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = up.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let sni = match &up.sni {
        Some(name) => Some(
            ServerName::try_from(name.clone())
                .map_err(|e| TlsError::setting(format!("upstream tls sni {name:?}: {e}")))?,
        ),
        None => None,
    };
    Ok(ClientTls {
        config: Arc::new(config),
        sni,
    })
}

/// `verify = false`: any certificate is accepted (signatures are still
/// checked, so the handshake itself stays sound).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
