//! Whether a response may be stored by a shared cache (RFC 9111 §3, §3.5).

use crate::directives::{Directives, FieldNames};
use crate::fields::{self, Field};
use crate::freshness::{EntryMeta, Source, Times};

/// Default for [`StoreOpts::stale_while_revalidate`]: none unless the
/// response grants it.
pub const DEFAULT_STALE_WHILE_REVALIDATE_SECS: u64 = 0;
/// Default for [`StoreOpts::stale_if_error`]: none unless the response
/// grants it.
pub const DEFAULT_STALE_IF_ERROR_SECS: u64 = 0;

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
pub const HEURISTIC_STATUSES: [u16; 12] =
    [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// A request as the storing decision sees it.
#[derive(Debug, Clone)]
pub struct ReqView<'a> {
    /// The method, as sent (methods are case-sensitive).
    pub method: &'a [u8],
    /// All request header fields.
    pub headers: &'a [Field<'a>],
    /// The request's parsed `Cache-Control`.
    pub cc: Directives,
}

/// A response as the storing decision sees it.
#[derive(Debug, Clone)]
pub struct RespView<'a> {
    /// The status code.
    pub status: u16,
    /// All response header fields.
    pub headers: &'a [Field<'a>],
    /// The response's parsed `Cache-Control`.
    pub cc: Directives,
}

/// A route's storing policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOpts {
    /// Heuristic freshness, used only when the response allows it
    /// (RFC 9111 §4.2.2: no explicit expiration, and a heuristically
    /// cacheable status or `public`). `None`: no heuristic freshness.
    pub default_ttl: Option<u64>,
    /// Offer 10% of the time since `Last-Modified` as the heuristic,
    /// capped by `default_ttl` (RFC 9111 §4.2.2).
    pub last_modified_heuristic: bool,
    /// Store responses that carry `Set-Cookie`.
    pub allow_set_cookie: bool,
    /// Refuse responses whose `Content-Length` exceeds this.
    pub max_object_bytes: Option<u64>,
    /// Stale-while-revalidate window when the response names none.
    pub stale_while_revalidate: u64,
    /// Stale-if-error window when the response names none.
    pub stale_if_error: u64,
}

/// A response the cache may store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storable {
    /// Freshness and age bookkeeping for the entry.
    pub meta: EntryMeta,
    /// Fields that must not be stored (a qualified `private`, lowercased).
    pub strip_fields: FieldNames,
}

/// Why a response may not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// Not a GET (HEAD is answered from GET entries, never stored).
    Method,
    /// Interim, 304, or a status not cacheable by default without
    /// explicit freshness or `public`.
    Status,
    /// A 206: only full objects are stored.
    Partial,
    /// `no-store` in the request.
    NoStoreRequest,
    /// `no-store` in the response.
    NoStoreResponse,
    /// Unqualified `private`.
    Private,
    /// The request has `Authorization` and the response does not say
    /// `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5).
    Authorization,
    /// `Set-Cookie`, and the route does not allow storing it.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// `Content-Length` above `max_object_bytes`.
    TooLarge,
    /// Stale at once (or `no-cache`) and no validator to revalidate with.
    NoFreshness,
}

// === impl ReqView ===

impl<'a> ReqView<'a> {
    /// Wraps a request and parses its `Cache-Control`.
    pub fn new(method: &'a [u8], headers: &'a [Field<'a>]) -> Self {
        let cc = Directives::from_headers(headers);
        Self {
            method,
            headers,
            cc,
        }
    }
}

// === impl RespView ===

impl<'a> RespView<'a> {
    /// Wraps a response and parses its `Cache-Control`.
    pub fn new(status: u16, headers: &'a [Field<'a>]) -> Self {
        let cc = Directives::from_headers(headers);
        Self {
            status,
            headers,
            cc,
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        fields::first(self.headers, name)
    }

    /// Whether the response has `ETag` or `Last-Modified`.
    pub fn has_validator(&self) -> bool {
        fields::has(self.headers, b"etag") || fields::has(self.headers, b"last-modified")
    }

    /// Explicit expiration: `s-maxage`, `max-age` or `Expires`.
    pub fn has_explicit_expiry(&self) -> bool {
        self.cc.s_maxage.is_some()
            || self.cc.max_age.is_some()
            || fields::has(self.headers, b"expires")
    }

    /// Whether heuristic freshness is allowed (RFC 9111 §4.2.2).
    pub fn allows_heuristic(&self) -> bool {
        !self.has_explicit_expiry() && (HEURISTIC_STATUSES.contains(&self.status) || self.cc.public)
    }
}

/// Decides whether `resp`, answering `req`, may be stored (RFC 9111 §3).
pub fn storable(
    req: &ReqView<'_>,
    resp: &RespView<'_>,
    opts: &StoreOpts,
    times: Times,
) -> Result<Storable, NotStorable> {
    check_request(req)?;
    check_status(resp)?;
    check_response(resp, opts)?;
    check_authorization(req, resp)?;
    let meta = EntryMeta::new(resp, opts, times);
    check_useful(resp, &meta)?;
    let strip_fields = resp.cc.private.clone().unwrap_or_default();
    Ok(Storable { meta, strip_fields })
}

fn check_request(req: &ReqView<'_>) -> Result<(), NotStorable> {
    if req.method != b"GET" {
        return Err(NotStorable::Method);
    }
    if req.cc.no_store {
        return Err(NotStorable::NoStoreRequest);
    }
    Ok(())
}

fn check_status(resp: &RespView<'_>) -> Result<(), NotStorable> {
    match resp.status {
        206 => Err(NotStorable::Partial),
        s if s < 200 || s == 304 || s > 999 => Err(NotStorable::Status),
        _ if resp.has_explicit_expiry() || resp.allows_heuristic() => Ok(()),
        _ => Err(NotStorable::Status),
    }
}

fn check_response(resp: &RespView<'_>, opts: &StoreOpts) -> Result<(), NotStorable> {
    if resp.cc.no_store {
        return Err(NotStorable::NoStoreResponse);
    }
    if resp.cc.private.as_ref().is_some_and(Vec::is_empty) {
        return Err(NotStorable::Private);
    }
    if fields::values(resp.headers, b"vary").any(|v| fields::list_items(v).any(|n| n == b"*")) {
        return Err(NotStorable::VaryStar);
    }
    if !opts.allow_set_cookie && fields::has(resp.headers, b"set-cookie") {
        return Err(NotStorable::SetCookie);
    }
    check_size(resp, opts)
}

fn check_size(resp: &RespView<'_>, opts: &StoreOpts) -> Result<(), NotStorable> {
    let (Some(max), Some(len)) = (opts.max_object_bytes, resp.header(b"content-length")) else {
        return Ok(());
    };
    match std::str::from_utf8(fields::trim(len))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) if n > max => Err(NotStorable::TooLarge),
        _ => Ok(()),
    }
}

fn check_authorization(req: &ReqView<'_>, resp: &RespView<'_>) -> Result<(), NotStorable> {
    let cc = &resp.cc;
    let allowed = cc.public || cc.s_maxage.is_some() || cc.must_revalidate;
    if fields::has(req.headers, b"authorization") && !allowed {
        return Err(NotStorable::Authorization);
    }
    Ok(())
}

fn check_useful(resp: &RespView<'_>, meta: &EntryMeta) -> Result<(), NotStorable> {
    let never_fresh = meta.lifetime.secs == 0 || meta.lifetime.source == Source::None;
    if (never_fresh || meta.always_revalidate) && !resp.has_validator() {
        return Err(NotStorable::NoFreshness);
    }
    Ok(())
}

/// Fields a cache does not store or update (RFC 9111 §3.1): connection
/// options, the fields `Connection` names, and proxy authentication.
pub fn is_excepted_from_storage(name: &[u8], headers: &[Field<'_>]) -> bool {
    const EXCEPTED: [&[u8]; 9] = [
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authentication-info",
        b"proxy-authorization",
    ];
    EXCEPTED.iter().any(|e| name.eq_ignore_ascii_case(e))
        || fields::values(headers, b"connection")
            .flat_map(fields::list_items)
            .any(|n| n.eq_ignore_ascii_case(name))
}

/// The response's fields as they should be stored: without the excepted
/// ones and without `strip` (a qualified `private`'s names).
pub fn stored_fields<'a>(headers: &'a [Field<'a>], strip: &[Box<[u8]>]) -> Vec<Field<'a>> {
    headers
        .iter()
        .filter(|(n, _)| !is_excepted_from_storage(n, headers))
        .filter(|(n, _)| !strip.iter().any(|s| n.eq_ignore_ascii_case(s)))
        .copied()
        .collect()
}
