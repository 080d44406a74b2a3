//! The response cache's settings: `[cache]` (the host's one memory budget,
//! the defaults), `[cache.services.NAME]` (every route of a service) and a
//! route's own `cache = { ... }`. Quick mode takes the route table from
//! `--cache` and the budget from `--cache-memory`.

use std::time::Duration;

use toml::Spanned;

use crate::checker::{size_of, Checker};
use crate::error::Location;
use crate::file::{CacheFile, FileConfig, RouteCacheFile, RouteFile};
use crate::units::parse_duration;

/// Default memory budget of the whole host's cache.
pub const DEFAULT_CACHE_MEMORY: u64 = 256 << 20;
/// Default largest body stored.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 20;
/// Default wait of a request behind another's fetch of the same key
/// (nginx's `proxy_cache_lock_timeout`).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `default_ttl`, and longest stale window (one year).
const MAX_WINDOW: Duration = Duration::from_secs(365 * 86_400);

/// `[cache]`: what every cached route shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of responses (heads and bodies) the whole host keeps.
    pub memory: u64,
}

/// How a route caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCache {
    /// Largest body stored; larger ones stream through unstored.
    pub max_object_bytes: u64,
    /// Freshness of a response with no explicit expiry that allows
    /// heuristic freshness (RFC 9111 §4.2.2); `None`: such responses get
    /// the 10%-of-Last-Modified heuristic only.
    pub default_ttl: Option<Duration>,
    /// Extra key parts, beyond method, scheme, host, path and query.
    pub key: Vec<CacheKeyPart>,
    /// Whether responses with `Set-Cookie` are stored (the field is kept).
    pub allow_set_cookie: bool,
    /// Stale window served while one request refreshes, when the origin
    /// gives none (RFC 5861).
    pub stale_while_revalidate: Duration,
    /// Stale window served when the origin fails, when it gives none.
    pub stale_if_error: Duration,
    /// How long a request waits behind another's fetch of its key before
    /// it goes upstream itself.
    pub lock_timeout: Duration,
}

/// A configured key part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKeyPart {
    /// `header:NAME`: every value of a request header (name lowercased).
    Header(String),
    /// `cookie:NAME`: one cookie's value.
    Cookie(String),
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory: DEFAULT_CACHE_MEMORY,
        }
    }
}

/// `[cache]`, with `--cache-memory` over `memory`.
pub(crate) fn config(c: &mut Checker<'_>, cli: &crate::Cli, raw: &FileConfig) -> CacheConfig {
    let memory = match &cli.cache_memory {
        Some(text) => crate::units::parse_size(text).unwrap_or_else(|message| {
            c.fail(Location::CommandLine, "--cache-memory", message);
            DEFAULT_CACHE_MEMORY
        }),
        None => c
            .field("cache.memory", raw.cache.memory.as_ref(), size_of)
            .unwrap_or(DEFAULT_CACHE_MEMORY),
    };
    if memory < 1 << 20 {
        let location = match (&cli.cache_memory, &raw.cache.memory) {
            (Some(_), _) => Location::CommandLine,
            (None, Some(m)) => c.at(m.span()),
            (None, None) => Location::CommandLine,
        };
        c.fail(
            location,
            "cache.memory",
            "must be at least 1m (1048576 bytes)",
        );
    }
    CacheConfig { memory }
}

/// A route's cache: its own table, else its service's.
pub(crate) fn for_route(
    c: &mut Checker<'_>,
    field: &str,
    r: &RouteFile,
    raw: &CacheFile,
    proxy: bool,
) -> Option<RouteCache> {
    let (table, field) = match (&r.cache, &r.service) {
        (Some(t), _) => (t, format!("{field}.cache")),
        (None, Some(s)) => {
            let t = raw.services.get(s.get_ref())?;
            (t, format!("cache.services.{}", s.get_ref()))
        }
        (None, None) => return None,
    };
    if !proxy {
        let message = "caches only routes that proxy (`upstream = ...`)";
        c.fail_at(table.span(), field, message);
        return None;
    }
    if r.forward_path
        .as_ref()
        .is_some_and(|f| f.get_ref() == "original")
    {
        // The key is the normalised path; the client's bytes going
        // upstream could name another resource under the same key.
        let message = "cannot go with forward_path = \"original\": the key is the normalised path";
        c.fail_at(table.span(), field, message);
        return None;
    }
    Some(route_cache(c, &field, table, raw))
}

/// Quick mode: `--cache '<inline table>'` on the catch-all route.
pub(crate) fn quick(
    c: &mut Checker<'_>,
    cli: &crate::Cli,
    source: &crate::ConfigSource,
    mut routes: Vec<crate::Route>,
) -> Vec<crate::Route> {
    let Some(text) = &cli.cache else {
        return routes;
    };
    if *source != crate::ConfigSource::Quick {
        let message =
            "quick mode (--upstream) only: with --config, write a route's `cache = {...}`";
        c.fail(Location::CommandLine, "--cache", message);
        return routes;
    }
    #[derive(serde::Deserialize)]
    struct One {
        cache: Spanned<RouteCacheFile>,
    }
    let known = [
        "max_object_bytes",
        "default_ttl",
        "key",
        "set_cookie",
        "stale_while_revalidate",
        "stale_if_error",
        "lock_timeout",
    ];
    let table = toml::from_str::<toml::Table>(&format!("cache = {text}"));
    let stray = table.ok().and_then(|t| {
        let inner = t.get("cache")?.as_table()?.clone();
        inner.keys().find(|k| !known.contains(&k.as_str())).cloned()
    });
    if let Some(k) = stray {
        let message = format!("unknown field {k:?}; known: {}", known.join(", "));
        c.fail(Location::CommandLine, "--cache", message);
        return routes;
    }
    match toml::from_str::<One>(&format!("cache = {text}")) {
        Ok(one) => {
            let cache = route_cache(c, "--cache", &one.cache, &CacheFile::default());
            routes
                .iter_mut()
                .for_each(|r| r.cache = Some(cache.clone()));
        }
        Err(e) => {
            let why = e.message().replace('\n', "; ");
            let message = format!("not an inline table of cache settings: {why}");
            c.fail(Location::CommandLine, "--cache", message);
        }
    }
    routes
}

fn route_cache(
    c: &mut Checker<'_>,
    field: &str,
    table: &Spanned<RouteCacheFile>,
    global: &CacheFile,
) -> RouteCache {
    let f = table.get_ref();
    let window = |c: &mut Checker<'_>, name: &str, own: &Option<Spanned<String>>, dflt| {
        let raw = own.as_ref().or(dflt);
        c.field(&format!("{field}.{name}"), raw, |t| bounded(t, true))
            .unwrap_or(Duration::ZERO)
    };
    let swr = window(
        c,
        "stale_while_revalidate",
        &f.stale_while_revalidate,
        global.stale_while_revalidate.as_ref(),
    );
    let sie = window(
        c,
        "stale_if_error",
        &f.stale_if_error,
        global.stale_if_error.as_ref(),
    );
    let lock = f.lock_timeout.as_ref().or(global.lock_timeout.as_ref());
    let lock_timeout = c
        .field(&format!("{field}.lock_timeout"), lock, |t| bounded(t, true))
        .unwrap_or(DEFAULT_LOCK_TIMEOUT);
    let max_object_bytes = c
        .field(
            &format!("{field}.max_object_bytes"),
            f.max_object_bytes.as_ref(),
            size_of,
        )
        .unwrap_or(DEFAULT_MAX_OBJECT_BYTES);
    if max_object_bytes == 0 {
        let message = "must be greater than zero (leave `cache` out to cache nothing)";
        c.fail_at(table.span(), format!("{field}.max_object_bytes"), message);
    }
    RouteCache {
        max_object_bytes,
        default_ttl: c.field(
            &format!("{field}.default_ttl"),
            f.default_ttl.as_ref(),
            |t| bounded(t, false),
        ),
        key: key_parts(c, field, f),
        allow_set_cookie: f.set_cookie.as_ref().is_some_and(|b| *b.get_ref()),
        stale_while_revalidate: swr,
        stale_if_error: sie,
        lock_timeout,
    }
}

/// A duration up to a year; zero allowed where `zero` says so.
fn bounded(text: &str, zero: bool) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() && !zero {
        return Err("must be greater than zero".to_owned());
    }
    if d > MAX_WINDOW {
        return Err("must be at most 365d".to_owned());
    }
    Ok(d)
}

fn key_parts(c: &mut Checker<'_>, field: &str, f: &RouteCacheFile) -> Vec<CacheKeyPart> {
    let Some(list) = &f.key else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    for (i, item) in list.get_ref().iter().enumerate() {
        match key_part(item.get_ref()) {
            Ok(p) if !parts.contains(&p) => parts.push(p),
            Ok(_) => c.fail_at(item.span(), format!("{field}.key[{i}]"), "listed twice"),
            Err(message) => c.fail_at(item.span(), format!("{field}.key[{i}]"), message),
        }
    }
    if parts.len() > 8 {
        c.fail_at(list.span(), format!("{field}.key"), "at most 8 parts");
    }
    parts
}

/// `header:NAME` or `cookie:NAME`.
fn key_part(text: &str) -> Result<CacheKeyPart, String> {
    let bad = || {
        format!("{text:?} is not a key part: write \"header:NAME\" or \"cookie:NAME\" (method, host, path and query are always in the key)")
    };
    let (kind, name) = text.split_once(':').ok_or_else(bad)?;
    if !crate::route_fields::is_token(name) {
        return Err(bad());
    }
    match kind {
        "header" => Ok(CacheKeyPart::Header(name.to_ascii_lowercase())),
        "cookie" => Ok(CacheKeyPart::Cookie(name.to_owned())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_parse() {
        assert_eq!(
            key_part("header:X-Tenant"),
            Ok(CacheKeyPart::Header("x-tenant".into()))
        );
        assert_eq!(
            key_part("cookie:lang"),
            Ok(CacheKeyPart::Cookie("lang".into()))
        );
        assert!(key_part("path").is_err());
        assert!(key_part("header:").is_err());
        assert!(key_part("header:a b").is_err());
        assert!(key_part("query:x").is_err());
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(bounded("0s", true), Ok(Duration::ZERO));
        assert!(bounded("0s", false).is_err());
        assert!(bounded("400d", true).is_err());
    }
}
