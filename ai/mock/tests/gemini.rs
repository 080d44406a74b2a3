//! Gemini generateContent: whole and streamed shapes, cumulative usage, tools, errors.

mod common;

use common::*;
use serde_json::{json, Value};

fn hello() -> Value {
    json!({ "systemInstruction": { "parts": [{ "text": "be brief" }] },
            "contents": [{ "role": "user", "parts": [{ "text": "hello there" }] }] })
}

fn response(parts: Value, finish: Option<&str>, input: u64, output: u64, seq: u64) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": { "promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output },
        "modelVersion": "gem-x",
        "responseId": format!("mock-{seq}"),
    })
}

#[test]
fn whole_response() {
    let mock = mock3();
    let r = post(&mock, &gemini_path("gem-x", false), GEMINI, &hello());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        response(json!([{ "text": "w0 w1 w2" }]), Some("STOP"), 4, 3, 1)
    );
    assert_eq!(mock.requests()[0].key.as_deref(), Some("k1"));
}

#[test]
fn stream_with_cumulative_usage_and_no_done() {
    let mock = mock3();
    let r = post(&mock, &gemini_path("gem-x", true), GEMINI, &hello());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let events = r.events();
    assert_eq!(r.chunks.len(), events.len());
    assert!(events
        .iter()
        .all(|(name, d)| name.is_none() && d != "[DONE]"));
    let expected = vec![
        response(json!([{ "text": "w0" }]), None, 4, 1, 1),
        response(json!([{ "text": " w1" }]), None, 4, 2, 1),
        response(json!([{ "text": " w2" }]), Some("STOP"), 4, 3, 1),
    ];
    assert_eq!(r.data_json(), expected);
}

#[test]
fn max_output_tokens_images_and_query_key() {
    let mock = mock3();
    let body = json!({ "generationConfig": { "maxOutputTokens": 1 },
        "contents": [{ "parts": [{ "text": "one two" }, { "inlineData": { "mimeType": "image/png", "data": "AAAA" } }] }] });
    let path = format!("{}?key=qk", gemini_path("gem-x", false));
    let r = post(&mock, &path, &[], &body);
    assert_eq!(
        r.json(),
        response(json!([{ "text": "w0" }]), Some("MAX_TOKENS"), 12, 1, 1)
    );
    assert_eq!(mock.requests()[0].key.as_deref(), Some("qk"));
}

fn tool_body() -> Value {
    json!({ "tools": [{ "functionDeclarations": [{ "name": "search" }, { "name": "fetch" }] }],
            "contents": [{ "role": "user", "parts": [{ "text": "call tools" }] }] })
}

#[test]
fn function_calls_whole_and_streamed() {
    let mock = mock3();
    let call_a = json!({ "functionCall": { "name": "search", "args": { "q": "search" } }, "thoughtSignature": "sig-a" });
    let call_b = json!({ "functionCall": { "name": "fetch", "args": { "q": "fetch" } } });
    let v = post(&mock, &gemini_path("gem-x", false), GEMINI, &tool_body()).json();
    assert_eq!(v, response(json!([call_a, call_b]), Some("STOP"), 2, 10, 1));

    let r = post(&mock, &gemini_path("gem-x", true), GEMINI, &tool_body());
    let expected = vec![
        response(json!([call_a]), None, 2, 5, 2),
        response(json!([call_b]), Some("STOP"), 2, 10, 2),
    ];
    assert_eq!(r.data_json(), expected);

    // After the function responses come back: text.
    let mut body = tool_body();
    body["contents"].as_array_mut().unwrap().extend([
        json!({ "role": "model", "parts": [call_a] }),
        json!({ "role": "user", "parts": [{ "functionResponse": { "name": "search", "response": { "r": 1 } } }] }),
    ]);
    let v = post(&mock, &gemini_path("gem-x", false), GEMINI, &body).json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"],
        json!([{ "text": "w0 w1 w2" }])
    );
}

#[test]
fn errors_in_gemini_shape() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let r = c.call(&gemini_path("gem-x", false), &[], &hello());
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({ "error": { "code": 401, "message": "No API key provided.", "status": "UNAUTHENTICATED" } })
    );

    c.send("POST", &gemini_path("gem-x", false), GEMINI, b"nope");
    let r = c.read().unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (400, json!("INVALID_ARGUMENT"))
    );

    let r = c.call(
        &gemini_path("gem-x", false),
        GEMINI,
        &json!({ "contents": [{ "role": "bot", "parts": [] }] }),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        json!("Please use a valid role: user, model.")
    );

    let r = c.call(
        "/v1beta/models/gem-x:streamGenerateContent",
        GEMINI,
        &hello(),
    );
    assert_eq!(r.status, 400);
}
