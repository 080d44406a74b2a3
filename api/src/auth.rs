//! Who calls the API: the root token, a team's token, or (on loopback
//! without a root token) the local operator as root.

use access::key::{digest, same};
use access::Scope;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::handlers::App;

/// Longest bearer token looked at; longer ones are refused unread.
const MAX_TOKEN: usize = 512;
/// Shortest root token accepted.
const MIN_ROOT: usize = 16;

/// The root token, kept as its SHA-256 digest and compared in constant time.
#[derive(Clone)]
pub struct RootToken([u8; 32]);

impl std::fmt::Debug for RootToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootToken(..)")
    }
}

impl RootToken {
    /// A root token; at least 16 visible ASCII characters.
    pub fn new(token: &str) -> Result<RootToken, &'static str> {
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        match token.len() >= MIN_ROOT && token.len() <= MAX_TOKEN && visible {
            true => Ok(RootToken(digest(token.as_bytes()))),
            false => Err("the root token must be 16 to 512 visible ASCII characters"),
        }
    }

    fn matches(&self, presented: &[u8]) -> bool {
        same(&self.0, &digest(presented))
    }

    /// Whether `Authorization: <value>` carries this token (constant time).
    pub fn admits(&self, authorization: &[u8]) -> bool {
        bearer(authorization).is_some_and(|t| self.matches(t))
    }
}

/// Whether a `Host` value names this host by loopback (a request through
/// DNS rebinding names another).
pub fn is_loopback_host_value(host: &[u8]) -> bool {
    is_loopback_host(host)
}

/// The scope of the caller's token.
pub(crate) struct Caller(pub(crate) Scope);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Caller, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        let Some(header) = header else {
            // Without a root token, loopback callers act as root; a page in
            // a browser on this host reaching here through DNS rebinding
            // sends another Host, and is turned away.
            let host = parts.headers.get(axum::http::header::HOST);
            return match (
                &app.root,
                host.is_some_and(|h| is_loopback_host(h.as_bytes())),
            ) {
                (None, true) => Ok(Caller(Scope::Root)),
                _ => Err(ApiError::Unauthorized),
            };
        };
        let token = bearer(header.as_bytes()).ok_or(ApiError::Unauthorized)?;
        if app.root.as_ref().is_some_and(|r| r.matches(token)) {
            return Ok(Caller(Scope::Root));
        }
        let token = token.to_vec();
        let scope = app.call(move |s| s.token_scope(&token)).await?;
        scope.map(Caller).ok_or(ApiError::Unauthorized)
    }
}

/// A `Host` that names this machine by address or as `localhost`.
fn is_loopback_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token of `Bearer <token>` (scheme case-insensitive), if well formed.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    if value.len() > MAX_TOKEN + 7 || value.len() < 8 {
        return None;
    }
    let (scheme, rest) = value.split_at(7);
    let token = rest.trim_ascii();
    let ok = scheme.eq_ignore_ascii_case(b"bearer ")
        && !token.is_empty()
        && token.iter().all(u8::is_ascii_graphic);
    ok.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_bearer_tokens() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abcdef"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearer a b"), None);
        assert_eq!(bearer(&[b'x'; 600]), None);
    }

    #[test]
    fn only_loopback_hosts_count_as_local() {
        for ok in [
            "127.0.0.1:9902",
            "localhost",
            "LOCALHOST:1",
            "[::1]:9902",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9902",
            "10.0.0.1",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!is_loopback_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn root_tokens_are_long_and_compared_by_digest() {
        assert!(RootToken::new("short").is_err());
        assert!(RootToken::new("has a space in it ok").is_err());
        let r = RootToken::new("0123456789abcdef").unwrap();
        assert!(r.matches(b"0123456789abcdef"));
        assert!(!r.matches(b"0123456789abcdeF"));
        assert_eq!(format!("{r:?}"), "RootToken(..)");
    }
}
