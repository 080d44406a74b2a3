//! `POST /cache/purge`: drops stored responses from the host's cache.
//!
//! One of, in the query (values percent-encoded):
//! - `url=http://host/path?query`: that URL, every variant;
//! - `prefix=http://host/path/`: every URL of the host under the prefix;
//! - `route=NAME`: everything the route stored;
//! - `all=true`: everything.
//!
//! With a root token configured (the management API's), the request needs
//! `Authorization: Bearer <token>` (compared in constant time); without
//! one, only a loopback caller naming a loopback `Host` may purge (a page
//! reaching here through DNS rebinding names another host).

use std::net::IpAddr;

use parser::RequestHead;

use super::{Admin, Reply};
use crate::cache::Purge;
use crate::observe::accesslog::json_bytes;

/// Answers a purge.
pub(super) fn handle(
    admin: &Admin,
    head: &RequestHead,
    query: &[u8],
    peer: Option<IpAddr>,
) -> Reply {
    if head.method_bytes() != b"POST" {
        return Reply::text(405, "method not allowed: POST /cache/purge?url=...\n");
    }
    if let Err(r) = authorize(admin, head, peer) {
        return r;
    }
    let what = match parse(query) {
        Ok(w) => w,
        Err(message) => {
            let mut body = String::from("{\"error\":");
            json_bytes(&mut body, message.as_bytes());
            body.push_str("}\n");
            return Reply::json(400, body);
        }
    };
    let purged = admin.shared.published.load().cache.purge(&what);
    Reply::json(200, format!("{{\"purged\":{purged}}}\n"))
}

fn authorize(admin: &Admin, head: &RequestHead, peer: Option<IpAddr>) -> Result<(), Reply> {
    let given = head.header("authorization");
    match (&admin.token, given) {
        (Some(token), Some(v)) if token.admits(v) => Ok(()),
        (Some(_), _) => Err(Reply::text(
            401,
            "a root token is needed: Authorization: Bearer <token>\n",
        )),
        (None, _) => {
            let local_peer = peer.is_some_and(|ip| ip.is_loopback());
            let local_host = head.host().is_some_and(api::is_loopback_host_value);
            match local_peer && local_host {
                true => Ok(()),
                false => Err(Reply::text(
                    403,
                    "purges from beyond loopback need a root token (access.api_token_file or COREGATE_API_TOKEN)\n",
                )),
            }
        }
    }
}

/// The one purge the query asks for.
fn parse(query: &[u8]) -> Result<Purge, String> {
    let mut found = None;
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let v = decode(v).ok_or("bad percent-encoding")?;
        let what = match k {
            b"url" => {
                let (host, target) = split_url(&v)?;
                Purge::Url { host, target }
            }
            b"prefix" => {
                let (host, prefix) = split_url(&v)?;
                Purge::Prefix { host, prefix }
            }
            b"route" if !v.is_empty() => Purge::Route(String::from_utf8_lossy(&v).into_owned()),
            b"all" if v == b"true" => Purge::Everything,
            _ => {
                return Err(format!(
                    "unknown parameter {:?}",
                    String::from_utf8_lossy(k)
                ))
            }
        };
        if found.replace(what).is_some() {
            return Err("one of url, prefix, route or all".into());
        }
    }
    found.ok_or_else(|| "say what to purge: url=, prefix=, route= or all=true".into())
}

/// `scheme://authority/target` → the normalised host and the target.
fn split_url(url: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let bad = || "not an absolute http(s) URL".to_owned();
    let at = url.windows(3).position(|w| w == b"://").ok_or_else(bad)?;
    let scheme = url[..at].to_ascii_lowercase();
    if scheme != b"http" && scheme != b"https" {
        return Err(bad());
    }
    let rest = &url[at + 3..];
    let slash = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let (authority, target) = rest.split_at(slash);
    if authority.is_empty() {
        return Err(bad());
    }
    let target = if target.is_empty() {
        b"/".to_vec()
    } else {
        target.to_vec()
    };
    Ok((cache::normalise_host(&scheme, authority), target))
}

/// Percent-decoding (`+` stays `+`).
fn decode(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let hex = std::str::from_utf8(v.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse() {
        match parse(b"url=http%3A%2F%2FExample.com%3A80%2Fa%3Fb%3D1") {
            Ok(Purge::Url { host, target }) => {
                assert_eq!(host, b"example.com");
                assert_eq!(target, b"/a?b=1");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(b"route=r1"), Ok(Purge::Route(r)) if r == "r1"));
        assert!(matches!(parse(b"all=true"), Ok(Purge::Everything)));
        assert!(parse(b"").is_err());
        assert!(parse(b"url=ftp://x/").is_err());
        assert!(parse(b"all=true&route=a").is_err());
        assert!(parse(b"url=%zz").is_err());
    }
}
