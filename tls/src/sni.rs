//! Picking a certificate by SNI: exact names, then `*.` wildcards one label
//! deep, then the default (or a refusal), never a lock. The map is built
//! whole off the data path and swapped with the `ServerConfig` that holds
//! it, so a handshake reads an immutable map: one hash lookup for an exact
//! name, two for a wildcard.
//!
//! A name may carry several certificates (say RSA and ECDSA); the first
//! whose key can sign with a scheme the client offers wins, as nginx does
//! with several `ssl_certificate` lines.

use std::sync::Arc;

use ahash::AHashMap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

/// Certificates by the names they serve.
#[derive(Debug, Default)]
pub struct SniResolver {
    exact: AHashMap<String, Vec<Arc<CertifiedKey>>>,
    /// Keyed by the suffix after `*.`.
    wildcard: AHashMap<String, Vec<Arc<CertifiedKey>>>,
    default: Vec<Arc<CertifiedKey>>,
    /// An SNI name no certificate serves is refused instead of getting the default.
    refuse_unknown: bool,
}

// === impl SniResolver ===

impl SniResolver {
    /// An empty resolver; `refuse_unknown` refuses names no certificate serves.
    pub fn new(refuse_unknown: bool) -> SniResolver {
        SniResolver {
            refuse_unknown,
            ..SniResolver::default()
        }
    }

    /// Serves `key` for `name` (`example.com` or `*.example.com`).
    pub fn add(&mut self, name: &str, key: &Arc<CertifiedKey>) {
        let name = name.to_ascii_lowercase();
        let map = match name.strip_prefix("*.") {
            Some(suffix) => self.wildcard.entry(suffix.to_owned()),
            None => self.exact.entry(name),
        };
        map.or_default().push(Arc::clone(key));
    }

    /// Serves `key` when nothing else matches (or when there is no SNI).
    pub fn add_default(&mut self, key: &Arc<CertifiedKey>) {
        self.default.push(Arc::clone(key));
    }

    /// The certificates for `sni`; `None` to refuse the handshake.
    fn candidates(&self, sni: Option<&str>) -> Option<&[Arc<CertifiedKey>]> {
        let Some(sni) = sni else {
            return Some(&self.default);
        };
        // rustls hands SNI over lowercased and without a trailing dot.
        if let Some(keys) = self.exact.get(sni) {
            return Some(keys);
        }
        let wild = sni
            .split_once('.')
            .and_then(|(_, rest)| self.wildcard.get(rest));
        match wild {
            Some(keys) => Some(keys),
            None if self.refuse_unknown => None,
            None => Some(&self.default),
        }
    }

    /// The certificate for `sni` that can sign with one of `schemes`.
    pub fn pick(
        &self,
        sni: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let keys = self.candidates(sni)?;
        let fits = keys.iter().find(|k| k.key.choose_scheme(schemes).is_some());
        fits.or_else(|| keys.first()).cloned()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(hello.server_name(), hello.signature_schemes())
    }
}
