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

/// Longest subject passed upstream; a longer one is not passed at all.
pub const MAX_SUBJECT_LEN: usize = 1024;

/// The subject of a client certificate (DER) as an RFC 4514 string (most
/// specific RDN first, `CN=alice,O=Example`, special characters escaped so
/// that a comma inside a value cannot pass for a new attribute), for the
/// header passed upstream under mTLS. `None` if it does not parse, holds a
/// value that is not a string, or is longer than [`MAX_SUBJECT_LEN`].
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut parts = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type();
            let name = match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(abbrev) => abbrev.to_string(),
                Err(_) => oid.to_id_string(),
            };
            parts.push(format!("{name}={}", escape_value(atv.as_str().ok()?)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    let out = rdns.join(",");
    (out.len() <= MAX_SUBJECT_LEN).then_some(out)
}

/// RFC 4514 section 2.4 escaping of one attribute value.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
