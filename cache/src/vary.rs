//! Variant keys from `Vary` (RFC 9111 §4.1).
//!
//! A variant key holds, for each name the response varies on (lowercased,
//! sorted, deduplicated), whether the request had it and its normalised
//! value: lines joined with commas, whitespace trimmed and collapsed.
//! `Accept-Encoding` is reduced to the set of codings the gateway tells
//! apart ([`ENCODINGS`]), so `gzip, br` and `br;q=1, gzip` share a variant
//! while gzip and plain never do.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{self, Field};
use crate::key::put;

/// Content codings the gateway tells apart in `Accept-Encoding`, sorted.
pub const ENCODINGS: [&[u8]; 4] = [b"br", b"deflate", b"gzip", b"zstd"];

/// `Vary: *`: the response can never be selected from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaryStar;

/// The names a response varies on: lowercased, sorted, deduplicated.
pub fn vary_names(resp_headers: &[Field<'_>]) -> Result<Vec<Box<[u8]>>, VaryStar> {
    let mut names = Vec::new();
    for name in fields::values(resp_headers, b"vary").flat_map(fields::list_items) {
        if name == b"*" {
            return Err(VaryStar);
        }
        names.push(name.to_ascii_lowercase().into_boxed_slice());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The variant key of a request for a response that varies on `vary`
/// (names in any case and order). Empty when `vary` is empty.
pub fn variant_key<N: AsRef<[u8]>>(vary: &[N], req_headers: &[Field<'_>]) -> Bytes {
    let mut names: Vec<Cow<'_, [u8]>> = vary.iter().map(|n| lowercase(n.as_ref())).collect();
    names.sort();
    names.dedup();
    let mut out = BytesMut::with_capacity(names.len() * 32);
    for name in &names {
        put(&mut out, b'v', name);
        match normalised(name, req_headers) {
            Some(v) => {
                out.put_u8(1);
                put(&mut out, b'=', &v);
            }
            None => out.put_u8(0),
        }
    }
    out.freeze()
}

fn lowercase(n: &[u8]) -> Cow<'_, [u8]> {
    if n.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(n.to_ascii_lowercase())
    } else {
        Cow::Borrowed(n)
    }
}

fn normalised(name: &[u8], headers: &[Field<'_>]) -> Option<Vec<u8>> {
    let mut lines = fields::values(headers, name).peekable();
    lines.peek()?;
    if name == b"accept-encoding" {
        return Some(accept_encoding(lines));
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        collapse(line, &mut out);
    }
    Some(out)
}

/// Appends `v` trimmed, with whitespace runs collapsed to one space and
/// none left around commas.
fn collapse(v: &[u8], out: &mut Vec<u8>) {
    let mut space = false;
    for &b in fields::trim(v) {
        if fields::is_ows(b) {
            space = true;
            continue;
        }
        if space && b != b',' && out.last() != Some(&b',') {
            out.push(b' ');
        }
        space = false;
        out.push(b);
    }
}

/// The accepted [`ENCODINGS`] (q > 0, `*` included), comma-joined, or
/// `identity` when none is.
fn accept_encoding<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let (mut yes, mut no, mut star) = (0u8, 0u8, false);
    for item in lines.flat_map(fields::list_items) {
        let mut parts = item.split(|b| *b == b';');
        let coding = fields::trim(parts.next().unwrap_or_default());
        let ok = !parts.any(is_q_zero);
        match (coding, coding_bit(coding)) {
            (b"*", _) => star = ok,
            (_, Some(bit)) if ok => yes |= bit,
            (_, Some(bit)) => no |= bit,
            _ => {}
        }
    }
    let set = if star { !no } else { yes & !no };
    let mut out = Vec::new();
    let accepted = ENCODINGS
        .iter()
        .enumerate()
        .filter(|(i, _)| set & (1 << i) != 0);
    for (_, e) in accepted {
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    if out.is_empty() {
        out.extend_from_slice(b"identity");
    }
    out
}

fn coding_bit(coding: &[u8]) -> Option<u8> {
    let coding: &[u8] = if coding.eq_ignore_ascii_case(b"x-gzip") {
        b"gzip"
    } else {
        coding
    };
    ENCODINGS
        .iter()
        .position(|e| e.eq_ignore_ascii_case(coding))
        .map(|i| 1 << i)
}

/// `q=0`, `q=0.`, `q=0.000` (RFC 9110 §12.4.2).
fn is_q_zero(param: &[u8]) -> bool {
    let p = fields::trim(param);
    let Some(q) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) else {
        return false;
    };
    let q = fields::trim(q);
    q.first() == Some(&b'0') && q[1..].iter().all(|b| *b == b'.' || *b == b'0')
}
