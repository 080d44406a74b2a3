//! An OpenAI Chat Completions request as a Gemini `generateContent` (or
//! `streamGenerateContent?alt=sse`) request.
//!
//! Mapped: system and developer messages (as `systemInstruction`), user,
//! assistant (`model`) and tool turns (merged so roles alternate), text
//! parts, images as base64 data URIs (`inlineData`), tool calls (with the
//! `thoughtSignature` carried in their ids) and results, `tools`,
//! `tool_choice`, and into `generationConfig`: `max_completion_tokens`/
//! `max_tokens`, `temperature`, `top_p`, `stop`, `n`, `seed`,
//! `presence_penalty`, `frequency_penalty` and `response_format`.
//!
//! Remote image URLs are refused: Gemini takes inline images only and the
//! gateway does not fetch URLs. Dropped: `reasoning_effort`, `user`,
//! `parallel_tool_calls`, `logit_bias`, `logprobs`, `top_logprobs`,
//! `stream_options`, `service_tier`, `store`, `metadata`, `modalities`,
//! `audio`, `prediction`, message `name`s and assistant
//! `reasoning_content`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{
    choice_count, field, image_of, number, outbound, path_segment, stop_list, system_text,
    text_pieces, tool_calls, tool_choice, tool_defs, ChatRequest, Choice, EncodeOpts, Image,
    Outbound, Turns,
};
use crate::error::ApiError;

/// The Gemini request for `req`.
pub(super) fn encode(
    req: &ChatRequest,
    model: &str,
    opts: &EncodeOpts,
) -> Result<Outbound, ApiError> {
    let b = &req.body;
    let mut out = Map::new();
    let msgs = req.messages();
    if let Some(system) = system_text(msgs)? {
        out.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    out.insert("contents".into(), contents(msgs)?);
    tools(b, &mut out)?;
    let config = generation_config(req)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    let model = path_segment(model);
    let path = if req.stream {
        format!(
            "{}/models/{model}:streamGenerateContent?alt=sse",
            opts.base_path
        )
    } else {
        format!("{}/models/{model}:generateContent", opts.base_path)
    };
    outbound(path, Vec::new(), out, req.stream)
}

/// The conversation without its system messages, as `contents`.
fn contents(msgs: &[Value]) -> Result<Value, ApiError> {
    let mut turns = Turns::default();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        match m["role"].as_str() {
            Some("user") => turns.push("user", user_parts(i, m.get("content"))?),
            Some("assistant") => turns.push("model", model_parts(i, m, &mut names)?),
            Some("tool") => turns.push("user", vec![function_response(i, m, &names)?]),
            _ => {}
        }
    }
    Ok(turns.finish("parts", Value::Array))
}

/// A user message's parts.
fn user_parts(i: usize, content: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let Some(Value::Array(parts)) = content else {
        return Ok(text_pieces(i, content)?
            .into_iter()
            .map(|t| json!({"text": t}))
            .collect());
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let part = match p["type"].as_str() {
            Some("text") => json!({"text": p["text"].as_str().unwrap_or("")}),
            Some("image_url") => match image_of(i, j, p)? {
                Image::Inline { mime, data } => {
                    json!({"inlineData": {"mimeType": mime, "data": data}})
                }
                Image::Remote(_) => {
                    return Err(ApiError::invalid(
                        format!("messages[{i}].content[{j}].image_url"),
                        "Gemini needs inline images: send the image as a base64 data URI \
                         (the gateway does not fetch image URLs)",
                    ))
                }
            },
            _ => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].content[{j}].type"),
                    "Gemini takes text and image_url content parts only",
                ))
            }
        };
        out.push(part);
    }
    Ok(out)
}

/// An assistant message's parts (text, then function calls); its calls'
/// names are noted by id for the tool messages that answer them.
fn model_parts<'a>(
    i: usize,
    m: &'a Value,
    names: &mut HashMap<&'a str, &'a str>,
) -> Result<Vec<Value>, ApiError> {
    let mut parts: Vec<Value> = text_pieces(i, m.get("content"))?
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| json!({"text": t}))
        .collect();
    for call in tool_calls(i, m)? {
        let mut part = Map::new();
        part.insert(
            "functionCall".into(),
            json!({"name": call.name, "args": call.args}),
        );
        if let Some(sig) = signature(call.id) {
            part.insert("thoughtSignature".into(), json!(sig));
        }
        parts.push(Value::Object(part));
        names.insert(call.id, call.name);
    }
    Ok(parts)
}

/// The `thoughtSignature` carried in a tool call id `call_<n>.<sig>`.
fn signature(id: &str) -> Option<&str> {
    let (_, sig) = id.strip_prefix("call_")?.split_once('.')?;
    (!sig.is_empty()).then_some(sig)
}

/// A tool message as a `functionResponse` part, named after the call it
/// answers.
fn function_response(i: usize, m: &Value, names: &HashMap<&str, &str>) -> Result<Value, ApiError> {
    let id = m["tool_call_id"].as_str().unwrap_or("");
    let name = names.get(id).ok_or_else(|| {
        ApiError::invalid(
            format!("messages[{i}].tool_call_id"),
            "no earlier assistant tool call has this id (Gemini needs the function's name)",
        )
    })?;
    let text = text_pieces(i, m.get("content"))?.concat();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => Value::Object(o),
        _ => json!({"content": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

/// `tools` as function declarations, and `tool_choice` as `toolConfig`.
fn tools(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    if let Some(defs) = tool_defs(b)? {
        let decls: Vec<Value> = defs
            .iter()
            .map(|d| {
                let mut f = Map::new();
                f.insert("name".into(), json!(d.name));
                if let Some(desc) = d.description {
                    f.insert("description".into(), desc.clone());
                }
                if let Some(params) = d.parameters {
                    f.insert("parameters".into(), params.clone());
                }
                Value::Object(f)
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(choice) = tool_choice(b)? {
        let config = match choice {
            Choice::Auto => json!({"mode": "AUTO"}),
            Choice::Required => json!({"mode": "ANY"}),
            Choice::None => json!({"mode": "NONE"}),
            Choice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        out.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    Ok(())
}

/// `generationConfig` (empty when the client set nothing it holds).
fn generation_config(req: &ChatRequest) -> Result<Map<String, Value>, ApiError> {
    let b = &req.body;
    let mut c = Map::new();
    if let Some(max) = req.max_tokens {
        c.insert("maxOutputTokens".into(), json!(max));
    }
    let numbers = [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ];
    for (from, to) in numbers {
        if let Some(v) = number(b, from)? {
            c.insert(to.into(), v);
        }
    }
    if let Some(stop) = stop_list(b)? {
        c.insert("stopSequences".into(), Value::Array(stop));
    }
    if let Some(n) = choice_count(b)? {
        c.insert("candidateCount".into(), json!(n));
    }
    response_format(b, &mut c)?;
    Ok(c)
}

/// `response_format`: JSON mode, with the schema when one is given.
fn response_format(b: &Map<String, Value>, c: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(rf) = field(b, "response_format") else {
        return Ok(());
    };
    match rf["type"].as_str() {
        Some("text") => {}
        Some("json_object") => {
            c.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            c.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = rf["json_schema"].get("schema").filter(|s| !s.is_null()) {
                c.insert("responseSchema".into(), schema.clone());
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "response_format.type",
                "response_format.type must be text, json_object or json_schema",
            ))
        }
    }
    Ok(())
}
