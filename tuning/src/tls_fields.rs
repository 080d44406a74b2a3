//! Checks shared by `[tls.*]` and `[upstreams.*.tls]`: file paths (made
//! absolute against the config file's directory), DNS names for SNI, ALPN
//! lists, cert/key pairs, and lists of names each written once.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::checker::Checker;
use crate::defaults::DEFAULT_TLS_ALPN;
use crate::file::UpstreamTlsFile;
use crate::tls::UpstreamTls;

/// A path field: checked for syntax only, relative ones resolved against
/// the config file's directory (as nginx operators expect).
pub(crate) fn path(
    c: &mut Checker<'_>,
    field: &str,
    raw: Option<&Spanned<String>>,
) -> Option<PathBuf> {
    let base = c.base_dir();
    c.field(field, raw, |text| file_path(text, base))
}

/// `text` as a path, joined onto `base` when relative.
pub(crate) fn file_path(text: &str, base: Option<&Path>) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("empty path".to_owned());
    }
    if text.contains('\0') {
        return Err(format!("invalid path {text:?}: contains a NUL byte"));
    }
    let path = Path::new(text);
    match (path.is_relative(), base) {
        (true, Some(base)) => Ok(base.join(path)),
        _ => Ok(path.to_owned()),
    }
}

/// A DNS name, lowercased: labels of letters, digits and inner hyphens.
/// With `wildcard`, `*.example.com` too (`*` as the whole left-most label).
pub(crate) fn dns_name(text: &str, wildcard: bool) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let rest = match lower.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => lower.as_str(),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if rest.len() <= 253 && rest.split('.').all(label_ok) {
        return Ok(lower);
    }
    match (text.contains('*'), wildcard) {
        (true, true) => Err(format!(
            "invalid name {text:?}: a wildcard must be the whole left-most label, as in \"*.example.com\""
        )),
        (true, false) => Err(format!("invalid name {text:?}: no wildcard here")),
        (false, _) => Err(format!("invalid DNS name {text:?}")),
    }
}

/// Each entry of `raw` converted, errors at the entry's line; an entry
/// written twice is an error. An empty list is one too when `empty` says why.
pub(crate) fn list<T: PartialEq>(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<Vec<Spanned<String>>>,
    empty: Option<&str>,
    convert: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    if let Some(message) = empty.filter(|_| raw.get_ref().is_empty()) {
        c.fail_at(raw.span(), field, message);
    }
    let mut out = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        let text = item.get_ref();
        match convert(text) {
            Ok(value) if out.contains(&value) => {
                let message = format!("{text:?} is listed twice");
                c.fail_at(item.span(), format!("{field}[{i}]"), message);
            }
            Ok(value) => out.push(value),
            Err(message) => c.fail_at(item.span(), format!("{field}[{i}]"), message),
        }
    }
    out
}

/// ALPN protocols offered: `["http/1.1"]` unless written.
pub(crate) fn alpn(
    c: &mut Checker<'_>,
    field: &str,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Vec<String> {
    let default = || vec![DEFAULT_TLS_ALPN.to_owned()];
    let Some(raw) = raw else {
        return default();
    };
    let empty = "empty: omit it for [\"http/1.1\"]";
    let out = list(c, field, raw, Some(empty), alpn_protocol);
    match out.is_empty() {
        true => default(),
        false => out,
    }
}

fn alpn_protocol(name: &str) -> Result<String, String> {
    match name {
        DEFAULT_TLS_ALPN => Ok(name.to_owned()),
        "h2" => Err("HTTP/2 is not served yet: offer \"http/1.1\"".to_owned()),
        _ => Err(format!(
            "unknown ALPN protocol {name:?}: expected \"http/1.1\""
        )),
    }
}

/// `cert` and `key` go together: the one written gets the error, on the
/// field that is missing.
pub(crate) fn cert_and_key(
    c: &mut Checker<'_>,
    field: &str,
    cert: Option<&Spanned<String>>,
    key: Option<&Spanned<String>>,
) {
    match (cert, key) {
        (Some(cert), None) => c.fail_at(
            cert.span(),
            format!("{field}.key"),
            "`cert` without `key`: name the certificate's private key (PEM) too",
        ),
        (None, Some(key)) => c.fail_at(
            key.span(),
            format!("{field}.cert"),
            "`key` without `cert`: name the certificate chain (PEM) too",
        ),
        _ => {}
    }
}

/// One `[upstreams.<name>.tls]` table, checked.
pub(crate) fn upstream_tls(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<UpstreamTlsFile>,
) -> UpstreamTls {
    let t = raw.get_ref();
    let sni = c.field(&format!("{field}.sni"), t.sni.as_ref(), |s| {
        dns_name(s, false)
    });
    cert_and_key(c, field, t.cert.as_ref(), t.key.as_ref());
    UpstreamTls {
        sni,
        verify: t.verify.as_ref().is_none_or(|v| *v.get_ref()),
        ca: path(c, &format!("{field}.ca"), t.ca.as_ref()),
        cert: path(c, &format!("{field}.cert"), t.cert.as_ref()),
        key: path(c, &format!("{field}.key"), t.key.as_ref()),
        alpn: alpn(c, &format!("{field}.alpn"), t.alpn.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert_eq!(dns_name("Example.COM", false), Ok("example.com".into()));
        assert_eq!(dns_name("*.Example.com", true), Ok("*.example.com".into()));
        assert_eq!(dns_name("localhost", false), Ok("localhost".into()));
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "*example.com",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a b",
            "a.com.",
            "a.com:443",
        ] {
            assert!(dns_name(bad, true).is_err(), "{bad:?} should be refused");
        }
        assert!(dns_name("*.example.com", false).is_err());
        assert!(dns_name(&"a".repeat(64), false).is_err());
    }

    #[test]
    fn paths() {
        let base = Path::new("/etc/coregate");
        assert_eq!(
            file_path("site.pem", Some(base)),
            Ok("/etc/coregate/site.pem".into())
        );
        assert_eq!(
            file_path("/tls/site.pem", Some(base)),
            Ok("/tls/site.pem".into())
        );
        assert_eq!(file_path("site.pem", None), Ok("site.pem".into()));
        assert!(file_path("", Some(base)).is_err());
        assert!(file_path("a\0b", None).is_err());
    }

    #[test]
    fn alpn_protocols() {
        assert_eq!(alpn_protocol("http/1.1"), Ok("http/1.1".into()));
        assert!(alpn_protocol("h2").unwrap_err().contains("not served yet"));
        assert!(alpn_protocol("spdy/3").is_err());
    }
}
