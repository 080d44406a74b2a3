//! TLS settings end to end: `[tls.*]` profiles named by listeners,
//! `[upstreams.*.tls]`, `--tls-cert` / `--tls-key`, every validation error
//! with its line and field, and paths taken from the config file's directory.

// Helpers outside #[test] functions panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tuning::{
    parse_file, parse_toml, Cli, ClientAuth, TlsCert, TlsProfile, TlsVersion, Tuning, TuningError,
    UnknownSni, UpstreamTls,
};

const FULL: &str = r#"[server]
listen = ["127.0.0.1:8080", { address = "127.0.0.1:8443", tls = "edge" }]

[tls.edge]
versions = ["1.3", "1.2"]
ciphers = ["TLS13_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
alpn = ["http/1.1"]
handshake_timeout = "5s"
session_tickets = true
ticket_key_files = ["tickets.key", "/var/lib/coregate/old.key"]
unknown_sni = "refuse"
client_auth = { ca = "ca.pem", required = false, subject_header = "X-Client-Subject" }

[[tls.edge.certificates]]
cert = "site.pem"
key = "site.key"
names = ["Example.com", "*.example.com"]
ocsp = "site.ocsp.der"

[[tls.edge.certificates]]
cert = "/tls/other.pem"
key = "/tls/other.key"
names = ["other.test"]
default = true

[tls.unused]
[[tls.unused.certificates]]
cert = "u.pem"
key = "u.key"

[upstreams.app]
backends = ["127.0.0.1:9000"]

[upstreams.app.tls]
sni = "Origin.internal"
verify = false
ca = "origin-ca.pem"
cert = "client.pem"
key = "client.key"

[[routes]]
upstream = "app"
"#;

/// `text` validated as if read from `/etc/coregate/coregate.toml`.
fn etc(text: &str) -> Tuning {
    parse_toml("/etc/coregate/coregate.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// Every error for `text`, as printed.
fn errors(text: &str) -> Vec<String> {
    match parse_toml("c.toml", text) {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

/// `text` must fail with exactly `want`.
#[track_caller]
fn one_error(text: &str, want: &str) {
    assert_eq!(errors(text), [want], "for:\n{text}");
}

/// A listener on profile `edge`; `tls` starts on line 4.
fn config(tls: &str) -> String {
    format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:8443\", tls = \"edge\" }}]\n\n{tls}\n\
         [upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"app\"\n"
    )
}

/// Profile `edge` with one certificate, then `extra` (from line 7).
fn edge(extra: &str) -> String {
    config(&format!(
        "[[tls.edge.certificates]]\ncert = \"site.pem\"\nkey = \"site.key\"\n{extra}"
    ))
}

fn flags(args: &[&str]) -> Result<Tuning, TuningError> {
    let cli = Cli::try_parse_from(std::iter::once("coregate").chain(args.iter().copied())).unwrap();
    Tuning::from_cli(cli)
}

fn flag_errors(args: &[&str]) -> Vec<String> {
    match flags(args) {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn full_config_round_trips_into_the_structs() {
    let t = etc(FULL);
    let dir = PathBuf::from("/etc/coregate");
    let edge = TlsProfile {
        name: "edge".into(),
        certificates: vec![
            TlsCert {
                cert: dir.join("site.pem"),
                key: dir.join("site.key"),
                names: vec!["example.com".into(), "*.example.com".into()],
                ocsp: Some(dir.join("site.ocsp.der")),
                default: false,
            },
            TlsCert {
                cert: "/tls/other.pem".into(),
                key: "/tls/other.key".into(),
                names: vec!["other.test".into()],
                ocsp: None,
                default: true,
            },
        ],
        versions: vec![TlsVersion::Tls13, TlsVersion::Tls12],
        ciphers: vec![
            "TLS13_AES_128_GCM_SHA256".into(),
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
        ],
        alpn: vec!["http/1.1".into()],
        handshake_timeout: Duration::from_secs(5),
        session_tickets: true,
        ticket_key_files: vec![dir.join("tickets.key"), "/var/lib/coregate/old.key".into()],
        unknown_sni: UnknownSni::Refuse,
        client_auth: Some(ClientAuth {
            ca: dir.join("ca.pem"),
            required: false,
            subject_header: Some("x-client-subject".into()),
        }),
    };
    assert_eq!(t.listen.len(), 2);
    assert_eq!(t.listen_tls, [None, Some(0)]);
    // The unused profile is checked but not kept.
    assert_eq!(t.tls, std::slice::from_ref(&edge));
    assert_eq!(t.listener_tls(0), None);
    assert_eq!(t.listener_tls(1), Some(&edge));
    assert_eq!(t.listener_tls(2), None);
    let upstream = UpstreamTls {
        sni: Some("origin.internal".into()),
        verify: false,
        ca: Some(dir.join("origin-ca.pem")),
        cert: Some(dir.join("client.pem")),
        key: Some(dir.join("client.key")),
        alpn: vec!["http/1.1".into()],
    };
    assert_eq!(t.upstreams[0].tls, Some(upstream));
    assert!(
        t.summary()
            .starts_with("listen 127.0.0.1:8080, https://127.0.0.1:8443;"),
        "{}",
        t.summary()
    );
}

#[test]
fn unset_fields_take_defaults() {
    let t = parse_toml("c.toml", &edge("\n[upstreams.app.tls]\n")).unwrap();
    let want = TlsProfile {
        certificates: vec![TlsCert {
            default: true,
            ..TlsCert::new("site.pem", "site.key")
        }],
        ..TlsProfile::new("edge", Vec::new())
    };
    assert_eq!(t.tls, std::slice::from_ref(&want));
    assert_eq!(
        (want.versions.as_slice(), want.handshake_timeout),
        (
            [TlsVersion::Tls12, TlsVersion::Tls13].as_slice(),
            Duration::from_secs(10)
        )
    );
    assert!(want.ciphers.is_empty() && want.ticket_key_files.is_empty());
    assert_eq!(
        (&want.alpn, want.session_tickets, want.unknown_sni),
        (&vec!["http/1.1".to_owned()], true, UnknownSni::Default)
    );
    assert_eq!(want.client_auth, None);
    assert_eq!(t.upstreams[0].tls, Some(UpstreamTls::default()));
    assert!(UpstreamTls::default().verify);
    let plain = parse_toml("c.toml", &edge("").replace(", tls = \"edge\"", "")).unwrap();
    assert_eq!((plain.listen_tls, plain.tls), (vec![None], Vec::new()));
    assert_eq!(plain.upstreams[0].tls, None);
}

#[test]
fn default_certificate_is_the_marked_one_else_the_first() {
    let two = |first: &str, second: &str| {
        edge(&format!(
            "{first}\nnames = [\"a.test\"]\n\n[[tls.edge.certificates]]\ncert = \"b.pem\"\nkey = \"b.key\"\n{second}\n"
        ))
    };
    let defaults = |text: &str| -> Vec<bool> {
        let t = parse_toml("c.toml", text).unwrap();
        t.tls[0].certificates.iter().map(|c| c.default).collect()
    };
    assert_eq!(defaults(&two("", "")), [true, false]);
    assert_eq!(defaults(&two("", "default = true")), [false, true]);
    assert_eq!(
        defaults(&two("default = false", "default = false")),
        [true, false]
    );
    assert_eq!(defaults(&two("default = true", "")), [true, false]);
    one_error(
        &two("default = true", "default = true"),
        "c.toml:13: tls.edge.certificates[1].default: certificates[0] is already the default: mark one",
    );
}

#[test]
fn relative_paths_follow_the_config_file() {
    let dir = std::env::temp_dir().join(format!("tuning-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("coregate.toml");
    std::fs::write(&path, edge("ocsp = \"../ocsp/site.der\"\n")).unwrap();
    let t = parse_file(&path).unwrap();
    let cert = &t.tls[0].certificates[0];
    assert_eq!(cert.cert, dir.join("site.pem"));
    assert_eq!(cert.key, dir.join("site.key"));
    assert_eq!(cert.ocsp, Some(dir.join("../ocsp/site.der")));
    std::fs::remove_dir_all(&dir).unwrap();
    // A file named without a directory: paths stay relative to the working directory.
    let t = parse_toml("coregate.toml", &edge("")).unwrap();
    assert_eq!(t.tls[0].certificates[0].cert, PathBuf::from("site.pem"));
}

#[test]
fn listener_errors() {
    let text = config("[tls.edg]\n[[tls.edg.certificates]]\ncert = \"a\"\nkey = \"b\"\n");
    one_error(
        &text,
        "c.toml:2: server.listen[0].tls: unknown tls profile \"edge\" (did you mean \"edg\"?)",
    );
    one_error(
        &config(""),
        "c.toml:2: server.listen[0].tls: unknown tls profile \"edge\" (no [tls.<name>] defined)",
    );
    one_error(
        &config("[tls.zzz]\n[[tls.zzz.certificates]]\ncert = \"a\"\nkey = \"b\"\n"),
        "c.toml:2: server.listen[0].tls: unknown tls profile \"edge\" (defined: zzz)",
    );
    let text = edge("").replace("tls = \"edge\"", "tsl = \"edge\"");
    let errors = errors(&text);
    assert_eq!(
        errors[0],
        "c.toml:2: server.listen[0].tsl: unknown field `tsl` (did you mean `tls`?)"
    );
}

#[test]
fn certificate_errors() {
    one_error(
        &config("[tls.edge]\nversions = [\"1.3\"]\n"),
        "c.toml:4: tls.edge.certificates: required: at least one [[tls.edge.certificates]] with `cert` and `key`",
    );
    one_error(
        &config("[tls.edge]\ncertificates = []\n"),
        "c.toml:5: tls.edge.certificates: empty: give at least one [[tls.edge.certificates]] with `cert` and `key`",
    );
    one_error(
        &config("[[tls.edge.certificates]]\ncert = \"site.pem\"\n"),
        "c.toml:5: tls.edge.certificates[0].key: `cert` without `key`: name the certificate's private key (PEM) too",
    );
    one_error(
        &config("[[tls.edge.certificates]]\nkey = \"site.key\"\n"),
        "c.toml:5: tls.edge.certificates[0].cert: `key` without `cert`: name the certificate chain (PEM) too",
    );
    one_error(
        &edge("names = [\"a.example.com\", \"ex*.com\"]\n"),
        "c.toml:7: tls.edge.certificates[0].names[1]: invalid name \"ex*.com\": a wildcard must be the whole left-most label, as in \"*.example.com\"",
    );
    one_error(
        &edge("names = [\"a_b.test\"]\n"),
        "c.toml:7: tls.edge.certificates[0].names[0]: invalid DNS name \"a_b.test\"",
    );
    one_error(
        &edge("names = [\"a.test\", \"A.test\"]\n"),
        "c.toml:7: tls.edge.certificates[0].names[1]: a.test is listed twice",
    );
    one_error(
        &edge("names = [\"a.test\", \"*.b.test\"]\n\n[[tls.edge.certificates]]\ncert = \"2.pem\"\nkey = \"2.key\"\nnames = [\"c.test\",\n  \"*.B.test\"]\n"),
        "c.toml:13: tls.edge.certificates[1].names[1]: *.b.test is also listed under certificates[0]: SNI would be ambiguous",
    );
    one_error(
        &edge("ocsp = \"\"\n"),
        "c.toml:7: tls.edge.certificates[0].ocsp: empty path",
    );
    one_error(
        &edge("nmes = [\"a.test\"]\n"),
        "c.toml:7: tls.edge.certificates[0].nmes: unknown field `nmes` (did you mean `names`?)",
    );
}

#[test]
fn profile_setting_errors() {
    let profile = |body: &str| edge(&format!("\n[tls.edge]\n{body}\n"));
    one_error(
        &profile("versions = [\"1.2\", \"1.1\"]"),
        "c.toml:9: tls.edge.versions[1]: unknown TLS version \"1.1\": expected \"1.2\" or \"1.3\"",
    );
    one_error(
        &profile("versions = [\"1.3\", \"1.3\"]"),
        "c.toml:9: tls.edge.versions[1]: \"1.3\" is listed twice",
    );
    one_error(
        &profile("versions = []"),
        "c.toml:9: tls.edge.versions: empty: omit it for [\"1.2\", \"1.3\"]",
    );
    one_error(
        &profile("ciphers = [\"TLS_AES_128_GCM_SHA256\"]"),
        "c.toml:9: tls.edge.ciphers[0]: unknown cipher suite \"TLS_AES_128_GCM_SHA256\" (did you mean \"TLS13_AES_128_GCM_SHA256\"?)",
    );
    one_error(
        &profile("ciphers = [\"TLS13_AES_128_GCM_SHA256\"]"),
        "c.toml:9: tls.edge.ciphers: no suite for TLS 1.2 among these: add a TLS_ECDHE_* suite or drop \"1.2\" from versions",
    );
    one_error(
        &profile("versions = [\"1.3\"]\nciphers = [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]"),
        "c.toml:10: tls.edge.ciphers: no suite for TLS 1.3 among these: add a TLS13_* suite or drop \"1.3\" from versions",
    );
    assert!(parse_toml(
        "c.toml",
        &profile("versions = [\"1.3\"]\nciphers = [\"TLS13_AES_256_GCM_SHA384\"]")
    )
    .is_ok());
    one_error(
        &profile("alpn = [\"h2\", \"http/1.1\"]"),
        "c.toml:9: tls.edge.alpn[0]: HTTP/2 is not served yet: offer \"http/1.1\"",
    );
    one_error(
        &profile("handshake_timeout = \"10m\""),
        "c.toml:9: tls.edge.handshake_timeout: must be from 100ms to 5m, got 10m",
    );
    one_error(
        &profile("unknown_sni = \"drop\""),
        "c.toml:9: tls.edge.unknown_sni: unknown choice \"drop\": expected \"default\" or \"refuse\"",
    );
    one_error(
        &profile("session_tickets = false\nticket_key_files = [\"t.key\"]"),
        "c.toml:10: tls.edge.ticket_key_files: session_tickets = false issues no tickets: drop ticket_key_files",
    );
    one_error(
        &profile("client_auth = { required = true }"),
        "c.toml:9: tls.edge.client_auth.ca: required: the CA certificates (PEM) client certificates must chain to",
    );
    one_error(
        &profile("client_auth = { ca = \"ca.pem\", subject_header = \"x client\" }"),
        "c.toml:9: tls.edge.client_auth.subject_header: invalid header name \"x client\"",
    );
    one_error(
        &profile("client_auth = { ca = \"ca.pem\", requird = true }"),
        "c.toml:9: tls.edge.client_auth.requird: unknown field `requird` (did you mean `required`?)",
    );
    one_error(
        &profile("versoins = [\"1.3\"]"),
        "c.toml:9: tls.edge.versoins: unknown field `versoins` (did you mean `versions`?)",
    );
}

#[test]
fn upstream_tls_errors() {
    let group = |body: &str| {
        format!("[upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[upstreams.app.tls]\n{body}\n\n[[routes]]\nupstream = \"app\"\n")
    };
    one_error(
        &group("cert = \"client.pem\""),
        "c.toml:5: upstreams.app.tls.key: `cert` without `key`: name the certificate's private key (PEM) too",
    );
    one_error(
        &group("sni = \"*.internal\""),
        "c.toml:5: upstreams.app.tls.sni: invalid name \"*.internal\": no wildcard here",
    );
    one_error(
        &group("alpn = [\"h2\"]"),
        "c.toml:5: upstreams.app.tls.alpn[0]: HTTP/2 is not served yet: offer \"http/1.1\"",
    );
    one_error(
        &group("verfy = false"),
        "c.toml:5: upstreams.app.tls.verfy: unknown field `verfy` (did you mean `verify`?)",
    );
}

#[test]
fn every_tls_error_is_reported() {
    let text = edge(
        "names = [\"a..b\"]\n\n[tls.edge]\nversions = [\"1.0\"]\nhandshake_timeout = \"1ms\"\nalpn = [\"spdy\"]\n",
    );
    let fields: Vec<String> = errors(&text)
        .iter()
        .map(|e| e.split(": ").take(2).collect::<Vec<_>>().join(": "))
        .collect();
    assert_eq!(
        fields,
        [
            "c.toml:7: tls.edge.certificates[0].names[0]",
            "c.toml:10: tls.edge.versions[0]",
            "c.toml:11: tls.edge.handshake_timeout",
            "c.toml:12: tls.edge.alpn[0]",
        ]
    );
}

#[test]
fn tls_flags_make_every_listener_https() {
    let t = flags(&[
        "--listen",
        "127.0.0.1:8443",
        "--listen",
        "[::1]:8443",
        "--tls-cert",
        "a.pem",
        "--tls-key",
        "a.key",
        "--tls-cert",
        "certs/b.pem",
        "--tls-key",
        "/keys/b.key",
        "--upstream",
        "127.0.0.1:9000",
    ])
    .unwrap();
    let want = TlsProfile::new(
        "cli",
        vec![
            TlsCert::new("a.pem", "a.key"),
            TlsCert::new("certs/b.pem", "/keys/b.key"),
        ],
    );
    assert!(want.certificates[0].default && !want.certificates[1].default);
    assert_eq!(t.tls, [want]);
    assert_eq!(t.listen_tls, [Some(0), Some(0)]);
    assert!(
        t.summary()
            .starts_with("listen https://127.0.0.1:8443, https://[::1]:8443;"),
        "{}",
        t.summary()
    );
    // The embedded default takes them too.
    let t = flags(&["--tls-cert", "a.pem", "--tls-key", "a.key"]).unwrap();
    assert_eq!(t.listen_tls, [Some(0)]);
    assert_eq!(t.listener_tls(0).map(|p| p.name.as_str()), Some("cli"));
}

#[test]
fn tls_flags_pair_by_count() {
    assert_eq!(
        flag_errors(&["--tls-cert", "a.pem", "--tls-cert", "b.pem", "--tls-key", "a.key"]),
        ["command line: --tls-cert: 2 --tls-cert but 1 --tls-key: give one --tls-key per --tls-cert, paired by order"]
    );
    assert_eq!(
        flag_errors(&["--tls-key", "a.key"]),
        ["command line: --tls-cert: 0 --tls-cert but 1 --tls-key: give one --tls-key per --tls-cert, paired by order"]
    );
}

#[test]
fn tls_flags_are_refused_with_a_config_file() {
    let dir = std::env::temp_dir().join(format!("tuning-tls-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, edge("")).unwrap();
    let config = path.to_str().unwrap();
    let message = "not with --config: describe TLS in the file, as [tls.NAME] with \
                   [[tls.NAME.certificates]], and name it in server.listen";
    assert_eq!(
        flag_errors(&[
            "--config",
            config,
            "--tls-cert",
            "a.pem",
            "--tls-key",
            "a.key"
        ]),
        [
            format!("command line: --tls-cert: {message}"),
            format!("command line: --tls-key: {message}"),
        ]
    );
    // Without them the file's listener keeps its profile.
    let t = flags(&["--config", config]).unwrap();
    assert_eq!(t.listen_tls, [Some(0)]);
    assert_eq!(t.tls[0].certificates[0].cert, dir.join("site.pem"));
    // --listen replaces the file's listeners with plain ones.
    let t = flags(&["--config", config, "--listen", "127.0.0.1:8080"]).unwrap();
    assert_eq!((t.listen_tls, t.tls), (vec![None], Vec::new()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_values_stay_plain() {
    let t = Tuning::default();
    assert_eq!((t.listen_tls, t.tls), (vec![None], Vec::new()));
    let q = Tuning::quick(
        vec![
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ],
        vec!["127.0.0.1:9000".parse().unwrap()],
    );
    assert_eq!(q.listen_tls, [None, None]);
    assert_eq!(q.upstreams[0].tls, None);
    assert!(q.summary().starts_with("listen 127.0.0.1:1, 127.0.0.1:2;"));
}
