//! `[upstreams.*]` and `[[routes]]`: groups of backends, and the rules that
//! send requests to them or answer them directly.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};

use toml::Spanned;

use crate::ai::{AiConfig, AiRoute};
use crate::checker::Checker;
use crate::defaults::QUICK_GROUP;
use crate::file::{FileConfig, RespondFile, RouteFile};
use crate::route::{HostMatch, PathMatch, Route, RouteAction};
use crate::route_fields::{self as fields, check_value, is_token, At, RESERVED_HEADERS};
use crate::route_guard as guard;
use crate::upstream::{BackendAddr, UpstreamGroup};

/// Quick mode: one group of `backends`, one catch-all route to it.
pub(crate) fn quick(backends: &[SocketAddr]) -> (Vec<UpstreamGroup>, Vec<Route>) {
    let backends = backends
        .iter()
        .map(|&address| BackendAddr { address, weight: 1 })
        .collect();
    let group = UpstreamGroup::new(QUICK_GROUP, backends);
    (
        vec![group],
        vec![Route::catch_all(
            QUICK_GROUP,
            RouteAction::Proxy { group: 0 },
        )],
    )
}

/// Upstream groups (in name order) and routes (in file order) from the file.
pub(crate) fn from_file(
    c: &mut Checker<'_>,
    raw: &FileConfig,
) -> (Vec<UpstreamGroup>, Vec<Route>, AiConfig) {
    let named = crate::rate_limits::named(c, raw);
    let groups: Vec<UpstreamGroup> = raw
        .upstreams
        .iter()
        .map(|(name, up)| crate::groups::group(c, name, up))
        .collect();
    let ai = crate::ai::config(c, raw, &groups);
    if raw.routes.is_empty() {
        let location = c.whole_file();
        c.fail(
            location,
            "routes",
            "no routes: add a [[routes]] table with `upstream` or `respond`",
        );
    }
    let routes: Vec<Route> = raw
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| route(c, i, r, &groups, &named, &ai, &raw.cache))
        .collect();
    check_unique_names(c, raw, &routes);
    crate::rate_limits::check_inline_names(c, raw);
    (groups, routes, ai)
}

fn route(
    c: &mut Checker<'_>,
    i: usize,
    raw: &Spanned<RouteFile>,
    groups: &[UpstreamGroup],
    named: &crate::rate_limits::Named,
    ai: &AiConfig,
    raw_cache: &crate::file::CacheFile,
) -> Route {
    let r = raw.get_ref();
    let field = format!("routes[{i}]");
    let name = r
        .name
        .as_ref()
        .map_or_else(|| format!("route-{i}"), |n| n.get_ref().clone());
    if let Some(n) = r.name.as_ref().filter(|n| n.get_ref().trim().is_empty()) {
        c.fail_at(
            n.span(),
            format!("{field}.name"),
            "empty name: omit it for the default \"route-N\"",
        );
    }
    let host = r.host.as_ref().map_or(HostMatch::Any, |h| {
        parse_host(h.get_ref()).unwrap_or_else(|message| {
            c.fail_at(h.span(), format!("{field}.host"), message);
            HostMatch::Any
        })
    });
    let action = action(c, &field, raw, groups, ai);
    let at = At {
        field: &field,
        route: r,
        proxy: matches!(action, RouteAction::Proxy { .. }),
    };
    let path = fields::path_match(c, &at);
    let rewrite = fields::rewrite(c, &at, &path);
    Route {
        name,
        host,
        path_prefix: match &path {
            PathMatch::Prefix(p) => p.clone(),
            _ => "/".to_owned(),
        },
        methods: fields::methods(c, &at),
        headers: fields::header_matches(c, &at),
        priority: fields::priority(c, &at),
        hash_key: fields::hash_key(c, &at),
        allow_encoded_slashes: fields::allow_encoded_slashes(&at),
        forward_path: fields::forward_path(c, &at, &rewrite),
        rewrite,
        request_headers: fields::header_ops(c, &at, "request_headers", r.request_headers.as_ref()),
        response_headers: fields::header_ops(
            c,
            &at,
            "response_headers",
            r.response_headers.as_ref(),
        ),
        timeouts: fields::timeouts(c, &at),
        retries: fields::retries(c, &at),
        upgrades: fields::upgrades(c, &at),
        service: fields::service(c, &at),
        allow_ips: guard::ip_list(c, &at, "allow_ips", r.allow_ips.as_ref()),
        deny_ips: guard::ip_list(c, &at, "deny_ips", r.deny_ips.as_ref()),
        cors: guard::cors(c, &at),
        limits: {
            let limits = crate::rate_limits::for_route(c, &at, named);
            token_budgets_on_ai(c, &at, limits, &action)
        },
        cache: crate::cache::for_route(c, &field, r, raw_cache, at.proxy),
        path,
        action,
    }
}

/// A token budget counts AI calls: on any other route it would count
/// nothing, so it is an error there.
fn token_budgets_on_ai(
    c: &mut Checker<'_>,
    at: &At<'_>,
    limits: Vec<crate::rate_limits::LimitPolicy>,
    action: &RouteAction,
) -> Vec<crate::rate_limits::LimitPolicy> {
    if !matches!(action, RouteAction::Ai(_)) {
        for p in limits.iter().filter(|p| p.tokens) {
            let location = match (
                &at.route.rate_limits,
                &at.route.rate_limit,
                &at.route.service,
            ) {
                (Some(l), _, _) => c.at(l.span()),
                (None, Some(l), _) => c.at(l.span()),
                (None, None, Some(s)) => c.at(s.span()),
                _ => c.whole_file(),
            };
            let message = format!(
                "policy {:?} counts tokens: only AI routes (`ai = ...`) can take it",
                p.name
            );
            c.fail(location, format!("{}.rate_limits", at.field), message);
        }
    }
    limits
}

fn action(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<RouteFile>,
    groups: &[UpstreamGroup],
    ai: &AiConfig,
) -> RouteAction {
    let r = raw.get_ref();
    let fallback = RouteAction::Proxy { group: 0 };
    if let Some(a) = &r.ai {
        if r.upstream.is_some() || r.respond.is_some() {
            let message = "has `ai` and `upstream` or `respond`; a route takes one action";
            c.fail_at(raw.span(), field, message);
        }
        return ai_action(c, &format!("{field}.ai"), a, ai);
    }
    match (&r.upstream, &r.respond) {
        (Some(up), None) => {
            let name = up.get_ref();
            match groups.iter().position(|g| &g.name == name) {
                Some(group) => RouteAction::Proxy { group },
                None => {
                    c.fail_at(
                        up.span(),
                        format!("{field}.upstream"),
                        unknown_group(name, groups),
                    );
                    fallback
                }
            }
        }
        (None, Some(respond)) => respond_action(c, &format!("{field}.respond"), respond),
        (Some(_), Some(_)) => {
            c.fail_at(
                raw.span(),
                field,
                "has both `upstream` and `respond`; a route takes one action",
            );
            fallback
        }
        (None, None) => {
            let message = "has no action: set `upstream = \"<group>\"` or `respond = { status = 200, body = \"...\" }`";
            c.fail_at(raw.span(), field, message);
            fallback
        }
    }
}

/// `ai = { template = "...", log_bodies = false }`.
fn ai_action(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<crate::file::AiRouteFile>,
    ai: &AiConfig,
) -> RouteAction {
    let f = raw.get_ref();
    let template = c.field(&format!("{field}.template"), f.template.as_ref(), |t| {
        ai.templates
            .iter()
            .position(|x| x.0.name() == t)
            .ok_or_else(|| format!("no [[ai.templates]] named {t:?}"))
    });
    if ai.providers.is_empty() {
        c.fail_at(
            raw.span(),
            field,
            "an AI route needs at least one [[ai.providers]]",
        );
    }
    let mut mask = Vec::new();
    for m in f.mask.iter().flat_map(|m| m.get_ref()) {
        match regex::Regex::new(m.get_ref()) {
            Ok(_) => mask.push(m.get_ref().clone()),
            Err(e) => c.fail_at(
                m.span(),
                format!("{field}.mask"),
                format!("not a valid regex: {e}"),
            ),
        }
    }
    let models = f.models.as_ref().map(|list| {
        let mut out = Vec::new();
        for m in list.get_ref() {
            let name = m.get_ref();
            let known = match name.split_once('/') {
                Some((p, rest)) => !rest.is_empty() && ai.provider(p).is_some(),
                None => ai.model(name).is_some(),
            };
            match known {
                true => out.push(name.clone()),
                false => c.fail_at(
                    m.span(),
                    format!("{field}.models"),
                    format!("{name:?} is neither an [[ai.models]] alias nor provider/model or provider/* of a provider"),
                ),
            }
        }
        out
    });
    RouteAction::Ai(AiRoute {
        template,
        log_bodies: f.log_bodies.as_ref().is_some_and(|b| *b.get_ref()),
        mask,
        models,
    })
}

fn unknown_group(name: &str, groups: &[UpstreamGroup]) -> String {
    let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    match known.is_empty() {
        true => format!("unknown upstream group {name:?} (no [upstreams.<name>] defined)"),
        false => format!(
            "unknown upstream group {name:?} (defined: {})",
            known.join(", ")
        ),
    }
}

fn respond_action(c: &mut Checker<'_>, field: &str, raw: &Spanned<RespondFile>) -> RouteAction {
    let r = raw.get_ref();
    let status = match &r.status {
        None => 200,
        Some(s) => match u16::try_from(*s.get_ref()) {
            Ok(code) if (100..=599).contains(&code) => code,
            _ => {
                let message = format!("must be from 100 to 599, got {}", s.get_ref());
                c.fail_at(s.span(), format!("{field}.status"), message);
                200
            }
        },
    };
    let body = r.body.clone().unwrap_or_default();
    if !body.is_empty() && (status < 200 || status == 204 || status == 304) {
        let span = r.status.as_ref().map_or(raw.span(), Spanned::span);
        c.fail_at(
            span,
            format!("{field}.body"),
            format!("a {status} response cannot have a body"),
        );
    }
    let headers = r
        .headers
        .as_ref()
        .map_or_else(Vec::new, |h| headers(c, field, h.get_ref()));
    RouteAction::Respond {
        status,
        headers,
        body,
    }
}

fn headers(
    c: &mut Checker<'_>,
    field: &str,
    raw: &BTreeMap<String, Spanned<String>>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in raw {
        let field = format!("{field}.headers.{name}");
        let lower = name.to_ascii_lowercase();
        let checked = check_header(name, value.get_ref()).and_then(|()| {
            match out.iter().any(|(n, _)| *n == lower) {
                true => Err(format!("{lower} is set twice (header names ignore case)")),
                false => Ok(()),
            }
        });
        match checked {
            Ok(()) => out.push((lower, value.get_ref().clone())),
            Err(message) => c.fail_at(value.span(), field, message),
        }
    }
    out
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    if !is_token(name) {
        return Err(format!("invalid header name {name:?}"));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(format!("{name} is set by coregate"));
    }
    check_value(value)
}

/// Every route name once; the error goes on the second use.
fn check_unique_names(c: &mut Checker<'_>, raw: &FileConfig, routes: &[Route]) {
    for (i, route) in routes.iter().enumerate() {
        let Some(first) = routes[..i].iter().position(|r| r.name == route.name) else {
            continue;
        };
        let span = |k: usize| {
            raw.routes[k]
                .get_ref()
                .name
                .as_ref()
                .map_or(raw.routes[k].span(), Spanned::span)
        };
        let first_line = match c.at(span(first)) {
            crate::error::Location::File {
                line: Some(line), ..
            } => format!(" (first used by routes[{first}], line {line})"),
            _ => format!(" (first used by routes[{first}])"),
        };
        c.fail_at(
            span(i),
            format!("routes[{i}].name"),
            format!("duplicate route name {:?}{first_line}", route.name),
        );
    }
}

/// `example.com` → exact; `*.example.com` → suffix `.example.com`; lowercased.
pub(crate) fn parse_host(text: &str) -> Result<HostMatch, String> {
    if text.is_empty() || text == "*" {
        return Err("matches every host: omit `host` instead".to_owned());
    }
    if let Some(rest) = text.strip_prefix("*.") {
        check_host_name(rest)?;
        return Ok(HostMatch::Suffix(format!(".{}", rest.to_ascii_lowercase())));
    }
    check_host_name(text)?;
    Ok(HostMatch::Exact(text.to_ascii_lowercase()))
}

fn check_host_name(name: &str) -> Result<(), String> {
    if let Some(ip) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return ip
            .parse::<Ipv6Addr>()
            .map(drop)
            .map_err(|_| format!("invalid IPv6 host {name:?}"));
    }
    if name.contains('*') {
        return Err(format!(
            "invalid host pattern {name:?}: a wildcard may only be a leading \"*.\""
        ));
    }
    if name.contains(':') {
        return Err(format!(
            "host pattern {name:?} has a port: ports are ignored when matching, drop it"
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match name.len() <= 253 && name.split('.').all(label_ok) {
        true => Ok(()),
        false => Err(format!("invalid host name {name:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert_eq!(
            parse_host("Example.COM"),
            Ok(HostMatch::Exact("example.com".into()))
        );
        assert_eq!(
            parse_host("*.Example.com"),
            Ok(HostMatch::Suffix(".example.com".into()))
        );
        assert_eq!(
            parse_host("localhost"),
            Ok(HostMatch::Exact("localhost".into()))
        );
        assert_eq!(parse_host("[::1]"), Ok(HostMatch::Exact("[::1]".into())));
        for bad in [
            "",
            "*",
            "a.*.com",
            "*example.com",
            "example.com:80",
            "a..b",
            "a b",
            "[zz]",
            "*.",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn header_checks() {
        assert!(check_header("content-type", "text/plain").is_ok());
        assert!(check_header("bad name", "x").is_err());
        assert!(check_header("Content-Length", "1").is_err());
        assert!(check_header("x-a", "a\r\nb: c").is_err());
    }
}
