//! The `access` scenario's store: made through coregate's own management
//! API (the harness drives coregate as a black box), with one service
//! `bench` that takes an API key or a JWT, one app whose subscription is
//! approved at once, that app's key and an ES256 token of its JWT
//! credential (keys in a JWKS file), which the scenarios' load sends with
//! every request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::compare::scenarios::Credential;
use crate::proc::port_accepts;

/// Where the seeding coregate serves its API (never a benchmark port).
const SEED_API: &str = "127.0.0.1:8099";
/// Its data-path listener, unused.
const SEED_LISTEN: &str = "127.0.0.1:8098";
/// The service the scenario's route belongs to.
pub const SERVICE: &str = "bench";

/// The key and the token the load sends, once [`seed`] made them.
static SEEDED: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// The header a scenario's requests carry, if the store was made.
pub fn header(credential: Credential) -> Option<String> {
    let (key, token) = SEEDED.get()?;
    match credential {
        Credential::None => None,
        Credential::Key => Some(format!("x-api-key: {key}")),
        Credential::Jwt => Some(format!("authorization: Bearer {token}")),
    }
}

/// Makes the store in `dir` and keeps its key for the load; an error says
/// why not.
pub fn seed(coregate: &Path, dir: &Path, origin: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (jwks, token) = jwt_material(dir)?;
    let mut child = spawn(coregate, dir, origin)?;
    let made = populate(&jwks);
    let _ = child.kill();
    let _ = child.wait();
    let _ = SEEDED.set((made?, token));
    Ok(())
}

/// An ES256 key: its JWKS written to `dir/jwks.json`, and a token it
/// signed (issuer `bench-idp`, valid for a day).
fn jwt_material(dir: &Path) -> Result<(PathBuf, String), String> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING as ALG};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    let pair = EcdsaKeyPair::generate(&ALG).map_err(|_| "cannot make an ES256 key")?;
    let point = pair.public_key().as_ref();
    let (x, y) = point.get(1..).ok_or("bad public key")?.split_at(32);
    let jwks = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"bench","alg":"ES256","x":"{}","y":"{}"}}]}}"#,
        B64.encode(x),
        B64.encode(y)
    );
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks).map_err(|e| e.to_string())?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs()
        + 86_400;
    let head = B64.encode(r#"{"alg":"ES256","typ":"JWT","kid":"bench"}"#);
    let claims = B64.encode(format!(r#"{{"iss":"bench-idp","sub":"load","exp":{exp}}}"#));
    let signed = format!("{head}.{claims}");
    let sig = pair
        .sign(&SystemRandom::new(), signed.as_bytes())
        .map_err(|_| "cannot sign")?;
    Ok((path, format!("{signed}.{}", B64.encode(sig.as_ref()))))
}

/// The data directory inside `scratch`.
pub fn data_dir(scratch: &crate::compare::setup::Scratch) -> PathBuf {
    scratch.path("access")
}

fn spawn(coregate: &Path, dir: &Path, origin: &str) -> Result<Child, String> {
    let child = Command::new(coregate)
        .args([
            "--listen",
            SEED_LISTEN,
            "--upstream",
            origin,
            "--shards",
            "1",
        ])
        .args(["--admin", "off", "--api", SEED_API, "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", coregate.display()))?;
    let api: SocketAddr = SEED_API.parse().map_err(|_| "bad seed address")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port_accepts(api) {
        if Instant::now() > deadline {
            return Err("the seeding coregate did not open its API in 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

fn populate(jwks: &Path) -> Result<String, String> {
    let team = id(&post("/teams", r#"{"name":"bench"}"#)?)?;
    let spec =
        format!(r#"{{"team":{team},"name":"{SERVICE}","approval":"auto","auth":["key","jwt"]}}"#);
    let service = id(&post("/services", &spec)?)?;
    let app = id(&post(
        "/apps",
        &format!(r#"{{"team":{team},"name":"load"}}"#),
    )?)?;
    let cred = post(&format!("/apps/{app}/credentials"), r#"{"kind":"key"}"#)?;
    let jwt = format!(
        r#"{{"kind":"jwt","issuer":"bench-idp","algorithm":"ES256","jwks":"file:{}"}}"#,
        jwks.display()
    );
    post(&format!("/apps/{app}/credentials"), &jwt)?;
    post(
        "/subscriptions",
        &format!(r#"{{"app":{app},"service":{service}}}"#),
    )?;
    cred["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no key in the API's answer".into())
}

fn id(v: &Value) -> Result<i64, String> {
    v["id"].as_i64().ok_or_else(|| format!("no id in {v}"))
}

/// One POST to the seeding API; its JSON answer.
fn post(path: &str, body: &str) -> Result<Value, String> {
    let mut s = TcpStream::connect(SEED_API).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST /api/v1{path} HTTP/1.1\r\nhost: {SEED_API}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let (status, json) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    if !status.starts_with("HTTP/1.1 201") {
        return Err(format!("POST {path}: {status}"));
    }
    serde_json::from_str(json).map_err(|e| format!("POST {path}: {e}"))
}
