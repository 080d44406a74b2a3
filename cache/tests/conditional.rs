//! Revalidation validators, clients' conditional requests, 304 merges.

mod common;

use cache::{evaluate, merge_304, Answer, Validators};
use common::h;

const LM: &str = "Last-Modified: Tue, 14 Nov 2023 22:00:00 GMT";

#[test]
fn validators_from_etag_and_last_modified() {
    let stored = h(&["ETag: W/\"v1\"", LM]);
    let v = Validators::of(&stored);
    assert_eq!(v.if_none_match, Some(&b"W/\"v1\""[..]));
    assert_eq!(
        v.if_modified_since,
        Some(&b"Tue, 14 Nov 2023 22:00:00 GMT"[..])
    );
    assert!(Validators::of(&[]).is_empty());
}

#[test]
fn if_none_match_weak_comparison() {
    let stored = h(&["ETag: \"v1\""]);
    assert_eq!(
        evaluate(&h(&["If-None-Match: W/\"v1\""]), 200, &stored),
        Answer::NotModified
    );
    assert_eq!(
        evaluate(&h(&["If-None-Match: \"v0\", \"v1\""]), 200, &stored),
        Answer::NotModified
    );
    assert_eq!(
        evaluate(&h(&["If-None-Match: \"v2\""]), 200, &stored),
        Answer::Full
    );
    assert_eq!(
        evaluate(&h(&["If-None-Match: *"]), 200, &stored),
        Answer::NotModified
    );
}

#[test]
fn if_none_match_overrides_if_modified_since() {
    let stored = h(&["ETag: \"v1\"", LM]);
    let req = h(&[
        "If-None-Match: \"v2\"",
        "If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT",
    ]);
    assert_eq!(evaluate(&req, 200, &stored), Answer::Full);
}

#[test]
fn if_modified_since() {
    let stored = h(&[LM]);
    let later = h(&["If-Modified-Since: Tue, 14 Nov 2023 22:00:00 GMT"]);
    let earlier = h(&["If-Modified-Since: Tue, 14 Nov 2023 21:59:59 GMT"]);
    assert_eq!(evaluate(&later, 200, &stored), Answer::NotModified);
    assert_eq!(evaluate(&earlier, 200, &stored), Answer::Full);
    assert_eq!(
        evaluate(&h(&["If-Modified-Since: garbage"]), 200, &stored),
        Answer::Full
    );
    assert_eq!(evaluate(&later, 200, &[]), Answer::Full);
}

#[test]
fn only_2xx_entries_answer_304() {
    let stored = h(&["ETag: \"v1\""]);
    assert_eq!(
        evaluate(&h(&["If-None-Match: \"v1\""]), 404, &stored),
        Answer::Full
    );
}

#[test]
fn merge_304_replaces_but_keeps_content_length() {
    let stored = h(&[
        "Content-Type: text/plain",
        "Content-Length: 5",
        "Cache-Control: max-age=10",
        "ETag: \"v1\"",
        "X-Old: a",
        "X-Old: b",
        "Age: 40",
        "Date: Tue, 14 Nov 2023 22:00:00 GMT",
    ]);
    let not_modified = h(&[
        "Cache-Control: max-age=60",
        "Content-Length: 0",
        "X-Old: c",
        "Connection: close",
        "Date: Tue, 14 Nov 2023 22:13:20 GMT",
    ]);
    let merged = merge_304(&stored, &not_modified);
    let text: Vec<String> = merged
        .iter()
        .map(|(n, v)| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            "Content-Type: text/plain",
            "Content-Length: 5",
            "ETag: \"v1\"",
            "Cache-Control: max-age=60",
            "X-Old: c",
            "Date: Tue, 14 Nov 2023 22:13:20 GMT",
        ]
    );
}
