//! RFC 9111 §3: what a shared cache may store.

mod common;

use cache::{NotStorable, Source, StoreOpts};
use common::{store, store_method, DATE_T0};

fn opts() -> StoreOpts {
    StoreOpts::default()
}

#[test]
fn plain_max_age_is_stored() {
    let s = store(&[], 200, &["Cache-Control: max-age=60"], &opts()).unwrap();
    assert_eq!(s.meta.lifetime.secs, 60);
    assert_eq!(s.meta.lifetime.source, Source::MaxAge);
}

#[test]
fn only_get_is_stored() {
    let cc = ["Cache-Control: max-age=60"];
    assert_eq!(
        store_method("HEAD", &[], 200, &cc, &opts()).unwrap_err(),
        NotStorable::Method
    );
    assert_eq!(
        store_method("POST", &[], 200, &cc, &opts()).unwrap_err(),
        NotStorable::Method
    );
    assert_eq!(
        store_method("get", &[], 200, &cc, &opts()).unwrap_err(),
        NotStorable::Method
    );
}

#[test]
fn interim_304_and_partial_are_not_stored() {
    let cc = ["Cache-Control: max-age=60"];
    assert_eq!(
        store(&[], 100, &cc, &opts()).unwrap_err(),
        NotStorable::Status
    );
    assert_eq!(
        store(&[], 304, &cc, &opts()).unwrap_err(),
        NotStorable::Status
    );
    assert_eq!(
        store(&[], 206, &cc, &opts()).unwrap_err(),
        NotStorable::Partial
    );
}

#[test]
fn non_default_status_needs_explicit_freshness() {
    let etag = ["ETag: \"a\""];
    assert_eq!(
        store(&[], 302, &etag, &opts()).unwrap_err(),
        NotStorable::Status
    );
    assert_eq!(
        store(&[], 500, &etag, &opts()).unwrap_err(),
        NotStorable::Status
    );
    assert!(store(&[], 302, &["Cache-Control: max-age=5"], &opts()).is_ok());
    assert!(store(
        &[],
        503,
        &["Expires: Tue, 14 Nov 2023 22:14:20 GMT", DATE_T0],
        &opts()
    )
    .is_ok());
}

#[test]
fn every_heuristic_status_is_storable_with_default_ttl() {
    let o = StoreOpts {
        default_ttl: Some(30),
        ..opts()
    };
    for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
        let s = store(&[], status, &[], &o).unwrap();
        assert_eq!(
            (s.meta.lifetime.secs, s.meta.lifetime.source),
            (30, Source::Heuristic),
            "{status}"
        );
    }
}

#[test]
fn public_allows_heuristic_on_other_statuses() {
    let o = StoreOpts {
        default_ttl: Some(30),
        ..opts()
    };
    let s = store(&[], 302, &["Cache-Control: public"], &o).unwrap();
    assert_eq!(s.meta.lifetime.source, Source::Heuristic);
}

#[test]
fn no_store_either_side() {
    let cc = ["Cache-Control: max-age=60"];
    assert_eq!(
        store(&["Cache-Control: no-store"], 200, &cc, &opts()).unwrap_err(),
        NotStorable::NoStoreRequest
    );
    let both = ["Cache-Control: max-age=60, no-store"];
    assert_eq!(
        store(&[], 200, &both, &opts()).unwrap_err(),
        NotStorable::NoStoreResponse
    );
}

#[test]
fn private_unqualified_refused_qualified_stripped() {
    let p = ["Cache-Control: private, max-age=60"];
    assert_eq!(
        store(&[], 200, &p, &opts()).unwrap_err(),
        NotStorable::Private
    );
    let q = ["Cache-Control: private=\"X-User\", max-age=60"];
    let s = store(&[], 200, &q, &opts()).unwrap();
    assert_eq!(s.strip_fields, vec![b"x-user".to_vec().into_boxed_slice()]);
}

#[test]
fn authorization_needs_public_s_maxage_or_must_revalidate() {
    let auth = ["Authorization: Bearer x"];
    let refused = store(&auth, 200, &["Cache-Control: max-age=60"], &opts());
    assert_eq!(refused.unwrap_err(), NotStorable::Authorization);
    for cc in [
        "public, max-age=60",
        "s-maxage=60",
        "max-age=60, must-revalidate",
    ] {
        let line = format!("Cache-Control: {cc}");
        assert!(store(&auth, 200, &[&line], &opts()).is_ok(), "{cc}");
    }
}

#[test]
fn set_cookie_only_when_allowed() {
    let resp = ["Cache-Control: max-age=60", "Set-Cookie: a=b"];
    assert_eq!(
        store(&[], 200, &resp, &opts()).unwrap_err(),
        NotStorable::SetCookie
    );
    let allow = StoreOpts {
        allow_set_cookie: true,
        ..opts()
    };
    assert!(store(&[], 200, &resp, &allow).is_ok());
}

#[test]
fn vary_star_is_never_stored() {
    let resp = ["Cache-Control: max-age=60", "Vary: Accept, *"];
    assert_eq!(
        store(&[], 200, &resp, &opts()).unwrap_err(),
        NotStorable::VaryStar
    );
    assert!(store(
        &[],
        200,
        &["Cache-Control: max-age=60", "Vary: Accept"],
        &opts()
    )
    .is_ok());
}

#[test]
fn content_length_above_max_object_bytes() {
    let o = StoreOpts {
        max_object_bytes: Some(1000),
        ..opts()
    };
    let big = ["Cache-Control: max-age=60", "Content-Length: 1001"];
    assert_eq!(
        store(&[], 200, &big, &o).unwrap_err(),
        NotStorable::TooLarge
    );
    assert!(store(
        &[],
        200,
        &["Cache-Control: max-age=60", "Content-Length: 1000"],
        &o
    )
    .is_ok());
}

#[test]
fn nothing_fresh_and_no_validator_is_useless() {
    assert_eq!(
        store(&[], 200, &[], &opts()).unwrap_err(),
        NotStorable::NoFreshness
    );
    assert_eq!(
        store(&[], 200, &["Cache-Control: max-age=0"], &opts()).unwrap_err(),
        NotStorable::NoFreshness
    );
    let no_cache = ["Cache-Control: max-age=60, no-cache"];
    assert_eq!(
        store(&[], 200, &no_cache, &opts()).unwrap_err(),
        NotStorable::NoFreshness
    );
}

#[test]
fn stale_at_once_but_revalidatable_is_stored() {
    let s = store(&[], 200, &["ETag: \"v1\""], &opts()).unwrap();
    assert_eq!(
        (s.meta.lifetime.secs, s.meta.lifetime.source),
        (0, Source::None)
    );
    assert!(store(
        &[],
        200,
        &[
            "Cache-Control: no-cache",
            "Last-Modified: Tue, 14 Nov 2023 22:00:00 GMT"
        ],
        &opts()
    )
    .is_ok());
}

#[test]
fn heuristic_not_used_with_explicit_expiry() {
    let o = StoreOpts {
        default_ttl: Some(300),
        ..opts()
    };
    let s = store(&[], 200, &["Cache-Control: max-age=7"], &o).unwrap();
    assert_eq!(s.meta.lifetime.secs, 7);
    let exp = store(&[], 200, &["Expires: 0", "ETag: \"a\""], &o).unwrap();
    assert_eq!(
        (exp.meta.lifetime.secs, exp.meta.lifetime.source),
        (0, Source::Expires)
    );
}

#[test]
fn last_modified_heuristic_is_ten_percent_capped() {
    let o = StoreOpts {
        default_ttl: Some(3600),
        last_modified_heuristic: true,
        ..opts()
    };
    // Last-Modified 1000 s before Date: 10% is 100 s.
    let recent = [DATE_T0, "Last-Modified: Tue, 14 Nov 2023 21:56:40 GMT"];
    assert_eq!(
        store(&[], 200, &recent, &o).unwrap().meta.lifetime.secs,
        100
    );
    // A year old: capped by default_ttl.
    let old = [DATE_T0, "Last-Modified: Mon, 14 Nov 2022 22:13:20 GMT"];
    assert_eq!(store(&[], 200, &old, &o).unwrap().meta.lifetime.secs, 3600);
}

#[test]
fn stored_fields_drop_hop_by_hop_and_private_names() {
    let resp = common::h(&[
        "Connection: x-hop",
        "X-Hop: 1",
        "Keep-Alive: 5",
        "X-User: me",
        "ETag: \"a\"",
    ]);
    let strip = [b"x-user".to_vec().into_boxed_slice()];
    let kept = cache::stored_fields(&resp, &strip);
    assert_eq!(kept, vec![(&b"ETag"[..], &b"\"a\""[..])]);
}
