//! Keys never collide across different requests; variants never mix.

mod common;

use cache::{variant_key, vary_names, CacheKey, KeyInput, KeyPart, VaryStar};
use common::h;
use proptest::prelude::*;

fn key_with(
    method: &[u8],
    host: &[u8],
    target: &[u8],
    parts: &[KeyPart],
    headers: &[(&[u8], &[u8])],
) -> CacheKey {
    CacheKey::new(
        &KeyInput {
            method,
            scheme: b"https",
            host,
            target,
        },
        parts,
        headers,
    )
}

#[test]
fn header_part_value_cannot_inject() {
    let parts = [KeyPart::header(b"X-Tenant"), KeyPart::cookie(b"lang")];
    let a = key_with(
        b"GET",
        b"h",
        b"/",
        &parts,
        &h(&["X-Tenant: a\0c\x01lang", "Cookie: lang=en"]),
    );
    let b = key_with(
        b"GET",
        b"h",
        b"/",
        &parts,
        &h(&["X-Tenant: a", "Cookie: lang=\0c\x01langen"]),
    );
    assert_ne!(a, b);
    assert_ne!(a.as_bytes(), b.as_bytes());
}

#[test]
fn absent_empty_and_repeated_headers_differ() {
    let parts = [KeyPart::header(b"x-v")];
    let absent = key_with(b"GET", b"h", b"/", &parts, &[]);
    let empty = key_with(b"GET", b"h", b"/", &parts, &[(b"x-v", b"")]);
    let two = key_with(
        b"GET",
        b"h",
        b"/",
        &parts,
        &[(b"x-v", b"a"), (b"x-v", b"b")],
    );
    let joined = key_with(b"GET", b"h", b"/", &parts, &[(b"x-v", b"a, b")]);
    assert_ne!(absent, empty);
    assert_ne!(two, joined);
}

#[test]
fn header_outside_the_key_cannot_poison() {
    let parts = [KeyPart::header(b"x-tenant")];
    let clean = key_with(b"GET", b"h", b"/", &parts, &h(&["X-Tenant: a"]));
    let poisoned = key_with(
        b"GET",
        b"h",
        b"/",
        &parts,
        &h(&["X-Tenant: a", "X-Forwarded-Host: evil"]),
    );
    assert_eq!(clean, poisoned);
}

#[test]
fn cookie_part_picks_the_named_cookie() {
    let parts = [KeyPart::cookie(b"lang")];
    let a = key_with(b"GET", b"h", b"/", &parts, &h(&["Cookie: x=1; lang=en"]));
    let b = key_with(b"GET", b"h", b"/", &parts, &h(&["Cookie: lang=en; y=2"]));
    let c = key_with(b"GET", b"h", b"/", &parts, &h(&["Cookie: xlang=en"]));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn different_part_lists_never_share() {
    let a = key_with(b"GET", b"h", b"/", &[KeyPart::header(b"a")], &[]);
    let b = key_with(b"GET", b"h", b"/", &[KeyPart::header(b"b")], &[]);
    assert_ne!(a, b);
}

#[test]
fn vary_gzip_and_plain_never_mix() {
    let vary = [&b"Accept-Encoding"[..]];
    let gzip = variant_key(&vary, &h(&["Accept-Encoding: gzip"]));
    let plain = variant_key(&vary, &h(&["Accept-Encoding: identity"]));
    let gzip_refused = variant_key(&vary, &h(&["Accept-Encoding: gzip;q=0"]));
    let absent = variant_key(&vary, &[]);
    assert_ne!(gzip, plain);
    assert_eq!(plain, gzip_refused);
    assert_ne!(absent, plain);
    assert_ne!(absent, gzip);
}

#[test]
fn vary_accept_encoding_ignores_trivia() {
    let vary = [&b"accept-encoding"[..]];
    let a = variant_key(&vary, &h(&["Accept-Encoding: gzip, deflate, br"]));
    let b = variant_key(
        &vary,
        &h(&["Accept-Encoding: br;q=0.8,GZIP ,  deflate;q=1.0"]),
    );
    let c = variant_key(
        &vary,
        &h(&[
            "Accept-Encoding: br",
            "Accept-Encoding: gzip, deflate, sdch",
        ]),
    );
    assert_eq!(a, b);
    assert_eq!(a, c);
    let star = variant_key(&vary, &h(&["Accept-Encoding: *;q=1, zstd;q=0"]));
    let three = variant_key(&vary, &h(&["Accept-Encoding: br, gzip, deflate"]));
    assert_eq!(star, three);
    assert_ne!(variant_key(&vary, &h(&["Accept-Encoding: br"])), a);
}

#[test]
fn vary_values_trimmed_and_collapsed_names_sorted() {
    let a = variant_key(
        &[&b"Accept-Language"[..], b"X-A"],
        &h(&["Accept-Language:  en-GB ,  fr  ", "X-A: 1"]),
    );
    let b = variant_key(
        &[&b"x-a"[..], b"accept-language", b"X-A"],
        &h(&["x-a: 1", "accept-language: en-GB,fr"]),
    );
    assert_eq!(a, b);
    let c = variant_key(
        &[&b"accept-language"[..], b"x-a"],
        &h(&["x-a: 1", "accept-language: en-gb,fr"]),
    );
    assert_ne!(a, c, "values keep their case");
}

#[test]
fn vary_names_parse_and_star() {
    let names = vary_names(&h(&[
        "Vary: Accept-Encoding, accept",
        "Vary: ACCEPT-ENCODING",
    ]))
    .unwrap();
    assert_eq!(
        names,
        vec![
            b"accept".to_vec().into_boxed_slice(),
            b"accept-encoding".to_vec().into()
        ]
    );
    assert_eq!(vary_names(&h(&["Vary: Accept, *"])), Err(VaryStar));
    assert!(variant_key::<&[u8]>(&[], &h(&["Accept: x"])).is_empty());
}

/// Method, host, target and the optional extra part's value.
type Tuple = (Vec<u8>, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    // Short runs of tag bytes, part names, scheme text and length-like
    // bytes, so shifted boundaries and near-collisions come up often.
    let chunks: Vec<&'static [u8]> = vec![
        b"\0", b"\x01", b"\x06", b"M", b"S", b"H", b"T", b"h", b"c", b"https", b"x-part", b"/",
        b"\x80",
    ];
    prop::collection::vec(prop::sample::select(chunks), 0..4).prop_map(|c| c.concat())
}

/// Cuts `all` into method, host, target and (if `present`) the part.
fn split(all: &[u8], cuts: &[prop::sample::Index], present: bool) -> Tuple {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(all.len() + 1)).collect();
    at.sort_unstable();
    let (m, rest) = all.split_at(at[0]);
    let (h, rest) = rest.split_at(at[1] - at[0]);
    let (t, v) = rest.split_at(at[2] - at[1]);
    let v = if present { Some(v.to_vec()) } else { None };
    (m.to_vec(), h.to_vec(), t.to_vec(), v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn distinct_tuples_never_share_key_bytes(
        a in (bytes(), bytes(), bytes(), proptest::option::of(bytes())),
        b in (bytes(), bytes(), bytes(), proptest::option::of(bytes())),
    ) {
        let parts = [KeyPart::header(b"x-part")];
        let make = |t: &Tuple| {
            let hs: Vec<(&[u8], &[u8])> = t.3.iter().map(|v| (&b"x-part"[..], v.as_slice())).collect();
            key_with(&t.0, &t.1, &t.2, &parts, &hs)
        };
        // The same request once the host is lowercased (the only
        // normalisation these inputs can hit: no default port, no HEAD).
        let same_request = (&a.0, a.1.to_ascii_lowercase(), &a.2, &a.3) == (&b.0, b.1.to_ascii_lowercase(), &b.2, &b.3);
        let (ka, kb) = (make(&a), make(&b));
        prop_assert_eq!(ka.as_bytes() == kb.as_bytes(), same_request);
    }

    /// The injection attack: the same bytes cut into the four fields at
    /// different places (text moved from one part into the next).
    #[test]
    fn moving_bytes_across_parts_never_collides(
        all in prop::collection::vec(bytes(), 1..6).prop_map(|c| c.concat()),
        cuts_a in prop::collection::vec(any::<prop::sample::Index>(), 3),
        cuts_b in prop::collection::vec(any::<prop::sample::Index>(), 3),
        present in any::<(bool, bool)>(),
    ) {
        let a = split(&all, &cuts_a, present.0);
        let b = split(&all, &cuts_b, present.1);
        let parts = [KeyPart::header(b"x-part")];
        let make = |t: &Tuple| {
            let hs: Vec<(&[u8], &[u8])> = t.3.iter().map(|v| (&b"x-part"[..], v.as_slice())).collect();
            key_with(&t.0, &t.1, &t.2, &parts, &hs)
        };
        let same_request = (&a.0, a.1.to_ascii_lowercase(), &a.2, &a.3) == (&b.0, b.1.to_ascii_lowercase(), &b.2, &b.3);
        prop_assert_eq!(make(&a).as_bytes() == make(&b).as_bytes(), same_request);
    }

    #[test]
    fn key_equality_follows_bytes(m in bytes(), host in bytes(), t in bytes()) {
        let a = key_with(&m, &host, &t, &[], &[]);
        let b = key_with(&m, &host, &t, &[], &[]);
        prop_assert_eq!(a.hash128(), b.hash128());
        prop_assert_eq!(a, b);
    }
}
