//! The OpenAI format (also Azure's): reads chat and embeddings requests and
//! writes completions, chunk streams, model lists and errors.

use serde_json::{json, Value};

use crate::convo::{call_args, embedding, split_args, word_count, Convo, Finish, Plan};
use crate::frame::{Frame, Part, Spoilers};
use crate::route::Failure;

/// The fixed `created` timestamp of every object.
pub(crate) const CREATED: u64 = 1_700_000_000;

/// Reads a chat request; Azure passes the deployment as the model.
pub(crate) fn parse(body: &Value, deployment: Option<&str>) -> Result<Convo, Failure> {
    let obj = body
        .as_object()
        .ok_or_else(|| Failure::bad("The request body must be a JSON object.", None))?;
    let model = match deployment {
        Some(d) => d,
        None => obj
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::bad("You must provide a model parameter.", Some("model")))?,
    };
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| Failure::bad("'messages' must be a non-empty array.", Some("messages")))?;
    let mut c = Convo {
        model: model.to_string(),
        ..Convo::default()
    };
    for (i, m) in messages.iter().enumerate() {
        message(&mut c, i, m)?;
    }
    c.ends_with_user = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("user");
    c.tools = tool_names(obj.get("tools"));
    c.max_out = obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
        .and_then(Value::as_u64);
    c.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    c.include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(c)
}

/// Counts one message's texts and images; notes user texts.
fn message(c: &mut Convo, i: usize, m: &Value) -> Result<(), Failure> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        role,
        "system" | "developer" | "user" | "assistant" | "tool" | "function"
    ) {
        let param = format!("messages[{i}].role");
        return Err(Failure::bad(
            format!("Invalid value for '{param}'."),
            Some(&param),
        ));
    }
    let mut texts = Vec::new();
    match m.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => texts.push(s.as_str()),
        Some(Value::Array(parts)) => {
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => texts.extend(p.get("text").and_then(Value::as_str)),
                    Some("image_url") => c.images += 1,
                    _ => {}
                }
            }
        }
        Some(_) => {
            let param = format!("messages[{i}].content");
            return Err(Failure::bad(
                format!("Invalid type for '{param}'."),
                Some(&param),
            ));
        }
    }
    texts.iter().for_each(|t| c.add_text(t));
    if role == "user" {
        c.user_message(&texts);
    }
    Ok(())
}

/// Names of the declared function tools.
fn tool_names(tools: Option<&Value>) -> Vec<String> {
    let tools = tools
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    tools
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn finish_reason(p: &Plan) -> &'static str {
    match p.finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::Tools => "tool_calls",
    }
}

fn usage(p: &Plan) -> Value {
    json!({
        "prompt_tokens": p.input,
        "completion_tokens": p.output,
        "total_tokens": p.input + p.output,
        "prompt_tokens_details": { "cached_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0 },
    })
}

fn id(seq: u64) -> String {
    format!("chatcmpl-mock-{seq}")
}

/// `call_a`, `call_b`, …
fn call_id(i: usize) -> String {
    format!("call_{}", char::from(b'a' + (i % 26) as u8))
}

/// A whole `chat.completion`.
pub(crate) fn whole(c: &Convo, p: &Plan, seq: u64) -> Value {
    let text = p.text();
    let content = if text.is_empty() && !p.calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut message = json!({ "role": "assistant", "content": content, "refusal": null });
    if !p.calls.is_empty() {
        let calls: Vec<Value> = p
            .calls
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({ "id": call_id(i), "type": "function",
                        "function": { "name": name, "arguments": call_args(name) } })
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": id(seq),
        "object": "chat.completion",
        "created": CREATED,
        "model": c.model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(p) }],
        "usage": usage(p),
    })
}

/// Builds `chat.completion.chunk` frames for one response.
struct Chunks<'a> {
    id: String,
    c: &'a Convo,
}

impl Chunks<'_> {
    /// One chunk with this delta and finish reason (`usage: null` under include_usage).
    fn frame(&self, part: Part, delta: Value, finish: Value) -> Frame {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": CREATED, "model": self.c.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        if self.c.include_usage {
            v["usage"] = Value::Null;
        }
        Frame::data(part, &v)
    }

    /// The `i`th tool call: name first, then the arguments in 2 pieces.
    fn call(&self, out: &mut Vec<Frame>, i: usize, name: &str) {
        let start = json!({ "index": i, "id": call_id(i), "type": "function",
                            "function": { "name": name, "arguments": "" } });
        out.push(self.frame(Part::Content, json!({ "tool_calls": [start] }), Value::Null));
        let args = call_args(name);
        let (a, b) = split_args(&args);
        for piece in [a, b] {
            let delta =
                json!({ "tool_calls": [{ "index": i, "function": { "arguments": piece } }] });
            out.push(self.frame(Part::Content, delta, Value::Null));
        }
    }
}

/// The `chat.completion.chunk` frames, ending with `[DONE]`.
pub(crate) fn frames(c: &Convo, p: &Plan, seq: u64) -> Vec<Frame> {
    let chunks = Chunks { id: id(seq), c };
    let role = json!({ "role": "assistant", "content": "" });
    let mut out = vec![chunks.frame(Part::Meta, role, Value::Null)];
    for piece in &p.pieces {
        out.push(chunks.frame(Part::Content, json!({ "content": piece }), Value::Null));
    }
    for (i, name) in p.calls.iter().enumerate() {
        chunks.call(&mut out, i, name);
    }
    out.push(chunks.frame(Part::End, json!({}), json!(finish_reason(p))));
    if c.include_usage {
        let v = json!({ "id": chunks.id, "object": "chat.completion.chunk", "created": CREATED,
                        "model": c.model, "choices": [], "usage": usage(p) });
        out.push(Frame::data(Part::End, &v));
    }
    out.push(Frame::raw(Part::End, b"data: [DONE]\n\n"));
    out
}

/// OpenAI's mid-stream error and a non-JSON frame.
pub(crate) fn spoilers() -> Spoilers {
    let error = json!({ "error": { "message": "The server had an error while processing your request.",
                                   "type": "server_error", "param": null, "code": null } });
    Spoilers {
        error: Frame::data(Part::End, &error),
        malformed: Frame::raw(
            Part::End,
            b"data: {\"id\":\"chatcmpl-broken\",\"choices\":[\n\n",
        ),
    }
}

/// `{"error": {message, type, param, code}}`.
pub(crate) fn error_body(f: &Failure) -> Vec<u8> {
    let (kind, code) = match f.status {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("unknown_url")),
        429 => ("requests", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    let v =
        json!({ "error": { "message": f.message, "type": kind, "param": f.param, "code": code } });
    v.to_string().into_bytes()
}

/// The `GET /v1/models` list.
pub(crate) fn models() -> Value {
    let model = |id: &str| json!({ "id": id, "object": "model", "created": CREATED, "owned_by": "ai-mock" });
    json!({ "object": "list", "data": [model("mock-chat"), model("mock-embedding")] })
}

/// Reads an embeddings request and answers it: the model and the whole body.
pub(crate) fn embeddings(body: &Value) -> Result<(String, Value), Failure> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::bad("You must provide a model parameter.", Some("model")))?;
    let inputs = embedding_inputs(body.get("input"))?;
    let tokens: u64 = inputs.iter().map(|s| word_count(s)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| json!({ "object": "embedding", "index": i, "embedding": embedding(s) }))
        .collect();
    let v = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    });
    Ok((model.to_string(), v))
}

/// The texts to embed: a string, an array of strings, or token arrays (as text).
fn embedding_inputs(input: Option<&Value>) -> Result<Vec<String>, Failure> {
    let bad = || {
        Failure::bad(
            "'input' must be a string or an array of strings.",
            Some("input"),
        )
    };
    match input {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => {
            if items.iter().all(Value::is_u64) {
                return Ok(vec![Value::Array(items.clone()).to_string()]);
            }
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Array(_) => Ok(v.to_string()),
                    _ => Err(bad()),
                })
                .collect()
        }
        _ => Err(bad()),
    }
}
