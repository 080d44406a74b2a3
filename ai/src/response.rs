//! Whole (non-streamed) provider responses and provider errors, as OpenAI
//! ones.
//!
//! OpenAI-format answers pass unchanged (only checked and their usage
//! read); Anthropic and Gemini answers are rebuilt as `chat.completion`
//! bodies. Provider errors become the client's error with a status the
//! client can act on; their text is cut short and scrubbed of anything
//! that looks like a key.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::provider::Kind;
use crate::usage::{FinishReason, Usage};

/// The longest provider message passed on, in characters.
const MAX_MESSAGE: usize = 512;

/// A provider's successful whole response as an OpenAI
/// `chat.completion` body, and its usage. `model` is the model name the
/// answer reports; `id` and `created` are used where the provider gives
/// none.
pub fn decode_response(
    kind: Kind,
    body: &[u8],
    model: &str,
    id: &str,
    created: u64,
) -> Result<(Vec<u8>, Usage), ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    match kind {
        Kind::OpenAi | Kind::Azure | Kind::Compatible => {
            if !v["choices"].is_array() {
                return Err(malformed());
            }
            Ok((body.to_vec(), Usage::from_openai(&v["usage"])))
        }
        Kind::Anthropic => {
            let usage = Usage::from_anthropic(&v["usage"]);
            let out = anthropic(&v, model, id, created, usage)?;
            Ok((to_bytes(&out)?, usage))
        }
        Kind::Gemini => {
            let usage = Usage::from_gemini(&v["usageMetadata"]);
            let out = gemini(&v, model, id, created, usage)?;
            Ok((to_bytes(&out)?, usage))
        }
    }
}

fn malformed() -> ApiError {
    ApiError::new(502, "upstream_error", "malformed provider response")
}

fn to_bytes(v: &Value) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|_| malformed())
}

/// The `chat.completion` envelope.
fn completion(id: &str, created: u64, model: &str, choices: Vec<Value>, usage: Usage) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage.to_openai(),
    })
}

/// An assistant message: `content` is `null` without text; `tool_calls`
/// and `reasoning_content` appear only when there are some.
fn message(text: Option<String>, calls: Vec<Value>, thinking: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), json!("assistant"));
    m.insert("content".into(), json!(text));
    if !calls.is_empty() {
        m.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(t) = thinking {
        m.insert("reasoning_content".into(), Value::String(t));
    }
    Value::Object(m)
}

fn tool_call(id: String, name: &str, args: &Value) -> Value {
    let arguments = match args {
        Value::Null => "{}".to_owned(),
        a => a.to_string(),
    };
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

/// Joined pieces, or `None` when there are none.
fn joined(pieces: Vec<&str>) -> Option<String> {
    (!pieces.is_empty()).then(|| pieces.concat())
}

/// An Anthropic Messages response.
fn anthropic(
    v: &Value,
    model: &str,
    id: &str,
    created: u64,
    usage: Usage,
) -> Result<Value, ApiError> {
    let blocks = v["content"].as_array().ok_or_else(malformed)?;
    let (mut text, mut thinking, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => text.push(b["text"].as_str().unwrap_or("")),
            Some("thinking") => thinking.push(b["thinking"].as_str().unwrap_or("")),
            Some("tool_use") => calls.push(tool_call(
                b["id"].as_str().unwrap_or("").to_owned(),
                b["name"].as_str().unwrap_or(""),
                &b["input"],
            )),
            _ => {}
        }
    }
    let reason =
        FinishReason::from_provider(Kind::Anthropic, v["stop_reason"].as_str().unwrap_or(""));
    let choice = json!({
        "index": 0,
        "message": message(joined(text), calls, joined(thinking)),
        "finish_reason": reason.as_str(),
    });
    let id = match v["id"].as_str() {
        Some(pid) if !pid.is_empty() => format!("chatcmpl-{pid}"),
        _ => id.to_owned(),
    };
    let model = v["model"].as_str().unwrap_or(model);
    Ok(completion(&id, created, model, vec![choice], usage))
}

/// A Gemini `generateContent` response.
fn gemini(v: &Value, model: &str, id: &str, created: u64, usage: Usage) -> Result<Value, ApiError> {
    let candidates = v["candidates"].as_array().map_or(&[][..], Vec::as_slice);
    let choices: Vec<Value> = if candidates.is_empty() {
        if v["promptFeedback"]["blockReason"].is_null() {
            return Err(malformed());
        }
        vec![json!({
            "index": 0,
            "message": message(None, Vec::new(), None),
            "finish_reason": FinishReason::ContentFilter.as_str(),
        })]
    } else {
        candidates
            .iter()
            .enumerate()
            .map(|(pos, c)| candidate(pos, c))
            .collect()
    };
    let model = v["modelVersion"].as_str().unwrap_or(model);
    Ok(completion(id, created, model, choices, usage))
}

/// One Gemini candidate as a choice. Function calls get ids `call_<n>`,
/// with `.<thoughtSignature>` appended when the part carries one, so the
/// signature comes back with the next request.
fn candidate(pos: usize, c: &Value) -> Value {
    let parts = c["content"]["parts"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let (mut text, mut thinking, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for p in parts {
        if let Some(call) = p.get("functionCall") {
            let n = calls.len();
            let id = match p["thoughtSignature"].as_str() {
                Some(sig) if !sig.is_empty() => format!("call_{n}.{sig}"),
                _ => format!("call_{n}"),
            };
            calls.push(tool_call(
                id,
                call["name"].as_str().unwrap_or(""),
                &call["args"],
            ));
        } else if let Some(t) = p["text"].as_str() {
            if p["thought"].as_bool() == Some(true) {
                thinking.push(t);
            } else {
                text.push(t);
            }
        }
    }
    let raw = c["finishReason"].as_str().unwrap_or("STOP");
    let mut reason = FinishReason::from_provider(Kind::Gemini, raw);
    if reason == FinishReason::Stop && !calls.is_empty() {
        reason = FinishReason::ToolCalls;
    }
    json!({
        "index": c["index"].as_u64().unwrap_or(pos as u64),
        "message": message(joined(text), calls, joined(thinking)),
        "finish_reason": reason.as_str(),
    })
}

/// A provider's error response (`status` >= 400) as the client's error.
/// OpenAI's, Anthropic's and Gemini's shapes are all tried whatever
/// `kind` is (OpenAI-compatible servers vary); an unreadable body gets a
/// generic message. Credential refusals (401, 403) never carry the
/// provider's text.
pub fn decode_error(kind: Kind, status: u16, body: &[u8]) -> ApiError {
    let _ = kind;
    let detail = serde_json::from_slice::<Value>(body).ok();
    let provider = detail
        .as_ref()
        .and_then(provider_message)
        .map(|m| scrub(&m))
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| format!("the provider answered HTTP {status}"));
    let (out, kind) = match status {
        400 | 422 => (400, "invalid_request_error"),
        401 | 403 => {
            return ApiError::new(
                502,
                "upstream_error",
                "the provider refused the gateway's credentials",
            )
        }
        404 => (404, "not_found_error"),
        413 => (413, "invalid_request_error"),
        429 => (429, "rate_limit_error"),
        408 | 504 => (504, "timeout_error"),
        _ => (502, "upstream_error"),
    };
    let mut err = ApiError::new(out, kind, provider);
    err.code = detail.as_ref().and_then(provider_code);
    err
}

/// The message in OpenAI's, Anthropic's or Gemini's error shape (Gemini
/// sometimes wraps it in an array).
fn provider_message(v: &Value) -> Option<String> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let e = &v["error"];
    e["message"]
        .as_str()
        .or_else(|| e.as_str())
        .or_else(|| v["message"].as_str())
        .map(str::to_owned)
}

/// A short machine-readable code: OpenAI's `code`, else the error's
/// `type` (Anthropic) or `status` (Gemini), when it looks like one.
fn provider_code(v: &Value) -> Option<String> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let e = &v["error"];
    let code = e["code"]
        .as_str()
        .or_else(|| e["type"].as_str())
        .or_else(|| e["status"].as_str())?;
    let tidy = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (tidy && scrub(code) == code).then(|| code.to_owned())
}

/// `text` with key-like tokens replaced by `[redacted]`, cut to
/// [`MAX_MESSAGE`] characters.
pub(crate) fn scrub(text: &str) -> String {
    // Only the head is read: redaction shrinks a run at most 3.2 times, so
    // a token cut at 4096 characters cannot reach the first 512.
    let head: String = text.chars().take(MAX_MESSAGE * 8).collect();
    let mut out = String::with_capacity(head.len());
    let mut run = String::new();
    for ch in head.chars() {
        if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '*') {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out.chars().take(MAX_MESSAGE).collect()
}

fn flush(run: &mut String, out: &mut String) {
    let key_like = run.starts_with("sk-")
        || run.starts_with("AIza")
        || run.chars().filter(|c| *c != '*').count() >= 32;
    if key_like {
        out.push_str("[redacted]");
    } else {
        out.push_str(run);
    }
    run.clear();
}
