//! JSON Web Key Sets for the JWT credentials, fetched off the data path
//! (by the control thread): from a file or an `http(s)://` URL, refreshed
//! every 5 minutes, and sooner when a token names a key id that no set
//! holds, but never more than once per 10 s per source. A source that is
//! down, slow (2 s timeout) or returns garbage keeps its last good keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

/// How often a set is fetched again anyway.
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// The least time between two fetches of one source on an unknown key id.
pub const UNKNOWN_KID_EVERY: Duration = Duration::from_secs(10);
/// How often a source with no good set yet is tried, and a failing one.
const RETRY_EVERY: Duration = Duration::from_secs(1);
const RETRY_FAILING: Duration = Duration::from_secs(30);
/// Fetching stops for this round once this much time went to it (the
/// control thread also polls the store and reloads).
const ROUND_BUDGET: Duration = Duration::from_millis(2500);
/// Longest JWKS document read.
const MAX_BYTES: u64 = 1 << 20;
/// Whole-fetch timeout.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Every source's last good set.
pub struct JwksCache {
    sources: HashMap<String, Source>,
    agent: ureq::Agent,
}

struct Source {
    set: Option<Arc<JwkSet>>,
    raw: String,
    fetched: Option<Instant>,
    tried: Option<Instant>,
    failing: bool,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache::new()
    }
}

impl JwksCache {
    /// An empty cache with its HTTP client (TLS through rustls with
    /// aws-lc-rs, Mozilla's roots).
    pub fn new() -> JwksCache {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .unversioned_rustls_crypto_provider(provider)
            .root_certs(ureq::tls::RootCerts::WebPki)
            .build();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .max_redirects(0)
            .tls_config(tls)
            .build();
        JwksCache {
            sources: HashMap::new(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Fetches the `sources` that are due (all of them sooner when
    /// `unknown_kid`); forgets the others. True when a set changed.
    pub fn refresh(&mut self, sources: &[String], unknown_kid: bool) -> bool {
        self.sources.retain(|s, _| sources.contains(s));
        let mut changed = false;
        let started = Instant::now();
        for src in sources {
            let now = Instant::now();
            if now - started > ROUND_BUDGET {
                break;
            }
            let entry = self.sources.entry(src.clone()).or_insert_with(|| Source {
                set: None,
                raw: String::new(),
                fetched: None,
                tried: None,
                failing: false,
            });
            if !entry.due(now, unknown_kid) {
                continue;
            }
            entry.tried = Some(now);
            let fetched = fetch(&self.agent, src);
            changed |= entry.take(src, fetched, now);
        }
        changed
    }

    /// The last good set of `source`.
    pub fn get(&self, source: &str) -> Option<&JwkSet> {
        self.sources.get(source)?.set.as_deref()
    }
}

impl Source {
    fn due(&self, now: Instant, unknown_kid: bool) -> bool {
        let since = |t: Option<Instant>| t.map_or(Duration::MAX, |t| now - t);
        match self.set {
            None if self.failing => since(self.tried) >= RETRY_FAILING,
            None => since(self.tried) >= RETRY_EVERY,
            Some(_) if unknown_kid => since(self.tried) >= UNKNOWN_KID_EVERY,
            Some(_) => since(self.fetched) >= REFRESH_EVERY,
        }
    }

    /// Keeps a good fetch; reports a bad one once. True when the set changed.
    fn take(&mut self, src: &str, got: Result<(JwkSet, String), String>, now: Instant) -> bool {
        match got {
            Ok((set, raw)) => {
                self.fetched = Some(now);
                if self.failing {
                    eprintln!("coregate: JWKS {src} is readable again");
                }
                self.failing = false;
                let changed = raw != self.raw;
                self.set = Some(Arc::new(set));
                self.raw = raw;
                changed
            }
            Err(e) => {
                if !self.failing {
                    eprintln!("coregate: JWKS {src}: {e}; keeping the last good keys");
                }
                self.failing = true;
                false
            }
        }
    }
}

fn fetch(agent: &ureq::Agent, src: &str) -> Result<(JwkSet, String), String> {
    let raw = match src.strip_prefix("file:") {
        Some(path) => read_file(path)?,
        None => get(agent, src)?,
    };
    let set: JwkSet =
        serde_json::from_str(&raw).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok((set, raw))
}

/// A regular file of at most 1 MiB (never a device or a FIFO, which
/// could block or never end).
fn read_file(path: &str) -> Result<String, String> {
    use std::io::Read;
    // stat first: opening a FIFO would block until a writer comes.
    let before = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !before.is_file() {
        return Err("not a regular file".into());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err("not a regular file of at most 1 MiB".into());
    }
    let mut out = String::new();
    file.take(MAX_BYTES)
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn get(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let mut res = agent.get(url).call().map_err(|e| e.to_string())?;
    res.body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())
}
