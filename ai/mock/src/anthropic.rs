//! The Anthropic Messages format: reads requests and writes messages, event
//! streams and errors.

use serde_json::{json, Map, Value};

use crate::convo::{call_args, split_args, Convo, Finish, Plan};
use crate::frame::{Frame, Part, Spoilers};
use crate::route::Failure;

/// Cache-read tokens reported when the system text mentions "cache".
const CACHE_READ: u64 = 4;

/// Reads a Messages request (`max_tokens` required, roles user/assistant only).
pub(crate) fn parse(body: &Value) -> Result<Convo, Failure> {
    let obj = body
        .as_object()
        .ok_or_else(|| Failure::bad("The request body must be a JSON object.", None))?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::bad("model: Field required", Some("model")))?;
    let max = max_tokens(obj.get("max_tokens"))?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::bad("messages: Field required", Some("messages")))?;
    let mut c = Convo {
        model: model.to_string(),
        max_out: Some(max),
        ..Convo::default()
    };
    system(&mut c, obj.get("system"))?;
    for (i, m) in messages.iter().enumerate() {
        message(&mut c, i, m)?;
    }
    c.ends_with_user = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("user");
    c.tools = tool_names(obj.get("tools"));
    c.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(c)
}

/// The required `max_tokens`, a non-negative integer.
fn max_tokens(v: Option<&Value>) -> Result<u64, Failure> {
    let v = v.ok_or_else(|| Failure::bad("max_tokens: Field required", Some("max_tokens")))?;
    v.as_u64().ok_or_else(|| {
        Failure::bad(
            "max_tokens: Input should be a valid integer",
            Some("max_tokens"),
        )
    })
}

/// Counts the top-level system prompt (a string or text blocks).
fn system(c: &mut Convo, system: Option<&Value>) -> Result<(), Failure> {
    let texts = match system {
        None | Some(Value::Null) => Vec::new(),
        Some(content) => blocks(c, content, "system")?,
    };
    c.system_cache = texts.iter().any(|t| t.contains("cache"));
    texts.iter().for_each(|t| c.add_text(t));
    Ok(())
}

/// Counts one message; notes user texts.
fn message(c: &mut Convo, i: usize, m: &Value) -> Result<(), Failure> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    if !matches!(role, "user" | "assistant") {
        let param = format!("messages.{i}.role");
        return Err(Failure::bad(
            format!("{param}: Input should be 'user' or 'assistant'"),
            Some(&param),
        ));
    }
    let content = m.get("content").unwrap_or(&Value::Null);
    let texts = blocks(c, content, &format!("messages.{i}.content"))?;
    texts.iter().for_each(|t| c.add_text(t));
    if role == "user" {
        c.user_message(&texts);
    }
    Ok(())
}

/// The text blocks of a content value; counts images and tool-result texts on the way.
fn blocks<'a>(c: &mut Convo, content: &'a Value, param: &str) -> Result<Vec<&'a str>, Failure> {
    let items = match content {
        Value::String(s) => return Ok(vec![s.as_str()]),
        Value::Array(items) => items,
        _ => {
            let msg = format!("{param}: Input should be a valid string or list");
            return Err(Failure::bad(msg, Some(param)));
        }
    };
    let mut texts = Vec::new();
    for b in items {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => texts.extend(b.get("text").and_then(Value::as_str)),
            Some("image") => c.images += 1,
            Some("tool_result") => {
                if let Some(inner) = b.get("content").filter(|v| !v.is_null()) {
                    let inner = blocks(c, inner, param)?;
                    inner.iter().for_each(|t| c.add_text(t));
                }
            }
            _ => {}
        }
    }
    Ok(texts)
}

fn tool_names(tools: Option<&Value>) -> Vec<String> {
    let tools = tools
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn stop_reason(p: &Plan) -> &'static str {
    match p.finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::Tools => "tool_use",
    }
}

/// Usage with `input_tokens` excluding cache reads, and this output count.
fn usage(c: &Convo, p: &Plan, output: u64) -> Value {
    let cached = if c.system_cache {
        CACHE_READ.min(p.input)
    } else {
        0
    };
    json!({
        "input_tokens": p.input - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    })
}

fn tool_id(i: usize) -> String {
    format!("toolu_{}", char::from(b'a' + (i % 26) as u8))
}

/// The whole message's content blocks.
fn content(p: &Plan) -> Vec<Value> {
    let mut out = Vec::new();
    if !p.pieces.is_empty() || p.calls.is_empty() {
        out.push(json!({ "type": "text", "text": p.text() }));
    }
    for (i, name) in p.calls.iter().enumerate() {
        out.push(
            json!({ "type": "tool_use", "id": tool_id(i), "name": name, "input": { "q": name } }),
        );
    }
    out
}

/// A whole `message`.
pub(crate) fn whole(c: &Convo, p: &Plan, seq: u64) -> Value {
    json!({
        "id": format!("msg_mock_{seq}"),
        "type": "message",
        "role": "assistant",
        "model": c.model,
        "content": content(p),
        "stop_reason": stop_reason(p),
        "stop_sequence": null,
        "usage": usage(c, p, p.output),
    })
}

fn event(part: Part, name: &str, mut fields: Value) -> Frame {
    if let Some(obj) = fields.as_object_mut() {
        let mut v = Map::with_capacity(obj.len() + 1);
        v.insert("type".into(), json!(name));
        v.append(obj);
        return Frame::event(part, name, &Value::Object(v));
    }
    Frame::event(part, name, &fields)
}

/// The event stream: `message_start` … `message_stop`.
pub(crate) fn frames(c: &Convo, p: &Plan, seq: u64) -> Vec<Frame> {
    let message = json!({
        "id": format!("msg_mock_{seq}"), "type": "message", "role": "assistant", "model": c.model,
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(c, p, 1),
    });
    let mut out = vec![event(
        Part::Meta,
        "message_start",
        json!({ "message": message }),
    )];
    let start = json!({ "index": 0, "content_block": { "type": "text", "text": "" } });
    out.push(event(Part::Meta, "content_block_start", start));
    out.push(event(Part::Meta, "ping", json!({})));
    for piece in &p.pieces {
        let delta = json!({ "index": 0, "delta": { "type": "text_delta", "text": piece } });
        out.push(event(Part::Content, "content_block_delta", delta));
    }
    out.push(event(
        Part::Meta,
        "content_block_stop",
        json!({ "index": 0 }),
    ));
    for (i, name) in p.calls.iter().enumerate() {
        tool_frames(&mut out, i + 1, &tool_id(i), name);
    }
    let delta = json!({ "delta": { "stop_reason": stop_reason(p), "stop_sequence": null },
                        "usage": { "output_tokens": p.output } });
    out.push(event(Part::End, "message_delta", delta));
    out.push(event(Part::End, "message_stop", json!({})));
    out
}

/// One tool_use block: start, 2 `input_json_delta` pieces, stop.
fn tool_frames(out: &mut Vec<Frame>, index: usize, id: &str, name: &str) {
    let block = json!({ "type": "tool_use", "id": id, "name": name, "input": {} });
    out.push(event(
        Part::Meta,
        "content_block_start",
        json!({ "index": index, "content_block": block }),
    ));
    let args = call_args(name);
    let (a, b) = split_args(&args);
    for piece in [a, b] {
        let delta = json!({ "index": index, "delta": { "type": "input_json_delta", "partial_json": piece } });
        out.push(event(Part::Content, "content_block_delta", delta));
    }
    out.push(event(
        Part::Meta,
        "content_block_stop",
        json!({ "index": index }),
    ));
}

/// Anthropic's `event: error` and a non-JSON delta.
pub(crate) fn spoilers() -> Spoilers {
    let error = json!({ "error": { "type": "overloaded_error", "message": "Overloaded" } });
    Spoilers {
        error: event(Part::End, "error", error),
        malformed: Frame::raw(
            Part::End,
            b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\n\n",
        ),
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}`.
pub(crate) fn error_body(f: &Failure) -> Vec<u8> {
    let kind = match f.status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    let v = json!({ "type": "error", "error": { "type": kind, "message": f.message } });
    v.to_string().into_bytes()
}
