//! A request's key under a policy: its parts (address or network, app,
//! team, a header's value, the route) written into a hasher, for the
//! local tables, or into bytes, for Redis. A request that lacks a part
//! is counted by its address or not at all, as the policy says; a header
//! value over the policy's `key_max` is hashed like the rest, or refused.

use std::hash::Hasher;
use std::net::IpAddr;

use parser::RequestHead;
use tuning::{LimitKey, LimitPolicy, MissingKey};

/// What a policy's key is made of, for one request.
pub(crate) struct Facts<'a> {
    /// The TCP peer's address.
    pub(crate) ip: IpAddr,
    /// The caller, on a route of a service with auth.
    pub(crate) caller: Option<&'a access::Consumer>,
    pub(crate) head: &'a RequestHead,
    /// The route's name (stable across reloads and hosts, unlike its
    /// position).
    pub(crate) route: &'a str,
}

/// The outcome of writing a request's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyed {
    /// Written.
    Key,
    /// The request lacks a part and the policy skips such requests.
    Skip,
    /// A header part is longer than the policy allows.
    TooLong,
}

/// Writes the key of `f` under `p` into `h`.
pub(crate) fn write(p: &LimitPolicy, f: &Facts<'_>, h: &mut impl Hasher) -> Keyed {
    let complete = p.key.iter().all(|k| present(k, f));
    if !complete {
        return match p.missing {
            MissingKey::Skip => Keyed::Skip,
            MissingKey::Ip => {
                part(&LimitKey::Ip(None), f, h);
                Keyed::Key
            }
        };
    }
    let too_long = p.key.iter().any(|k| match k {
        LimitKey::Header(name) => f.head.header(name).is_some_and(|v| v.len() > p.key_max),
        _ => false,
    });
    if too_long && p.reject_long_keys {
        return Keyed::TooLong;
    }
    for k in &p.key {
        part(k, f, h);
    }
    Keyed::Key
}

fn present(k: &LimitKey, f: &Facts<'_>) -> bool {
    match k {
        LimitKey::App | LimitKey::Team => f.caller.is_some(),
        LimitKey::Header(name) => f.head.header(name).is_some(),
        LimitKey::Ip(_) | LimitKey::Route => true,
    }
}

/// One part, tagged so that parts of different kinds never collide.
fn part(k: &LimitKey, f: &Facts<'_>, h: &mut impl Hasher) {
    match k {
        LimitKey::Ip(prefix) => {
            let (v4, net) = tuning::IpNet::network_of(f.ip, *prefix);
            h.write_u8(if v4 { b'4' } else { b'6' });
            h.write(&net.to_be_bytes());
        }
        LimitKey::App => {
            h.write_u8(b'a');
            h.write(&f.caller.map_or(0, |c| c.app).to_be_bytes());
        }
        LimitKey::Team => {
            h.write_u8(b't');
            h.write(&f.caller.map_or(0, |c| c.team).to_be_bytes());
        }
        LimitKey::Header(name) => {
            let v = f.head.header(name).unwrap_or_default();
            h.write_u8(b'h');
            h.write(&(v.len() as u64).to_be_bytes());
            h.write(v);
        }
        LimitKey::Route => {
            h.write_u8(b'r');
            h.write(&(f.route.len() as u64).to_be_bytes());
            h.write(f.route.as_bytes());
        }
    }
}

/// A key written out as bytes (for Redis, which gets its digest).
#[derive(Debug, Default)]
pub(crate) struct KeyBytes(pub(crate) Vec<u8>);

impl Hasher for KeyBytes {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}
