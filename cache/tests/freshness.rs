//! RFC 9111 §4.2 freshness and age, RFC 5861 stale windows.

mod common;

use cache::{
    initial_age, lifetime, Directives, EntryMeta, RespView, Source, State, StoreOpts, Times,
};
use common::{h, DATE_T0, T0};

fn meta(resp: &[&str], opts: &StoreOpts) -> EntryMeta {
    let rs = h(resp);
    EntryMeta::new(&RespView::new(200, &rs), opts, common::times())
}

fn req(cc: &str) -> Directives {
    Directives::parse([cc.as_bytes()])
}

fn none() -> Directives {
    Directives::default()
}

#[test]
fn lifetime_precedence() {
    let o = StoreOpts::default();
    let all = h(&[
        "Cache-Control: max-age=20, s-maxage=10",
        "Expires: Tue, 14 Nov 2023 22:14:20 GMT",
        DATE_T0,
    ]);
    assert_eq!(
        lifetime(&RespView::new(200, &all), &o, T0).source,
        Source::SMaxAge
    );
    let no_s = h(&[
        "Cache-Control: max-age=20",
        "Expires: Tue, 14 Nov 2023 22:14:20 GMT",
        DATE_T0,
    ]);
    assert_eq!(lifetime(&RespView::new(200, &no_s), &o, T0).secs, 20);
    let exp = h(&["Expires: Tue, 14 Nov 2023 22:14:20 GMT", DATE_T0]);
    assert_eq!(lifetime(&RespView::new(200, &exp), &o, T0).secs, 60);
}

#[test]
fn expires_without_date_uses_arrival_time() {
    let exp = h(&["Expires: Tue, 14 Nov 2023 22:15:00 GMT"]);
    assert_eq!(
        lifetime(&RespView::new(200, &exp), &StoreOpts::default(), T0).secs,
        100
    );
}

#[test]
fn expires_in_the_past_or_invalid_is_zero() {
    let o = StoreOpts::default();
    let past = h(&["Expires: Tue, 14 Nov 2023 22:00:00 GMT", DATE_T0]);
    assert_eq!(lifetime(&RespView::new(200, &past), &o, T0).secs, 0);
    let bad = h(&["Expires: -1"]);
    assert_eq!(lifetime(&RespView::new(200, &bad), &o, T0).secs, 0);
}

#[test]
fn invalid_max_age_is_stale_not_heuristic() {
    let o = StoreOpts {
        default_ttl: Some(100),
        ..Default::default()
    };
    let m = meta(&["Cache-Control: max-age=oops"], &o);
    assert_eq!((m.lifetime.secs, m.lifetime.source), (0, Source::MaxAge));
}

#[test]
fn current_age_per_rfc_9111_4_2_3() {
    // Sent at T0, answered at T0+2, Date T0-10, Age 5.
    let rs = h(&["Age: 5", "Date: Tue, 14 Nov 2023 22:13:10 GMT"]);
    let resp = RespView::new(200, &rs);
    let times = Times {
        request: T0,
        response: T0 + 2,
    };
    // apparent = 12, corrected = 5 + 2 = 7 → 12.
    assert_eq!(initial_age(&resp, times), 12);
    let rs = h(&["Age: 30", DATE_T0]);
    assert_eq!(initial_age(&RespView::new(200, &rs), times), 32);
    let m = EntryMeta::new(&RespView::new(200, &rs), &StoreOpts::default(), times);
    assert_eq!(m.age(T0 + 12), 42);
}

#[test]
fn fresh_then_stale() {
    let m = meta(
        &["Cache-Control: max-age=60", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(m.state(&none(), T0 + 10), State::Fresh { remaining: 50 });
    assert_eq!(m.state(&none(), T0 + 60), State::Stale);
    assert_eq!(m.ttl(T0 + 70), -10);
}

#[test]
fn stale_while_revalidate_then_stale_if_error() {
    let m = meta(
        &[
            "Cache-Control: max-age=60, stale-while-revalidate=30, stale-if-error=300",
            DATE_T0,
        ],
        &StoreOpts::default(),
    );
    assert_eq!(
        m.state(&none(), T0 + 70),
        State::StaleRevalidate { window: 20 }
    );
    assert_eq!(
        m.state(&none(), T0 + 100),
        State::StaleIfError { window: 260 }
    );
    assert_eq!(m.state(&none(), T0 + 360), State::Stale);
}

#[test]
fn route_default_windows_apply_when_response_names_none() {
    let o = StoreOpts {
        stale_while_revalidate: 10,
        stale_if_error: 100,
        ..Default::default()
    };
    let m = meta(&["Cache-Control: max-age=60", DATE_T0], &o);
    assert_eq!(
        m.state(&none(), T0 + 65),
        State::StaleRevalidate { window: 5 }
    );
    assert_eq!(
        m.state(&none(), T0 + 80),
        State::StaleIfError { window: 80 }
    );
    let explicit = meta(
        &["Cache-Control: max-age=60, stale-if-error=0", DATE_T0],
        &o,
    );
    assert_eq!(explicit.state(&none(), T0 + 80), State::Stale);
}

#[test]
fn revalidate_directives_forbid_stale() {
    let o = StoreOpts {
        stale_while_revalidate: 100,
        stale_if_error: 100,
        ..Default::default()
    };
    for cc in [
        "max-age=60, must-revalidate",
        "max-age=60, proxy-revalidate",
        "max-age=60, stale-while-revalidate=50, must-revalidate",
    ] {
        let line = format!("Cache-Control: {cc}");
        let m = meta(&[&line, DATE_T0], &o);
        assert_eq!(m.state(&none(), T0 + 61), State::Stale, "{cc}");
        assert_eq!(m.state(&req("max-stale"), T0 + 61), State::Stale, "{cc}");
    }
}

#[test]
fn s_maxage_drops_default_windows_keeps_explicit_ones() {
    let o = StoreOpts {
        stale_while_revalidate: 100,
        ..Default::default()
    };
    let m = meta(&["Cache-Control: s-maxage=60", DATE_T0], &o);
    assert_eq!(m.state(&none(), T0 + 61), State::Stale);
    let m = meta(
        &[
            "Cache-Control: s-maxage=60, stale-while-revalidate=9",
            DATE_T0,
        ],
        &o,
    );
    assert_eq!(
        m.state(&none(), T0 + 61),
        State::StaleRevalidate { window: 8 }
    );
}

#[test]
fn response_no_cache_always_revalidates() {
    let m = meta(
        &["Cache-Control: max-age=60, no-cache", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(m.state(&none(), T0 + 1), State::Stale);
}

#[test]
fn request_no_cache_forces_revalidation() {
    let m = meta(
        &["Cache-Control: max-age=60", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(m.state(&req("no-cache"), T0 + 1), State::Stale);
}

#[test]
fn request_max_age_and_min_fresh() {
    let m = meta(
        &["Cache-Control: max-age=60", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(
        m.state(&req("max-age=10"), T0 + 5),
        State::Fresh { remaining: 55 }
    );
    assert_eq!(m.state(&req("max-age=10"), T0 + 11), State::Stale);
    assert_eq!(
        m.state(&req("max-age=0"), T0),
        State::Fresh { remaining: 60 }
    );
    assert_eq!(
        m.state(&req("min-fresh=20"), T0 + 40),
        State::Fresh { remaining: 20 }
    );
    assert_eq!(m.state(&req("min-fresh=20"), T0 + 41), State::Stale);
}

#[test]
fn request_max_stale() {
    let m = meta(
        &["Cache-Control: max-age=60", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(
        m.state(&req("max-stale=30"), T0 + 70),
        State::StaleRevalidate { window: 20 }
    );
    assert_eq!(m.state(&req("max-stale=30"), T0 + 90), State::Stale);
    assert_eq!(
        m.state(&req("max-stale"), T0 + 10_000),
        State::StaleRevalidate { window: u64::MAX }
    );
}

#[test]
fn age_header_counts_against_lifetime() {
    let m = meta(
        &["Cache-Control: max-age=60", "Age: 50", DATE_T0],
        &StoreOpts::default(),
    );
    assert_eq!(m.state(&none(), T0 + 5), State::Fresh { remaining: 5 });
}

#[test]
fn heuristic_fresh_then_stale() {
    let o = StoreOpts {
        default_ttl: Some(30),
        ..Default::default()
    };
    let m = meta(&[DATE_T0], &o);
    assert_eq!(m.state(&none(), T0 + 29), State::Fresh { remaining: 1 });
    assert_eq!(m.state(&none(), T0 + 30), State::Stale);
}

#[test]
fn s_maxage_ignores_a_clients_max_stale() {
    // s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10).
    let shared = [(&b"cache-control"[..], &b"s-maxage=10"[..])];
    let private = [(&b"cache-control"[..], &b"max-age=10"[..])];
    let req = cache::Directives::parse([&b"max-stale=60"[..]]);
    let at = |h: &[(&[u8], &[u8])]| {
        let resp = cache::RespView::new(200, h);
        let times = cache::Times {
            request: 1000,
            response: 1000,
        };
        cache::EntryMeta::new(&resp, &cache::StoreOpts::default(), times).state(&req, 1020)
    };
    assert_eq!(at(&shared), cache::State::Stale);
    assert!(matches!(at(&private), cache::State::StaleRevalidate { .. }));
}
