//! The config file as written: serde structs that keep every value's byte
//! span (`toml::Spanned`) so validation can name the line. Nothing here is
//! checked beyond TOML types and unknown fields; see [`validate`](crate::validate).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, Location, TuningError};
use crate::{locate, unknown};

/// A config file read and deserialized, with its text kept for line numbers.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The file as named on the command line.
    pub(crate) path: PathBuf,
    /// Its contents.
    pub(crate) text: String,
    /// Its contents, deserialized.
    pub(crate) raw: FileConfig,
    /// One error per key that no field took.
    pub(crate) unknown: Vec<ConfigError>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) server: ServerFile,
    #[serde(default)]
    pub(crate) timeouts: TimeoutsFile,
    #[serde(default)]
    pub(crate) limits: LimitsFile,
    #[serde(default)]
    pub(crate) io: IoFile,
    #[serde(default)]
    pub(crate) pool: PoolFile,
    #[serde(default)]
    pub(crate) metrics: MetricsFile,
    #[serde(default)]
    pub(crate) access_log: AccessLogFile,
    #[serde(default)]
    pub(crate) access: AccessFile,
    #[serde(default)]
    pub(crate) upstreams: BTreeMap<String, Spanned<UpstreamFile>>,
    /// Not `Spanned`: a profile written only as `[[tls.NAME.certificates]]`
    /// is an implicit table, which has no span.
    #[serde(default)]
    pub(crate) tls: BTreeMap<String, TlsFile>,
    #[serde(default)]
    pub(crate) routes: Vec<Spanned<RouteFile>>,
    #[serde(default)]
    pub(crate) rate_limits: Vec<Spanned<RateLimitFile>>,
    #[serde(default)]
    pub(crate) redis: RedisFile,
    #[serde(default)]
    pub(crate) ai: AiFile,
    #[serde(default)]
    pub(crate) cache: CacheFile,
}

/// `[cache]`: the host's memory budget, defaults, and per-service tables.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CacheFile {
    pub(crate) memory: Option<Spanned<IntOrText>>,
    pub(crate) stale_while_revalidate: Option<Spanned<String>>,
    pub(crate) stale_if_error: Option<Spanned<String>>,
    pub(crate) lock_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) services: BTreeMap<String, Spanned<RouteCacheFile>>,
}

/// A route's `cache = { ... }`, or `[cache.services.NAME]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RouteCacheFile {
    pub(crate) max_object_bytes: Option<Spanned<IntOrText>>,
    pub(crate) default_ttl: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) set_cookie: Option<Spanned<bool>>,
    pub(crate) stale_while_revalidate: Option<Spanned<String>>,
    pub(crate) stale_if_error: Option<Spanned<String>>,
    pub(crate) lock_timeout: Option<Spanned<String>>,
}

/// `[ai]`: model providers, model aliases and prompt templates.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AiFile {
    #[serde(default)]
    pub(crate) providers: Vec<Spanned<AiProviderFile>>,
    #[serde(default)]
    pub(crate) models: Vec<Spanned<AiModelFile>>,
    #[serde(default)]
    pub(crate) templates: Vec<Spanned<AiTemplateFile>>,
    pub(crate) max_body: Option<Spanned<IntOrText>>,
}

/// `[[ai.providers]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct AiProviderFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) upstream: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) base_path: Option<Spanned<String>>,
    pub(crate) keys: Option<Spanned<Vec<Spanned<AiKeyFile>>>>,
    pub(crate) models: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub(crate) price: Option<Spanned<AiPriceFile>>,
    pub(crate) connect_timeout: Option<Spanned<String>>,
    pub(crate) first_byte_timeout: Option<Spanned<String>>,
    pub(crate) idle_timeout: Option<Spanned<String>>,
    pub(crate) stream_timeout: Option<Spanned<String>>,
    pub(crate) azure_api_version: Option<Spanned<String>>,
    pub(crate) default_max_tokens: Option<Spanned<i64>>,
}

/// One key of a provider's pool: from a file or the environment.
#[derive(Debug, Deserialize)]
pub(crate) struct AiKeyFile {
    pub(crate) id: Option<Spanned<String>>,
    pub(crate) file: Option<Spanned<String>>,
    pub(crate) env: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<i64>>,
}

/// `price = { input = 2.5, output = 10, cached = 1.25 }`: dollars per
/// million tokens.
#[derive(Debug, Deserialize)]
pub(crate) struct AiPriceFile {
    pub(crate) input: Option<Spanned<f64>>,
    pub(crate) output: Option<Spanned<f64>>,
    pub(crate) cached: Option<Spanned<f64>>,
}

/// `[[ai.models]]`: an alias and its targets.
#[derive(Debug, Deserialize)]
pub(crate) struct AiModelFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) targets: Option<Spanned<Vec<Spanned<AiTargetFile>>>>,
}

/// One target of a model alias.
#[derive(Debug, Deserialize)]
pub(crate) struct AiTargetFile {
    pub(crate) provider: Option<Spanned<String>>,
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<i64>>,
}

/// `[[ai.templates]]`: a prompt template published as an API.
#[derive(Debug, Deserialize)]
pub(crate) struct AiTemplateFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) messages: Option<Spanned<Vec<Spanned<AiMessageFile>>>>,
    pub(crate) vars: Option<Spanned<Vec<Spanned<AiVarFile>>>>,
    pub(crate) params: Option<Spanned<toml::Table>>,
}

/// One message of a template.
#[derive(Debug, Deserialize)]
pub(crate) struct AiMessageFile {
    pub(crate) role: Option<Spanned<String>>,
    pub(crate) content: Option<Spanned<String>>,
}

/// One variable of a template.
#[derive(Debug, Deserialize)]
pub(crate) struct AiVarFile {
    pub(crate) name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) required: Option<Spanned<bool>>,
    pub(crate) default: Option<Spanned<toml::Value>>,
    pub(crate) description: Option<Spanned<String>>,
    pub(crate) values: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) min: Option<Spanned<f64>>,
    pub(crate) max: Option<Spanned<f64>>,
    pub(crate) max_len: Option<Spanned<i64>>,
}

/// `ai = { ... }` on a route: the route serves the AI API.
#[derive(Debug, Deserialize)]
pub(crate) struct AiRouteFile {
    pub(crate) template: Option<Spanned<String>>,
    pub(crate) log_bodies: Option<Spanned<bool>>,
    pub(crate) mask: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) models: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServerFile {
    pub(crate) listen: Option<Spanned<Vec<Spanned<ListenFile>>>>,
    pub(crate) shards: Option<Spanned<i64>>,
    pub(crate) cpus: Option<Spanned<CpuSpec>>,
    pub(crate) backlog: Option<Spanned<i64>>,
    pub(crate) max_connections: Option<Spanned<i64>>,
    pub(crate) admin: Option<Spanned<String>>,
    pub(crate) watch_config: Option<Spanned<bool>>,
    pub(crate) merge_slashes: Option<Spanned<bool>>,
}

/// One listener: `"127.0.0.1:8080"` (plain) or `{ address = "...", tls = "edge" }`.
#[derive(Debug)]
pub(crate) enum ListenFile {
    Address(String),
    Table(ListenTable),
}

/// The table form of a listener.
#[derive(Debug, Deserialize)]
pub(crate) struct ListenTable {
    pub(crate) address: Spanned<String>,
    pub(crate) tls: Option<Spanned<String>>,
}

/// `[tls.<name>]`: a TLS profile that listeners name.
#[derive(Debug, Deserialize)]
pub(crate) struct TlsFile {
    pub(crate) certificates: Option<Spanned<Vec<Spanned<TlsCertFile>>>>,
    pub(crate) versions: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) ciphers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) alpn: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) handshake_timeout: Option<Spanned<String>>,
    pub(crate) session_tickets: Option<Spanned<bool>>,
    pub(crate) ticket_key_files: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) unknown_sni: Option<Spanned<String>>,
    pub(crate) client_auth: Option<Spanned<ClientAuthFile>>,
}

/// `[[tls.<name>.certificates]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct TlsCertFile {
    pub(crate) cert: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<String>>,
    pub(crate) names: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) ocsp: Option<Spanned<String>>,
    pub(crate) default: Option<Spanned<bool>>,
}

/// `client_auth = { ca = "...", required = true, subject_header = "..." }`.
#[derive(Debug, Deserialize)]
pub(crate) struct ClientAuthFile {
    pub(crate) ca: Option<Spanned<String>>,
    pub(crate) required: Option<Spanned<bool>>,
    pub(crate) subject_header: Option<Spanned<String>>,
}

/// `[upstreams.<name>.tls]`.
#[derive(Debug, Deserialize)]
pub(crate) struct UpstreamTlsFile {
    pub(crate) sni: Option<Spanned<String>>,
    pub(crate) verify: Option<Spanned<bool>>,
    pub(crate) ca: Option<Spanned<String>>,
    pub(crate) cert: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<String>>,
    pub(crate) alpn: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[access]`: the store of teams, apps and credentials, and its API.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccessFile {
    pub(crate) data_dir: Option<Spanned<String>>,
    pub(crate) store: Option<Spanned<String>>,
    pub(crate) store_ca: Option<Spanned<String>>,
    pub(crate) api: Option<Spanned<String>>,
    pub(crate) api_token_file: Option<Spanned<String>>,
    pub(crate) app_header: Option<Spanned<String>>,
    pub(crate) team_header: Option<Spanned<String>>,
    pub(crate) jwt_skew: Option<Spanned<String>>,
    pub(crate) teams: Option<Vec<Spanned<DeclaredTeamFile>>>,
    pub(crate) services: Option<Vec<Spanned<DeclaredServiceFile>>>,
    pub(crate) apps: Option<Vec<Spanned<DeclaredAppFile>>>,
    pub(crate) subscriptions: Option<Vec<Spanned<DeclaredSubFile>>>,
}

/// `[[access.teams]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeclaredTeamFile {
    pub(crate) name: Spanned<String>,
}

/// `[[access.services]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeclaredServiceFile {
    pub(crate) team: Spanned<String>,
    pub(crate) name: Spanned<String>,
    pub(crate) visibility: Option<Spanned<String>>,
    pub(crate) approval: Option<Spanned<String>>,
    pub(crate) auth: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) key_header: Option<Spanned<String>>,
    pub(crate) key_query: Option<Spanned<String>>,
}

/// `[[access.apps]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeclaredAppFile {
    pub(crate) team: Spanned<String>,
    pub(crate) name: Spanned<String>,
}

/// `[[access.subscriptions]]`: approved.
#[derive(Debug, Deserialize)]
pub(crate) struct DeclaredSubFile {
    pub(crate) app: Spanned<String>,
    pub(crate) service: Spanned<String>,
}

/// `[timeouts]`: durations as text, `"10s"`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TimeoutsFile {
    pub(crate) client_header: Option<Spanned<String>>,
    pub(crate) client_body: Option<Spanned<String>>,
    pub(crate) client_keepalive: Option<Spanned<String>>,
    pub(crate) upstream_connect: Option<Spanned<String>>,
    pub(crate) upstream_header: Option<Spanned<String>>,
    pub(crate) upstream_body: Option<Spanned<String>>,
    pub(crate) upstream_idle: Option<Spanned<String>>,
    pub(crate) drain: Option<Spanned<String>>,
    pub(crate) tunnel_idle: Option<Spanned<String>>,
    pub(crate) client_send: Option<Spanned<String>>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LimitsFile {
    pub(crate) max_head_bytes: Option<Spanned<IntOrText>>,
    pub(crate) max_headers: Option<Spanned<i64>>,
    pub(crate) max_target_bytes: Option<Spanned<IntOrText>>,
    pub(crate) max_response_head_bytes: Option<Spanned<IntOrText>>,
    pub(crate) client_body_min_rate: Option<Spanned<IntOrText>>,
    pub(crate) max_body_bytes: Option<Spanned<IntOrText>>,
}

/// `[io]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct IoFile {
    pub(crate) ring_entries: Option<Spanned<i64>>,
    pub(crate) buffers: Option<Spanned<i64>>,
    pub(crate) buffer_size: Option<Spanned<IntOrText>>,
    pub(crate) max_unread: Option<Spanned<IntOrText>>,
    pub(crate) direct_wait: Option<Spanned<String>>,
}

/// `[pool]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PoolFile {
    pub(crate) max_idle: Option<Spanned<i64>>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricsFile {
    pub(crate) enabled: Option<Spanned<bool>>,
    pub(crate) max_routes: Option<Spanned<i64>>,
    pub(crate) max_backends: Option<Spanned<i64>>,
}

/// `[access_log]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccessLogFile {
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) sample: Option<Spanned<f64>>,
    pub(crate) errors_only: Option<Spanned<bool>>,
    pub(crate) queue: Option<Spanned<i64>>,
    pub(crate) max_query_bytes: Option<Spanned<IntOrText>>,
}

/// `[upstreams.<name>]`.
#[derive(Debug, Deserialize)]
pub(crate) struct UpstreamFile {
    pub(crate) backends: Spanned<Vec<Spanned<BackendFile>>>,
    pub(crate) algorithm: Option<Spanned<String>>,
    pub(crate) max_connections: Option<Spanned<i64>>,
    pub(crate) max_pending: Option<Spanned<i64>>,
    pub(crate) health_check: Option<Spanned<HealthCheckFile>>,
    pub(crate) outlier: Option<Spanned<OutlierFile>>,
    pub(crate) tls: Option<Spanned<UpstreamTlsFile>>,
}

/// `[upstreams.<name>.health_check]`.
#[derive(Debug, Deserialize)]
pub(crate) struct HealthCheckFile {
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) expected_statuses: Option<Spanned<Vec<Spanned<Code>>>>,
    pub(crate) rise: Option<Spanned<i64>>,
    pub(crate) fall: Option<Spanned<i64>>,
    pub(crate) host: Option<Spanned<String>>,
}

/// `[upstreams.<name>.outlier]`.
#[derive(Debug, Deserialize)]
pub(crate) struct OutlierFile {
    pub(crate) consecutive_failures: Option<Spanned<i64>>,
    pub(crate) base_ejection: Option<Spanned<String>>,
    pub(crate) max_ejection: Option<Spanned<String>>,
    pub(crate) on_5xx: Option<Spanned<bool>>,
}

/// One backend: `"127.0.0.1:9000"` (weight 1) or `{ address = "...", weight = 2 }`.
#[derive(Debug)]
pub(crate) enum BackendFile {
    Address(String),
    Table(BackendTable),
}

/// The table form of a backend.
#[derive(Debug, Deserialize)]
pub(crate) struct BackendTable {
    pub(crate) address: Spanned<String>,
    pub(crate) weight: Option<Spanned<i64>>,
}

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RouteFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) priority: Option<Spanned<i64>>,
    pub(crate) path_prefix: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) path_regex: Option<Spanned<String>>,
    pub(crate) methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) headers: Option<Spanned<Vec<Spanned<HeaderMatchFile>>>>,
    pub(crate) upstream: Option<Spanned<String>>,
    pub(crate) respond: Option<Spanned<RespondFile>>,
    pub(crate) hash_key: Option<Spanned<String>>,
    pub(crate) strip_prefix: Option<Spanned<bool>>,
    pub(crate) rewrite_prefix: Option<Spanned<String>>,
    pub(crate) allow_encoded_slashes: Option<Spanned<bool>>,
    pub(crate) forward_path: Option<Spanned<String>>,
    pub(crate) request_headers: Option<Spanned<HeaderOpsFile>>,
    pub(crate) response_headers: Option<Spanned<HeaderOpsFile>>,
    pub(crate) timeouts: Option<Spanned<RouteTimeoutsFile>>,
    pub(crate) retries: Option<Spanned<RetriesFile>>,
    pub(crate) upgrades: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) service: Option<Spanned<String>>,
    pub(crate) allow_ips: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) deny_ips: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) cors: Option<Spanned<CorsFile>>,
    pub(crate) rate_limit: Option<Spanned<RateLimitFile>>,
    pub(crate) rate_limits: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) ai: Option<Spanned<AiRouteFile>>,
    pub(crate) cache: Option<Spanned<RouteCacheFile>>,
}

/// A limit policy: `[[rate_limits]]`, or `rate_limit = { ... }` on a route.
#[derive(Debug, Deserialize)]
pub(crate) struct RateLimitFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) service: Option<Spanned<String>>,
    pub(crate) rate: Option<Spanned<String>>,
    pub(crate) burst: Option<Spanned<i64>>,
    pub(crate) quota: Option<Spanned<String>>,
    pub(crate) window: Option<Spanned<String>>,
    pub(crate) concurrency: Option<Spanned<i64>>,
    pub(crate) cost_header: Option<Spanned<String>>,
    pub(crate) unit: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<KeyFile>>,
    pub(crate) missing_key: Option<Spanned<String>>,
    pub(crate) key_max: Option<Spanned<i64>>,
    pub(crate) long_key: Option<Spanned<String>>,
    pub(crate) capacity: Option<Spanned<i64>>,
    pub(crate) headers: Option<Spanned<bool>>,
    pub(crate) global: Option<Spanned<String>>,
    pub(crate) lease: Option<Spanned<i64>>,
    pub(crate) fail: Option<Spanned<String>>,
}

/// A limit's key: `"app"` or `["app", "header:x-user"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyFile {
    One(String),
    Many(Vec<String>),
}

/// `[redis]`: where global limits live.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RedisFile {
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) ca: Option<Spanned<String>>,
    pub(crate) queue: Option<Spanned<i64>>,
}

/// `cors = { origins = ["https://app.example.com"], ... }`.
#[derive(Debug, Deserialize)]
pub(crate) struct CorsFile {
    pub(crate) origins: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) expose_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) credentials: Option<Spanned<bool>>,
    pub(crate) max_age: Option<Spanned<String>>,
}

/// `headers = [{ name = "x-canary", value = "1" }]`.
#[derive(Debug, Deserialize)]
pub(crate) struct HeaderMatchFile {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) value: Option<Spanned<String>>,
}

/// `request_headers` / `response_headers`.
#[derive(Debug, Deserialize)]
pub(crate) struct HeaderOpsFile {
    pub(crate) add: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub(crate) set: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub(crate) remove: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A route's `timeouts = { ... }`.
#[derive(Debug, Deserialize)]
pub(crate) struct RouteTimeoutsFile {
    pub(crate) upstream_connect: Option<Spanned<String>>,
    pub(crate) upstream_header: Option<Spanned<String>>,
    pub(crate) upstream_body: Option<Spanned<String>>,
}

/// A route's `retries = { ... }`.
#[derive(Debug, Deserialize)]
pub(crate) struct RetriesFile {
    pub(crate) attempts: Option<Spanned<i64>>,
    pub(crate) on: Option<Spanned<Vec<Spanned<Code>>>>,
    pub(crate) non_idempotent: Option<Spanned<bool>>,
    pub(crate) budget_percent: Option<Spanned<i64>>,
    pub(crate) min_per_second: Option<Spanned<i64>>,
}

/// `respond = { status = 200, body = "...", headers = { ... } }`.
#[derive(Debug, Deserialize)]
pub(crate) struct RespondFile {
    pub(crate) status: Option<Spanned<i64>>,
    pub(crate) body: Option<String>,
    pub(crate) headers: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// A size or count written as an integer or as text (`"16k"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntOrText {
    Int(i64),
    Text(String),
}

/// A status code or a name: `502`, `"502"`, `"200-299"`, `"connect_failure"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Code {
    Int(i64),
    Text(String),
}

/// `cpus = [0, 1]` or `cpus = "0-1"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CpuSpec {
    List(Vec<i64>),
    Text(String),
}

// === impl Loaded ===

impl Loaded {
    /// Reads and deserializes `path`.
    pub(crate) fn read(path: &Path) -> Result<Loaded, TuningError> {
        let text = std::fs::read_to_string(path).map_err(|source| TuningError::Read {
            path: path.to_owned(),
            source,
        })?;
        Loaded::parse(path.to_owned(), text)
    }

    /// Deserializes `text`. Unknown keys are collected, all of them; a TOML
    /// syntax or type error stops deserialization and is returned with them.
    pub(crate) fn parse(path: PathBuf, text: String) -> Result<Loaded, TuningError> {
        let mut unknown_paths = Vec::new();
        let result = serde_ignored::deserialize(toml::Deserializer::new(&text), |p| {
            unknown_paths.push(unknown::segments(&p));
        });
        let unknown = unknown_paths
            .iter()
            .map(|segs| unknown_key(&path, &text, segs))
            .collect();
        match result {
            Ok(raw) => Ok(Loaded {
                path,
                text,
                raw,
                unknown,
            }),
            Err(e) => {
                let mut errors: Vec<ConfigError> = unknown;
                errors.push(toml_error(path, &text, &e));
                Err(TuningError::Invalid(errors))
            }
        }
    }
}

fn unknown_key(path: &Path, text: &str, segs: &[unknown::Seg]) -> ConfigError {
    ConfigError {
        location: Location::File {
            path: path.to_owned(),
            line: locate::line_of_key(text, segs),
        },
        field: unknown::display(segs),
        message: unknown::message(segs),
    }
}

/// A syntax or type error: the line from its span, the field guessed from the text.
fn toml_error(path: PathBuf, text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let line = span.as_ref().map(|s| locate::line_of(text, s.start));
    let field = span
        .map(|s| locate::field_at(text, s))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "toml".to_owned());
    let message = e.message().trim().replace('\n', "; ");
    ConfigError {
        location: Location::File { path, line },
        field,
        message,
    }
}

// === impl BackendFile ===

impl<'de> Deserialize<'de> for BackendFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BackendVisitor)
    }
}

struct BackendVisitor;

impl<'de> Visitor<'de> for BackendVisitor {
    type Value = BackendFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an address "IP:port" or a table { address = "IP:port", weight = N }"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<BackendFile, E> {
        Ok(BackendFile::Address(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BackendFile, A::Error> {
        BackendTable::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(BackendFile::Table)
    }
}

// === impl ListenFile ===

impl<'de> Deserialize<'de> for ListenFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListenVisitor)
    }
}

struct ListenVisitor;

impl<'de> Visitor<'de> for ListenVisitor {
    type Value = ListenFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an address "IP:port" or a table { address = "IP:port", tls = "NAME" }"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ListenFile, E> {
        Ok(ListenFile::Address(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ListenFile, A::Error> {
        ListenTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(ListenFile::Table)
    }
}

// === impl IntOrText ===

impl<'de> Deserialize<'de> for IntOrText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrTextVisitor)
    }
}

struct IntOrTextVisitor;

impl Visitor<'_> for IntOrTextVisitor {
    type Value = IntOrText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a number of bytes or a size such as "16k", "10m", "1g""#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrText, E> {
        Ok(IntOrText::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrText, E> {
        i64::try_from(v)
            .map(IntOrText::Int)
            .map_err(|_| E::custom("number too large"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrText, E> {
        Ok(IntOrText::Text(v.to_owned()))
    }
}

// === impl Code ===

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CodeVisitor)
    }
}

struct CodeVisitor;

impl Visitor<'_> for CodeVisitor {
    type Value = Code;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a status code such as 200, or text such as "200-299""#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
        Ok(Code::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
        Ok(Code::Int(i64::try_from(v).unwrap_or(i64::MAX)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
        Ok(Code::Text(v.to_owned()))
    }
}

// === impl Code (text) ===

impl Code {
    /// As written: `502` and `"502"` both read `502`.
    pub(crate) fn text(&self) -> String {
        match self {
            Code::Int(n) => n.to_string(),
            Code::Text(t) => t.clone(),
        }
    }
}

// === impl CpuSpec ===

impl<'de> Deserialize<'de> for CpuSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CpuSpecVisitor)
    }
}

struct CpuSpecVisitor;

impl<'de> Visitor<'de> for CpuSpecVisitor {
    type Value = CpuSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a list of CPU numbers such as [0, 1], or text such as "0-3""#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CpuSpec, E> {
        Ok(CpuSpec::Text(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CpuSpec, A::Error> {
        let mut cpus = Vec::new();
        while let Some(cpu) = seq.next_element::<i64>()? {
            cpus.push(cpu);
        }
        Ok(CpuSpec::List(cpus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Loaded, TuningError> {
        Loaded::parse("t.toml".into(), text.to_owned())
    }

    /// The only error for `text`: an unknown key, or a fatal TOML error.
    fn one_error(text: &str) -> String {
        let errors = match parse(text) {
            Ok(loaded) => loaded.unknown,
            Err(err) => err.errors().to_vec(),
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].to_string()
    }

    #[test]
    fn reads_both_backend_forms() {
        let l = parse(
            "[upstreams.api]\nbackends = [ { address = \"127.0.0.1:9000\", weight = 2 }, \"127.0.0.1:9001\" ]\n",
        )
        .unwrap();
        let backends = &l.raw.upstreams["api"].get_ref().backends;
        assert!(
            matches!(backends.get_ref()[0].get_ref(), BackendFile::Table(t) if t.weight.as_ref().map(|w| *w.get_ref()) == Some(2))
        );
        assert!(
            matches!(backends.get_ref()[1].get_ref(), BackendFile::Address(a) if a == "127.0.0.1:9001")
        );
    }

    #[test]
    fn reads_both_cpu_forms() {
        let l = parse("[server]\ncpus = [0, 1]\n").unwrap();
        assert_eq!(
            l.raw.server.cpus.map(|c| c.into_inner()),
            Some(CpuSpec::List(vec![0, 1]))
        );
        let l = parse("[server]\ncpus = \"0-1\"\n").unwrap();
        assert_eq!(
            l.raw.server.cpus.map(|c| c.into_inner()),
            Some(CpuSpec::Text("0-1".into()))
        );
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let e = one_error("[server]\nshards = 2\nlisen = [\"127.0.0.1:1\"]\n");
        assert!(
            e.starts_with("t.toml:3: server.lisen: unknown field `lisen`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_in_array_of_tables() {
        let e = one_error(
            "[[routes]]\nupstream = \"a\"\n\n[[routes]]\nupstream = \"b\"\npth = \"/\"\n",
        );
        assert!(
            e.starts_with("t.toml:6: routes[1].pth: unknown field `pth` (did you mean `path`?)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_in_inline_table() {
        let e =
            one_error("[upstreams.api]\nbackends = [{ address = \"127.0.0.1:1\", wieght = 2 }]\n");
        assert!(
            e.starts_with("t.toml:2: upstreams.api.backends[0].wieght: unknown field `wieght` (did you mean `weight`?)"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let e = one_error("[timeouts]\n\ndrain = 30\n");
        assert!(
            e.starts_with("t.toml:3: timeouts.drain: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let e = one_error("[server]\nshards = 2\nlisten = [\"a\"\n");
        assert!(e.starts_with("t.toml:3"), "{e}");
        let e = one_error("[server\n");
        assert!(e.starts_with("t.toml:1"), "{e}");
    }
}
