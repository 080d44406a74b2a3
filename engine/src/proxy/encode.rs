//! Heads as they leave coregate: the request re-encoded for the upstream
//! (hop-by-hop fields dropped, forwarding fields set, one Content-Length),
//! and the response re-encoded for the client with its framing.

use super::*;
use crate::client::Client;
use crate::snapshot::access::without_param;
use bytes::{Bytes, BytesMut};
use parser::{BodyKind, RequestHead, Version};
use std::net::SocketAddr;

/// Re-encodes the request head for the upstream.
pub(super) fn encode_request(c: &Client, req: &Request<'_>) -> Bytes {
    let h = req.head;
    let mut out = BytesMut::with_capacity(h.as_bytes().len() + 192);
    let mut rewritten = Vec::new();
    let target = upstream_target(req, &mut rewritten);
    parser::write_request_line(h.method_bytes(), target, Version::Http11, &mut out);
    let tls = c.tls.as_deref();
    let subject_header = tls.and_then(|t| t.subject_header.as_deref());
    let has_xff = copy_fields(req, &mut out);
    req.route.request_headers.write(&mut out);
    write_host(req, &mut out);
    if h.body() == BodyKind::Chunked {
        parser::write_header(b"transfer-encoding", b"chunked", &mut out);
    }
    if let Some(proto) = req.upgrade {
        parser::write_header(b"connection", b"upgrade", &mut out);
        parser::write_header(b"upgrade", proto, &mut out);
    }
    write_forwarded_for(&mut out, h, c.peer, has_xff);
    let proto: &[u8] = if tls.is_some() { b"https" } else { b"http" };
    parser::write_header(b"x-forwarded-proto", proto, &mut out);
    if let (Some(name), Some(subject)) = (
        subject_header,
        tls.and_then(|t| t.summary.client_subject.as_deref()),
    ) {
        parser::write_header(name.as_bytes(), subject.as_bytes(), &mut out);
    }
    if let Some(host) = req.target.authority.or_else(|| h.host()) {
        parser::write_header(b"x-forwarded-host", host, &mut out);
    }
    parser::write_header(b"x-request-id", req.id, &mut out);
    if let Some(f) = &req.fetch {
        if let Some(etag) = f.if_none_match {
            parser::write_header(b"if-none-match", etag, &mut out);
        }
        if let Some(date) = f.if_modified_since {
            parser::write_header(b"if-modified-since", date, &mut out);
        }
    }
    if let Some(caller) = req.caller {
        let [app, team] = &req.view.snap.identity;
        parser::write_header(app, caller.consumer.app_name.as_bytes(), &mut out);
        parser::write_header(team, caller.consumer.team_name.as_bytes(), &mut out);
    }
    parser::end_head(&mut out);
    out.freeze()
}

/// The target sent upstream: the normalised path (or the client's bytes,
/// when the route asks), after the route's rewrite.
fn upstream_target<'a>(req: &'a Request<'_>, rewritten: &'a mut Vec<u8>) -> &'a [u8] {
    let target = match (req.route.forward_original, req.target.is_absolute()) {
        (false, _) => req.path,
        (true, true) => req.target.path,
        (true, false) => req.head.target(),
    };
    let key_query = req.caller.and_then(|c| c.service.key_query.as_deref());
    if let Some(stripped) = key_query.and_then(|q| without_param(target, q.as_bytes())) {
        if !req.route.rewrite.apply(&stripped, rewritten) {
            *rewritten = stripped;
        }
        return rewritten;
    }
    if req.route.rewrite.apply(target, rewritten) {
        rewritten
    } else {
        target
    }
}

/// Copies the client's fields that go upstream as they are; returns
/// whether an `X-Forwarded-For` chain was seen (it is extended, not copied).
/// A field named like any configured client-certificate header is never
/// copied, whichever listener the request came in on: only coregate sets
/// it, from a verified certificate. Nor is a field named like an identity
/// header (only coregate sets them, for a caller it let through), nor the
/// credential that let the caller through.
fn copy_fields(req: &Request<'_>, out: &mut BytesMut) -> bool {
    let reserved = &req.view.snap.tls.subject_headers;
    let identity = &req.view.snap.identity;
    let key = req.caller.map(|c| c.service.key_header.as_bytes());
    let authorization = req.caller.is_some_and(|c| c.authorization);
    let (h, ops) = (req.head, &req.route.request_headers);
    let mut has_xff = false;
    let mut length = h.content_length();
    for (name, value) in h.headers() {
        if h.is_hop_by_hop(name) || is_rewritten(name) || is_upgrade_only(name) {
            has_xff |= name.eq_ignore_ascii_case(b"x-forwarded-for");
            continue;
        }
        let absolute_host = req.target.is_absolute() && name.eq_ignore_ascii_case(b"host");
        let spoofed = reserved
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
            || identity.iter().any(|s| name.eq_ignore_ascii_case(s))
            || key.is_some_and(|k| name.eq_ignore_ascii_case(k))
            || (authorization && name.eq_ignore_ascii_case(b"authorization"));
        let conditional = req.fetch.is_some() && is_conditional(name);
        if absolute_host || spoofed || conditional || (!ops.is_empty() && ops.drops(name)) {
            continue;
        }
        write_field(name, value, &mut length, out);
    }
    has_xff
}

/// A client's conditional or range field, which a cache's fetch leaves
/// behind: the cache wants the whole response, and answers the client's
/// conditions itself.
fn is_conditional(name: &[u8]) -> bool {
    const FIELDS: [&[u8]; 6] = [
        b"if-none-match",
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
        b"range",
    ];
    FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f))
}

/// Host for the upstream: an absolute-form target's authority; for an
/// HTTP/1.0 request without Host, the group's name (nginx's `$proxy_host`).
fn write_host(req: &Request<'_>, out: &mut BytesMut) {
    if let Some(authority) = req.target.authority {
        parser::write_header(b"host", authority, out);
    } else if req.head.host().is_none() {
        parser::write_header(b"host", group_host(req), out);
    }
}

/// The request's group name as a Host value ("upstream" if unknown).
fn group_host<'r>(req: &'r Request<'_>) -> &'r [u8] {
    let groups = &req.view.snap.groups;
    let group = groups.get(req.group).map_or("upstream", |g| &*g.name);
    group.as_bytes()
}

/// Headers that only mean something with an h2c upgrade, which is never
/// forwarded (`HTTP2-Settings`, even when `Connection` does not list it).
pub(super) fn is_upgrade_only(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"http2-settings")
}

/// Writes one forwarded field. Content-Length goes out once, as the single
/// value the parser checked all its lines and list items agree on (`46, 46`
/// or two `46` lines become one `content-length: 46`): `length` is taken by
/// the first Content-Length line and later ones are dropped.
pub(super) fn write_field(name: &[u8], value: &[u8], length: &mut Option<u64>, out: &mut BytesMut) {
    if !name.eq_ignore_ascii_case(b"content-length") {
        parser::write_header(name, value, out);
    } else if let Some(n) = length.take() {
        parser::write_content_length(n, out);
    }
}

/// Headers coregate sets itself, dropped from the client's copy.
pub(super) fn is_rewritten(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 5] = [
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"expect",
    ];
    name.len() >= 6 && NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Appends the client address to the `X-Forwarded-For` chain, written
/// straight into the head (no temporary buffer).
pub(super) fn write_forwarded_for(
    out: &mut BytesMut,
    h: &RequestHead,
    peer: SocketAddr,
    chain: bool,
) {
    out.extend_from_slice(b"x-forwarded-for: ");
    if chain {
        let all = h
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"));
        for (_, v) in all {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
    }
    crate::text::ip(out, peer.ip());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_headers() {
        assert!(is_rewritten(b"X-Forwarded-For"));
        assert!(is_rewritten(b"expect"));
        assert!(!is_rewritten(b"host"));
    }
}
