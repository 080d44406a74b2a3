//! A route's guards, compiled: client IP allow and deny lists, and CORS
//! with its response header values rendered once. Checking a client
//! against a list of N blocks is N masked compares; a CORS origin check is
//! a scan of the configured origins (a few, typically).

use std::net::IpAddr;

use parser::{Method, RequestHead};
use tuning::IpNet;

/// IP lists and CORS of one route.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    allow: Box<[IpNet]>,
    deny: Box<[IpNet]>,
    pub(crate) cors: Option<Box<Cors>>,
}

/// CORS, as header values.
#[derive(Debug)]
pub(crate) struct Cors {
    /// Lowercase origins; empty: any.
    origins: Box<[Box<[u8]>]>,
    pub(crate) methods: Box<[u8]>,
    /// `None`: echo what the preflight asks for.
    pub(crate) headers: Option<Box<[u8]>>,
    pub(crate) expose: Option<Box<[u8]>>,
    pub(crate) credentials: bool,
    pub(crate) max_age: Box<[u8]>,
}

// === impl Guard ===

impl Guard {
    pub(crate) fn compile(r: &tuning::Route) -> Guard {
        Guard {
            allow: r.allow_ips.clone().into(),
            deny: r.deny_ips.clone().into(),
            cors: r.cors.as_ref().map(|c| Box::new(Cors::compile(c))),
        }
    }

    /// Whether a client at `ip` may use the route: not denied, and allowed
    /// when there is an allow list.
    pub(crate) fn admits(&self, ip: IpAddr) -> bool {
        !self.deny.iter().any(|n| n.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip)))
    }
}

// === impl Cors ===

impl Cors {
    fn compile(c: &tuning::Cors) -> Cors {
        let join = |v: &[String]| v.join(", ").into_bytes().into_boxed_slice();
        Cors {
            origins: c.origins.iter().map(|o| o.as_bytes().into()).collect(),
            methods: join(&c.methods),
            headers: (!c.headers.is_empty()).then(|| join(&c.headers)),
            expose: (!c.expose_headers.is_empty()).then(|| join(&c.expose_headers)),
            credentials: c.credentials,
            max_age: c.max_age.as_secs().to_string().into_bytes().into(),
        }
    }

    /// The request's `Origin`, when it is one this route allows.
    pub(crate) fn origin<'h>(&self, head: &'h RequestHead) -> Option<&'h [u8]> {
        let origin = head.header("origin")?;
        let listed =
            self.origins.is_empty() || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
        listed.then_some(origin)
    }

    /// The value of `Access-Control-Allow-Origin` for `origin`.
    pub(crate) fn allow_origin<'o>(&self, origin: &'o [u8]) -> &'o [u8] {
        match self.origins.is_empty() && !self.credentials {
            true => b"*",
            false => origin,
        }
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub(crate) fn is_preflight(head: &RequestHead) -> bool {
    head.method() == Method::Options
        && head.header("origin").is_some()
        && head.header("access-control-request-method").is_some()
}
