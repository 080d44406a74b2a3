//! The tls crate against certificates made here with rcgen: loading and
//! matching, SNI choice, ticket keys from files, and `check`'s findings.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use rustls::SignatureScheme;
use tuning::{TlsCert, TlsProfile, Tuning};

/// A scratch directory unique to one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coregate-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-signed certificate for `names`, valid for `days`, written as
/// `stem.pem` and `stem.key`.
fn cert(dir: &Path, stem: &str, names: &[&str], days: i64, rsa: bool) -> (PathBuf, PathBuf) {
    let key = if rsa {
        KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap()
    } else {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
    };
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    let c = params.self_signed(&key).unwrap();
    let (cp, kp) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&cp, c.pem()).unwrap();
    std::fs::write(&kp, key.serialize_pem()).unwrap();
    (cp, kp)
}

fn profile(certs: Vec<TlsCert>) -> TlsProfile {
    TlsProfile::new("edge", certs)
}

fn ticketer() -> Arc<dyn rustls::server::ProducesTickets> {
    tls::ticketer(&[]).unwrap()
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_naming_the_key_file() {
    let dir = scratch("mismatch");
    let (c1, _) = cert(&dir, "one", &["a.test"], 30, false);
    let (_, k2) = cert(&dir, "two", &["a.test"], 30, false);
    let err = tls::server(&profile(vec![TlsCert::new(c1, k2.clone())]), &ticketer()).unwrap_err();
    assert_eq!(err.file.as_deref(), Some(k2.as_path()));
    assert!(err.what.contains("does not match"), "{err}");
}

#[test]
fn a_file_without_a_certificate_is_refused() {
    let dir = scratch("nocert");
    let (_, k) = cert(&dir, "one", &["a.test"], 30, false);
    let err = tls::chain(&k).unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    assert!(tls::chain(&dir.join("absent.pem"))
        .unwrap_err()
        .what
        .contains("cannot read"));
}

#[test]
fn sni_prefers_exact_then_wildcard_then_default_and_can_refuse() {
    let dir = scratch("sni");
    let (ca, ka) = cert(&dir, "a", &["a.test"], 30, false);
    let (cb, kb) = cert(&dir, "b", &["*.b.test"], 30, false);
    let (cc, kc) = cert(&dir, "c", &["c.test"], 30, false);
    let certs = [
        TlsCert::new(ca.clone(), ka),
        TlsCert::new(cb.clone(), kb),
        TlsCert::new(cc.clone(), kc),
    ];
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    for refuse in [false, true] {
        let mut sni = tls::SniResolver::new(refuse);
        let mut leaves = Vec::new();
        for (i, c) in certs.iter().enumerate() {
            let k = tls::certified_key(&c.cert, &c.key, None, &provider).unwrap();
            let info = tls::CertInfo::of(&k.cert[0]).unwrap();
            for n in &info.names {
                sni.add(n, &k);
            }
            if i == 0 {
                sni.add_default(&k);
            }
            leaves.push(k.cert[0].clone());
        }
        let schemes = [SignatureScheme::ECDSA_NISTP256_SHA256];
        let pick = |name: Option<&str>| sni.pick(name, &schemes).map(|k| k.cert[0].clone());
        assert_eq!(pick(Some("a.test")), Some(leaves[0].clone()));
        assert_eq!(pick(Some("x.b.test")), Some(leaves[1].clone()));
        assert_eq!(pick(Some("c.test")), Some(leaves[2].clone()));
        // A wildcard covers one label only.
        let deep = pick(Some("y.x.b.test"));
        let unknown = pick(Some("nope.test"));
        if refuse {
            assert_eq!(deep, None);
            assert_eq!(unknown, None);
        } else {
            assert_eq!(deep, Some(leaves[0].clone()));
            assert_eq!(unknown, Some(leaves[0].clone()));
        }
        // No SNI at all: the default, even when unknown names are refused.
        assert_eq!(pick(None), Some(leaves[0].clone()));
    }
}

#[test]
fn a_name_with_rsa_and_ecdsa_certificates_serves_what_the_client_can_verify() {
    let dir = scratch("dual");
    let (ce, ke) = cert(&dir, "ec", &["d.test"], 30, false);
    let (cr, kr) = cert(&dir, "rsa", &["d.test"], 30, true);
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut sni = tls::SniResolver::new(false);
    let ec = tls::certified_key(&ce, &ke, None, &provider).unwrap();
    let rsa = tls::certified_key(&cr, &kr, None, &provider).unwrap();
    sni.add("d.test", &ec);
    sni.add("d.test", &rsa);
    let rsa_only = [
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::RSA_PKCS1_SHA256,
    ];
    let got = sni.pick(Some("d.test"), &rsa_only).unwrap();
    assert_eq!(got.cert[0], rsa.cert[0]);
    let got = sni
        .pick(Some("d.test"), &[SignatureScheme::ECDSA_NISTP256_SHA256])
        .unwrap();
    assert_eq!(got.cert[0], ec.cert[0]);
}

#[test]
fn ticket_keys_from_files_seal_with_the_first_and_open_with_any() {
    let dir = scratch("tickets");
    let (k1, k2) = (dir.join("k1"), dir.join("k2"));
    std::fs::write(&k1, [1u8; 80]).unwrap();
    std::fs::write(&k2, [2u8; 80]).unwrap();
    let old = tls::ticketer(std::slice::from_ref(&k1)).unwrap();
    let rotated = tls::ticketer(&[k2.clone(), k1.clone()]).unwrap();
    let sealed_by_old = old.encrypt(b"session state").unwrap();
    assert_eq!(rotated.decrypt(&sealed_by_old).unwrap(), b"session state");
    let sealed_by_new = rotated.encrypt(b"newer").unwrap();
    assert_eq!(
        old.decrypt(&sealed_by_new),
        None,
        "k1 alone cannot open k2's tickets"
    );
    let mut tampered = sealed_by_new.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(rotated.decrypt(&tampered), None);
    std::fs::write(&k1, [1u8; 20]).unwrap();
    let err = tls::ticketer(&[k1]).unwrap_err();
    assert!(err.what.contains("at least 48 bytes"), "{err}");
}

#[test]
fn check_reports_expiry_soon_and_past_and_uncovered_names() {
    let dir = scratch("check");
    let (soon, ks) = cert(&dir, "soon", &["s.test"], 3, false);
    let (ok, ko) = cert(&dir, "ok", &["o.test"], 90, false);
    let mut named = TlsCert::new(ok, ko);
    named.names = vec!["other.test".into()];
    let t = Tuning {
        tls: vec![profile(vec![TlsCert::new(soon, ks), named])],
        ..Tuning::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let findings = tls::check(&t, now);
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|f| f.starts_with("warning") && f.contains("expires in")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|f| f.contains("does not cover \"other.test\"")),
        "{text:?}"
    );
    assert!(
        findings.iter().all(|f| f.level == tls::Level::Warning),
        "{text:?}"
    );
    // Thirty days on, the first certificate has expired: an error.
    let later = tls::check(&t, now + 30 * 86_400);
    assert!(later
        .iter()
        .any(|f| f.level == tls::Level::Error && f.message.contains("expired")));
}

#[test]
fn a_client_subject_is_rfc4514_escaped_so_a_comma_cannot_forge_an_attribute() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Real");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice, O=admins");
    let cert = params.self_signed(&key).unwrap();
    let subject = tls::subject_of(cert.der()).unwrap();
    assert!(subject.contains(r"CN=alice\, O\=admins"), "{subject}");
    // Split where a consumer would (commas not escaped): two attributes.
    let parts: Vec<&str> = subject.split(r"\,").flat_map(|p| p.split(',')).collect();
    let attrs = subject.matches(',').count() - subject.matches(r"\,").count() + 1;
    assert_eq!(attrs, 2, "{subject} ({parts:?})");
    let mut long = CertificateParams::new(Vec::<String>::new()).unwrap();
    long.distinguished_name
        .push(rcgen::DnType::CommonName, "x".repeat(tls::MAX_SUBJECT_LEN));
    let cert = long.self_signed(&key).unwrap();
    assert_eq!(tls::subject_of(cert.der()), None, "too long to pass on");
}

#[test]
fn tickets_are_bound_to_the_profile_that_issued_them() {
    let shared = ticketer();
    let a = tls::bound(shared.clone(), [1; tls::TAG_LEN]);
    let b = tls::bound(shared.clone(), [2; tls::TAG_LEN]);
    let t = a.encrypt(b"session").unwrap();
    assert_eq!(a.decrypt(&t).unwrap(), b"session");
    assert_eq!(b.decrypt(&t), None, "another profile's ticket");
    assert_eq!(shared.decrypt(&t).unwrap()[tls::TAG_LEN..], *b"session");
}
