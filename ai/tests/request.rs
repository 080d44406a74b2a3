//! Golden cases: OpenAI Chat Completions requests as each provider's
//! request, and bad requests refused with the field named.

#![allow(clippy::unwrap_used)]

use ai::{decode_response, ApiError, ChatRequest, EncodeOpts, Kind, Outbound};
use serde_json::{json, Value};

fn opts(kind: Kind) -> EncodeOpts {
    EncodeOpts {
        base_path: kind.default_base_path().to_owned(),
        azure_api_version: "2024-10-21".to_owned(),
        default_max_tokens: 4096,
    }
}

fn encode(kind: Kind, body: Value, model: &str) -> Result<Outbound, ApiError> {
    let req = ChatRequest::parse(body.to_string().as_bytes())?;
    req.encode(kind, model, &opts(kind))
}

fn body_of(out: &Outbound) -> Value {
    serde_json::from_slice(&out.body).unwrap()
}

fn encoded(kind: Kind, body: Value, model: &str) -> Value {
    body_of(&encode(kind, body, model).unwrap())
}

fn refused(kind: Kind, body: Value) -> ApiError {
    encode(kind, body, "m").unwrap_err()
}

fn param(e: &ApiError) -> Option<&str> {
    assert_eq!((e.status, e.kind), (400, "invalid_request_error"), "{e}");
    e.param.as_deref()
}

fn json_headers() -> Vec<(&'static str, String)> {
    vec![("content-type", "application/json".to_owned())]
}

// ---- parsing -------------------------------------------------------------

#[test]
fn parse_reads_the_fields_and_keeps_the_body() {
    let body = json!({
        "model": "fast", "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 10, "max_completion_tokens": 20, "seed": 7,
        "messages": [{"role": "user", "content": "hi"}],
    });
    let req = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(req.model, "fast");
    assert!(req.stream);
    assert!(req.include_usage);
    assert_eq!(req.max_tokens, Some(20));
    assert_eq!(Value::Object(req.body.clone()), body);
    assert_eq!(ChatRequest::from_value(body).unwrap(), req);
}

#[test]
fn parse_defaults() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let req = ChatRequest::from_value(body).unwrap();
    assert!(!req.stream);
    assert!(!req.include_usage);
    assert_eq!(req.max_tokens, None);
    let legacy =
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(ChatRequest::from_value(legacy).unwrap().max_tokens, Some(5));
}

#[test]
fn non_object_and_non_json_bodies_are_refused() {
    for body in [&b"[1,2]"[..], b"\"text\"", b"{\"model\":", b""] {
        let e = ChatRequest::parse(body).unwrap_err();
        assert_eq!(
            (e.status, e.kind, e.param.clone()),
            (400, "invalid_request_error", None)
        );
    }
}

#[test]
fn missing_or_empty_model_is_refused() {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    for body in [
        json!({"messages": msgs}),
        json!({"model": "", "messages": msgs}),
        json!({"model": 5, "messages": msgs}),
    ] {
        assert_eq!(
            param(&ChatRequest::from_value(body).unwrap_err()),
            Some("model")
        );
    }
}

#[test]
fn empty_or_missing_messages_are_refused() {
    for body in [
        json!({"model": "m"}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": "hi"}),
    ] {
        assert_eq!(
            param(&ChatRequest::from_value(body).unwrap_err()),
            Some("messages")
        );
    }
}

#[test]
fn bad_messages_name_the_field() {
    let cases = [
        (
            json!([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]),
            "messages[1].role",
        ),
        (json!([{"content": "a"}]), "messages[0].role"),
        (json!(["hello"]), "messages[0]"),
        (
            json!([{"role": "user", "content": null}]),
            "messages[0].content",
        ),
        (json!([{"role": "assistant"}]), "messages[0].content"),
        (
            json!([{"role": "user", "content": 3}]),
            "messages[0].content",
        ),
        (
            json!([{"role": "tool", "content": "r"}]),
            "messages[0].tool_call_id",
        ),
        (
            json!([{"role": "user", "content": [{"type": "text"}]}]),
            "messages[0].content[0].text",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "messages[0].content[0].image_url",
        ),
        (
            json!([{"role": "assistant", "content": null,
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}]),
            "messages[0].tool_calls[0].function.arguments",
        ),
    ];
    for (messages, want) in cases {
        let e = ChatRequest::from_value(json!({"model": "m", "messages": messages})).unwrap_err();
        assert_eq!(param(&e), Some(want));
    }
}

#[test]
fn bad_scalars_name_the_field() {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            json!({"model": "m", "messages": msgs, "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "m", "messages": msgs, "max_tokens": -1}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "messages": msgs, "max_completion_tokens": 1.5}),
            "max_completion_tokens",
        ),
        (
            json!({"model": "m", "messages": msgs, "stream_options": {"include_usage": 1}}),
            "stream_options.include_usage",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            param(&ChatRequest::from_value(body).unwrap_err()),
            Some(want)
        );
    }
}

// ---- OpenAI, Azure, compatible --------------------------------------------

#[test]
fn openai_passes_every_field_with_the_provider_model() {
    let body = json!({
        "model": "openai/gpt-4o", "temperature": 0.2, "logit_bias": {"50256": -100},
        "reasoning_effort": "low", "messages": [{"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}],
    });
    let out = encode(Kind::OpenAi, body.clone(), "gpt-4o").unwrap();
    assert_eq!(out.path, "/v1/chat/completions");
    assert_eq!(out.headers, json_headers());
    let mut want = body;
    want["model"] = json!("gpt-4o");
    assert_eq!(body_of(&out), want);
}

#[test]
fn openai_stream_forces_include_usage() {
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": false},
                      "messages": [{"role": "user", "content": "hi"}]});
    let out = encode(Kind::Compatible, body, "llama3").unwrap();
    assert_eq!(
        body_of(&out),
        json!({"model": "llama3", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}]})
    );
    assert_eq!(
        out.headers,
        vec![
            ("content-type", "application/json".to_owned()),
            ("accept", "text/event-stream".to_owned())
        ]
    );
    let bare =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        encoded(Kind::OpenAi, bare, "m")["stream_options"],
        json!({"include_usage": true})
    );
}

#[test]
fn azure_path_names_the_deployment_and_version() {
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    let out = encode(Kind::Azure, body, "prod-gpt4o").unwrap();
    assert_eq!(
        out.path,
        "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(out.headers, json_headers());
    assert_eq!(
        body_of(&out),
        json!({"model": "prod-gpt4o", "messages": [{"role": "user", "content": "hi"}]})
    );
    let odd = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        encode(Kind::Azure, odd, "../x?y").unwrap().path,
        "/openai/deployments/..%2Fx%3Fy/chat/completions?api-version=2024-10-21"
    );
}

// ---- Anthropic --------------------------------------------------------------

#[test]
fn anthropic_joins_system_and_developer_and_defaults_max_tokens() {
    let body = json!({"model": "claude", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "system", "content": "Never apologise."},
        {"role": "user", "content": "Ça va?"},
    ]});
    let out = encode(Kind::Anthropic, body, "claude-sonnet-4-5").unwrap();
    assert_eq!(out.path, "/v1/messages");
    assert_eq!(
        out.headers,
        vec![
            ("content-type", "application/json".to_owned()),
            ("anthropic-version", "2023-06-01".to_owned())
        ]
    );
    assert_eq!(
        body_of(&out),
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 4096,
            "system": "You are terse.\n\nAnswer in French.\n\nNever apologise.",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour"},
                {"role": "user", "content": "Ça va?"},
            ],
        })
    );
}

#[test]
fn anthropic_images_data_uri_and_url() {
    let body = json!({"model": "c", "max_completion_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}]});
    assert_eq!(
        encoded(Kind::Anthropic, body, "claude"),
        json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Compare"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ]}]})
    );
}

#[test]
fn anthropic_refuses_other_image_schemes() {
    for url in [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "data:image/png,rawbytes",
    ] {
        let body = json!({"model": "c", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": url}},
        ]}]});
        let e = refused(Kind::Anthropic, body);
        assert_eq!(param(&e), Some("messages[0].content[1].image_url"));
    }
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time"}},
    ])
}

#[test]
fn anthropic_tools_and_tool_choice() {
    let msgs = json!([{"role": "user", "content": "weather?"}]);
    let base =
        json!({"model": "c", "messages": msgs, "tools": weather_tools(), "tool_choice": "auto"});
    let out = encoded(Kind::Anthropic, base.clone(), "claude");
    assert_eq!(
        out["tools"],
        json!([
            {"name": "get_weather", "description": "Weather now", "input_schema":
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "get_time", "input_schema": {"type": "object"}},
        ])
    );
    let cases = [
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (json!("none"), json!({"type": "none"})),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            json!({"type": "tool", "name": "get_time"}),
        ),
    ];
    for (choice, want) in cases {
        let mut body = base.clone();
        body["tool_choice"] = choice;
        assert_eq!(
            encoded(Kind::Anthropic, body, "claude")["tool_choice"],
            want
        );
    }
    let mut serial = base.clone();
    serial.as_object_mut().unwrap().remove("tool_choice");
    serial["parallel_tool_calls"] = json!(false);
    assert_eq!(
        encoded(Kind::Anthropic, serial.clone(), "claude")["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    serial["tool_choice"] = json!("required");
    assert_eq!(
        encoded(Kind::Anthropic, serial, "claude")["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    let mut bad = base;
    bad["tool_choice"] = json!("sometimes");
    assert_eq!(param(&refused(Kind::Anthropic, bad)), Some("tool_choice"));
}

fn tool_history() -> Value {
    json!([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\":18}"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "sunny, 24C"}]},
        {"role": "user", "content": "Which is warmer?"},
    ])
}

#[test]
fn anthropic_tool_calls_and_results_merge_into_turns() {
    let body = json!({"model": "c", "messages": tool_history()});
    assert_eq!(
        encoded(Kind::Anthropic, body, "claude")["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "{\"temp\":18}"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": [{"type": "text", "text": "sunny, 24C"}]},
                {"type": "text", "text": "Which is warmer?"},
            ]},
        ])
    );
}

#[test]
fn anthropic_assistant_without_text_and_empty_arguments() {
    let body = json!({"model": "c", "messages": [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "12:00"},
    ]});
    assert_eq!(
        encoded(Kind::Anthropic, body, "claude")["messages"],
        json!([
            {"role": "user", "content": "time?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_time", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "12:00"}]},
        ])
    );
}

#[test]
fn anthropic_tool_ids_are_made_safe() {
    let body = json!({"model": "c", "messages": [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0.c2ln+/w==", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0.c2ln+/w==", "content": "12:00"},
    ]});
    assert_eq!(
        encoded(Kind::Anthropic, body, "claude")["messages"],
        json!([
            {"role": "user", "content": "time?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_0_c2ln__w__", "name": "get_time", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_0_c2ln__w__", "content": "12:00"}]},
        ])
    );
}

#[test]
fn invalid_tool_arguments_are_refused() {
    for args in ["{\"city\":", "[1,2]", "\"Paris\""] {
        let body = json!({"model": "c", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "ok", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "bad", "type": "function", "function": {"name": "f", "arguments": args}}]},
        ]});
        for kind in [Kind::Anthropic, Kind::Gemini] {
            let e = refused(kind, body.clone());
            assert_eq!(
                param(&e),
                Some("messages[1].tool_calls[1].function.arguments")
            );
        }
    }
}

#[test]
fn anthropic_sampling_fields_and_dropped_ones() {
    let body = json!({
        "model": "c", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9, "stop": "END",
        "stream": true, "stream_options": {"include_usage": true}, "user": "u-42", "n": 1,
        "reasoning_effort": "high", "seed": 3, "frequency_penalty": 0.1, "logprobs": true,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "hi"}],
    });
    let out = encode(Kind::Anthropic, body, "claude").unwrap();
    assert_eq!(
        body_of(&out),
        json!({"model": "claude", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9,
               "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u-42"},
               "messages": [{"role": "user", "content": "hi"}]})
    );
    assert_eq!(out.headers.len(), 3);
    let list =
        json!({"model": "c", "stop": ["a", "b"], "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        encoded(Kind::Anthropic, list, "c")["stop_sequences"],
        json!(["a", "b"])
    );
    let bad = json!({"model": "c", "stop": [1], "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(param(&refused(Kind::Anthropic, bad)), Some("stop"));
}

#[test]
fn anthropic_refuses_more_than_one_choice() {
    let body = json!({"model": "c", "n": 3, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(param(&refused(Kind::Anthropic, body)), Some("n"));
}

// ---- Gemini ------------------------------------------------------------------

#[test]
fn gemini_system_roles_and_generation_config() {
    let body = json!({
        "model": "g", "max_tokens": 256, "temperature": 0.3, "top_p": 0.8, "n": 2,
        "stop": ["\n\n"], "user": "dropped", "reasoning_effort": "low",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "How tall"}, {"type": "text", "text": "is Everest?"}]},
        ],
    });
    let out = encode(Kind::Gemini, body, "gemini-2.5-flash").unwrap();
    assert_eq!(out.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(out.headers, json_headers());
    assert_eq!(
        body_of(&out),
        json!({
            "systemInstruction": {"parts": [{"text": "Be kind.\n\nUse metric units."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "How tall"}, {"text": "is Everest?"}]},
            ],
            "generationConfig": {"maxOutputTokens": 256, "temperature": 0.3, "topP": 0.8,
                                 "candidateCount": 2, "stopSequences": ["\n\n"]},
        })
    );
}

#[test]
fn gemini_stream_path() {
    let body =
        json!({"model": "g", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let out = encode(Kind::Gemini, body, "gemini-2.5-pro").unwrap();
    assert_eq!(
        out.path,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        body_of(&out),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn gemini_inline_image_and_refused_url() {
    let body = json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
    ]}]});
    assert_eq!(
        encoded(Kind::Gemini, body, "g")["contents"],
        json!([{"role": "user", "parts": [
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        ]}])
    );
    let remote = json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]}]});
    let e = refused(Kind::Gemini, remote);
    assert_eq!(param(&e), Some("messages[0].content[0].image_url"));
    assert!(e.message.contains("inline"), "{}", e.message);
    assert!(e.message.contains("does not fetch"), "{}", e.message);
}

#[test]
fn gemini_tools_and_tool_choice() {
    let base = json!({"model": "g", "messages": [{"role": "user", "content": "weather?"}],
                      "tools": weather_tools()});
    let out = encoded(Kind::Gemini, base.clone(), "g");
    assert_eq!(
        out["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather now", "parameters":
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "get_time"},
        ]}])
    );
    assert_eq!(out.get("toolConfig"), None);
    let cases = [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("required"), json!({"mode": "ANY"})),
        (json!("none"), json!({"mode": "NONE"})),
        (
            json!({"type": "function", "function": {"name": "get_weather"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
    ];
    for (choice, want) in cases {
        let mut body = base.clone();
        body["tool_choice"] = choice;
        assert_eq!(
            encoded(Kind::Gemini, body, "g")["toolConfig"],
            json!({"functionCallingConfig": want})
        );
    }
    let mut bad = base;
    bad["tools"] = json!([{"type": "retrieval"}]);
    assert_eq!(param(&refused(Kind::Gemini, bad)), Some("tools[0].type"));
}

#[test]
fn gemini_tool_calls_and_responses() {
    let body = json!({"model": "g", "messages": tool_history()});
    assert_eq!(
        encoded(Kind::Gemini, body, "g")["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"text": "Let me check."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": "sunny, 24C"}}},
                {"text": "Which is warmer?"},
            ]},
        ])
    );
}

#[test]
fn gemini_tool_result_without_its_call_is_refused() {
    let body = json!({"model": "g", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_9", "content": "42"},
    ]});
    assert_eq!(
        param(&refused(Kind::Gemini, body)),
        Some("messages[1].tool_call_id")
    );
}

#[test]
fn gemini_response_format() {
    let msgs = json!([{"role": "user", "content": "list"}]);
    let object =
        json!({"model": "g", "messages": msgs, "response_format": {"type": "json_object"}});
    assert_eq!(
        encoded(Kind::Gemini, object, "g")["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    let schema = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}});
    let with_schema = json!({"model": "g", "messages": msgs, "response_format":
        {"type": "json_schema", "json_schema": {"name": "list", "strict": true, "schema": schema}}});
    assert_eq!(
        encoded(Kind::Gemini, with_schema, "g")["generationConfig"],
        json!({"responseMimeType": "application/json", "responseSchema": schema})
    );
}

#[test]
fn gemini_thought_signature_round_trip() {
    let answer = json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2lnLW9uZQ=="},
        {"functionCall": {"name": "get_time", "args": {}}},
    ]}}]});
    let (bytes, _) = decode_response(
        Kind::Gemini,
        answer.to_string().as_bytes(),
        "g",
        "chatcmpl-1",
        1,
    )
    .unwrap();
    let decoded: Value = serde_json::from_slice(&bytes).unwrap();
    let message = decoded["choices"][0]["message"].clone();
    let ids: Vec<&str> = message["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["call_0.c2lnLW9uZQ==", "call_1"]);
    let body = json!({"model": "g", "messages": [
        {"role": "user", "content": "weather and time in Oslo"},
        message,
        {"role": "tool", "tool_call_id": "call_0.c2lnLW9uZQ==", "content": "{\"temp\":-3}"},
        {"role": "tool", "tool_call_id": "call_1", "content": "09:15"},
    ]});
    assert_eq!(
        encoded(Kind::Gemini, body, "g")["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather and time in Oslo"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2lnLW9uZQ=="},
                {"functionCall": {"name": "get_time", "args": {}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": -3}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "09:15"}}},
            ]},
        ])
    );
}

#[test]
fn unsupported_parts_are_refused_for_native_providers() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]});
    for kind in [Kind::Anthropic, Kind::Gemini] {
        assert_eq!(
            param(&refused(kind, body.clone())),
            Some("messages[0].content[0].type")
        );
    }
}

#[test]
fn unchecked_bodies_do_not_panic() {
    // The fields are public, so a request may skip `parse`'s checks.
    let body = json!({"messages": [1, {"role": "assistant", "tool_calls": "x"}, {"role": "tool"},
                                   {"role": "user", "content": [7, {"type": "image_url"}]}], "tools": 5});
    let req = ChatRequest {
        model: "m".to_owned(),
        stream: false,
        include_usage: false,
        max_tokens: None,
        body: body.as_object().unwrap().clone(),
    };
    for (kind, want) in [
        (Kind::Anthropic, "messages[3].content[0].type"),
        (Kind::Gemini, "messages[2].tool_call_id"),
    ] {
        let e = req.encode(kind, "m", &opts(kind)).unwrap_err();
        assert_eq!(param(&e), Some(want), "{kind:?}");
    }
    let out = req
        .encode(Kind::OpenAi, "gpt", &opts(Kind::OpenAi))
        .unwrap();
    let mut want = body;
    want["model"] = json!("gpt");
    assert_eq!(body_of(&out), want);
}
