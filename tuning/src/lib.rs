//! CLI flags and config file, validated into one plain value: [`Tuning`].
//!
//! ```text
//!   flags (Cli) ──┐
//!                 ├─ validate ─→ Tuning            (what the engine runs)
//!   file (TOML) ──┘          └─→ TuningError       (every problem, file:line: field: message)
//! ```
//!
//! Three ways to run, as `coregate` decides from its flags:
//! - **config mode**, `--config FILE`: listeners (plain, or HTTPS with a
//!   `[tls.NAME]` profile), upstream groups and routes from a TOML file (see
//!   `default.toml` for the layout). Per-group settings (algorithm, circuit
//!   breakers, health checks, outlier ejection, TLS to backends) and
//!   per-route ones (path, method and header matching, priority, rewrites,
//!   header changes, timeout overrides, retries) exist only there;
//! - **quick mode**, `--upstream ADDR` (repeatable): one group `default`, one
//!   catch-all route, round-robin, like `caddy reverse-proxy --to`;
//! - **embedded default**, neither: a welcome page on 127.0.0.1:8080.
//!
//! In quick mode and the embedded default, `--tls-cert` / `--tls-key` make
//! every listener HTTPS. Certificate, key and other TLS file paths are
//! checked for syntax only: no such file is read here.
//!
//! In every mode a flag overrides the matching global file field
//! (`--client-header-timeout` over `timeouts.client_header`,
//! `--access-log` over `access_log.path`), and anything
//! unset falls back to a named [`defaults`] constant. The raw file structs
//! (private `file` module) keep `toml::Spanned` positions, so an error names
//! the file, line and field: `coregate.toml:12: routes[1].upstream: unknown
//! upstream group "apii"`. Validation never stops at the first problem: every
//! unknown key (found through `serde_ignored`, with a "did you mean") and
//! every bad value is reported, sorted by line. Only a TOML syntax error or a
//! value of the wrong type stops reading the file early.
//!
//! This crate is a leaf: no async runtime, no clock, no I/O beyond reading
//! the config file and `/proc/self/status` (for the CPUs this process may
//! use). Validating the 90-line sample of `tests/schema.rs` (two groups
//! with health checks and outlier settings, four routes, one `path_regex`)
//! takes about 170 µs, 30 µs of it compiling the regex once to check it
//! (release build, 2-core AMD EPYC VM, host detection included); it runs at
//! startup and on reload, never per request.
//!
//! `tuning` does not depend on `balancer`: [`Algorithm`] is its own enum,
//! which the engine maps onto the balancer's.
//!
//! The full reference of flags and fields is in [`config_reference`].

/// Reference: modes, every flag and file field with its default, routes.
#[doc = include_str!("docs/config.md")]
pub mod config_reference {}

mod access;
mod ai;
mod ai_templates;
mod cache;
mod checker;
mod cli;
mod declared;
pub mod defaults;
mod error;
mod file;
mod groups;
mod host;
mod locate;
mod observe;
mod observing;
mod rate_limits;
mod route;
mod route_fields;
mod route_guard;
mod routes;
mod tls;
mod tls_fields;
mod tls_profiles;
mod tuning;
mod units;
mod unknown;
mod upstream;
mod validate;

pub use crate::access::AccessConfig;
pub use crate::ai::{
    AiConfig, AiKey, AiModel, AiProvider, AiRoute, AiTarget, AiTemplate, KeySource, Price,
};
pub use crate::cache::{
    CacheConfig, CacheKeyPart, RouteCache, DEFAULT_CACHE_MEMORY, DEFAULT_LOCK_TIMEOUT,
    DEFAULT_MAX_OBJECT_BYTES,
};
pub use crate::cli::{Admin, Cli, Command, CpuList, Sample};
pub use crate::declared::{Declared, DeclaredService};
pub use crate::error::{ConfigError, Location, TuningError};
pub use crate::observe::{AccessLog, LogDest, MetricsConfig, ReloadConfig};
pub use crate::rate_limits::{
    GlobalSync, LimitKey, LimitKind, LimitPolicy, MissingKey, Period, Quota, Rate, RedisConfig,
};
pub use crate::route::{
    ForwardPath, HashKey, HeaderMatch, HeaderOps, HostMatch, PathMatch, Retries, RetryOn, Rewrite,
    Route, RouteAction, RouteTimeouts,
};
pub use crate::route_guard::{Cors, IpNet};
pub use crate::tls::{ClientAuth, TlsCert, TlsProfile, TlsVersion, UnknownSni, UpstreamTls};
pub use crate::tuning::{ConfigSource, Io, Limits, Pool, Timeouts, Tuning};
pub use crate::units::{
    format_duration, parse_body_limit, parse_cpu_list, parse_duration, parse_size,
};
pub use crate::upstream::{Algorithm, BackendAddr, HealthCheck, Outlier, UpstreamGroup};
pub use crate::validate::{parse_file, parse_toml};

/// The CPUs this process may run on (its `sched_getaffinity` mask, read from
/// `/proc/self/status`), ascending: what `--cpus` is checked against and what
/// the default shard count counts.
pub fn allowed_cpus() -> Vec<usize> {
    host::Host::detect().allowed_cpus().to_vec()
}
