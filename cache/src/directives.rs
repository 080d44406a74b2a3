//! `Cache-Control` parsing for requests and responses (RFC 9111 §5.2,
//! RFC 5861, RFC 8246).
//!
//! Tolerant, as RFC 9111 §4.2.1 and §5.2 ask: names are case-insensitive,
//! values may be tokens or quoted strings, and when a directive repeats the
//! first occurrence wins. A `max-age` or `s-maxage` whose value is not a
//! number counts as 0, so the response is stale ("invalid freshness
//! information" is treated as stale); other invalid values are ignored.

use crate::fields::{self, delta_seconds, Field};

/// Field names listed by a qualified `no-cache` or `private`, lowercased.
/// An empty list is the unqualified form.
pub type FieldNames = Vec<Box<[u8]>>;

/// `max-stale` on a request: any staleness, or up to this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` with no value: any staleness is acceptable.
    Any,
    /// `max-stale=N`.
    Secs(u64),
}

/// The directives of one message's `Cache-Control` header fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `max-age=N` (request or response).
    pub max_age: Option<u64>,
    /// `s-maxage=N` (response; shared caches only).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`, with its field names if qualified.
    pub no_cache: Option<FieldNames>,
    /// `private`, with its field names if qualified.
    pub private: Option<FieldNames>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `only-if-cached` (request).
    pub only_if_cached: bool,
    /// `stale-while-revalidate=N` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
    /// `max-stale[=N]` (request).
    pub max_stale: Option<MaxStale>,
    /// `min-fresh=N` (request).
    pub min_fresh: Option<u64>,
}

// === impl Directives ===

impl Directives {
    /// Parses every `Cache-Control` value, in order.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut d = Self::default();
        for v in values {
            for (name, arg) in Items(v) {
                d.apply(name, arg);
            }
        }
        d
    }

    /// Parses the `Cache-Control` fields among `headers`.
    pub fn from_headers(headers: &[Field<'_>]) -> Self {
        Self::parse(fields::values(headers, b"cache-control"))
    }

    /// `no-cache` without field names (qualified forms are treated the same
    /// by [`crate::storable`], as RFC 9111 §5.2.2.4 notes most caches do).
    pub fn is_no_cache(&self) -> bool {
        self.no_cache.is_some()
    }

    fn apply(&mut self, name: &[u8], arg: Option<&[u8]>) {
        let mut buf = [0u8; 24];
        let Some(name) = lowercase(name, &mut buf) else {
            return;
        };
        match name {
            b"max-age" => first(&mut self.max_age, Some(delta_or_stale(arg))),
            b"s-maxage" => first(&mut self.s_maxage, Some(delta_or_stale(arg))),
            b"no-store" => self.no_store = true,
            b"no-cache" => add_fields(&mut self.no_cache, arg),
            b"private" => add_fields(&mut self.private, arg),
            b"public" => self.public = true,
            b"must-revalidate" => self.must_revalidate = true,
            b"proxy-revalidate" => self.proxy_revalidate = true,
            b"no-transform" => self.no_transform = true,
            b"immutable" => self.immutable = true,
            b"only-if-cached" => self.only_if_cached = true,
            b"stale-while-revalidate" => first(&mut self.stale_while_revalidate, delta(arg)),
            b"stale-if-error" => first(&mut self.stale_if_error, delta(arg)),
            b"max-stale" => first(&mut self.max_stale, max_stale(arg)),
            b"min-fresh" => first(&mut self.min_fresh, delta(arg)),
            _ => {}
        }
    }
}

fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; 24]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

/// Keeps the first occurrence (RFC 9111 §4.2.1).
fn first<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

fn delta(arg: Option<&[u8]>) -> Option<u64> {
    arg.and_then(delta_seconds)
}

/// Invalid or missing freshness values mean "stale" (RFC 9111 §4.2.1).
fn delta_or_stale(arg: Option<&[u8]>) -> u64 {
    delta(arg).unwrap_or(0)
}

fn max_stale(arg: Option<&[u8]>) -> Option<MaxStale> {
    match arg {
        None => Some(MaxStale::Any),
        Some(v) => delta_seconds(v).map(MaxStale::Secs),
    }
}

/// Unqualified wins over qualified: it is the more restrictive.
fn add_fields(slot: &mut Option<FieldNames>, arg: Option<&[u8]>) {
    let names: FieldNames = arg
        .into_iter()
        .flat_map(fields::list_items)
        .map(|n| n.to_ascii_lowercase().into_boxed_slice())
        .collect();
    match slot {
        Some(have) if have.is_empty() => {}
        Some(_) if names.is_empty() => *slot = Some(Vec::new()),
        Some(have) => have.extend(names),
        None => *slot = Some(names),
    }
}

/// Iterates `name[=token|"quoted"]` items of one field value.
struct Items<'a>(&'a [u8]);

// === impl Items ===

impl<'a> Iterator for Items<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = skip(self.0, |b| b == b',' || fields::is_ows(b));
            if rest.is_empty() {
                self.0 = rest;
                return None;
            }
            let end = rest
                .iter()
                .position(|b| matches!(b, b'=' | b',' | b' ' | b'\t'));
            let (name, after) = rest.split_at(end.unwrap_or(rest.len()));
            let (arg, after) = argument(skip(after, fields::is_ows));
            self.0 = after;
            if !name.is_empty() {
                return Some((name, arg));
            }
        }
    }
}

fn skip(v: &[u8], pred: impl Fn(u8) -> bool) -> &[u8] {
    let n = v.iter().position(|b| !pred(*b)).unwrap_or(v.len());
    &v[n..]
}

/// The value after `=`, if any, and the input after the item's comma.
fn argument(v: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let Some(v) = v.strip_prefix(b"=") else {
        return (None, to_comma(v));
    };
    let v = skip(v, fields::is_ows);
    if let Some(q) = v.strip_prefix(b"\"") {
        let end = closing_quote(q);
        let after = q.get(end + 1..).unwrap_or_default();
        return (Some(&q[..end]), to_comma(after));
    }
    let end = v.iter().position(|b| *b == b',').unwrap_or(v.len());
    (Some(fields::trim(&v[..end])), &v[end..])
}

/// Index of the closing `"` (escapes skipped), or the end of input.
fn closing_quote(q: &[u8]) -> usize {
    let mut i = 0;
    while let Some(b) = q.get(i) {
        match b {
            b'"' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    q.len()
}

fn to_comma(v: &[u8]) -> &[u8] {
    &v[v.iter().position(|b| *b == b',').unwrap_or(v.len())..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(v: &str) -> Directives {
        Directives::parse([v.as_bytes()])
    }

    #[test]
    fn numbers_and_flags() {
        let d = cc("public, max-age=60, s-maxage=30, must-revalidate, proxy-revalidate");
        assert_eq!((d.max_age, d.s_maxage), (Some(60), Some(30)));
        assert!(d.public && d.must_revalidate && d.proxy_revalidate);
        assert!(!d.no_store && d.no_cache.is_none() && d.private.is_none());
    }

    #[test]
    fn case_spaces_quotes() {
        let d = cc("  MAX-AGE = \"120\" ,No-Store,\tIMMUTABLE ");
        assert_eq!(d.max_age, Some(120));
        assert!(d.no_store && d.immutable);
    }

    #[test]
    fn first_duplicate_wins() {
        let d = Directives::parse([
            &b"max-age=10"[..],
            b"max-age=99, stale-if-error=5, stale-if-error=9",
        ]);
        assert_eq!(d.max_age, Some(10));
        assert_eq!(d.stale_if_error, Some(5));
    }

    #[test]
    fn invalid_max_age_is_stale() {
        assert_eq!(cc("max-age=abc").max_age, Some(0));
        assert_eq!(cc("max-age").max_age, Some(0));
        assert_eq!(cc("s-maxage=-5").s_maxage, Some(0));
        assert_eq!(cc("max-age=1e3").max_age, Some(0));
    }

    #[test]
    fn invalid_other_values_ignored() {
        let d = cc("stale-while-revalidate=x, min-fresh=, max-stale=soon");
        assert_eq!(
            (d.stale_while_revalidate, d.min_fresh, d.max_stale),
            (None, None, None)
        );
    }

    #[test]
    fn qualified_field_lists() {
        let d = cc("private=\"Set-Cookie, X-User\", no-cache=\"x-a\"");
        let private = d.private.as_deref().unwrap_or_default();
        assert_eq!(
            private,
            [
                b"set-cookie".to_vec().into_boxed_slice(),
                b"x-user".to_vec().into()
            ]
        );
        assert_eq!(d.no_cache.map(|v| v.len()), Some(1));
    }

    #[test]
    fn unqualified_beats_qualified() {
        assert_eq!(cc("no-cache=\"a\", no-cache").no_cache, Some(vec![]));
        assert_eq!(cc("no-cache, no-cache=\"a\"").no_cache, Some(vec![]));
        assert_eq!(cc("private").private, Some(vec![]));
    }

    #[test]
    fn request_directives() {
        let d = cc("max-stale, min-fresh=5, only-if-cached, no-cache");
        assert_eq!(d.max_stale, Some(MaxStale::Any));
        assert_eq!(d.min_fresh, Some(5));
        assert!(d.only_if_cached && d.is_no_cache());
        assert_eq!(cc("max-stale=30").max_stale, Some(MaxStale::Secs(30)));
    }

    #[test]
    fn quoted_comma_does_not_split() {
        let d = cc("foo=\"a, max-age=5\", max-age=7");
        assert_eq!(d.max_age, Some(7));
    }

    #[test]
    fn junk_never_panics() {
        for s in ["=", ",,,", "\"", "max-age=\"", "a=\"\\", "===,=", "x y z"] {
            let _ = cc(s);
        }
    }
}
