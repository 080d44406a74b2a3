//! JWT credentials end to end: ES256 tokens checked against a JWKS that a
//! local server (started here) serves and rotates, the classic attacks
//! (`alg: none`, HS256 signed with the public key, expired, not yet valid,
//! wrong issuer or audience, oversized), the refresh on an unknown `kid`
//! (once per 10 s however many tokens ask), a JWKS that turns to garbage
//! (the last good keys keep working), and an HMAC credential.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::mgmt::{shop, until, Mgmt};
use common::{request, Origin};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A JWKS endpoint serving whatever `doc` holds, counting its fetches.
struct JwksServer {
    addr: SocketAddr,
    doc: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(doc: String) -> JwksServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let doc = Arc::new(Mutex::new(doc));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (d, f) = (doc.clone(), fetches.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                f.fetch_add(1, Ordering::SeqCst);
                let body = d.lock().unwrap().clone();
                let mut s = s;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer { addr, doc, fetches }
    }

    fn serve(&self, doc: String) {
        *self.doc.lock().unwrap() = doc;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// An ES256 key: its private half for signing, its public half as a JWK.
struct Key {
    kid: &'static str,
    signing: EncodingKey,
    public_raw: Vec<u8>,
}

impl Key {
    fn new(kid: &'static str) -> Key {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Key {
            kid,
            signing: EncodingKey::from_ec_der(&pair.serialize_der()),
            public_raw: pair.public_key_raw().to_vec(),
        }
    }

    fn jwk(&self) -> String {
        let (x, y) = self.public_raw[1..].split_at(32);
        format!(
            r#"{{"kty":"EC","crv":"P-256","kid":"{}","use":"sig","alg":"ES256","x":"{}","y":"{}"}}"#,
            self.kid,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        )
    }
}

fn jwks(keys: &[&Key]) -> String {
    let list: Vec<String> = keys.iter().map(|k| k.jwk()).collect();
    format!(r#"{{"keys":[{}]}}"#, list.join(","))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const ISS: &str = "https://idp.test";

fn claims(iss: &str, aud: &str, exp: u64, nbf: u64) -> serde_json::Value {
    serde_json::json!({ "iss": iss, "aud": aud, "sub": "user-1", "exp": exp, "nbf": nbf })
}

fn es256(key: &Key, kid: &str, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &key.signing).unwrap()
}

fn good(key: &Key) -> String {
    es256(key, key.kid, &claims(ISS, "orders", now() + 300, now() - 5))
}

/// A token with `alg` in its header and no valid signature for it.
fn unsigned(alg: &str, claims: &serde_json::Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"a"}}"#));
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}.")
}

fn status(gw: SocketAddr, token: &str) -> u16 {
    let raw = format!("GET /orders/x HTTP/1.1\r\nhost: h\r\nauthorization: Bearer {token}\r\n\r\n");
    request(gw, raw.as_bytes()).status
}

fn start(origin: SocketAddr, dir: &std::path::Path) -> engine::Server {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\nshards = 2\n\n\
         [access]\ndata_dir = \"{}\"\napi = \"127.0.0.1:0\"\n\n\
         [upstreams.o]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\npath_prefix = \"/orders\"\nstrip_prefix = true\nupstream = \"o\"\nservice = \"orders\"\n",
        dir.display()
    );
    let mut t = common::config(&text);
    t.cpus = None;
    common::start(t)
}

#[test]
fn es256_tokens_from_a_rotating_jwks_and_the_attacks_on_them() {
    let (a, b) = (Key::new("a"), Key::new("b"));
    let idp = JwksServer::start(jwks(&[&a]));
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start(origin.addr, dir.path());
    let gw = server.local_addrs()[0];
    let api = Mgmt::new(server.api_addr().unwrap(), None);
    let (_, svc, app) = shop(&api, r#"["jwt"]"#, "spa");
    // A JWT credential pins its algorithm; `none` and unknown ones are refused.
    for bad in ["none", "HS1"] {
        let body =
            format!(r#"{{"kind":"jwt","issuer":"{ISS}","algorithm":"{bad}","jwks":"http://x/"}}"#);
        let v = api.expect(
            400,
            "POST",
            &format!("/apps/{app}/credentials"),
            Some(&body),
        );
        assert_eq!(v["field"], "algorithm");
    }
    let cred = format!(
        r#"{{"kind":"jwt","issuer":"{ISS}","audience":"orders","algorithm":"ES256","jwks":"http://{}/jwks"}}"#,
        idp.addr
    );
    api.post(&format!("/apps/{app}/credentials"), &cred);
    api.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    );

    until(Duration::from_secs(2), 200, || status(gw, &good(&a)));
    let fetched_at = Instant::now();
    let raw = format!(
        "GET /orders/seen HTTP/1.1\r\nhost: h\r\nauthorization: Bearer {}\r\n\r\n",
        good(&a)
    );
    let seen = request(gw, raw.as_bytes()).text().to_ascii_lowercase();
    assert!(
        !seen.contains("authorization") && seen.contains("x-consumer-app: spa"),
        "{seen}"
    );

    // The attacks: every one is a 401.
    let pem_like = a.jwk(); // what an attacker knows: the public key
    let hs_confusion = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(ISS, "orders", now() + 300, now()),
        &EncodingKey::from_secret(pem_like.as_bytes()).unwrap(),
    )
    .unwrap();
    let attacks = [
        (
            "alg none",
            unsigned("none", &claims(ISS, "orders", now() + 300, now())),
        ),
        ("HS256 with the public key", hs_confusion),
        (
            "expired",
            es256(&a, "a", &claims(ISS, "orders", now() - 120, now() - 600)),
        ),
        (
            "not yet valid",
            es256(&a, "a", &claims(ISS, "orders", now() + 900, now() + 300)),
        ),
        (
            "wrong issuer",
            es256(
                &a,
                "a",
                &claims("https://evil.test", "orders", now() + 300, now()),
            ),
        ),
        (
            "wrong audience",
            es256(&a, "a", &claims(ISS, "billing", now() + 300, now())),
        ),
        ("garbage", "abc.def.ghi".to_owned()),
        ("oversized", "x".repeat(9000)),
        (
            "signed by another key",
            es256(&b, "a", &claims(ISS, "orders", now() + 300, now())),
        ),
    ];
    for (what, token) in &attacks {
        assert_eq!(status(gw, token), 401, "{what}");
    }
    assert_eq!(idp.fetches(), 1, "none of these asked for a refresh");

    // The endpoint turns to garbage; an unknown kid asks for a refresh
    // (after 10 s), which fails: key a keeps working.
    idp.serve("this is not json".into());
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(fetched_at.elapsed()) + Duration::from_millis(300),
    );
    let with_b = good(&b);
    assert_eq!(status(gw, &with_b), 401);
    until(Duration::from_secs(2), 2, || idp.fetches() as u16);
    let garbage_at = Instant::now();
    assert_eq!(
        status(gw, &good(&a)),
        200,
        "the last good keys keep working"
    );

    // Rotation: the endpoint now serves a and b; after the 10 s window the
    // unknown kid b brings it in. Fifty more unknown kids cause no fetch.
    idp.serve(jwks(&[&a, &b]));
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(garbage_at.elapsed()) + Duration::from_millis(300),
    );
    assert_eq!(status(gw, &with_b), 401);
    until(Duration::from_secs(2), 200, || status(gw, &with_b));
    let fetches = idp.fetches();
    for _ in 0..50 {
        assert_eq!(
            status(
                gw,
                &es256(&b, "zzz", &claims(ISS, "orders", now() + 300, now()))
            ),
            401
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(idp.fetches(), fetches, "unknown kids are rate-limited");
    assert_eq!(status(gw, &good(&a)), 200);
}

#[test]
fn hmac_credentials_verify_hs256_only() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start(origin.addr, dir.path());
    let gw = server.local_addrs()[0];
    let api = Mgmt::new(server.api_addr().unwrap(), None);
    let (_, svc, app) = shop(&api, r#"["jwt"]"#, "svc");
    let secret = "0123456789abcdef0123456789abcdef";
    let v = api.expect(
        400,
        "POST",
        &format!("/apps/{app}/credentials"),
        Some(r#"{"kind":"jwt","issuer":"hs","algorithm":"HS256","secret":"short"}"#),
    );
    assert_eq!(v["field"], "secret");
    let cred = api.post(
        &format!("/apps/{app}/credentials"),
        &format!(r#"{{"kind":"jwt","issuer":"hs","algorithm":"HS256","secret":"{secret}"}}"#),
    );
    assert!(
        !cred.to_string().contains(secret),
        "the secret is never shown: {cred}"
    );
    api.post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{svc}}}"#),
    );
    let sign = |alg, key: &EncodingKey| {
        let c = serde_json::json!({ "iss": "hs", "exp": now() + 60 });
        jsonwebtoken::encode(&Header::new(alg), &c, key).unwrap()
    };
    let ok = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    );
    until(Duration::from_secs(2), 200, || status(gw, &ok));
    let other = sign(
        Algorithm::HS512,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    );
    assert_eq!(status(gw, &other), 401, "the algorithm is pinned");
    let wrong = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret of at least 32 bytes!").unwrap(),
    );
    assert_eq!(status(gw, &wrong), 401);
    assert_eq!(status(gw, ""), 401);
    // The default skew (access.jwt_skew, 30 s) lets a token 10 s past its
    // exp through, not one 60 s past.
    let aged = |by: u64| {
        let c = serde_json::json!({ "iss": "hs", "exp": now() - by });
        let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &c, &key).unwrap()
    };
    assert_eq!(status(gw, &aged(10)), 200);
    assert_eq!(status(gw, &aged(60)), 401);
    // An exp at the end of time is valid, and cached without overflow.
    let forever = serde_json::json!({ "iss": "hs", "exp": u64::MAX - 5 });
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    let forever = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &forever, &key).unwrap();
    for _ in 0..3 {
        assert_eq!(status(gw, &forever), 200);
    }
}
