//! `[tls.*]` profiles and the listeners that name them, or `--tls-cert` /
//! `--tls-key` in quick mode and the embedded default.
//!
//! Every profile in the file is checked; [`Tuning::tls`](crate::Tuning::tls)
//! keeps those a listener names, in name order, and
//! [`Tuning::listen_tls`](crate::Tuning::listen_tls) indexes into them.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::checker::Checker;
use crate::cli::Cli;
use crate::defaults::*;
use crate::error::Location;
use crate::file::{ClientAuthFile, FileConfig, TlsCertFile, TlsFile};
use crate::tls::{ClientAuth, TlsCert, TlsProfile, TlsVersion, UnknownSni};
use crate::tls_fields::{alpn, cert_and_key, dns_name, list, path};
use crate::tuning::ConfigSource;
use crate::units::{format_duration, parse_duration};
use crate::unknown::closest;

/// For each listener the index of its profile in the second list, which
/// holds the profiles listeners use. `names` is each listener's `tls`.
pub(crate) fn listeners(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
    source: &ConfigSource,
    names: &[Option<Spanned<String>>],
) -> (Vec<Option<usize>>, Vec<TlsProfile>) {
    let profiles: Vec<TlsProfile> = raw
        .tls
        .iter()
        .map(|(name, p)| profile(c, name, p))
        .collect();
    if !cli.tls_cert.is_empty() || !cli.tls_key.is_empty() {
        return from_flags(c, cli, source, names.len());
    }
    let chosen = names
        .iter()
        .enumerate()
        .map(|(i, name)| name.as_ref().and_then(|n| lookup(c, i, n, &profiles)))
        .collect();
    keep_used(chosen, profiles)
}

/// `--tls-cert` / `--tls-key`: every listener gets profile `cli`, the
/// first pair being its default certificate. Not with `--config`.
fn from_flags(
    c: &mut Checker<'_>,
    cli: &Cli,
    source: &ConfigSource,
    listeners: usize,
) -> (Vec<Option<usize>>, Vec<TlsProfile>) {
    if let ConfigSource::File(_) = source {
        for (flag, given) in [("--tls-cert", &cli.tls_cert), ("--tls-key", &cli.tls_key)] {
            if !given.is_empty() {
                let message = "not with --config: describe TLS in the file, as [tls.NAME] with [[tls.NAME.certificates]], and name it in server.listen";
                c.fail(Location::CommandLine, flag, message);
            }
        }
        return (vec![None; listeners], Vec::new());
    }
    if cli.tls_cert.len() != cli.tls_key.len() {
        let message = format!(
            "{} --tls-cert but {} --tls-key: give one --tls-key per --tls-cert, paired by order",
            cli.tls_cert.len(),
            cli.tls_key.len()
        );
        c.fail(Location::CommandLine, "--tls-cert", message);
    }
    let certificates = cli
        .tls_cert
        .iter()
        .zip(&cli.tls_key)
        .map(|(cert, key)| TlsCert::new(cert.clone(), key.clone()))
        .collect();
    let profile = TlsProfile::new(CLI_TLS_PROFILE, certificates);
    (vec![Some(0); listeners], vec![profile])
}

/// The profile a listener names.
fn lookup(
    c: &mut Checker<'_>,
    i: usize,
    name: &Spanned<String>,
    profiles: &[TlsProfile],
) -> Option<usize> {
    let found = profiles.iter().position(|p| p.name == *name.get_ref());
    if found.is_none() {
        let message = unknown_profile(name.get_ref(), profiles);
        c.fail_at(name.span(), format!("server.listen[{i}].tls"), message);
    }
    found
}

fn unknown_profile(name: &str, profiles: &[TlsProfile]) -> String {
    let known: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    if let Some(close) = closest(&known, name) {
        return format!("unknown tls profile {name:?} (did you mean {close:?}?)");
    }
    match known.is_empty() {
        true => format!("unknown tls profile {name:?} (no [tls.<name>] defined)"),
        false => format!(
            "unknown tls profile {name:?} (defined: {})",
            known.join(", ")
        ),
    }
}

/// Drops the profiles no listener names, renumbering the listeners'.
fn keep_used(
    chosen: Vec<Option<usize>>,
    profiles: Vec<TlsProfile>,
) -> (Vec<Option<usize>>, Vec<TlsProfile>) {
    let mut renumbered = vec![None; profiles.len()];
    let mut kept = Vec::new();
    for (i, profile) in profiles.into_iter().enumerate() {
        if chosen.contains(&Some(i)) {
            renumbered[i] = Some(kept.len());
            kept.push(profile);
        }
    }
    let listen_tls = chosen
        .iter()
        .map(|c| c.and_then(|i| renumbered[i]))
        .collect();
    (listen_tls, kept)
}

/// One `[tls.<name>]` table, checked.
fn profile(c: &mut Checker<'_>, name: &str, t: &TlsFile) -> TlsProfile {
    let field = format!("tls.{name}");
    let versions = versions(c, &field, t);
    let session_tickets = t.session_tickets.as_ref().is_none_or(|b| *b.get_ref());
    let unknown_sni = c.field(
        &format!("{field}.unknown_sni"),
        t.unknown_sni.as_ref(),
        |name| {
            UnknownSni::from_name(name).ok_or_else(|| {
                format!("unknown choice {name:?}: expected \"default\" or \"refuse\"")
            })
        },
    );
    TlsProfile {
        name: name.to_owned(),
        certificates: certificates(c, &field, t),
        ciphers: ciphers(c, &field, t, &versions),
        versions,
        alpn: alpn(c, &format!("{field}.alpn"), t.alpn.as_ref()),
        handshake_timeout: c
            .field(
                &format!("{field}.handshake_timeout"),
                t.handshake_timeout.as_ref(),
                |text| handshake_timeout(text),
            )
            .unwrap_or(DEFAULT_TLS_HANDSHAKE_TIMEOUT),
        session_tickets,
        ticket_key_files: ticket_key_files(c, &field, t, session_tickets),
        unknown_sni: unknown_sni.unwrap_or(UnknownSni::Default),
        client_auth: t
            .client_auth
            .as_ref()
            .map(|a| client_auth(c, &format!("{field}.client_auth"), a)),
    }
}

fn handshake_timeout(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    match (MIN_TLS_HANDSHAKE_TIMEOUT..=MAX_TLS_HANDSHAKE_TIMEOUT).contains(&d) {
        true => Ok(d),
        false => Err(format!(
            "must be from {} to {}, got {text}",
            format_duration(MIN_TLS_HANDSHAKE_TIMEOUT),
            format_duration(MAX_TLS_HANDSHAKE_TIMEOUT)
        )),
    }
}

/// `[[tls.<name>.certificates]]`: at least one, exactly one default, and
/// no name under two of them.
fn certificates(c: &mut Checker<'_>, profile: &str, t: &TlsFile) -> Vec<TlsCert> {
    let field = format!("{profile}.certificates");
    let Some(list) = &t.certificates else {
        let message = format!("required: at least one [[{field}]] with `cert` and `key`");
        let location = c.at_key(profile);
        c.fail(location, field, message);
        return Vec::new();
    };
    if list.get_ref().is_empty() {
        let message = format!("empty: give at least one [[{field}]] with `cert` and `key`");
        c.fail_at(list.span(), &field, message);
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut certs: Vec<TlsCert> = Vec::new();
    for (i, item) in list.get_ref().iter().enumerate() {
        certs.push(certificate(c, &format!("{field}[{i}]"), item));
        certs[i].names = names(c, &field, i, item.get_ref(), &mut seen);
    }
    one_default(c, &field, list.get_ref(), &mut certs);
    certs
}

fn certificate(c: &mut Checker<'_>, field: &str, raw: &Spanned<TlsCertFile>) -> TlsCert {
    let t = raw.get_ref();
    if t.cert.is_none() && t.key.is_none() {
        let message = "required: the certificate chain (PEM), with `key` its private key";
        c.fail_at(raw.span(), format!("{field}.cert"), message);
    }
    cert_and_key(c, field, t.cert.as_ref(), t.key.as_ref());
    TlsCert {
        cert: path(c, &format!("{field}.cert"), t.cert.as_ref()).unwrap_or_default(),
        key: path(c, &format!("{field}.key"), t.key.as_ref()).unwrap_or_default(),
        names: Vec::new(),
        ocsp: path(c, &format!("{field}.ocsp"), t.ocsp.as_ref()),
        default: t.default.as_ref().is_some_and(|d| *d.get_ref()),
    }
}

/// Certificate `i`'s names; `seen` holds every earlier one with its certificate.
fn names(
    c: &mut Checker<'_>,
    certs_field: &str,
    i: usize,
    raw: &TlsCertFile,
    seen: &mut Vec<(String, usize)>,
) -> Vec<String> {
    let Some(list) = &raw.names else {
        return Vec::new();
    };
    let field = format!("{certs_field}[{i}].names");
    let mut out = Vec::new();
    for (k, item) in list.get_ref().iter().enumerate() {
        let name = match dns_name(item.get_ref(), true) {
            Ok(name) => name,
            Err(message) => {
                c.fail_at(item.span(), format!("{field}[{k}]"), message);
                continue;
            }
        };
        let message = match seen.iter().find(|(n, _)| *n == name) {
            Some((_, j)) if *j == i => format!("{name} is listed twice"),
            Some((_, j)) => {
                format!("{name} is also listed under certificates[{j}]: SNI would be ambiguous")
            }
            None => {
                seen.push((name.clone(), i));
                out.push(name);
                continue;
            }
        };
        c.fail_at(item.span(), format!("{field}[{k}]"), message);
    }
    out
}

/// The first certificate marked `default`, else the first one: another
/// marked one is an error.
fn one_default(
    c: &mut Checker<'_>,
    field: &str,
    raw: &[Spanned<TlsCertFile>],
    certs: &mut [TlsCert],
) {
    let mut first: Option<usize> = None;
    for (i, cert) in certs.iter_mut().enumerate() {
        match (cert.default, first, &raw[i].get_ref().default) {
            (true, Some(f), Some(d)) => {
                let message = format!("certificates[{f}] is already the default: mark one");
                c.fail_at(d.span(), format!("{field}[{i}].default"), message);
                cert.default = false;
            }
            (true, None, _) => first = Some(i),
            _ => {}
        }
    }
    if let (None, Some(cert)) = (first, certs.first_mut()) {
        cert.default = true;
    }
}

fn versions(c: &mut Checker<'_>, profile: &str, t: &TlsFile) -> Vec<TlsVersion> {
    let Some(raw) = &t.versions else {
        return TlsVersion::ALL.to_vec();
    };
    let empty = "empty: omit it for [\"1.2\", \"1.3\"]";
    let out = list(
        c,
        &format!("{profile}.versions"),
        raw,
        Some(empty),
        |name| {
            TlsVersion::from_name(name)
                .ok_or_else(|| format!("unknown TLS version {name:?}: expected \"1.2\" or \"1.3\""))
        },
    );
    match out.is_empty() {
        true => TlsVersion::ALL.to_vec(),
        false => out,
    }
}

/// Named suites, each once; together they must cover every version offered.
fn ciphers(
    c: &mut Checker<'_>,
    profile: &str,
    t: &TlsFile,
    versions: &[TlsVersion],
) -> Vec<String> {
    let Some(raw) = &t.ciphers else {
        return Vec::new();
    };
    let field = format!("{profile}.ciphers");
    let out = list(c, &field, raw, None, cipher);
    if out.is_empty() || out.len() != raw.get_ref().len() {
        return out;
    }
    for &version in versions {
        if !out.iter().any(|s| TlsVersion::of_cipher(s) == version) {
            let family = match version {
                TlsVersion::Tls12 => "TLS_ECDHE_*",
                TlsVersion::Tls13 => "TLS13_*",
            };
            let v = version.as_str();
            let message = format!(
                "no suite for TLS {v} among these: add a {family} suite or drop \"{v}\" from versions"
            );
            c.fail_at(raw.span(), &field, message);
        }
    }
    out
}

fn cipher(name: &str) -> Result<String, String> {
    if TLS_CIPHER_SUITES.contains(&name) {
        return Ok(name.to_owned());
    }
    match closest(&TLS_CIPHER_SUITES, &name.to_ascii_uppercase()) {
        Some(close) => Err(format!(
            "unknown cipher suite {name:?} (did you mean {close:?}?)"
        )),
        None => Err(format!(
            "unknown cipher suite {name:?}: expected one of {}",
            TLS_CIPHER_SUITES.join(", ")
        )),
    }
}

fn ticket_key_files(
    c: &mut Checker<'_>,
    profile: &str,
    t: &TlsFile,
    session_tickets: bool,
) -> Vec<PathBuf> {
    let Some(raw) = &t.ticket_key_files else {
        return Vec::new();
    };
    let field = format!("{profile}.ticket_key_files");
    if !session_tickets && !raw.get_ref().is_empty() {
        let message = "session_tickets = false issues no tickets: drop ticket_key_files";
        c.fail_at(raw.span(), &field, message);
    }
    let base = c.base_dir();
    list(c, &field, raw, None, |text| {
        crate::tls_fields::file_path(text, base)
    })
}

fn client_auth(c: &mut Checker<'_>, field: &str, raw: &Spanned<ClientAuthFile>) -> ClientAuth {
    let a = raw.get_ref();
    if a.ca.is_none() {
        let message = "required: the CA certificates (PEM) client certificates must chain to";
        c.fail_at(raw.span(), format!("{field}.ca"), message);
    }
    ClientAuth {
        ca: path(c, &format!("{field}.ca"), a.ca.as_ref()).unwrap_or_default(),
        required: a.required.as_ref().is_none_or(|r| *r.get_ref()),
        subject_header: c.field(
            &format!("{field}.subject_header"),
            a.subject_header.as_ref(),
            |name| subject_header(name),
        ),
    }
}

/// A request header name, lowercased; not one coregate manages.
fn subject_header(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    if !crate::route_fields::is_token(&lower) {
        return Err(format!("invalid header name {name:?}"));
    }
    match crate::route_fields::RESERVED_HEADERS.contains(&lower.as_str()) {
        true => Err(format!("{lower} is managed by coregate")),
        false => Ok(lower),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names() {
        assert_eq!(
            cipher("TLS13_AES_128_GCM_SHA256"),
            Ok("TLS13_AES_128_GCM_SHA256".into())
        );
        assert_eq!(
            cipher("TLS_AES_128_GCM_SHA256"),
            Err("unknown cipher suite \"TLS_AES_128_GCM_SHA256\" (did you mean \"TLS13_AES_128_GCM_SHA256\"?)".into())
        );
        assert!(cipher("tls13_aes_256_gcm_sha384")
            .unwrap_err()
            .contains("did you mean \"TLS13_AES_256_GCM_SHA384\""));
        assert!(cipher("RC4").unwrap_err().contains("expected one of"));
    }

    #[test]
    fn handshake_timeouts() {
        assert_eq!(handshake_timeout("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(handshake_timeout("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(
            handshake_timeout("99ms"),
            Err("must be from 100ms to 5m, got 99ms".into())
        );
        assert!(handshake_timeout("301s").is_err());
    }

    #[test]
    fn subject_headers() {
        assert_eq!(
            subject_header("X-Client-Subject"),
            Ok("x-client-subject".into())
        );
        assert!(subject_header("bad name").is_err());
        assert!(subject_header("Content-Length").is_err());
    }

    #[test]
    fn unused_profiles_are_dropped() {
        let p = |name: &str| TlsProfile::new(name, Vec::new());
        let (listen_tls, kept) = keep_used(
            vec![None, Some(2), Some(0), Some(2)],
            vec![p("a"), p("b"), p("c")],
        );
        assert_eq!(listen_tls, [None, Some(1), Some(0), Some(1)]);
        let names: Vec<&str> = kept.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
    }
}
