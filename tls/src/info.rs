//! What an operator needs to know about a certificate: its names, subject
//! and expiry, read once when it is loaded (never per handshake).

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// A leaf certificate's names and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names from subjectAltName (lowercase), else the subject CN.
    pub names: Vec<String>,
    /// The subject, as `CN=...,O=...`.
    pub subject: String,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
}

// === impl CertInfo ===

impl CertInfo {
    /// Reads `der`; `None` if it does not parse (loading already refused it).
    pub fn of(der: &CertificateDer<'_>) -> Option<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names: Vec<String> = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(dns_name)
                .collect(),
            _ => Vec::new(),
        };
        if names.is_empty() {
            let cn = cert.subject().iter_common_name().next();
            names.extend(
                cn.and_then(|cn| cn.as_str().ok())
                    .map(str::to_ascii_lowercase),
            );
        }
        Some(CertInfo {
            names,
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.timestamp(),
            not_before: cert.validity().not_before.timestamp(),
        })
    }

    /// Seconds from `now` (Unix seconds) until expiry; negative once expired.
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.not_after - now
    }

    /// Whether this certificate is valid for `name` (exact or `*.` wildcard).
    pub fn covers(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.names.iter().any(|n| match n.strip_prefix("*.") {
            Some(suffix) if !name.starts_with("*.") => {
                name.split_once('.').is_some_and(|(_, rest)| rest == suffix)
            }
            _ => *n == name,
        })
    }
}

fn dns_name(n: &GeneralName<'_>) -> Option<String> {
    match n {
        GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
        _ => None,
    }
}

/// The subject of a client certificate (DER), for the header passed
/// upstream under mTLS; `None` if it does not parse.
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}
