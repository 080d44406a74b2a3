//! The parts of a `[[routes]]` table beyond host and action: path match
//! kind, methods, header matches, priority, hash key, rewrite, header
//! changes, timeout overrides and retries.

use std::collections::BTreeMap;

use toml::Spanned;

use crate::checker::{non_negative, within, Checker};
use crate::defaults::*;
use crate::file::{
    Code, HeaderMatchFile, HeaderOpsFile, RetriesFile, RouteFile, RouteTimeoutsFile,
};
use crate::route::{
    ForwardPath, HashKey, HeaderMatch, HeaderOps, PathMatch, Retries, RetryOn, Rewrite,
    RouteTimeouts,
};

/// Headers coregate writes itself (framing, hop-by-hop); no route may set,
/// add, remove or (in a fixed response) write them.
pub(crate) const RESERVED_HEADERS: [&str; 3] =
    ["content-length", "transfer-encoding", "connection"];

/// Methods whose lowercase spelling is surely a typo (methods are case-sensitive).
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// `routes[i]`, for messages.
pub(crate) struct At<'a> {
    pub(crate) field: &'a str,
    pub(crate) route: &'a RouteFile,
    /// Whether the route proxies (`upstream`) rather than responds.
    pub(crate) proxy: bool,
}

/// The path match: exactly one of `path_prefix` (default `"/"`), `path`, `path_regex`.
pub(crate) fn path_match(c: &mut Checker<'_>, at: &At<'_>) -> PathMatch {
    let r = at.route;
    let given: Vec<(&str, &Spanned<String>)> = [
        ("path_prefix", &r.path_prefix),
        ("path", &r.path),
        ("path_regex", &r.path_regex),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    if let [(first, _), (second, raw), ..] = given.as_slice() {
        let message =
            format!("`{first}` and `{second}` both given: a route matches the path one way");
        c.fail_at(raw.span(), format!("{}.{second}", at.field), message);
    }
    let Some(&(key, raw)) = given.first() else {
        return PathMatch::Prefix("/".to_owned());
    };
    let text = raw.get_ref().clone();
    let field = format!("{}.{key}", at.field);
    let checked = match key {
        "path_regex" => check_regex(&text),
        _ => check_path(&text),
    };
    if let Err(message) = checked {
        c.fail_at(raw.span(), field, message);
    }
    match key {
        "path" => PathMatch::Exact(text),
        "path_regex" => PathMatch::Regex(text),
        _ => PathMatch::Prefix(text),
    }
}

/// A path or prefix: starts with `/`; no space, `?`, `#` or control character.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("must start with \"/\", got {path:?}"));
    }
    match path
        .bytes()
        .find(|b| b.is_ascii_control() || b" ?#".contains(b))
    {
        Some(b) => Err(format!("must not contain {:?}", char::from(b))),
        None => Ok(()),
    }
}

/// Compiles with the `regex` crate, as the engine will.
fn check_regex(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty regex: use path_prefix = \"/\" to match every path".to_owned());
    }
    regex::Regex::new(pattern).map(drop).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or_else(|| text.lines().next().unwrap_or("does not compile"));
        format!("invalid regex {pattern:?}: {reason}")
    })
}

/// `priority`, any `i32`.
pub(crate) fn priority(c: &mut Checker<'_>, at: &At<'_>) -> i32 {
    let field = format!("{}.priority", at.field);
    c.field(&field, at.route.priority.as_ref(), |&n| {
        i32::try_from(n).map_err(|_| format!("must be from {} to {}, got {n}", i32::MIN, i32::MAX))
    })
    .unwrap_or(DEFAULT_ROUTE_PRIORITY)
}

/// `methods`: a non-empty list of distinct tokens.
pub(crate) fn methods(c: &mut Checker<'_>, at: &At<'_>) -> Option<Vec<String>> {
    let raw = at.route.methods.as_ref()?;
    let field = format!("{}.methods", at.field);
    if raw.get_ref().is_empty() {
        c.fail_at(
            raw.span(),
            &field,
            "empty: omit `methods` to match every method",
        );
    }
    let mut out: Vec<String> = Vec::new();
    for (i, m) in raw.get_ref().iter().enumerate() {
        let name = m.get_ref();
        let problem = match () {
            _ if !is_token(name) => Some(format!("invalid method {name:?}")),
            _ if KNOWN_METHODS.contains(&name.to_ascii_uppercase().as_str())
                && !KNOWN_METHODS.contains(&name.as_str()) =>
            {
                Some(format!(
                    "methods are case-sensitive: write {:?}",
                    name.to_ascii_uppercase()
                ))
            }
            _ if out.contains(name) => Some(format!("{name} is listed twice")),
            _ => None,
        };
        match problem {
            Some(message) => c.fail_at(m.span(), format!("{field}[{i}]"), message),
            None => out.push(name.clone()),
        }
    }
    Some(out)
}

/// `service = "orders"`: the store's service whose access policy guards
/// this route (checked against the store at run time: services come and go
/// through the management API).
pub(crate) fn service(c: &mut Checker<'_>, at: &At<'_>) -> Option<String> {
    let raw = at.route.service.as_ref()?;
    let name = raw.get_ref();
    match name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        true => {
            let field = format!("{}.service", at.field);
            c.fail_at(
                raw.span(),
                field,
                "must be 1 to 128 bytes without control characters",
            );
            None
        }
        false => Some(name.clone()),
    }
}

/// `upgrades = ["websocket"]`: the Upgrade protocols this route tunnels.
/// `h2c` is refused: an h2c tunnel would carry requests past routing.
pub(crate) fn upgrades(c: &mut Checker<'_>, at: &At<'_>) -> Vec<String> {
    let Some(raw) = at.route.upgrades.as_ref() else {
        return vec![DEFAULT_UPGRADE.to_owned()];
    };
    let field = format!("{}.upgrades", at.field);
    let mut out: Vec<String> = Vec::new();
    for (i, p) in raw.get_ref().iter().enumerate() {
        let name = p.get_ref().to_ascii_lowercase();
        let problem = match () {
            _ if !is_token(&name) => Some(format!("invalid protocol token {name:?}")),
            _ if name.starts_with("h2c") => {
                Some("h2c is never tunnelled: it would carry requests past routing".to_owned())
            }
            _ if out.contains(&name) => Some(format!("{name} is listed twice")),
            _ => None,
        };
        match problem {
            Some(message) => c.fail_at(p.span(), format!("{field}[{i}]"), message),
            None => out.push(name),
        }
    }
    out
}

/// `headers = [{ name = "x-canary", value = "1" }, { name = "x-debug" }]`.
pub(crate) fn header_matches(c: &mut Checker<'_>, at: &At<'_>) -> Vec<HeaderMatch> {
    let Some(raw) = at.route.headers.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<HeaderMatch> = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        let field = format!("{}.headers[{i}]", at.field);
        if let Some(m) = header_match(c, &field, item, &out) {
            out.push(m);
        }
    }
    out
}

fn header_match(
    c: &mut Checker<'_>,
    field: &str,
    item: &Spanned<HeaderMatchFile>,
    seen: &[HeaderMatch],
) -> Option<HeaderMatch> {
    let h = item.get_ref();
    let Some(name) = &h.name else {
        let message = "required: the header to match, e.g. { name = \"x-canary\", value = \"1\" }";
        c.fail_at(item.span(), format!("{field}.name"), message);
        return None;
    };
    let lower = name.get_ref().to_ascii_lowercase();
    let name_ok = match () {
        _ if !is_token(&lower) => Err(format!("invalid header name {:?}", name.get_ref())),
        _ if seen.iter().any(|m| m.name == lower) => Err(format!(
            "{lower} is matched twice (header names ignore case)"
        )),
        _ => Ok(()),
    };
    let name_ok = name_ok.map_err(|m| c.fail_at(name.span(), format!("{field}.name"), m));
    let value = c.field(&format!("{field}.value"), h.value.as_ref(), |v| {
        check_value(v).map(|()| v.clone())
    });
    let value_ok = h.value.is_none() || value.is_some();
    (name_ok.is_ok() && value_ok).then_some(HeaderMatch { name: lower, value })
}

/// `hash_key`: `client_ip`, `path`, `header:NAME`, `cookie:NAME`.
pub(crate) fn hash_key(c: &mut Checker<'_>, at: &At<'_>) -> HashKey {
    let field = format!("{}.hash_key", at.field);
    if let Some(raw) = proxy_only(c, at, "hash_key", at.route.hash_key.as_ref()) {
        if let Ok(key) = parse_hash_key(raw.get_ref()).map_err(|m| c.fail_at(raw.span(), &field, m))
        {
            return key;
        }
    }
    HashKey::ClientIp
}

pub(crate) fn parse_hash_key(text: &str) -> Result<HashKey, String> {
    let named = |name: &str| match is_token(name) {
        true => Ok(name.to_owned()),
        false => Err(format!("invalid name {name:?} in hash_key {text:?}")),
    };
    match text.split_once(':') {
        None if text == "client_ip" => Ok(HashKey::ClientIp),
        None if text == "path" => Ok(HashKey::Path),
        Some(("header", name)) => named(&name.to_ascii_lowercase()).map(HashKey::Header),
        Some(("cookie", name)) => named(name).map(HashKey::Cookie),
        _ => Err(format!(
            "unknown hash_key {text:?}: expected \"client_ip\", \"path\", \"header:NAME\" or \"cookie:NAME\""
        )),
    }
}

/// `strip_prefix` or `rewrite_prefix`, on proxy routes matching a prefix.
pub(crate) fn rewrite(c: &mut Checker<'_>, at: &At<'_>, path: &PathMatch) -> Rewrite {
    let r = at.route;
    let strip = proxy_only(c, at, "strip_prefix", r.strip_prefix.as_ref());
    let replace = proxy_only(c, at, "rewrite_prefix", r.rewrite_prefix.as_ref());
    let strip_on = strip.is_some_and(|s| *s.get_ref());
    let written = strip
        .filter(|_| strip_on)
        .map(|s| ("strip_prefix", s.span()))
        .or(replace.map(|s| ("rewrite_prefix", s.span())));
    if let (Some((key, span)), false) = (written, matches!(path, PathMatch::Prefix(_))) {
        let message =
            "rewrites the matched prefix, so it needs `path_prefix` (not `path` or `path_regex`)";
        c.fail_at(span, format!("{}.{key}", at.field), message);
        return Rewrite::None;
    }
    match (strip_on, replace) {
        (true, Some(raw)) => {
            let message = "`strip_prefix = true` and `rewrite_prefix` both given: use rewrite_prefix = \"/\" to strip";
            c.fail_at(raw.span(), format!("{}.rewrite_prefix", at.field), message);
            Rewrite::StripPrefix
        }
        (true, None) => Rewrite::StripPrefix,
        (false, Some(raw)) => match check_path(raw.get_ref()) {
            Ok(()) => Rewrite::ReplacePrefix(raw.get_ref().clone()),
            Err(message) => {
                c.fail_at(raw.span(), format!("{}.rewrite_prefix", at.field), message);
                Rewrite::None
            }
        },
        (false, None) => Rewrite::None,
    }
}

/// `allow_encoded_slashes`, on any route: it decides whether a request
/// is refused before the route acts.
pub(crate) fn allow_encoded_slashes(at: &At<'_>) -> bool {
    at.route
        .allow_encoded_slashes
        .as_ref()
        .is_some_and(|b| *b.get_ref())
}

/// `forward_path`: `normalized` or `original`, on proxy routes; `original`
/// excludes a rewrite, which works on the normalised path.
pub(crate) fn forward_path(c: &mut Checker<'_>, at: &At<'_>, rewrite: &Rewrite) -> ForwardPath {
    let Some(raw) = proxy_only(c, at, "forward_path", at.route.forward_path.as_ref()) else {
        return ForwardPath::Normalized;
    };
    let field = format!("{}.forward_path", at.field);
    let parsed = parse_forward_path(raw.get_ref()).and_then(|f| match (f, rewrite) {
        (ForwardPath::Original, Rewrite::StripPrefix | Rewrite::ReplacePrefix(_)) => Err(
            "\"original\" forwards the client's bytes, so it cannot be combined with `strip_prefix` or `rewrite_prefix`".to_owned(),
        ),
        _ => Ok(f),
    });
    parsed.unwrap_or_else(|m| {
        c.fail_at(raw.span(), field, m);
        ForwardPath::Normalized
    })
}

pub(crate) fn parse_forward_path(text: &str) -> Result<ForwardPath, String> {
    match text {
        "normalized" => Ok(ForwardPath::Normalized),
        "original" => Ok(ForwardPath::Original),
        _ => Err(format!(
            "unknown forward_path {text:?}: expected \"normalized\" or \"original\""
        )),
    }
}

/// `request_headers` / `response_headers`: `{ add = {...}, set = {...}, remove = [...] }`.
pub(crate) fn header_ops(
    c: &mut Checker<'_>,
    at: &At<'_>,
    key: &str,
    raw: Option<&Spanned<HeaderOpsFile>>,
) -> HeaderOps {
    let Some(raw) = proxy_only(c, at, key, raw) else {
        return HeaderOps::default();
    };
    let field = format!("{}.{key}", at.field);
    let h = raw.get_ref();
    let mut seen: Vec<(String, &'static str)> = Vec::new();
    let set = h.set.as_ref().map_or_else(Vec::new, |m| {
        header_map(c, &format!("{field}.set"), m.get_ref(), "set", &mut seen)
    });
    let add = h.add.as_ref().map_or_else(Vec::new, |m| {
        header_map(c, &format!("{field}.add"), m.get_ref(), "add", &mut seen)
    });
    let mut remove = Vec::new();
    for (i, name) in h
        .remove
        .as_ref()
        .map_or(&[][..], |r| r.get_ref())
        .iter()
        .enumerate()
    {
        let lower = name.get_ref().to_ascii_lowercase();
        match op_name(name.get_ref(), &lower, "remove", &seen) {
            Ok(()) => {
                seen.push((lower.clone(), "remove"));
                remove.push(lower);
            }
            Err(message) => c.fail_at(name.span(), format!("{field}.remove[{i}]"), message),
        }
    }
    HeaderOps { add, set, remove }
}

fn header_map(
    c: &mut Checker<'_>,
    field: &str,
    raw: &BTreeMap<String, Spanned<String>>,
    op: &'static str,
    seen: &mut Vec<(String, &'static str)>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let lower = name.to_ascii_lowercase();
        let checked = op_name(name, &lower, op, seen).and_then(|()| check_value(value.get_ref()));
        match checked {
            Ok(()) => {
                seen.push((lower.clone(), op));
                out.push((lower, value.get_ref().clone()));
            }
            Err(message) => c.fail_at(value.span(), format!("{field}.{name}"), message),
        }
    }
    out
}

/// A header name in `add`, `set` or `remove`: a token, not reserved, once.
fn op_name(name: &str, lower: &str, op: &str, seen: &[(String, &str)]) -> Result<(), String> {
    if !is_token(lower) {
        return Err(format!("invalid header name {name:?}"));
    }
    if RESERVED_HEADERS.contains(&lower) {
        return Err(format!("{lower} is managed by coregate"));
    }
    match seen.iter().find(|(n, _)| n == lower) {
        Some((_, first)) if *first == op => Err(format!(
            "{lower} is listed twice (header names ignore case)"
        )),
        Some((_, first)) => Err(format!(
            "{lower} is already in `{first}`: a header goes in one of add, set, remove"
        )),
        None => Ok(()),
    }
}

/// `timeouts = { upstream_connect = "1s", ... }`.
pub(crate) fn timeouts(c: &mut Checker<'_>, at: &At<'_>) -> RouteTimeouts {
    let Some(raw) = proxy_only(c, at, "timeouts", at.route.timeouts.as_ref()) else {
        return RouteTimeouts::default();
    };
    let t: &RouteTimeoutsFile = raw.get_ref();
    let f = |k: &str| format!("{}.timeouts.{k}", at.field);
    RouteTimeouts {
        upstream_connect: c.field_duration(&f("upstream_connect"), t.upstream_connect.as_ref()),
        upstream_header: c.field_duration(&f("upstream_header"), t.upstream_header.as_ref()),
        upstream_body: c.field_duration(&f("upstream_body"), t.upstream_body.as_ref()),
    }
}

/// `retries = { attempts = 2, on = [...], ... }`.
pub(crate) fn retries(c: &mut Checker<'_>, at: &At<'_>) -> Retries {
    let d = Retries::default();
    let Some(raw) = proxy_only(c, at, "retries", at.route.retries.as_ref()) else {
        return d;
    };
    let r: &RetriesFile = raw.get_ref();
    let f = |k: &str| format!("{}.retries.{k}", at.field);
    let num = |c: &mut Checker<'_>, k: &str, raw: Option<&Spanned<i64>>, max: u32, default: u32| {
        c.field(&f(k), raw, |&n| {
            let n = non_negative(n)?;
            within(n, &(0..=u64::from(max)))?;
            Ok(u32::try_from(n).unwrap_or(default))
        })
        .unwrap_or(default)
    };
    Retries {
        attempts: num(
            c,
            "attempts",
            r.attempts.as_ref(),
            MAX_RETRY_ATTEMPTS,
            d.attempts,
        ),
        on: r.on.as_ref().map_or(d.on, |on| retry_on(c, &f("on"), on)),
        non_idempotent: r.non_idempotent.as_ref().is_some_and(|b| *b.get_ref()),
        budget_percent: num(
            c,
            "budget_percent",
            r.budget_percent.as_ref(),
            100,
            d.budget_percent,
        ),
        min_per_second: num(
            c,
            "min_per_second",
            r.min_per_second.as_ref(),
            u32::MAX,
            d.min_per_second,
        ),
    }
}

fn retry_on(c: &mut Checker<'_>, field: &str, raw: &Spanned<Vec<Spanned<Code>>>) -> RetryOn {
    if raw.get_ref().is_empty() {
        c.fail_at(
            raw.span(),
            field,
            "empty: set attempts = 0 to turn retries off",
        );
    }
    let mut on = RetryOn::NONE;
    for (i, item) in raw.get_ref().iter().enumerate() {
        let name = item.get_ref().text();
        let before = on;
        let message = match on.set(&name) {
            true if before == on => format!("{name} is listed twice"),
            true => continue,
            false => format!(
                "unknown retry condition {name:?}: expected one of {}",
                RetryOn::NAMES.join(", ")
            ),
        };
        c.fail_at(item.span(), format!("{field}[{i}]"), message);
    }
    on
}

/// `raw`, unless the route answers with `respond`, where it means nothing.
fn proxy_only<'r, T>(
    c: &mut Checker<'_>,
    at: &At<'_>,
    key: &str,
    raw: Option<&'r Spanned<T>>,
) -> Option<&'r Spanned<T>> {
    let raw = raw?;
    if at.proxy {
        return Some(raw);
    }
    let message =
        format!("`{key}` applies to routes with `upstream`; this one answers with `respond`");
    c.fail_at(raw.span(), format!("{}.{key}", at.field), message);
    None
}

/// An RFC 9110 token: header names, methods, cookie names.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// No control character but tab: nothing that could split a header line.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    match value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        true => Err("header value contains a control character (CR, LF, NUL, ...)".to_owned()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys() {
        assert_eq!(parse_hash_key("client_ip"), Ok(HashKey::ClientIp));
        assert_eq!(parse_hash_key("path"), Ok(HashKey::Path));
        assert_eq!(
            parse_hash_key("header:X-User"),
            Ok(HashKey::Header("x-user".into()))
        );
        assert_eq!(
            parse_hash_key("cookie:session"),
            Ok(HashKey::Cookie("session".into()))
        );
        for bad in [
            "",
            "ip",
            "header:",
            "header:a b",
            "cookie:",
            "Path",
            "client_ip:x",
        ] {
            assert!(parse_hash_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn regexes_compile_or_explain() {
        assert!(check_regex("^/users/[0-9]+$").is_ok());
        let e = check_regex("^/users/[0-9+$").unwrap_err();
        assert!(e.starts_with("invalid regex \"^/users/[0-9+$\": "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(check_regex("").is_err());
    }

    #[test]
    fn paths() {
        assert!(check_path("/").is_ok());
        assert!(check_path("/api/v1").is_ok());
        for bad in ["", "api", "/a b", "/a?b", "/a#b", "/a\n"] {
            assert!(check_path(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn op_names() {
        let seen = vec![("x-a".to_owned(), "set")];
        assert!(op_name("X-B", "x-b", "add", &seen).is_ok());
        assert!(op_name("X-A", "x-a", "add", &seen)
            .unwrap_err()
            .contains("already in `set`"));
        assert!(op_name("X-A", "x-a", "set", &seen)
            .unwrap_err()
            .contains("twice"));
        assert!(op_name("Connection", "connection", "remove", &[]).is_err());
        assert!(op_name("a b", "a b", "add", &[]).is_err());
    }
}
