//! Reading certificate chains, private keys, CA bundles and OCSP responses
//! from PEM (or DER) files, with errors that name the file.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::error::TlsError;

/// The bytes of `path`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::file(path, format!("cannot read: {e}")))
}

/// Every certificate of a PEM file, leaf first.
pub fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| TlsError::file(path, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::file(path, "no CERTIFICATE block in this file"));
    }
    for (i, der) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(der) {
            let what = format!("certificate {} of the chain does not parse: {e}", i + 1);
            return Err(TlsError::file(path, what));
        }
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let what = format!("no usable PRIVATE KEY block (PKCS#8, RSA or EC): {e}");
        TlsError::file(path, what)
    })
}

/// A chain and its key, checked to belong together, with an optional
/// stapled OCSP response (DER, as `openssl ocsp -respout` writes it).
pub fn certified_key(
    cert: &Path,
    key_file: &Path,
    ocsp: Option<&Path>,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = chain(cert)?;
    let key = key(key_file)?;
    let mut ck = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        let what = match e {
            rustls::Error::InconsistentKeys(_) => {
                format!(
                    "this key does not match the certificate in {}",
                    cert.display()
                )
            }
            other => format!("unusable private key: {other}"),
        };
        TlsError::file(key_file, what)
    })?;
    if let Some(path) = ocsp {
        ck.ocsp = Some(ocsp_response(path)?);
    }
    Ok(Arc::new(ck))
}

/// A DER OCSP response; a PEM or empty file is refused.
fn ocsp_response(path: &Path) -> Result<Vec<u8>, TlsError> {
    let der = read(path)?;
    // An OCSPResponse is a DER SEQUENCE.
    if der.first() != Some(&0x30) {
        return Err(TlsError::file(path, "not a DER OCSP response"));
    }
    Ok(der)
}

/// The CA certificates of a PEM bundle, as trust anchors.
pub fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for der in chain(path)? {
        store
            .add(der)
            .map_err(|e| TlsError::file(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// The system's trust anchors (the distribution's CA bundle).
pub fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        let what = "no system CA certificates found (install ca-certificates, or set `ca`)";
        return Err(TlsError::setting(what));
    }
    Ok(store)
}
