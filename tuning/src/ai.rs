//! The AI front end's settings: `[[ai.providers]]` (a provider's wire
//! format over an upstream group, its key pool, model map, timeouts and
//! prices), `[[ai.models]]` (aliases with weighted targets in fallback
//! order) and `[[ai.templates]]` (prompt templates published as APIs),
//! checked with the line of every mistake. Keys are never in the config
//! text: a key names a file or an environment variable, read by the engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::checker::Checker;
use crate::file::{AiFile, AiKeyFile, AiModelFile, AiProviderFile, FileConfig};
use crate::upstream::UpstreamGroup;

/// Request bodies an AI route reads whole, by default.
const DEFAULT_MAX_BODY: u64 = 4 << 20;
/// Time from a request sent to the provider's first response byte.
const DEFAULT_FIRST_BYTE: Duration = Duration::from_secs(60);
/// Time between two bytes of a provider's response body.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);
/// The longest a stream may last, by default.
const DEFAULT_STREAM: Duration = Duration::from_secs(600);
/// Azure's `api-version`, by default.
const DEFAULT_AZURE_VERSION: &str = "2024-10-21";
/// `max_tokens` sent where a provider needs one and the client set none.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Keys in one provider's pool.
const MAX_KEYS: usize = 64;
/// Targets of one alias.
const MAX_TARGETS: usize = 16;

/// The AI front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiConfig {
    /// Providers, in file order.
    pub providers: Vec<AiProvider>,
    /// Model aliases.
    pub models: Vec<AiModel>,
    /// Prompt templates.
    pub templates: Vec<AiTemplate>,
    /// Largest request body an AI route reads, in bytes.
    pub max_body: u64,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            providers: Vec::new(),
            models: Vec::new(),
            templates: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// One provider: a wire format spoken to an upstream group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiProvider {
    /// Name, as `provider/model` and targets name it.
    pub name: String,
    /// Wire format.
    pub kind: ai::Kind,
    /// Index into [`Tuning::upstreams`](crate::Tuning::upstreams): address,
    /// TLS and connection limits.
    pub group: usize,
    /// `Host` sent.
    pub host: String,
    /// Path prefix of the provider's API (`/v1`), no trailing `/`.
    pub base_path: String,
    /// The key pool.
    pub keys: Vec<AiKey>,
    /// Model names mapped to the provider's own (`gpt-4o` → a dated one).
    pub models: Vec<(String, String)>,
    /// Prices, in millionths of a dollar per million tokens.
    pub price: Price,
    /// Connect timeout; `None`: `timeouts.upstream_connect`.
    pub connect_timeout: Option<Duration>,
    /// Time to the first response byte.
    pub first_byte_timeout: Duration,
    /// Time between two response body reads (stream frames).
    pub idle_timeout: Duration,
    /// Longest a stream may last, whatever arrives (keep-alive comments
    /// included).
    pub stream_timeout: Duration,
    /// Azure's `api-version`.
    pub azure_api_version: String,
    /// `max_tokens` where the provider needs one and the client set none.
    pub default_max_tokens: u64,
}

/// Where one key of a pool is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding the key (trailing whitespace dropped).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// One key of a provider's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiKey {
    /// Shown in logs, metrics and the admin API instead of the key.
    pub id: String,
    /// Where it is read from.
    pub source: KeySource,
    /// Share of requests, at least 1.
    pub weight: u32,
}

/// Prices in millionths of a dollar per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    /// Prompt tokens not read from the cache.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cached: u64,
}

/// A model alias: its targets, the first picked by weight, the rest tried
/// in order on failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiModel {
    /// The name clients send as `model`.
    pub name: String,
    /// Targets, in fallback order.
    pub targets: Vec<AiTarget>,
}

/// One target of an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiTarget {
    /// Index into [`AiConfig::providers`].
    pub provider: usize,
    /// Model name as the provider knows it (after its model map).
    pub model: String,
    /// Share of first tries; 0: fallback only.
    pub weight: u32,
}

/// A compiled prompt template, compared by content.
#[derive(Debug, Clone)]
pub struct AiTemplate(pub Arc<ai::Template>);

impl PartialEq for AiTemplate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for AiTemplate {}

/// `ai = { ... }` on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiRoute {
    /// Index into [`AiConfig::templates`]: the route is that template's
    /// API; `None`: the OpenAI-style API under the route's prefix.
    pub template: Option<usize>,
    /// Whether prompt and response bodies (their first 4 KiB, masked) go
    /// to the access log.
    pub log_bodies: bool,
    /// Patterns (regex) masked in logged bodies, besides the built-in ones
    /// (key-like tokens, e-mail addresses, card-like numbers).
    pub mask: Vec<String>,
    /// The models this route serves: aliases, `provider/model`, or
    /// `provider/*`; `None`: every alias and every `provider/model`.
    pub models: Option<Vec<String>>,
}

impl AiRoute {
    /// Whether the route serves `model`.
    pub fn allows(&self, model: &str) -> bool {
        let Some(list) = &self.models else {
            return true;
        };
        list.iter().any(|m| match m.strip_suffix("/*") {
            Some(provider) => model
                .split_once('/')
                .is_some_and(|(p, rest)| p == provider && !rest.is_empty()),
            None => m == model,
        })
    }
}

/// `[ai]`, checked against the upstream groups.
pub(crate) fn config(c: &mut Checker<'_>, raw: &FileConfig, groups: &[UpstreamGroup]) -> AiConfig {
    let f = &raw.ai;
    let mut providers: Vec<AiProvider> = Vec::new();
    for (i, p) in f.providers.iter().enumerate() {
        let field = format!("ai.providers[{i}]");
        let Some(p) = provider(c, &field, p, groups) else {
            continue;
        };
        if providers.iter().any(|o| o.name == p.name) {
            c.fail_at(
                f.providers[i].span(),
                format!("{field}.name"),
                "a provider of this name exists",
            );
            continue;
        }
        providers.push(p);
    }
    let models = models(c, f, &providers);
    let templates = crate::ai_templates::templates(c, f, &models, &providers);
    let max_body = c
        .field("ai.max_body", f.max_body.as_ref(), crate::checker::size_of)
        .unwrap_or(DEFAULT_MAX_BODY);
    AiConfig {
        providers,
        models,
        templates,
        max_body,
    }
}

/// One `[[ai.providers]]` entry.
fn provider(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<AiProviderFile>,
    groups: &[UpstreamGroup],
) -> Option<AiProvider> {
    let f = raw.get_ref();
    let name = required(c, field, raw, "name", f.name.as_ref(), check_name);
    let kind = required(c, field, raw, "kind", f.kind.as_ref(), |k| {
        ai::Kind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = ai::Kind::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown kind {k:?}: expected one of {}", names.join(", "))
        })
    });
    let group = required(c, field, raw, "upstream", f.upstream.as_ref(), |g| {
        groups
            .iter()
            .position(|x| x.name == *g)
            .ok_or_else(|| format!("no [upstreams.{g}] group"))
    });
    let base_path = c.field(
        &format!("{field}.base_path"),
        f.base_path.as_ref(),
        |p| match p.starts_with('/') && !p.ends_with('/') && !p.contains(['?', '#', ' ']) {
            true => Ok(p.clone()),
            false => Err(format!(
                "{p:?}: a path starting with `/`, without a trailing `/`"
            )),
        },
    );
    let keys = keys(c, field, raw);
    let models = model_map(c, field, f);
    let host = match &f.host {
        Some(h) => c.field(&format!("{field}.host"), Some(h), |h| {
            match visible(h) && !h.is_empty() {
                true => Ok(h.clone()),
                false => Err(format!("{h:?}: a host name, visible characters only")),
            }
        }),
        None => None,
    };
    let azure_version = c.field(
        &format!("{field}.azure_api_version"),
        f.azure_api_version.as_ref(),
        |v| match visible(v) && !v.is_empty() {
            true => Ok(v.clone()),
            false => Err(format!("{v:?}: visible characters only")),
        },
    );
    let price = price(c, field, f);
    let timeout = |c: &mut Checker<'_>, name: &str, v: Option<&Spanned<String>>| {
        c.field_duration(&format!("{field}.{name}"), v)
    };
    let connect_timeout = timeout(c, "connect_timeout", f.connect_timeout.as_ref());
    let first_byte = timeout(c, "first_byte_timeout", f.first_byte_timeout.as_ref());
    let idle = timeout(c, "idle_timeout", f.idle_timeout.as_ref());
    let whole = timeout(c, "stream_timeout", f.stream_timeout.as_ref());
    let max_tokens = c.field_int(
        &format!("{field}.default_max_tokens"),
        f.default_max_tokens.as_ref(),
        1..=10_000_000,
    );
    let (kind, group) = (kind?, group?);
    Some(AiProvider {
        name: name?,
        kind,
        host: host.unwrap_or_else(|| default_host(&groups[group])),
        group,
        base_path: base_path.unwrap_or_else(|| kind.default_base_path().to_owned()),
        keys: keys?,
        models,
        price,
        connect_timeout,
        first_byte_timeout: first_byte.unwrap_or(DEFAULT_FIRST_BYTE),
        idle_timeout: idle.unwrap_or(DEFAULT_IDLE),
        stream_timeout: whole.unwrap_or(DEFAULT_STREAM),
        azure_api_version: azure_version.unwrap_or_else(|| DEFAULT_AZURE_VERSION.to_owned()),
        default_max_tokens: max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    })
}

/// A field every entry needs: converted, or the problem recorded.
fn required<T, R>(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<impl std::any::Any>,
    name: &str,
    v: Option<&Spanned<R>>,
    convert: impl FnOnce(&R) -> Result<T, String>,
) -> Option<T> {
    if v.is_none() {
        c.fail_at(
            raw.span(),
            format!("{field}.{name}"),
            format!("`{name}` is required"),
        );
        return None;
    }
    c.field(&format!("{field}.{name}"), v, convert)
}

/// A name clients and other entries use: no `/`, no spaces.
fn check_name(n: &String) -> Result<String, String> {
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    match ok {
        true => Ok(n.clone()),
        false => Err(format!(
            "{n:?}: 1 to 128 of letters, digits, `-`, `_`, `.` and `:`"
        )),
    }
}

/// Visible ASCII only: the value goes into a request head.
fn visible(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// A provider's model map: names in, names out, visible characters only.
fn model_map(c: &mut Checker<'_>, field: &str, f: &AiProviderFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in f.models.iter().flat_map(|m| m.get_ref()) {
        if k.is_empty() || !visible(k) || v.get_ref().is_empty() || !visible(v.get_ref()) {
            let message = format!(
                "{k:?} = {:?}: model names are visible characters, no spaces",
                v.get_ref()
            );
            c.fail_at(v.span(), format!("{field}.models"), message);
            continue;
        }
        out.push((k.clone(), v.get_ref().clone()));
    }
    out
}

/// The `Host` a provider gets without its own: the group's SNI, else
/// the first backend's address.
fn default_host(g: &UpstreamGroup) -> String {
    if let Some(sni) = g.tls.as_ref().and_then(|t| t.sni.clone()) {
        return sni;
    }
    g.backends
        .first()
        .map_or_else(String::new, |b| b.address.to_string())
}

/// The key pool: at least one key, each from a file or a variable.
fn keys(c: &mut Checker<'_>, field: &str, raw: &Spanned<AiProviderFile>) -> Option<Vec<AiKey>> {
    let Some(list) = &raw.get_ref().keys else {
        let message = "`keys` is required: a list of { file = \"...\" } or { env = \"...\" }";
        c.fail_at(raw.span(), format!("{field}.keys"), message);
        return None;
    };
    if list.get_ref().is_empty() || list.get_ref().len() > MAX_KEYS {
        let message = format!("from 1 to {MAX_KEYS} keys");
        c.fail_at(list.span(), format!("{field}.keys"), message);
        return None;
    }
    let mut out: Vec<AiKey> = Vec::new();
    let mut ok = true;
    for (i, k) in list.get_ref().iter().enumerate() {
        let kf = format!("{field}.keys[{i}]");
        match key(c, &kf, k, i) {
            Some(key) if out.iter().any(|o| o.id == key.id) => {
                c.fail_at(k.span(), format!("{kf}.id"), "another key has this id");
                ok = false;
            }
            Some(key) => out.push(key),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One key: exactly one of `file` and `env`.
fn key(c: &mut Checker<'_>, field: &str, raw: &Spanned<AiKeyFile>, i: usize) -> Option<AiKey> {
    let f = raw.get_ref();
    let source = match (&f.file, &f.env) {
        (Some(p), None) => {
            let path = PathBuf::from(p.get_ref());
            let path = match (path.is_relative(), c.base_dir()) {
                (true, Some(dir)) => dir.join(path),
                _ => path,
            };
            KeySource::File(path)
        }
        (None, Some(v)) if !v.get_ref().is_empty() => KeySource::Env(v.get_ref().clone()),
        _ => {
            let message = "give exactly one of `file` and `env` (keys never go in the config text)";
            c.fail_at(raw.span(), field, message);
            return None;
        }
    };
    let weight = c.field_int(&format!("{field}.weight"), f.weight.as_ref(), 1..=1000);
    let id = match &f.id {
        Some(id) => c.field(&format!("{field}.id"), Some(id), check_name)?,
        None => format!("key-{i}"),
    };
    Some(AiKey {
        id,
        source,
        weight: weight.map_or(1, |w| w as u32),
    })
}

/// `price`: dollars per million tokens, stored in millionths.
fn price(c: &mut Checker<'_>, field: &str, f: &AiProviderFile) -> Price {
    let Some(p) = &f.price else {
        return Price::default();
    };
    let p = p.get_ref();
    let mut get = |name: &str, v: &Option<Spanned<f64>>| {
        c.field(&format!("{field}.price.{name}"), v.as_ref(), |&d| {
            match d.is_finite() && (0.0..=1e6).contains(&d) {
                true => Ok((d * 1e6).round() as u64),
                false => Err(format!("dollars per million tokens, 0 to 1000000, got {d}")),
            }
        })
        .unwrap_or(0)
    };
    let input = get("input", &p.input);
    let output = get("output", &p.output);
    let cached = match &p.cached {
        Some(_) => get("cached", &p.cached),
        None => input,
    };
    Price {
        input,
        output,
        cached,
    }
}

/// `[[ai.models]]`, checked against the providers.
fn models(c: &mut Checker<'_>, f: &AiFile, providers: &[AiProvider]) -> Vec<AiModel> {
    let mut out: Vec<AiModel> = Vec::new();
    for (i, m) in f.models.iter().enumerate() {
        let field = format!("ai.models[{i}]");
        let Some(model) = model(c, &field, m, providers) else {
            continue;
        };
        if out.iter().any(|o| o.name == model.name) {
            c.fail_at(
                m.span(),
                format!("{field}.name"),
                "a model of this name exists",
            );
            continue;
        }
        out.push(model);
    }
    out
}

/// One alias.
fn model(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<AiModelFile>,
    providers: &[AiProvider],
) -> Option<AiModel> {
    let f = raw.get_ref();
    let name = required(c, field, raw, "name", f.name.as_ref(), check_name);
    let Some(list) = &f.targets else {
        c.fail_at(
            raw.span(),
            format!("{field}.targets"),
            "`targets` is required",
        );
        return None;
    };
    if list.get_ref().is_empty() || list.get_ref().len() > MAX_TARGETS {
        let message = format!("from 1 to {MAX_TARGETS} targets");
        c.fail_at(list.span(), format!("{field}.targets"), message);
        return None;
    }
    let mut targets = Vec::new();
    for (i, t) in list.get_ref().iter().enumerate() {
        let tf = format!("{field}.targets[{i}]");
        let g = t.get_ref();
        let provider = required(c, &tf, t, "provider", g.provider.as_ref(), |p| {
            providers
                .iter()
                .position(|x| x.name == *p)
                .ok_or_else(|| format!("no [[ai.providers]] named {p:?}"))
        });
        let model = required(c, &tf, t, "model", g.model.as_ref(), |m| {
            match m.is_empty() {
                true => Err("empty model name".to_owned()),
                false => Ok(m.clone()),
            }
        });
        let weight = c.field_int(&format!("{tf}.weight"), g.weight.as_ref(), 0..=1000);
        if let (Some(provider), Some(model)) = (provider, model) {
            let model = providers[provider].map_model(&model).to_owned();
            targets.push(AiTarget {
                provider,
                model,
                weight: weight.map_or(1, |w| w as u32),
            });
        }
    }
    if targets.iter().all(|t| t.weight == 0) && !targets.is_empty() {
        let message = "every target has weight 0: at least one must take first tries";
        c.fail_at(list.span(), format!("{field}.targets"), message);
    }
    (targets.len() == list.get_ref().len()).then_some(AiModel {
        name: name?,
        targets,
    })
}

impl AiProvider {
    /// The provider's own name for `model` (its model map, else as given).
    pub fn map_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.models
            .iter()
            .find(|(k, _)| k == model)
            .map_or(model, |(_, v)| v.as_str())
    }
}

impl AiConfig {
    /// The alias named `name`.
    pub fn model(&self, name: &str) -> Option<&AiModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }
}
