//! The AI front end compiled for the data path: providers with their keys
//! read (from files or the environment, off the data path), per-key
//! health shared by every shard, model aliases and prompt templates. A key
//! is never printed: `Debug` shows its id only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tuning::{AiConfig, AiProvider, KeySource};

/// The compiled AI front end (empty without `[ai]`).
#[derive(Debug, Default)]
pub(crate) struct AiSet {
    pub(crate) providers: Vec<Provider>,
    pub(crate) config: AiConfig,
}

/// One provider and its key pool.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) spec: AiProvider,
    pub(crate) keys: Vec<Key>,
}

/// One key of a pool.
pub(crate) struct Key {
    pub(crate) id: Box<str>,
    /// The secret; `None` when it could not be read (the key is skipped).
    pub(crate) secret: Option<Box<str>>,
    pub(crate) weight: u32,
    pub(crate) state: Arc<KeyState>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("readable", &self.secret.is_some())
            .finish()
    }
}

/// A key's health, shared by every shard.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    /// Unix milliseconds before which the key rests (after a `429`).
    pub(crate) cool_until: AtomicU64,
    /// The provider refused the key (`401`/`403`): out until a reload.
    pub(crate) refused: AtomicBool,
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
}

impl KeyState {
    /// Whether the key may be tried at `now_ms`.
    pub(crate) fn usable(&self, now_ms: u64) -> bool {
        !self.refused.load(Relaxed) && self.cool_until.load(Relaxed) <= now_ms
    }

    /// The key's state in words, for the admin API.
    pub(crate) fn state(&self, now_ms: u64) -> &'static str {
        if self.refused.load(Relaxed) {
            "refused"
        } else if self.cool_until.load(Relaxed) > now_ms {
            "cooling"
        } else {
            "ok"
        }
    }
}

impl AiSet {
    /// Compiles `[ai]`, reading every key. A key that cannot be read is
    /// reported (its id and where it was looked for, never a value) and
    /// skipped.
    pub(crate) fn build(config: &AiConfig) -> AiSet {
        let providers = config
            .providers
            .iter()
            .map(|p| Provider {
                spec: p.clone(),
                keys: p.keys.iter().map(|k| load_key(p, k)).collect(),
            })
            .collect();
        AiSet {
            providers,
            config: config.clone(),
        }
    }

    /// Builds the tokenizer's tables now (about 160 ms, once per
    /// process) when a token budget will need them, not on a request.
    pub(crate) fn warm_up(routes: &[tuning::Route]) {
        if routes.iter().flat_map(|r| &r.limits).any(|p| p.tokens) {
            ::ai::tokens::warm_up();
        }
    }
}

/// Reads one key.
fn load_key(p: &AiProvider, k: &tuning::AiKey) -> Key {
    let secret = match &k.source {
        KeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind())),
        KeySource::Env(var) => std::env::var(var).map_err(|_| format!("${var} is not set")),
    };
    let secret = secret.and_then(|s| {
        let s = s.trim();
        match s.is_empty() || s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            true => Err("empty, or holds spaces or control characters".to_owned()),
            false => Ok(Box::<str>::from(s)),
        }
    });
    let secret = match secret {
        Ok(s) => Some(s),
        Err(why) => {
            eprintln!(
                "coregate: ai provider {:?}: key {:?} skipped: {why}",
                p.name, k.id
            );
            None
        }
    };
    Key {
        id: k.id.as_str().into(),
        secret,
        weight: k.weight,
        state: Arc::default(),
    }
}
