//! The Gemini format: reads generateContent requests and writes responses,
//! SSE chunk streams (cumulative usage, no `[DONE]`) and errors.

use serde_json::{json, Value};

use crate::convo::{Convo, Finish, Plan};
use crate::frame::{Frame, Part, Spoilers};
use crate::route::Failure;

/// Output tokens a tool call counts for (as in [`Plan`]).
const CALL_TOKENS: u64 = 5;

/// A field by its camelCase or snake_case name.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

/// Reads a generateContent request; the model comes from the path.
pub(crate) fn parse(body: &Value, model: &str, stream: bool) -> Result<Convo, Failure> {
    if !body.is_object() {
        return Err(Failure::bad(
            "Invalid JSON payload: expected an object.",
            None,
        ));
    }
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Failure::bad(
                "* GenerateContentRequest.contents: contents is not specified",
                Some("contents"),
            )
        })?;
    let mut c = Convo {
        model: model.to_string(),
        stream,
        ..Convo::default()
    };
    if let Some(sys) = field(body, "systemInstruction", "system_instruction") {
        let texts = parts(&mut c, sys, "systemInstruction")?;
        texts.iter().for_each(|t| c.add_text(t));
    }
    read_contents(&mut c, contents)?;
    c.tools = tool_names(body.get("tools"));
    c.max_out = field(body, "generationConfig", "generation_config")
        .and_then(|g| field(g, "maxOutputTokens", "max_output_tokens"))
        .and_then(Value::as_u64);
    Ok(c)
}

/// Counts each content turn; notes user texts and whether a user turn is last.
fn read_contents(c: &mut Convo, contents: &[Value]) -> Result<(), Failure> {
    let mut last_role = "";
    for (i, content) in contents.iter().enumerate() {
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        if !matches!(role, "user" | "model") {
            let param = format!("contents[{i}].role");
            return Err(Failure::bad(
                "Please use a valid role: user, model.",
                Some(&param),
            ));
        }
        let texts = parts(c, content, &format!("contents[{i}]"))?;
        texts.iter().for_each(|t| c.add_text(t));
        if role == "user" {
            c.user_message(&texts);
        }
        last_role = role;
    }
    c.ends_with_user = last_role == "user";
    Ok(())
}

/// The text parts of a `Content`; counts inline and file data as images.
fn parts<'a>(c: &mut Convo, content: &'a Value, param: &str) -> Result<Vec<&'a str>, Failure> {
    let parts = content
        .get("parts")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            let param = format!("{param}.parts");
            Failure::bad(format!("* {param}: parts is not specified"), Some(&param))
        })?;
    let mut texts = Vec::new();
    for p in parts {
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            texts.push(t);
        } else if field(p, "inlineData", "inline_data").is_some()
            || field(p, "fileData", "file_data").is_some()
        {
            c.images += 1;
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
        .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|d| d.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn finish_reason(p: &Plan) -> &'static str {
    match p.finish {
        Finish::Stop | Finish::Tools => "STOP",
        Finish::Length => "MAX_TOKENS",
    }
}

fn usage(input: u64, output: u64) -> Value {
    json!({ "promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output })
}

/// The `functionCall` part for the `i`th call (the first carries a thought signature).
fn call_part(i: usize, name: &str) -> Value {
    let mut part = json!({ "functionCall": { "name": name, "args": { "q": name } } });
    if i == 0 {
        part["thoughtSignature"] = json!("sig-a");
    }
    part
}

/// One `GenerateContentResponse`.
fn response(c: &Convo, seq: u64, parts: Vec<Value>, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": c.model,
        "responseId": format!("mock-{seq}"),
    })
}

/// A whole response.
pub(crate) fn whole(c: &Convo, p: &Plan, seq: u64) -> Value {
    let mut parts = Vec::new();
    if !p.pieces.is_empty() || p.calls.is_empty() {
        parts.push(json!({ "text": p.text() }));
    }
    parts.extend(p.calls.iter().enumerate().map(|(i, n)| call_part(i, n)));
    response(
        c,
        seq,
        parts,
        Some(finish_reason(p)),
        usage(p.input, p.output),
    )
}

/// One chunk per word or call, usage cumulative, the last with the finish reason.
pub(crate) fn frames(c: &Convo, p: &Plan, seq: u64) -> Vec<Frame> {
    let mut items: Vec<(Value, u64)> = p.pieces.iter().map(|w| (json!({ "text": w }), 1)).collect();
    items.extend(
        p.calls
            .iter()
            .enumerate()
            .map(|(i, n)| (call_part(i, n), CALL_TOKENS)),
    );
    if items.is_empty() {
        items.push((json!({ "text": "" }), 0));
    }
    let last = items.len() - 1;
    let mut output = 0;
    let mut out = Vec::with_capacity(items.len());
    for (i, (part, tokens)) in items.into_iter().enumerate() {
        output += tokens;
        let finish = (i == last).then(|| finish_reason(p));
        let v = response(c, seq, vec![part], finish, usage(p.input, output));
        out.push(Frame::data(
            if i == last { Part::End } else { Part::Content },
            &v,
        ));
    }
    out
}

/// Gemini's in-stream error object and a non-JSON chunk.
pub(crate) fn spoilers() -> Spoilers {
    let error = json!({ "error": { "code": 500, "message": "An internal error has occurred.", "status": "INTERNAL" } });
    Spoilers {
        error: Frame::data(Part::End, &error),
        malformed: Frame::raw(Part::End, b"data: {\"candidates\": [{\"content\n\n"),
    }
}

/// `{"error":{"code":…,"message":…,"status":…}}`.
pub(crate) fn error_body(f: &Failure) -> Vec<u8> {
    let status = match f.status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    let v = json!({ "error": { "code": f.status, "message": f.message, "status": status } });
    v.to_string().into_bytes()
}
