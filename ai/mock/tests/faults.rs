//! Pushed faults and model-named faults, in each format.

mod common;

use std::time::{Duration, Instant};

use ai_mock::Fault;
use common::*;
use serde_json::{json, Value};

fn openai(model: &str, stream: bool) -> Value {
    json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

fn anthropic(model: &str, stream: bool) -> Value {
    json!({ "model": model, "max_tokens": 10, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

fn gemini() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] })
}

#[test]
fn pushed_status_faults_fifo_in_each_format() {
    let mock = mock3();
    mock.push_fault(Fault::Status {
        status: 429,
        retry_after: Some(7),
    });
    mock.push_fault(Fault::Status {
        status: 529,
        retry_after: None,
    });
    mock.push_fault(Fault::Status {
        status: 503,
        retry_after: None,
    });
    let mut c = Client::connect(mock.addr());

    let r = c.call(CHAT, OPENAI, &openai("m", false));
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    let expected = json!({ "error": { "message": "Rate limit reached (mock).", "type": "requests",
                                      "param": null, "code": "rate_limit_exceeded" } });
    assert_eq!(r.json(), expected);

    let r = c.call(MESSAGES, ANTHROPIC, &anthropic("m", false));
    assert_eq!((r.status, r.header("retry-after")), (529, None));
    assert_eq!(
        r.json(),
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
    );

    let r = c.call(&gemini_path("g", false), GEMINI, &gemini());
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["status"], json!("UNAVAILABLE"));
    assert_eq!(r.json()["error"]["code"], json!(503));

    // The queue is spent: the next request succeeds on the same connection.
    assert_eq!(c.call(CHAT, OPENAI, &openai("m", false)).status, 200);
    assert_eq!(mock.count(), 4);
}

#[test]
fn stall_sends_nothing_then_closes() {
    let mock = mock3();
    mock.push_fault(Fault::Stall(Duration::from_millis(300)));
    let mut c = Client::connect(mock.addr());
    let t = Instant::now();
    c.send(
        "POST",
        CHAT,
        OPENAI,
        openai("m", false).to_string().as_bytes(),
    );
    assert!(c.read().is_none());
    assert!(t.elapsed() >= Duration::from_millis(300));

    let mut c = Client::connect(mock.addr());
    let t = Instant::now();
    c.send(
        "POST",
        MESSAGES,
        ANTHROPIC,
        anthropic("stall-200", true).to_string().as_bytes(),
    );
    assert!(c.read().is_none());
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn close_answers_nothing() {
    let mock = mock3();
    mock.push_fault(Fault::Close);
    let mut c = Client::connect(mock.addr());
    c.send(
        "POST",
        CHAT,
        OPENAI,
        openai("m", false).to_string().as_bytes(),
    );
    assert!(c.read().is_none());
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn mid_stream_error_openai() {
    let mock = mock3();
    mock.push_fault(Fault::MidStreamError);
    for model in ["m", "mid-error"] {
        let r = post(&mock, CHAT, OPENAI, &openai(model, true));
        assert_eq!(r.status, 200);
        assert!(r.complete, "the body ends properly after the error");
        let data = r.data_json();
        let deltas: Vec<Value> = data[..3]
            .iter()
            .map(|v| v["choices"][0]["delta"].clone())
            .collect();
        assert_eq!(
            deltas,
            vec![
                json!({ "role": "assistant", "content": "" }),
                json!({ "content": "w0" }),
                json!({ "content": " w1" })
            ]
        );
        let error = json!({ "error": { "message": "The server had an error while processing your request.",
                                       "type": "server_error", "param": null, "code": null } });
        assert_eq!(data[3..].to_vec(), vec![error]);
    }
}

#[test]
fn mid_stream_error_anthropic_and_gemini() {
    let mock = mock3();
    let r = post(&mock, MESSAGES, ANTHROPIC, &anthropic("mid-error", true));
    let names: Vec<String> = r.events().into_iter().map(|(e, _)| e.unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    let last = r.data_json().pop().unwrap();
    assert_eq!(
        last,
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
    );

    mock.push_fault(Fault::MidStreamError);
    let r = post(&mock, &gemini_path("g", true), GEMINI, &gemini());
    let data = r.data_json();
    assert_eq!(data.len(), 3);
    assert_eq!(
        data[0]["candidates"][0]["content"]["parts"],
        json!([{ "text": "w0" }])
    );
    assert_eq!(
        data[1]["candidates"][0]["content"]["parts"],
        json!([{ "text": " w1" }])
    );
    assert!(data[1]["candidates"][0].get("finishReason").is_none());
    assert_eq!(
        data[2],
        json!({ "error": { "code": 500, "message": "An internal error has occurred.", "status": "INTERNAL" } })
    );

    // Not streamed: a 500 in the format's shape.
    let r = post(&mock, &gemini_path("mid-error", false), GEMINI, &gemini());
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (500, json!("INTERNAL"))
    );
}

#[test]
fn malformed_streamed_and_whole() {
    let mock = mock3();
    let r = post(&mock, CHAT, OPENAI, &openai("malformed", true));
    let events = r.events();
    assert_eq!(events.len(), 3);
    let second: Value = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(second["choices"][0]["delta"], json!({ "content": "w0" }));
    assert!(serde_json::from_str::<Value>(&events[2].1).is_err());

    mock.push_fault(Fault::Malformed);
    let r = post(&mock, MESSAGES, ANTHROPIC, &anthropic("m", false));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    let r = post(&mock, &gemini_path("malformed", true), GEMINI, &gemini());
    let events = r.events();
    assert_eq!(events.len(), 2);
    assert!(serde_json::from_str::<Value>(&events[0].1).is_ok());
    assert!(serde_json::from_str::<Value>(&events[1].1).is_err());
}

#[test]
fn cut_streams_and_bodies() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let r = c.call(CHAT, OPENAI, &openai("cut", true));
    assert!(!r.complete, "no last chunk");
    let events = r.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
    assert!(c.closed());

    mock.push_fault(Fault::Cut);
    let r = post(&mock, MESSAGES, ANTHROPIC, &anthropic("m", true));
    let names: Vec<String> = r.events().into_iter().map(|(e, _)| e.unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta"
        ]
    );
    assert!(!r.complete);

    let r = post(&mock, &gemini_path("cut", true), GEMINI, &gemini());
    assert_eq!(r.data_json().len(), 2);
    assert!(r
        .data_json()
        .iter()
        .all(|v| v["candidates"][0].get("finishReason").is_none()));
    assert!(!r.complete);

    let r = post(&mock, CHAT, OPENAI, &openai("cut", false));
    assert_eq!(r.status, 200);
    assert!(!r.complete, "half the announced body");
    assert!(!r.body.is_empty());
}

#[test]
fn model_named_status_faults() {
    let mock = mock3();
    let r = post(&mock, CHAT, OPENAI, &openai("fault-429", false));
    assert_eq!((r.status, r.header("retry-after")), (429, Some("1")));
    for (status, kind) in [
        (500, "api_error"),
        (503, "api_error"),
        (529, "overloaded_error"),
        (401, "authentication_error"),
    ] {
        let r = post(
            &mock,
            MESSAGES,
            ANTHROPIC,
            &anthropic(&format!("fault-{status}"), true),
        );
        assert_eq!(r.status, status);
        assert_eq!(r.header("retry-after"), None);
        assert_eq!(r.json()["error"]["type"], json!(kind));
    }
    let path = "/openai/deployments/fault-500/chat/completions?api-version=1";
    let r = post(&mock, path, AZURE, &openai("x", false));
    assert_eq!(
        (r.status, r.json()["error"]["type"].clone()),
        (500, json!("server_error"))
    );
    let r = post(&mock, &gemini_path("fault-429", true), GEMINI, &gemini());
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (429, json!("RESOURCE_EXHAUSTED"))
    );
    let r = post(
        &mock,
        "/v1/embeddings",
        OPENAI,
        &json!({ "model": "fault-503", "input": "x" }),
    );
    assert_eq!(r.status, 503);
}

#[test]
fn slow_model_paces_frames() {
    let mock = mock3();
    let t = Instant::now();
    let r = post(&mock, MESSAGES, ANTHROPIC, &anthropic("slow-15", true));
    let frames = r.events().len() as u32;
    assert_eq!(frames, 9);
    assert!(
        t.elapsed() >= Duration::from_millis(15) * frames,
        "{:?}",
        t.elapsed()
    );
}
