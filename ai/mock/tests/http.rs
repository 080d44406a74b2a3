//! Transport: keep-alive, chunked request bodies, pacing, keys, recording,
//! shutdown, concurrency and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ai_mock::{MockConfig, RECORD_LIMIT};
use common::*;
use serde_json::{json, Value};

fn chat(model: &str, stream: bool) -> Value {
    json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

#[test]
fn keep_alive_serves_several_requests() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let r = c.call(CHAT, OPENAI, &chat("m", true));
    assert!(r.complete);
    let r = c.call(CHAT, OPENAI, &chat("m", false));
    assert_eq!(r.json()["id"], json!("chatcmpl-mock-2"));
    let r = c.call(
        MESSAGES,
        ANTHROPIC,
        &json!({ "model": "c", "max_tokens": 5, "messages": [{ "role": "user", "content": "x" }] }),
    );
    assert_eq!(r.status, 200);
    assert_eq!(mock.count(), 3);
    let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [CHAT, CHAT, MESSAGES]);
    mock.clear();
    assert!(mock.requests().is_empty());
    assert_eq!(mock.count(), 3);
}

#[test]
fn chunked_request_body() {
    let mock = mock3();
    let body = chat("m", false).to_string();
    let (a, b) = body.as_bytes().split_at(7);
    let (b, c2) = b.split_at(5);
    let mut c = Client::connect(mock.addr());
    c.send_chunked(CHAT, OPENAI, &[a, b, c2]);
    let r = c.read().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        json!("w0 w1 w2")
    );
    assert_eq!(mock.requests()[0].body, body.as_bytes());
    // And the connection is still usable.
    assert_eq!(c.call(CHAT, OPENAI, &chat("m", false)).status, 200);
}

#[test]
fn expect_continue_and_connection_close() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let body = chat("m", false).to_string();
    c.send(
        "POST",
        CHAT,
        &[("authorization", "Bearer k"), ("expect", "100-continue")],
        body.as_bytes(),
    );
    assert_eq!(c.read().unwrap().status, 100);
    assert_eq!(c.read().unwrap().status, 200);
    c.send(
        "POST",
        CHAT,
        &[("authorization", "Bearer k"), ("connection", "close")],
        body.as_bytes(),
    );
    let r = c.read().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed());
}

#[test]
fn bad_request_line_gets_400_and_close() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    c.write_raw(b"NONSENSE\r\n\r\n");
    assert_eq!(c.read().unwrap().status, 400);
    assert!(c.closed());
    assert_eq!(mock.count(), 0);
}

#[test]
fn frame_delay_paces_streams() {
    let delay = Duration::from_millis(20);
    let mock = start(MockConfig {
        words: 3,
        frame_delay: delay,
        ..MockConfig::default()
    });
    let t = Instant::now();
    let r = post(&mock, CHAT, OPENAI, &chat("m", true));
    let frames = r.events().len() as u32;
    assert_eq!(frames, 6);
    assert!(t.elapsed() >= delay * frames, "{:?}", t.elapsed());
}

#[test]
fn configured_and_revoked_keys() {
    let mock = start(MockConfig {
        keys: vec!["good".into(), "old".into()],
        revoked: vec!["old".into()],
        ..MockConfig::default()
    });
    let mut c = Client::connect(mock.addr());
    let body = chat("m", false);
    let with = |k: &'static str| [("authorization", k)];
    assert_eq!(c.call(CHAT, &with("Bearer good"), &body).status, 200);
    for k in ["Bearer wrong", "Bearer old", "Basic good"] {
        let r = c.call(CHAT, &with(k), &body);
        assert_eq!(r.status, 401, "{k}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            !msg.contains("wrong") && !msg.contains("old"),
            "no key in {msg}"
        );
    }
    let keys: Vec<Option<String>> = mock.requests().into_iter().map(|r| r.key).collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(keys, [some("good"), some("wrong"), some("old"), None]);
}

#[test]
fn record_log_is_bounded() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let total = RECORD_LIMIT + 5;
    for i in 0..total {
        c.send("GET", &format!("/v1/models?i={i}"), &[], b"");
        assert_eq!(c.read().unwrap().status, 401);
    }
    let rec = mock.requests();
    assert_eq!(rec.len(), RECORD_LIMIT);
    assert_eq!(rec[0].path, "/v1/models?i=5");
    assert_eq!(mock.count(), total as u64);
}

#[test]
fn drop_closes_connections() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    assert_eq!(c.call(CHAT, OPENAI, &chat("m", false)).status, 200);
    let mut stalled = Client::connect(mock.addr());
    stalled.send(
        "POST",
        CHAT,
        OPENAI,
        chat("stall-60000", false).to_string().as_bytes(),
    );
    // A duration too large for the clock waits until the mock stops.
    let mut forever = Client::connect(mock.addr());
    let body = chat("stall-18446744073709551615", false).to_string();
    forever.send("POST", CHAT, OPENAI, body.as_bytes());
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(mock);
    assert!(c.closed());
    assert!(stalled.read().is_none());
    assert!(forever.read().is_none());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn concurrent_connections() {
    let mock = mock3();
    let addr = mock.addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..50 {
                    let r = c.call(CHAT, OPENAI, &chat("m", i % 2 == 0));
                    assert_eq!(r.status, 200);
                    assert!(r.complete);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mock.count(), 400);
}

#[test]
fn binary_prints_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ai-mock"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--words",
            "2",
            "--key",
            "bk",
            "--frame-delay-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let mut c = Client::connect(addr);
    let r = c.call(CHAT, &[("authorization", "Bearer bk")], &chat("m", false));
    assert_eq!(r.json()["choices"][0]["message"]["content"], json!("w0 w1"));
    assert_eq!(
        c.call(CHAT, &[("authorization", "Bearer nope")], &chat("m", false))
            .status,
        401
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_ai-mock"))
        .args(["--words", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
