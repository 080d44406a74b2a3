//! TLS as the engine runs it: the `[tls.NAME]` profiles that listeners
//! terminate TLS with, and the `[upstreams.*.tls]` settings of a group whose
//! backends speak TLS. Plain data, built by validation or in code.
//!
//! Nothing here reads a certificate or key: paths are only checked for
//! syntax (and made absolute against the config file's directory), so a
//! missing or unreadable file is the engine's error at load.

use std::path::PathBuf;
use std::time::Duration;

use crate::defaults::*;

/// One `[tls.NAME]` table: what a TLS listener presents and accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProfile {
    /// The `NAME` of `[tls.NAME]`; `"cli"` for `--tls-cert`.
    pub name: String,
    /// At least one; exactly one has `default: true`.
    pub certificates: Vec<TlsCert>,
    /// Protocol versions offered, each once; default 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
    /// IANA cipher suite names (one of [`TLS_CIPHER_SUITES`]), in order of
    /// preference; empty: the TLS library's safe defaults.
    pub ciphers: Vec<String>,
    /// ALPN protocols offered; default `["http/1.1"]`.
    pub alpn: Vec<String>,
    /// Time allowed for a client's handshake, 100ms to 5 minutes.
    pub handshake_timeout: Duration,
    /// Whether resumption tickets are issued.
    pub session_tickets: bool,
    /// Ticket keys shared across hosts, each file 80 raw bytes or more;
    /// empty: keys are generated in memory and rotated.
    pub ticket_key_files: Vec<PathBuf>,
    /// What a client whose SNI no certificate names gets.
    pub unknown_sni: UnknownSni,
    /// Client certificates asked for; `None`: none.
    pub client_auth: Option<ClientAuth>,
}

/// One certificate of a [`TlsProfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCert {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// SNI names it serves, lowercase: `example.com` or `*.example.com`;
    /// empty: the names in the certificate itself.
    pub names: Vec<String>,
    /// A DER OCSP response stapled to handshakes; `None`: no stapling.
    pub ocsp: Option<PathBuf>,
    /// Served when no name matches (or no SNI is sent).
    pub default: bool,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (`"1.2"`).
    Tls12,
    /// TLS 1.3 (`"1.3"`).
    Tls13,
}

/// What a handshake whose SNI matches no certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSni {
    /// The default certificate (`"default"`).
    Default,
    /// A handshake failure (`"refuse"`).
    Refuse,
}

/// Client certificate authentication (mutual TLS) of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// CA certificates (PEM) client certificates must chain to.
    pub ca: PathBuf,
    /// Whether a client without a certificate is refused; otherwise it is
    /// let through unauthenticated.
    pub required: bool,
    /// Request header (lowercase) set to the verified client certificate's
    /// subject; `None`: not forwarded.
    pub subject_header: Option<String>,
}

/// TLS to the backends of an upstream group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// SNI sent, lowercase; `None`: the backend's address (so no SNI, an
    /// IP address is never sent as one).
    pub sni: Option<String>,
    /// Whether the backend's certificate is verified.
    pub verify: bool,
    /// CA certificates (PEM) to verify against; `None`: the system roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) presented to backends; with `key`.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM); with `cert`.
    pub key: Option<PathBuf>,
    /// ALPN protocols offered; default `["http/1.1"]`.
    pub alpn: Vec<String>,
}

// === impl TlsProfile ===

impl TlsProfile {
    /// A profile serving `certificates` (the first being the default unless
    /// one says otherwise), every other setting at its default.
    pub fn new(name: impl Into<String>, mut certificates: Vec<TlsCert>) -> TlsProfile {
        let has_default = certificates.iter().any(|c| c.default);
        if let (false, Some(first)) = (has_default, certificates.first_mut()) {
            first.default = true;
        }
        TlsProfile {
            name: name.into(),
            certificates,
            versions: TlsVersion::ALL.to_vec(),
            ciphers: Vec::new(),
            alpn: vec![DEFAULT_TLS_ALPN.to_owned()],
            handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            session_tickets: true,
            ticket_key_files: Vec::new(),
            unknown_sni: UnknownSni::Default,
            client_auth: None,
        }
    }

    /// The certificate served when no name matches.
    pub fn default_cert(&self) -> Option<&TlsCert> {
        self.certificates.iter().find(|c| c.default)
    }
}

// === impl TlsCert ===

impl TlsCert {
    /// `cert` and `key`, serving the certificate's own names, not the default.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsCert {
        TlsCert {
            cert: cert.into(),
            key: key.into(),
            names: Vec::new(),
            ocsp: None,
            default: false,
        }
    }
}

// === impl TlsVersion ===

impl TlsVersion {
    /// Every version, oldest first: the default.
    pub const ALL: [TlsVersion; 2] = [TlsVersion::Tls12, TlsVersion::Tls13];

    /// The name written in the config file: `"1.2"`, `"1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    /// The version written `name` in the config file.
    pub fn from_name(name: &str) -> Option<TlsVersion> {
        TlsVersion::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The version a suite of [`TLS_CIPHER_SUITES`] belongs to.
    pub fn of_cipher(name: &str) -> TlsVersion {
        match name.starts_with("TLS13_") {
            true => TlsVersion::Tls13,
            false => TlsVersion::Tls12,
        }
    }
}

// === impl UnknownSni ===

impl UnknownSni {
    /// The name written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownSni::Default => "default",
            UnknownSni::Refuse => "refuse",
        }
    }

    /// The choice written `name` in the config file.
    pub fn from_name(name: &str) -> Option<UnknownSni> {
        [UnknownSni::Default, UnknownSni::Refuse]
            .into_iter()
            .find(|u| u.as_str() == name)
    }
}

// === impl UpstreamTls ===

/// Verified against the system roots, SNI from the address, `http/1.1`.
impl Default for UpstreamTls {
    fn default() -> Self {
        UpstreamTls {
            sni: None,
            verify: true,
            ca: None,
            cert: None,
            key: None,
            alpn: vec![DEFAULT_TLS_ALPN.to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_profile_has_one_default() {
        let p = TlsProfile::new("p", vec![TlsCert::new("a", "b"), TlsCert::new("c", "d")]);
        assert_eq!(p.default_cert().map(|c| c.cert.clone()), Some("a".into()));
        let second = TlsCert {
            default: true,
            ..TlsCert::new("c", "d")
        };
        let p = TlsProfile::new("p", vec![TlsCert::new("a", "b"), second]);
        let defaults: Vec<bool> = p.certificates.iter().map(|c| c.default).collect();
        assert_eq!(defaults, [false, true]);
    }

    #[test]
    fn names_round_trip() {
        for v in TlsVersion::ALL {
            assert_eq!(TlsVersion::from_name(v.as_str()), Some(v));
        }
        assert_eq!(TlsVersion::from_name("1.1"), None);
        assert_eq!(UnknownSni::from_name("refuse"), Some(UnknownSni::Refuse));
        assert_eq!(UnknownSni::from_name("drop"), None);
        for suite in TLS_CIPHER_SUITES {
            let v = TlsVersion::of_cipher(suite);
            assert_eq!(v == TlsVersion::Tls13, suite.starts_with("TLS13_"));
        }
    }
}
