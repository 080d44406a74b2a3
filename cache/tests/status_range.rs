//! Cache-Status (RFC 9211), Age, and single ranges from stored objects.

mod common;

use cache::{age_value, content_range, if_range_matches, resolve, CacheStatus, Fwd, RangeAnswer};
use common::h;

fn status(s: CacheStatus<'_>) -> String {
    String::from_utf8_lossy(&s.to_value("coregate")).into_owned()
}

#[test]
fn cache_status_values() {
    assert_eq!(
        status(CacheStatus {
            hit: true,
            ttl: Some(376),
            ..Default::default()
        }),
        "coregate; hit; ttl=376"
    );
    let miss = CacheStatus {
        fwd: Some(Fwd::Miss),
        stored: true,
        ..Default::default()
    };
    assert_eq!(status(miss), "coregate; fwd=miss; stored");
    let reval = CacheStatus {
        fwd: Some(Fwd::Stale),
        fwd_status: Some(304),
        ttl: Some(60),
        ..Default::default()
    };
    assert_eq!(status(reval), "coregate; fwd=stale; fwd-status=304; ttl=60");
    let stale_hit = CacheStatus {
        hit: true,
        ttl: Some(-5),
        detail: Some("stale-while-revalidate"),
        ..Default::default()
    };
    assert_eq!(
        status(stale_hit),
        "coregate; hit; ttl=-5; detail=stale-while-revalidate"
    );
    for (f, s) in [
        (Fwd::UriMiss, "uri-miss"),
        (Fwd::VaryMiss, "vary-miss"),
        (Fwd::Request, "request"),
        (Fwd::Partial, "partial"),
    ] {
        assert_eq!(
            status(CacheStatus {
                fwd: Some(f),
                collapsed: true,
                ..Default::default()
            }),
            format!("coregate; fwd={s}; collapsed")
        );
    }
}

#[test]
fn age_header_value() {
    assert_eq!(age_value(0), "0");
    assert_eq!(age_value(42), "42");
    assert_eq!(age_value(u64::MAX), "2147483648");
}

#[test]
fn single_ranges() {
    assert_eq!(
        resolve(b"bytes=0-9", 100),
        RangeAnswer::Partial { start: 0, end: 9 }
    );
    assert_eq!(
        resolve(b"bytes=90-", 100),
        RangeAnswer::Partial { start: 90, end: 99 }
    );
    assert_eq!(
        resolve(b"bytes=-10", 100),
        RangeAnswer::Partial { start: 90, end: 99 }
    );
    assert_eq!(
        resolve(b"bytes=-500", 100),
        RangeAnswer::Partial { start: 0, end: 99 }
    );
    assert_eq!(
        resolve(b"BYTES=50-500", 100),
        RangeAnswer::Partial { start: 50, end: 99 }
    );
}

#[test]
fn unsatisfiable_ranges() {
    assert_eq!(resolve(b"bytes=100-", 100), RangeAnswer::Unsatisfiable);
    assert_eq!(resolve(b"bytes=-0", 100), RangeAnswer::Unsatisfiable);
    assert_eq!(resolve(b"bytes=0-", 0), RangeAnswer::Unsatisfiable);
    assert_eq!(
        content_range(RangeAnswer::Unsatisfiable, 100).as_deref(),
        Some("bytes */100")
    );
    assert_eq!(
        content_range(RangeAnswer::Partial { start: 0, end: 9 }, 100).as_deref(),
        Some("bytes 0-9/100")
    );
}

#[test]
fn multiple_or_malformed_ranges_serve_full() {
    for r in [
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=5-2",
        "bytes=a-b",
        "bytes=",
        "bytes=-",
        "bytes=1",
    ] {
        assert_eq!(resolve(r.as_bytes(), 100), RangeAnswer::Full, "{r}");
    }
    assert_eq!(content_range(RangeAnswer::Full, 100), None);
}

#[test]
fn if_range_strong_etag_or_exact_date() {
    let stored = h(&[
        "ETag: \"v1\"",
        "Last-Modified: Tue, 14 Nov 2023 22:00:00 GMT",
    ]);
    assert!(if_range_matches(b"\"v1\"", &stored));
    assert!(!if_range_matches(b"W/\"v1\"", &stored));
    assert!(!if_range_matches(b"\"v2\"", &stored));
    assert!(if_range_matches(b"Tue, 14 Nov 2023 22:00:00 GMT", &stored));
    assert!(!if_range_matches(b"Tue, 14 Nov 2023 22:00:01 GMT", &stored));
}
