//! Cache keys that two different requests can never share.
//!
//! The key's bytes are a sequence of parts, each a one-byte tag, a LEB128
//! length and the bytes themselves, in a fixed order. Every part is
//! length-prefixed, so no value (a header holding `\0`, a tag byte, or the
//! text of the next part) can shift a boundary: the encoding is injective,
//! and equality compares these bytes. Configured parts carry their own
//! name, so routes keyed on different parts never share a key either.
//!
//! The 128-bit hash is two ahash passes with fixed seeds (shard routing
//! and table lookup only; a collision costs a byte comparison, never a
//! wrong answer). ahash output may differ between ahash versions and CPU
//! feature sets, so the hash is for one process's memory, never for disk.

use std::hash::{Hash, Hasher};

use ahash::RandomState;
use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{self, Field};

const TAG_METHOD: u8 = b'M';
const TAG_SCHEME: u8 = b'S';
const TAG_HOST: u8 = b'H';
const TAG_TARGET: u8 = b'T';
const TAG_HEADER: u8 = b'h';
const TAG_COOKIE: u8 = b'c';

const SEEDS_A: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];
const SEEDS_B: [u64; 4] = [
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
    0x3f84_d5b5_b547_0917,
];

/// The request line and authority the key starts from. `target` is the
/// path and query as the engine normalised them.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// The method; GET and HEAD share a key.
    pub method: &'a [u8],
    /// `http` or `https`.
    pub scheme: &'a [u8],
    /// The Host (or :authority); lowercased and stripped of a default port.
    pub host: &'a [u8],
    /// The normalised path and query.
    pub target: &'a [u8],
}

/// A configured extra key part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// Every value of a request header (name lowercased).
    Header(Box<[u8]>),
    /// One cookie's value from the `Cookie` header (name case-sensitive).
    Cookie(Box<[u8]>),
}

/// A cache key: its full bytes (for equality) and a 128-bit hash.
#[derive(Debug, Clone)]
pub struct CacheKey {
    hash: u128,
    bytes: Bytes,
}

// === impl KeyPart ===

impl KeyPart {
    /// A header part; the name is lowercased here.
    pub fn header(name: &[u8]) -> Self {
        Self::Header(name.to_ascii_lowercase().into_boxed_slice())
    }

    /// A cookie part.
    pub fn cookie(name: &[u8]) -> Self {
        Self::Cookie(name.into())
    }

    fn encode(&self, headers: &[Field<'_>], out: &mut BytesMut) {
        match self {
            Self::Header(name) => {
                put(out, TAG_HEADER, name);
                let vals: Vec<&[u8]> = fields::values(headers, name).collect();
                put_len(out, vals.len());
                vals.iter().for_each(|v| put(out, TAG_HEADER, v));
            }
            Self::Cookie(name) => {
                put(out, TAG_COOKIE, name);
                let v = cookie(headers, name);
                out.put_u8(u8::from(v.is_some()));
                put(out, TAG_COOKIE, v.unwrap_or_default());
            }
        }
    }
}

// === impl CacheKey ===

impl CacheKey {
    /// Builds the key of a request from `input` and the route's `parts`.
    pub fn new(input: &KeyInput<'_>, parts: &[KeyPart], headers: &[Field<'_>]) -> Self {
        let mut out = BytesMut::with_capacity(32 + input.host.len() + input.target.len());
        put(&mut out, TAG_METHOD, method_class(input.method));
        put(&mut out, TAG_SCHEME, input.scheme);
        put(
            &mut out,
            TAG_HOST,
            &normalise_host(input.scheme, input.host),
        );
        put(&mut out, TAG_TARGET, input.target);
        parts.iter().for_each(|p| p.encode(headers, &mut out));
        Self::from_bytes(out.freeze())
    }

    /// Wraps already-encoded key bytes (a variant key, a purge lookup).
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            hash: hash128(&bytes),
            bytes,
        }
    }

    /// The 128-bit hash.
    pub fn hash128(&self) -> u128 {
        self.hash
    }

    /// The full key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The owner shard among `shards` (0 if `shards` is 0).
    pub fn shard(&self, shards: usize) -> usize {
        let high = (self.hash >> 64) as u64;
        usize::try_from(high % (shards.max(1) as u64)).unwrap_or(0)
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.bytes == other.bytes
    }
}

impl Eq for CacheKey {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash as u64);
    }
}

/// GET and HEAD share entries (HEAD is answered from the GET entry).
fn method_class(method: &[u8]) -> &[u8] {
    if method == b"HEAD" {
        b"GET"
    } else {
        method
    }
}

/// Lowercases the host and drops the scheme's default port (and an empty
/// port, RFC 3986 §6.2.3).
pub fn normalise_host(scheme: &[u8], host: &[u8]) -> Vec<u8> {
    let mut h = host.to_ascii_lowercase();
    let default: &[u8] = if scheme.eq_ignore_ascii_case(b"https") {
        b":443"
    } else {
        b":80"
    };
    if h.ends_with(default) {
        h.truncate(h.len() - default.len());
    } else if h.ends_with(b":") {
        h.pop();
    }
    h
}

/// The first `name=value` in the `Cookie` headers.
fn cookie<'a>(headers: &'a [Field<'a>], name: &[u8]) -> Option<&'a [u8]> {
    fields::values(headers, b"cookie")
        .flat_map(|v| v.split(|b| *b == b';'))
        .map(fields::trim)
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix(b"="))
}

pub(crate) fn put(out: &mut BytesMut, tag: u8, v: &[u8]) {
    out.put_u8(tag);
    put_len(out, v.len());
    out.put_slice(v);
}

/// LEB128: injective for every length.
pub(crate) fn put_len(out: &mut BytesMut, mut n: usize) {
    while n >= 0x80 {
        out.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    out.put_u8(n as u8);
}

fn hash128(bytes: &[u8]) -> u128 {
    let a = RandomState::with_seeds(SEEDS_A[0], SEEDS_A[1], SEEDS_A[2], SEEDS_A[3]).hash_one(bytes);
    let b = RandomState::with_seeds(SEEDS_B[0], SEEDS_B[1], SEEDS_B[2], SEEDS_B[3]).hash_one(bytes);
    (u128::from(b) << 64) | u128::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(method: &str, host: &str, target: &str) -> CacheKey {
        let input = KeyInput {
            method: method.as_bytes(),
            scheme: b"http",
            host: host.as_bytes(),
            target: target.as_bytes(),
        };
        CacheKey::new(&input, &[], &[])
    }

    #[test]
    fn get_and_head_share() {
        assert_eq!(key("GET", "a", "/x"), key("HEAD", "a", "/x"));
        assert_ne!(key("GET", "a", "/x"), key("POST", "a", "/x"));
    }

    #[test]
    fn host_normalised() {
        assert_eq!(
            key("GET", "Example.COM:80", "/"),
            key("GET", "example.com", "/")
        );
        assert_eq!(
            key("GET", "example.com:", "/"),
            key("GET", "example.com", "/")
        );
        assert_ne!(
            key("GET", "example.com:8080", "/"),
            key("GET", "example.com", "/")
        );
        assert_eq!(normalise_host(b"https", b"[::1]:443"), b"[::1]");
        assert_eq!(normalise_host(b"https", b"a:80"), b"a:80");
    }

    #[test]
    fn boundaries_cannot_shift() {
        assert_ne!(key("GET", "ab", "/c"), key("GET", "a", "b/c"));
        assert_ne!(key("GET", "a\x01T", "/"), key("GET", "a", "T/"));
    }

    #[test]
    fn leb128_lengths() {
        let mut b = BytesMut::new();
        put_len(&mut b, 300);
        assert_eq!(&b[..], [0xac, 0x02]);
    }

    #[test]
    fn shard_in_range() {
        let k = key("GET", "a", "/");
        assert!(k.shard(3) < 3);
        assert_eq!(k.shard(0), 0);
    }
}
