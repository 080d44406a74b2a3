//! Streamed responses: a provider's SSE stream, fed in any cut, as
//! OpenAI `chat.completion.chunk` events.
//!
//! OpenAI-format streams pass through byte for byte (usage is read, and
//! the usage-only chunk is dropped when the client did not ask for it);
//! Anthropic's and Gemini's events are rewritten one by one. Memory is one
//! event plus fixed state: content and tool arguments are never gathered.
//! Every way a stream can end badly (an `error` event, a frame that is not
//! JSON, an event over [`MAX_EVENT`], a body that stops before the
//! provider's end) ends the client's stream with one OpenAI error frame
//! and `data: [DONE]`.
//!
//! Cost per frame (`cargo run --release -p ai --example frame_cost`,
//! best of 5 runs of 1M frames, 2-core VM busy with a build, 2026-12-03):
//! an OpenAI chunk passed through ≈ 560 ns, an Anthropic `text_delta`
//! ≈ 590 ns, a Gemini text chunk ≈ 610 ns. OpenAI and Gemini chunks are
//! read into typed structs that build only the fields used (a whole
//! `serde_json::Value` cost about twice as much).

use std::io::Write;

use serde_json::Value;

use crate::error::ApiError;
use crate::provider::Kind;
use crate::sse::{Event, SseReader, MAX_EVENT};
use crate::usage::{FinishReason, Usage};

/// Most `tool_use` blocks one Anthropic message may open.
const MAX_TOOL_BLOCKS: usize = 128;

/// Most characters of a provider's error message passed on.
const MAX_ERROR_CHARS: usize = 512;

/// Translates one provider stream into OpenAI's.
#[derive(Debug)]
pub struct StreamTranslator {
    reader: SseReader,
    st: State,
}

/// Everything but the SSE reader (so that the reader's callback can
/// borrow it).
#[derive(Debug)]
struct State {
    kind: Kind,
    include_usage: bool,
    /// Every chunk's start, up to and including `"choices":`.
    head: Vec<u8>,
    usage: Usage,
    /// `data: [DONE]` was written.
    ended: bool,
    error: Option<ApiError>,
    frames: u64,
    /// The finish reason sent to the client.
    finish: Option<FinishReason>,
    role_sent: bool,
    /// Anthropic: the `stop_reason` of `message_delta`.
    stop: Option<FinishReason>,
    /// Anthropic's input tokens without the cache, cache read, cache written.
    anthropic_input: [u64; 3],
    /// Anthropic: content block index → tool call ordinal.
    tools: Vec<(u64, u32)>,
    /// The next tool call ordinal.
    next_tool: u32,
    /// Gemini: a `finishReason` (or a blocked prompt) was seen.
    provider_done: bool,
    /// Gemini: a `functionCall` was seen.
    saw_call: bool,
}

impl StreamTranslator {
    /// A translator for a stream of `kind`; chunks carry `id`, `created`
    /// and `model`; with `include_usage` the stream ends with OpenAI's
    /// usage-only chunk.
    pub fn new(kind: Kind, model: &str, id: &str, created: u64, include_usage: bool) -> Self {
        let mut head = Vec::with_capacity(96 + id.len() + model.len());
        head.extend_from_slice(br#"{"id":"#);
        json_str(&mut head, id);
        head.extend_from_slice(br#","object":"chat.completion.chunk","created":"#);
        let _ = write!(head, "{created}");
        head.extend_from_slice(br#","model":"#);
        json_str(&mut head, model);
        head.extend_from_slice(br#","choices":"#);
        StreamTranslator {
            reader: SseReader::new(MAX_EVENT),
            st: State {
                kind,
                include_usage,
                head,
                usage: Usage::default(),
                ended: false,
                error: None,
                frames: 0,
                finish: None,
                role_sent: false,
                stop: None,
                anthropic_input: [0; 3],
                tools: Vec::new(),
                next_tool: 0,
                provider_done: false,
                saw_call: false,
            },
        }
    }

    /// Feeds upstream body bytes; appends OpenAI SSE bytes to `out`.
    /// Input after the stream ended is ignored.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.st.ended {
            return;
        }
        let st = &mut self.st;
        if let Err(e) = self.reader.push(input, |ev| st.on_event(ev, out)) {
            let msg = format!("the provider's stream is malformed: {e}");
            st.fail(gateway_error(msg, "malformed_frame"), out);
        }
    }

    /// The upstream body ended: ends the client's stream, with an error
    /// frame when the provider's stream had not ended properly.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.st.ended {
            return;
        }
        if self.st.provider_done {
            self.st.usage_chunk(out);
            self.st.done(out);
            return;
        }
        let msg = "the provider's stream ended early";
        self.st
            .fail(gateway_error(msg.into(), "stream_ended_early"), out);
    }

    /// Usage seen so far (cumulative counts replace, never add).
    pub fn usage(&self) -> Usage {
        self.st.usage
    }

    /// Whether the stream's last frame (`data: [DONE]`) has been written;
    /// further input is ignored.
    pub fn is_ended(&self) -> bool {
        self.st.ended
    }

    /// The error frame sent to the client, if one was.
    pub fn error(&self) -> Option<&ApiError> {
        self.st.error.as_ref()
    }

    /// Frames written to the client so far, `[DONE]` included.
    pub fn frames(&self) -> u64 {
        self.st.frames
    }

    /// The finish reason sent to the client, if one was.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.st.finish
    }
}

impl State {
    /// One upstream event.
    fn on_event(&mut self, ev: Event<'_>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match self.kind {
            Kind::Anthropic => self.anthropic(ev, out),
            Kind::Gemini => self.gemini(ev.data, out),
            Kind::OpenAi | Kind::Azure | Kind::Compatible => self.openai(ev.data, out),
        }
    }

    /// An OpenAI-format event: passed through, usage read.
    fn openai(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.trim_ascii() == b"[DONE]" {
            return self.done(out);
        }
        // Only the few fields read are built; the rest is checked and
        // skipped (building a whole `Value` cost 3× as much per frame).
        let Ok(v) = serde_json::from_slice::<OpenAiChunk>(data) else {
            return self.fail(malformed(), out);
        };
        if let Some(e) = &v.error {
            // Written again, scrubbed: a provider's text may quote a key.
            return self.fail(provider_error(e), out);
        }
        let usage = v.usage.as_ref().filter(|u| u.is_object());
        if let Some(u) = usage {
            self.usage = Usage::from_openai(u);
        }
        let first = v.choices.as_ref().and_then(|c| c.first());
        if let Some(reason) = first.and_then(|c| c.finish_reason.as_deref()) {
            self.finish = Some(FinishReason::from_provider(self.kind, reason));
        }
        let usage_only = usage.is_some() && v.choices.as_ref().is_none_or(|c| c.is_empty());
        if !usage_only || self.include_usage {
            self.pass(data, out);
        }
    }

    /// An Anthropic Messages event.
    fn anthropic(&mut self, ev: Event<'_>, out: &mut Vec<u8>) {
        let Some(v) = parse(ev.data) else {
            return self.fail(malformed(), out);
        };
        let ty = v["type"].as_str().map_or(ev.event, str::as_bytes);
        match ty {
            b"content_block_delta" => self.anthropic_delta(&v, out),
            b"content_block_start" => self.anthropic_block(&v, out),
            b"message_start" => {
                self.anthropic_usage(&v["message"]["usage"]);
                self.ensure_role(out);
            }
            b"message_delta" => {
                if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                    self.stop = Some(FinishReason::from_provider(Kind::Anthropic, reason));
                }
                self.anthropic_usage(&v["usage"]);
            }
            b"message_stop" => {
                self.final_chunk(self.stop.unwrap_or(FinishReason::Stop), out);
                self.usage_chunk(out);
                self.done(out);
            }
            b"error" => self.fail(provider_error(&v["error"]), out),
            _ => {}
        }
    }

    /// `content_block_start`: a tool call's first chunk.
    fn anthropic_block(&mut self, v: &Value, out: &mut Vec<u8>) {
        let block = &v["content_block"];
        match block["type"].as_str() {
            Some("tool_use") => {}
            Some("text") => return self.text_chunk(CONTENT, block["text"].as_str(), out),
            Some("thinking") => return self.text_chunk(REASONING, block["thinking"].as_str(), out),
            _ => return,
        }
        if self.tools.len() >= MAX_TOOL_BLOCKS {
            let msg = format!("the provider's answer has more than {MAX_TOOL_BLOCKS} tool calls");
            return self.fail(gateway_error(msg, "too_many_tool_calls"), out);
        }
        let (Some(index), Some(id), Some(name)) = (
            v["index"].as_u64(),
            block["id"].as_str(),
            block["name"].as_str(),
        ) else {
            return self.fail(malformed(), out);
        };
        let k = self.next_tool;
        self.next_tool = k.saturating_add(1);
        self.tools.push((index, k));
        self.tool_start(k, id, name, "", out);
    }

    /// `content_block_delta`: text, tool arguments or thinking.
    fn anthropic_delta(&mut self, v: &Value, out: &mut Vec<u8>) {
        let delta = &v["delta"];
        match delta["type"].as_str() {
            Some("text_delta") => self.text_chunk(CONTENT, delta["text"].as_str(), out),
            Some("thinking_delta") => self.text_chunk(REASONING, delta["thinking"].as_str(), out),
            Some("input_json_delta") => {
                let index = v["index"].as_u64();
                let tool = self.tools.iter().find(|(i, _)| Some(*i) == index);
                // Arguments of blocks that are not client tool calls
                // (server tools) are not the client's.
                let (Some(&(_, k)), Some(part)) = (tool, delta["partial_json"].as_str()) else {
                    return;
                };
                self.ensure_role(out);
                self.open_chunk(out);
                let _ = write!(
                    out,
                    r#"{{"tool_calls":[{{"index":{k},"function":{{"arguments":"#
                );
                json_str(out, part);
                out.extend_from_slice(b"}}]}");
                self.close_chunk(None, out);
            }
            _ => {}
        }
    }

    /// Anthropic usage: each count present replaces the one held.
    fn anthropic_usage(&mut self, u: &Value) {
        let fields = [
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ];
        for (held, field) in self.anthropic_input.iter_mut().zip(fields) {
            if let Some(n) = u[field].as_u64() {
                *held = n;
            }
        }
        if let Some(n) = u["output_tokens"].as_u64() {
            self.usage.output = n;
        }
        let [input, read, written] = self.anthropic_input;
        self.usage.input = input.saturating_add(read).saturating_add(written);
        self.usage.cached = read;
    }

    /// A Gemini `GenerateContentResponse`.
    fn gemini(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // Typed, so that only the fields read are built.
        let Ok(v) = serde_json::from_slice::<GeminiChunk>(data) else {
            return self.fail(malformed(), out);
        };
        if let Some(e) = &v.error {
            return self.fail(provider_error(e), out);
        }
        if let Some(u) = &v.usage {
            self.usage = u.usage();
        }
        if self.provider_done {
            return;
        }
        let candidate = v.candidates.as_ref().and_then(|c| c.first());
        let parts = candidate
            .and_then(|c| c.content.as_ref())
            .and_then(|c| c.parts.as_ref());
        for part in parts.into_iter().flatten() {
            self.gemini_part(part, out);
        }
        if let Some(reason) = candidate.and_then(|c| c.finish_reason.as_deref()) {
            let reason = match FinishReason::from_provider(Kind::Gemini, reason) {
                FinishReason::Stop if self.saw_call => FinishReason::ToolCalls,
                other => other,
            };
            self.final_chunk(reason, out);
            self.provider_done = true;
        } else if candidate.is_none()
            && v.prompt_feedback
                .as_ref()
                .is_some_and(|p| p["blockReason"].is_string())
        {
            self.final_chunk(FinishReason::ContentFilter, out);
            self.provider_done = true;
        }
    }

    /// One part of a Gemini candidate.
    fn gemini_part(&mut self, part: &Value, out: &mut Vec<u8>) {
        if let Some(call) = part.get("functionCall") {
            let k = self.next_tool;
            self.next_tool = k.saturating_add(1);
            self.saw_call = true;
            let id = match part["thoughtSignature"].as_str() {
                Some(sig) => format!("call_{k}.{sig}"),
                None => format!("call_{k}"),
            };
            let args = match call.get("args") {
                Some(a) if !a.is_null() => a.to_string(),
                _ => "{}".to_owned(),
            };
            let name = call["name"].as_str().unwrap_or("");
            return self.tool_start(k, &id, name, &args, out);
        }
        let key = match part["thought"].as_bool() {
            Some(true) => REASONING,
            _ => CONTENT,
        };
        self.text_chunk(key, part["text"].as_str(), out);
    }

    /// A chunk whose delta is `{key: text}`; nothing for no or empty text.
    fn text_chunk(&mut self, key: &[u8], text: Option<&str>, out: &mut Vec<u8>) {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return;
        };
        self.ensure_role(out);
        self.open_chunk(out);
        out.extend_from_slice(key);
        json_str(out, text);
        out.push(b'}');
        self.close_chunk(None, out);
    }

    /// A tool call's first chunk: its index, id, name and `args`.
    fn tool_start(&mut self, k: u32, id: &str, name: &str, args: &str, out: &mut Vec<u8>) {
        self.ensure_role(out);
        self.open_chunk(out);
        let _ = write!(out, r#"{{"tool_calls":[{{"index":{k},"id":"#);
        json_str(out, id);
        out.extend_from_slice(br#","type":"function","function":{"name":"#);
        json_str(out, name);
        out.extend_from_slice(br#","arguments":"#);
        json_str(out, args);
        out.extend_from_slice(b"}}]}");
        self.close_chunk(None, out);
    }

    /// The first chunk, `{"role":"assistant","content":""}`, once.
    fn ensure_role(&mut self, out: &mut Vec<u8>) {
        if self.role_sent {
            return;
        }
        self.role_sent = true;
        self.open_chunk(out);
        out.extend_from_slice(br#"{"role":"assistant","content":""}"#);
        self.close_chunk(None, out);
    }

    /// The last content chunk: an empty delta and the finish reason.
    fn final_chunk(&mut self, reason: FinishReason, out: &mut Vec<u8>) {
        self.ensure_role(out);
        self.open_chunk(out);
        out.extend_from_slice(b"{}");
        self.close_chunk(Some(reason), out);
        self.finish = Some(reason);
    }

    /// OpenAI's usage-only chunk, when the client asked for it.
    fn usage_chunk(&mut self, out: &mut Vec<u8>) {
        if !self.include_usage {
            return;
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(br#"[],"usage":"#);
        let _ = serde_json::to_writer(&mut *out, &self.usage.to_openai());
        out.extend_from_slice(b"}\n\n");
        self.frames += 1;
    }

    /// Writes a chunk up to its delta.
    fn open_chunk(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(br#"[{"index":0,"delta":"#);
    }

    /// Writes a chunk's end after its delta.
    fn close_chunk(&mut self, finish: Option<FinishReason>, out: &mut Vec<u8>) {
        out.extend_from_slice(br#","finish_reason":"#);
        match finish {
            Some(f) => {
                out.push(b'"');
                out.extend_from_slice(f.as_str().as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]}\n\n");
        self.frames += 1;
    }

    /// Passes an event's data on unchanged (each of its lines a `data:`
    /// line).
    fn pass(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            out.extend_from_slice(if i == 0 { b"data: " } else { b"\ndata: " });
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b"\n\n");
        self.frames += 1;
    }

    /// Ends the client's stream.
    fn done(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.frames += 1;
        self.ended = true;
    }

    /// Ends the client's stream with `err`.
    fn fail(&mut self, err: ApiError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        out.extend_from_slice(b"data: ");
        let _ = serde_json::to_writer(&mut *out, &err.to_value());
        out.extend_from_slice(b"\n\n");
        self.frames += 1;
        self.error = Some(err);
        self.done(out);
    }
}

/// A text delta's opening.
const CONTENT: &[u8] = br#"{"content":"#;

/// A reasoning delta's opening.
const REASONING: &[u8] = br#"{"reasoning_content":"#;

/// Writes `s` as a JSON string (writing to a Vec cannot fail).
fn json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The fields of an OpenAI chunk the translator reads.
#[derive(serde::Deserialize)]
struct OpenAiChunk {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    choices: Option<Vec<OpenAiChoice>>,
}

/// A choice's finish reason, its other fields skipped.
#[derive(serde::Deserialize)]
struct OpenAiChoice {
    #[serde(default)]
    finish_reason: Option<String>,
}

/// The fields of a Gemini stream chunk the translator reads.
#[derive(serde::Deserialize)]
struct GeminiChunk {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, rename = "usageMetadata")]
    usage: Option<GeminiUsage>,
    #[serde(default)]
    candidates: Option<Vec<GeminiCandidate>>,
    #[serde(default, rename = "promptFeedback")]
    prompt_feedback: Option<Value>,
}

/// A candidate's parts and finish reason.
#[derive(serde::Deserialize)]
struct GeminiCandidate {
    #[serde(default)]
    content: Option<GeminiContent>,
    #[serde(default, rename = "finishReason")]
    finish_reason: Option<String>,
}

/// A candidate's content.
#[derive(serde::Deserialize)]
struct GeminiContent {
    #[serde(default)]
    parts: Option<Vec<Value>>,
}

/// Gemini's `usageMetadata` counts (cumulative in a stream).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl GeminiUsage {
    /// As [`Usage::from_gemini`] reads the same fields.
    fn usage(&self) -> Usage {
        Usage {
            input: self
                .prompt_token_count
                .saturating_add(self.tool_use_prompt_token_count),
            output: self
                .candidates_token_count
                .saturating_add(self.thoughts_token_count),
            cached: self.cached_content_token_count,
            reasoning: self.thoughts_token_count,
        }
    }
}

/// An event's data as a JSON object.
fn parse(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok().filter(Value::is_object)
}

/// A stream error the gateway found.
fn gateway_error(message: String, code: &str) -> ApiError {
    let mut err = ApiError::new(502, "upstream_error", message);
    err.code = Some(code.to_owned());
    err
}

/// The error for a frame that is not a JSON object.
fn malformed() -> ApiError {
    let msg = "the provider sent a stream frame that is not a JSON object";
    gateway_error(msg.into(), "malformed_frame")
}

/// The error a provider reported in its stream (`e` is its `error`
/// member): its message, cut to 512 characters, and its code, status or
/// type as `code`.
fn provider_error(e: &Value) -> ApiError {
    let message = e
        .as_str()
        .or_else(|| e["message"].as_str())
        .unwrap_or("the provider reported an error");
    // Key-like tokens are redacted, as in whole answers' errors.
    let message = crate::response::scrub(message);
    let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
    let mut err = ApiError::new(502, "upstream_error", message);
    err.code = ["code", "status", "type"]
        .iter()
        .find_map(|f| e[*f].as_str())
        .map(str::to_owned)
        .or_else(|| e["code"].as_i64().map(|n| n.to_string()));
    err
}
