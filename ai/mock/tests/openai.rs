//! OpenAI and Azure endpoints: whole and streamed shapes, tools, usage, embeddings, errors.

mod common;

use common::*;
use serde_json::{json, Value};

fn usage(input: u64, output: u64) -> Value {
    json!({
        "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
        "prompt_tokens_details": { "cached_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0 },
    })
}

fn chunk(seq: u64, model: &str, delta: Value, finish: Value, with_usage: bool) -> Value {
    let mut v = json!({
        "id": format!("chatcmpl-mock-{seq}"), "object": "chat.completion.chunk",
        "created": 1_700_000_000, "model": model,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    });
    if with_usage {
        v["usage"] = Value::Null;
    }
    v
}

fn hello(model: &str) -> Value {
    json!({ "model": model, "messages": [
        { "role": "system", "content": "be brief" },
        { "role": "user", "content": "hello there" },
    ]})
}

#[test]
fn whole_completion() {
    let mock = mock3();
    let r = post(&mock, CHAT, OPENAI, &hello("gpt-x"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let expected = json!({
        "id": "chatcmpl-mock-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-x",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "w0 w1 w2", "refusal": null },
                      "logprobs": null, "finish_reason": "stop" }],
        "usage": usage(4, 3),
    });
    assert_eq!(r.json(), expected);
    let rec = mock.requests();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].key.as_deref(), Some("k1"));
    assert_eq!(
        (rec[0].method.as_str(), rec[0].path.as_str()),
        ("POST", CHAT)
    );
    assert_eq!(rec[0].json(), Some(hello("gpt-x")));
    assert_eq!(rec[0].header("Content-Type"), Some("application/json"));
}

#[test]
fn stream_with_usage_chunk() {
    let mock = mock3();
    let mut body = hello("gpt-x");
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let r = post(&mock, CHAT, OPENAI, &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let events = r.events();
    assert_eq!(r.chunks.len(), events.len(), "one chunk per frame");
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let data: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(name, d)| {
            assert_eq!(name, &None);
            serde_json::from_str(d).unwrap()
        })
        .collect();
    let mut usage_chunk = chunk(1, "gpt-x", json!({}), json!(null), false);
    usage_chunk["choices"] = json!([]);
    usage_chunk["usage"] = usage(4, 3);
    let expected = vec![
        chunk(
            1,
            "gpt-x",
            json!({ "role": "assistant", "content": "" }),
            json!(null),
            true,
        ),
        chunk(1, "gpt-x", json!({ "content": "w0" }), json!(null), true),
        chunk(1, "gpt-x", json!({ "content": " w1" }), json!(null), true),
        chunk(1, "gpt-x", json!({ "content": " w2" }), json!(null), true),
        chunk(1, "gpt-x", json!({}), json!("stop"), true),
        usage_chunk,
    ];
    assert_eq!(data, expected);
}

#[test]
fn stream_without_usage_has_no_usage_field() {
    let mock = mock3();
    let mut body = hello("m");
    body["stream"] = json!(true);
    let r = post(&mock, CHAT, OPENAI, &body);
    let events = r.events();
    assert_eq!(events.len(), 6);
    assert_eq!(events[5].1, "[DONE]");
    for (_, d) in &events[..5] {
        let v: Value = serde_json::from_str(d).unwrap();
        assert!(v.get("usage").is_none(), "{v}");
    }
    let last: Value = serde_json::from_str(&events[4].1).unwrap();
    assert_eq!(last, chunk(1, "m", json!({}), json!("stop"), false));
}

#[test]
fn echo_images_and_max_tokens() {
    let mock = mock3();
    let body = json!({ "model": "m", "max_completion_tokens": 2, "messages": [
        { "role": "user", "content": [
            { "type": "text", "text": "echo:  alpha beta gamma " },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,AAAA" } },
        ]},
    ]});
    let v = post(&mock, CHAT, OPENAI, &body).json();
    assert_eq!(v["choices"][0]["message"]["content"], json!("alpha beta"));
    assert_eq!(v["choices"][0]["finish_reason"], json!("length"));
    // 4 words + 1 image.
    assert_eq!(v["usage"], usage(14, 2));

    let body = json!({ "model": "m", "messages": [{ "role": "user", "content": "echo: exactly  this\ttext" }]});
    let v = post(&mock, CHAT, OPENAI, &body).json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        json!("exactly  this\ttext")
    );
    assert_eq!(v["usage"], usage(4, 3));
}

fn tool_request(stream: bool) -> Value {
    let tool = |n: &str| json!({ "type": "function", "function": { "name": n, "parameters": { "type": "object" } } });
    json!({ "model": "m", "stream": stream, "tools": [tool("search"), tool("fetch"), tool("other")],
            "messages": [{ "role": "user", "content": "please call tools now" }] })
}

#[test]
fn tool_calls_whole() {
    let mock = mock3();
    let v = post(&mock, CHAT, OPENAI, &tool_request(false)).json();
    let expected_message = json!({
        "role": "assistant", "content": null, "refusal": null,
        "tool_calls": [
            { "id": "call_a", "type": "function", "function": { "name": "search", "arguments": "{\"q\":\"search\"}" } },
            { "id": "call_b", "type": "function", "function": { "name": "fetch", "arguments": "{\"q\":\"fetch\"}" } },
        ],
    });
    assert_eq!(v["choices"][0]["message"], expected_message);
    assert_eq!(v["choices"][0]["finish_reason"], json!("tool_calls"));
    assert_eq!(v["usage"], usage(4, 10));
}

#[test]
fn tool_calls_streamed_and_no_calls_after_tool_results() {
    let mock = mock3();
    let r = post(&mock, CHAT, OPENAI, &tool_request(true));
    let events = r.events();
    let deltas: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"].clone())
        .collect();
    let start = |i: usize, id: &str, n: &str| json!({ "tool_calls": [{ "index": i, "id": id, "type": "function", "function": { "name": n, "arguments": "" } }] });
    let piece = |i: usize, a: &str| json!({ "tool_calls": [{ "index": i, "function": { "arguments": a } }] });
    let expected = vec![
        json!({ "role": "assistant", "content": "" }),
        start(0, "call_a", "search"),
        piece(0, "{\"q\":"),
        piece(0, "\"search\"}"),
        start(1, "call_b", "fetch"),
        piece(1, "{\"q\":"),
        piece(1, "\"fetch\"}"),
        json!({}),
    ];
    assert_eq!(deltas, expected);
    let last: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], json!("tool_calls"));

    // The next turn ends with tool results: a plain text answer.
    let mut body = tool_request(false);
    body["messages"].as_array_mut().unwrap().extend([
        json!({ "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_a", "type": "function", "function": { "name": "search", "arguments": "{}" } }] }),
        json!({ "role": "tool", "tool_call_id": "call_a", "content": "result words" }),
    ]);
    let v = post(&mock, CHAT, OPENAI, &body).json();
    assert_eq!(v["choices"][0]["message"]["content"], json!("w0 w1 w2"));
    assert_eq!(v["usage"], usage(6, 3));
}

#[test]
fn embeddings_are_deterministic() {
    let mock = mock3();
    let body = json!({ "model": "emb", "input": ["one two", "three"] });
    let a = post(&mock, "/v1/embeddings", OPENAI, &body).json();
    let b = post(&mock, "/v1/embeddings", OPENAI, &body).json();
    assert_eq!(a, b);
    assert_eq!(a["object"], json!("list"));
    assert_eq!(a["model"], json!("emb"));
    assert_eq!(a["usage"], json!({ "prompt_tokens": 3, "total_tokens": 3 }));
    let data = a["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], json!("embedding"));
        assert_eq!(d["index"], json!(i));
        assert_eq!(d["embedding"].as_array().unwrap().len(), 8);
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    let single = post(
        &mock,
        "/v1/embeddings",
        OPENAI,
        &json!({ "model": "emb", "input": "three" }),
    )
    .json();
    assert_eq!(single["data"][0]["embedding"], data[1]["embedding"]);
    let bad = post(
        &mock,
        "/v1/embeddings",
        OPENAI,
        &json!({ "model": "emb", "input": 5 }),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], json!("input"));
}

#[test]
fn models_list() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    c.send("GET", "/v1/models", OPENAI, b"");
    let v = c.read().unwrap().json();
    assert_eq!(v["object"], json!("list"));
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["mock-chat", "mock-embedding"]);
    c.send("GET", "/v1/models", &[], b"");
    assert_eq!(c.read().unwrap().status, 401);
}

#[test]
fn azure_deployment_and_api_version() {
    let mock = mock3();
    let path = "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21";
    let v = post(&mock, path, AZURE, &hello("ignored")).json();
    assert_eq!(v["model"], json!("my-dep"));
    assert_eq!(v["choices"][0]["message"]["content"], json!("w0 w1 w2"));
    assert_eq!(mock.requests()[0].key.as_deref(), Some("k1"));
    assert_eq!(mock.requests()[0].path, path);

    let r = post(
        &mock,
        "/openai/deployments/my-dep/chat/completions",
        AZURE,
        &hello("x"),
    );
    assert_eq!(r.status, 400);
    let expected = json!({ "error": { "message": "Missing required query parameter: api-version",
        "type": "invalid_request_error", "param": "api-version", "code": null } });
    assert_eq!(r.json(), expected);

    // Azure takes api-key, not a bearer token.
    let r = post(&mock, path, OPENAI, &hello("x"));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], json!("invalid_api_key"));
}

#[test]
fn bad_requests_in_openai_shape() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    c.send("POST", CHAT, OPENAI, b"{not json");
    let r = c.read().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], json!("invalid_request_error"));

    let body = json!({ "model": "m", "messages": [{ "role": "user", "content": "a" }, { "role": "robot", "content": "b" }]});
    let r = c.call(CHAT, OPENAI, &body);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], json!("messages[1].role"));

    let r = c.call(
        CHAT,
        OPENAI,
        &json!({ "messages": [{ "role": "user", "content": "a" }] }),
    );
    assert_eq!(
        (r.status, r.json()["error"]["param"].clone()),
        (400, json!("model"))
    );

    let r = c.call("/v1/nope", OPENAI, &json!({}));
    assert_eq!(r.status, 404);
    let expected = json!({ "error": { "message": "Invalid URL (POST /v1/nope)",
        "type": "invalid_request_error", "param": null, "code": "unknown_url" } });
    assert_eq!(r.json(), expected);
}
