//! Validators: revalidating a stored entry upstream, answering a client's
//! own conditional request from the cache, and folding a 304 into the
//! stored header fields (RFC 9110 §13, RFC 9111 §3.2 and §4.3).

use bytes::Bytes;

use crate::date;
use crate::fields::{self, Field};
use crate::storable::is_excepted_from_storage;

/// Fields a 304 from the cache carries (RFC 9110 §15.4.5), lowercased.
pub const NOT_MODIFIED_FIELDS: [&[u8]; 6] = [
    b"cache-control",
    b"content-location",
    b"date",
    b"etag",
    b"expires",
    b"vary",
];

/// The validators to send when revalidating a stored entry (RFC 9111
/// §4.3.1): `If-None-Match` from `ETag`, `If-Modified-Since` from
/// `Last-Modified`, both verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validators<'a> {
    /// Value for `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// Value for `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
}

/// How to answer a client's conditional request from a stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `304 Not Modified` with [`NOT_MODIFIED_FIELDS`].
    NotModified,
    /// The full stored response.
    Full,
}

// === impl Validators ===

impl<'a> Validators<'a> {
    /// The validators of a stored response's fields.
    pub fn of(stored: &'a [Field<'a>]) -> Self {
        Self {
            if_none_match: fields::first(stored, b"etag"),
            if_modified_since: fields::first(stored, b"last-modified"),
        }
    }

    /// Whether there is anything to revalidate with.
    pub fn is_empty(&self) -> bool {
        self.if_none_match.is_none() && self.if_modified_since.is_none()
    }
}

/// Evaluates `If-None-Match` / `If-Modified-Since` of a GET or HEAD
/// against a stored response (RFC 9110 §13.2.2). Only 2xx entries are
/// evaluated; `If-Modified-Since` counts only without `If-None-Match`.
pub fn evaluate(req: &[Field<'_>], stored_status: u16, stored: &[Field<'_>]) -> Answer {
    if !(200..300).contains(&stored_status) {
        return Answer::Full;
    }
    let matched = if fields::has(req, b"if-none-match") {
        none_match_hits(req, fields::first(stored, b"etag"))
    } else {
        not_modified_since(req, stored)
    };
    if matched {
        Answer::NotModified
    } else {
        Answer::Full
    }
}

/// `If-None-Match` with weak comparison: `*` matches any entry.
fn none_match_hits(req: &[Field<'_>], etag: Option<&[u8]>) -> bool {
    let mut tags = fields::values(req, b"if-none-match").flat_map(EntityTags::new);
    match etag.and_then(|e| EntityTags::new(e).next()) {
        Some(ours) => tags.any(|t| t.is_star() || t.weak_eq(&ours)),
        None => tags.any(|t| t.is_star()),
    }
}

fn not_modified_since(req: &[Field<'_>], stored: &[Field<'_>]) -> bool {
    let since = fields::first(req, b"if-modified-since").and_then(date::parse);
    let modified = fields::first(stored, b"last-modified").and_then(date::parse);
    matches!((since, modified), (Some(s), Some(m)) if m <= s)
}

/// An entity tag: `W/` or not, and the quoted opaque tag (or `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntityTag<'a> {
    pub(crate) weak: bool,
    pub(crate) opaque: &'a [u8],
}

// === impl EntityTag ===

impl EntityTag<'_> {
    fn is_star(&self) -> bool {
        self.opaque == b"*"
    }

    fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): neither is weak.
    pub(crate) fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }
}

/// Iterates the entity tags of a list; a quoted tag may hold commas.
pub(crate) struct EntityTags<'a>(&'a [u8]);

// === impl EntityTags ===

impl<'a> EntityTags<'a> {
    pub(crate) fn new(v: &'a [u8]) -> Self {
        Self(v)
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = EntityTag<'a>;

    fn next(&mut self) -> Option<EntityTag<'a>> {
        let start = self
            .0
            .iter()
            .position(|b| !matches!(b, b',' | b' ' | b'\t'))?;
        let rest = &self.0[start..];
        if let Some(after) = rest.strip_prefix(b"*") {
            self.0 = after;
            return Some(EntityTag {
                weak: false,
                opaque: b"*",
            });
        }
        let (weak, tag) = rest
            .strip_prefix(b"W/")
            .map_or((false, rest), |t| (true, t));
        let close = tag
            .strip_prefix(b"\"")
            .and_then(|t| t.iter().position(|b| *b == b'"'));
        let Some(close) = close else {
            self.0 = &[];
            return None;
        };
        self.0 = &tag[close + 2..];
        Some(EntityTag {
            weak,
            opaque: &tag[..close + 2],
        })
    }
}

/// The stored fields updated by a 304's (RFC 9111 §3.2, §4.3.4): every
/// field the 304 carries replaces the stored values of that name, except
/// `Content-Length` and the fields a cache never stores (§3.1). A stored
/// `Age` or `Date` is dropped in favour of the 304's (or none, so the
/// engine stamps its own), since the entry's age restarts from the 304.
pub fn merge_304(stored: &[Field<'_>], not_modified: &[Field<'_>]) -> Vec<(Bytes, Bytes)> {
    let updatable = |n: &[u8]| {
        !n.eq_ignore_ascii_case(b"content-length") && !is_excepted_from_storage(n, not_modified)
    };
    let replaced = |n: &[u8]| {
        n.eq_ignore_ascii_case(b"age")
            || n.eq_ignore_ascii_case(b"date")
            || (updatable(n) && fields::has(not_modified, n))
    };
    let kept = stored.iter().filter(|(n, _)| !replaced(n));
    let added = not_modified.iter().filter(|(n, _)| updatable(n));
    kept.chain(added)
        .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_with_commas() {
        let tags: Vec<_> = EntityTags::new(b"\"a,b\", W/\"c\" ,*").collect();
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[0].opaque, b"\"a,b\"");
        assert!(tags[1].weak && tags[2].is_star());
    }

    #[test]
    fn malformed_tags_end_the_list() {
        assert_eq!(EntityTags::new(b"\"open").count(), 0);
        assert_eq!(EntityTags::new(b"W/").count(), 0);
        assert_eq!(EntityTags::new(b"abc").count(), 0);
    }
}
