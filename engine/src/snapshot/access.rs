//! The access check of a routed request: a route that belongs to a
//! service with `auth` wants a valid credential (else `401`) of an app
//! with an approved subscription (else `403`). Everything it reads was
//! compiled into the snapshot off the data path: the check is a SHA-256
//! of the presented key and two hash lookups, with no lock and no store
//! access (111 ns per verdict at 10, 10k or 100k keys).

use access::{AuthKind, BasicEntry, Consumer, ServicePolicy, Verdict};
use parser::RequestHead;

use super::route::{Route, Snapshot};
use crate::error::ProxyError;

/// The caller of an access-controlled route, once let through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'s> {
    /// Who it is.
    pub(crate) consumer: &'s Consumer,
    /// The service it called, for the credential to strip.
    pub(crate) service: &'s ServicePolicy,
    /// It came with `Authorization` (Basic), which is not sent upstream.
    pub(crate) authorization: bool,
}

/// What a routed request needs before it may go on.
pub(crate) enum Gate<'s, 'h> {
    /// Nothing: the route is open to every caller.
    Open,
    /// A caller already known (an API key).
    Caller(Caller<'s>),
    /// A Basic password to verify (argon2, off the shard; or cached).
    Basic(BasicAttempt<'s>),
    /// A bearer token to verify (or found in the shard's cache).
    Jwt(JwtAttempt<'s, 'h>),
    /// A valid API key of this app, which has no approved subscription.
    Forbidden(i64),
}

/// A bearer token presented to a service that takes JWTs.
pub(crate) struct JwtAttempt<'s, 'h> {
    pub(crate) service: &'s ServicePolicy,
    pub(crate) token: &'h str,
    /// SHA-256 of the token: the cache's key.
    pub(crate) digest: [u8; 32],
}

/// The longest a shard trusts a verified token without checking it again,
/// in seconds (the JWKS refresh period).
pub(crate) const JWT_CACHE_MAX: u64 = 300;

/// A Basic credential presented for a known user name.
pub(crate) struct BasicAttempt<'s> {
    /// `None`: no such user name.
    pub(crate) entry: Option<&'s BasicEntry>,
    pub(crate) service: &'s ServicePolicy,
    pub(crate) password: String,
    /// SHA-256 of the user name and password: the cache's key.
    pub(crate) digest: [u8; 32],
}

/// The gate of a routed request, or why it is refused.
pub(crate) fn check<'s, 'h>(
    snap: &'s Snapshot,
    route: &Route,
    head: &'h RequestHead,
    target: &[u8],
) -> Result<Gate<'s, 'h>, ProxyError> {
    let Some(name) = route.service.as_deref() else {
        return Ok(Gate::Open);
    };
    let policy = &snap.access;
    let service = policy.service(name).ok_or(ProxyError::ServiceUnknown)?;
    if service.auth.is_empty() {
        return Ok(Gate::Open);
    }
    let key = match service.auth.contains(&AuthKind::Key) {
        true => presented_key(service, head, target),
        false => None,
    };
    let authorization = head.header("authorization");
    let scheme = |s: &[u8]| {
        authorization.is_some_and(|a| a.len() > s.len() && a[..s.len()].eq_ignore_ascii_case(s))
    };
    if key.is_none() && service.auth.contains(&AuthKind::Basic) && scheme(b"basic ") {
        return basic(snap, service, head).map(Gate::Basic);
    }
    if key.is_none() && service.auth.contains(&AuthKind::Jwt) && scheme(b"bearer ") {
        return bearer(service, authorization).map(Gate::Jwt);
    }
    match policy.by_key(service, key) {
        Verdict::Allowed(consumer) => Ok(Gate::Caller(Caller {
            consumer,
            service,
            authorization: false,
        })),
        Verdict::Unauthorized => Err(ProxyError::Unauthorized),
        Verdict::Forbidden(consumer) => Ok(Gate::Forbidden(consumer.app)),
    }
}

/// The bearer token of `Authorization`.
fn bearer<'s, 'h>(
    service: &'s ServicePolicy,
    authorization: Option<&'h [u8]>,
) -> Result<JwtAttempt<'s, 'h>, ProxyError> {
    let value = authorization.ok_or(ProxyError::Unauthorized)?;
    let token =
        std::str::from_utf8(value[7..].trim_ascii()).map_err(|_| ProxyError::Unauthorized)?;
    if token.is_empty() || token.len() > 8192 {
        return Err(ProxyError::Unauthorized);
    }
    Ok(JwtAttempt {
        service,
        token,
        digest: access::key::digest(token.as_bytes()),
    })
}

/// The caller a verified JWT credential names, or 403 without an approved
/// subscription.
pub(crate) fn jwt_caller<'s>(
    snap: &'s Snapshot,
    service: &'s ServicePolicy,
    credential: i64,
) -> Result<Caller<'s>, ProxyError> {
    let entry = snap
        .access
        .jwt_credential(credential)
        .ok_or(ProxyError::Unauthorized)?;
    let consumer = &*entry.consumer;
    match snap.access.approved(consumer, service) {
        true => Ok(Caller {
            consumer,
            service,
            authorization: true,
        }),
        false => Err(ProxyError::Forbidden),
    }
}

/// The Basic credential of the request, for a user name the store has.
fn basic<'s>(
    snap: &'s Snapshot,
    service: &'s ServicePolicy,
    head: &RequestHead,
) -> Result<BasicAttempt<'s>, ProxyError> {
    let value = head
        .header("authorization")
        .ok_or(ProxyError::Unauthorized)?;
    let (user, password) = access::key::basic_credentials(value).ok_or(ProxyError::Unauthorized)?;
    // An unknown user name is verified too (against a dummy hash), so that
    // the answer's timing does not tell which names exist.
    let entry = snap.access.basic_user(&user);
    Ok(BasicAttempt {
        entry,
        service,
        digest: access::key::basic_digest(&user, &password),
        password,
    })
}

impl<'s> BasicAttempt<'s> {
    /// Once the password verified: the caller, or 403 without an approved
    /// subscription.
    pub(crate) fn verified(&self, snap: &'s Snapshot) -> Result<Caller<'s>, ProxyError> {
        let consumer = &*self.entry.ok_or(ProxyError::Unauthorized)?.consumer;
        match snap.access.approved(consumer, self.service) {
            true => Ok(Caller {
                consumer,
                service: self.service,
                authorization: true,
            }),
            false => Err(ProxyError::Forbidden),
        }
    }
}

/// The API key from the service's header, else from its query parameter.
fn presented_key<'h>(
    service: &ServicePolicy,
    head: &'h RequestHead,
    target: &'h [u8],
) -> Option<&'h [u8]> {
    if let Some(k) = head.header(&service.key_header) {
        // `Authorization: Bearer KEY`, as OpenAI-style clients send keys.
        if service.key_header.eq_ignore_ascii_case("authorization") {
            return Some(strip_bearer(k));
        }
        return Some(k);
    }
    let name = service.key_query.as_deref()?;
    query_param(target, name.as_bytes())
}

/// An `Authorization` value without its `Bearer` scheme.
fn strip_bearer(v: &[u8]) -> &[u8] {
    match v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
        true => v[7..].trim_ascii(),
        false => v,
    }
}

/// The value of the first `name=value` pair in `target`'s query.
pub(crate) fn query_param<'t>(target: &'t [u8], name: &[u8]) -> Option<&'t [u8]> {
    let q = target.iter().position(|&b| b == b'?')?;
    target[q + 1..]
        .split(|&b| b == b'&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix(b"="))
}

/// `target` without any `name=...` pair of its query; `None` when it has none.
pub(crate) fn without_param(target: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let q = target.iter().position(|&b| b == b'?')?;
    let is_it = |pair: &[u8]| {
        pair.strip_prefix(name)
            .is_some_and(|r| r.first() == Some(&b'='))
    };
    let pairs = target[q + 1..].split(|&b| b == b'&');
    if !pairs.clone().any(is_it) {
        return None;
    }
    let mut out = target[..q].to_vec();
    for (i, pair) in pairs.filter(|p| !is_it(p)).enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        out.extend_from_slice(pair);
    }
    Some(out)
}

/// `target` without the API key query parameter of the route's service,
/// for the access log; `None` when there is none to take out.
pub(crate) fn redact_key(snap: &Snapshot, route: &Route, target: &[u8]) -> Option<Vec<u8>> {
    let service = snap.access.service(route.service.as_deref()?)?;
    without_param(target, service.key_query.as_deref()?.as_bytes())
}

/// The `WWW-Authenticate` value for a service's credential kinds.
pub(crate) fn challenge(snap: &Snapshot, route: &Route) -> Vec<u8> {
    let service = route
        .service
        .as_deref()
        .and_then(|n| snap.access.service(n));
    let kinds = service.map_or(&[][..], |s| &s.auth[..]);
    let mut out = Vec::with_capacity(64);
    for k in kinds {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(match k {
            AuthKind::Key => b"Key realm=\"coregate\"".as_slice(),
            AuthKind::Jwt => b"Bearer realm=\"coregate\"",
            AuthKind::Basic => b"Basic realm=\"coregate\", charset=\"UTF-8\"",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_strips_the_key_parameter() {
        let t = b"/v1/x?a=1&apikey=cg_k&b=2";
        assert_eq!(query_param(t, b"apikey"), Some(&b"cg_k"[..]));
        assert_eq!(query_param(t, b"apike"), None);
        assert_eq!(query_param(b"/x", b"apikey"), None);
        assert_eq!(
            without_param(t, b"apikey").as_deref(),
            Some(&b"/v1/x?a=1&b=2"[..])
        );
        assert_eq!(
            without_param(b"/x?apikey=k", b"apikey").as_deref(),
            Some(&b"/x"[..])
        );
        assert_eq!(without_param(b"/x?apikeyz=k", b"apikey"), None);
        assert_eq!(
            without_param(b"/x?apikey=1&apikey=2&c", b"apikey").as_deref(),
            Some(&b"/x?c"[..])
        );
    }
}
