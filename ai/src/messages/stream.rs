//! An OpenAI `chat.completion.chunk` stream (as [`crate::StreamTranslator`]
//! writes it), fed in any cut, as Anthropic's Messages stream events.
//!
//! Memory is one event plus fixed state: text and tool arguments are
//! passed on delta by delta, never gathered.

use std::io::Write;

use serde_json::{json, Value};

use super::{error_type, error_value, message_id, stop_reason, usage_value};
use crate::sse::{SseReader, MAX_EVENT};
use crate::usage::Usage;

/// Rewrites one OpenAI stream as Anthropic's events.
///
/// `message_start` is written when the first chunk arrives, with every
/// usage count 0: the input tokens are not known until OpenAI's
/// usage-only chunk at the end, so the whole call's counts (input without
/// cache reads, output, cache reads) come in `message_delta.usage`, whose
/// counts replace the start's in Anthropic's SDKs. Blocks get increasing
/// indices in the order they open: reasoning as `thinking` blocks (with no
/// signature), text as `text` blocks, each tool call (a new OpenAI
/// `tool_calls` index) as a `tool_use` block whose arguments come as
/// `input_json_delta`s; a block is closed before the next opens. An
/// OpenAI error frame, a frame that is not JSON, an event too large and
/// a stream that stops before `[DONE]` all end the stream with one
/// `error` event.
#[derive(Debug)]
pub struct MessagesStream {
    reader: SseReader,
    st: State,
}

/// Everything but the SSE reader (so the reader's callback can borrow
/// it).
#[derive(Debug)]
struct State {
    id: String,
    model: String,
    started: bool,
    ended: bool,
    /// The open block's kind (its index is `next_index - 1`).
    open: Option<Block>,
    next_index: u64,
    /// The OpenAI index of the last tool call opened.
    tool: Option<u64>,
    stop: Option<&'static str>,
    usage: Usage,
}

/// A content block's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool,
}

impl MessagesStream {
    /// A stream whose message reports `model` and `id` (`chatcmpl-` is
    /// dropped from it and `msg_` put in front when missing).
    pub fn new(model: &str, id: &str) -> Self {
        MessagesStream {
            reader: SseReader::new(MAX_EVENT),
            st: State {
                id: message_id(id),
                model: model.to_owned(),
                started: false,
                ended: false,
                open: None,
                next_index: 0,
                tool: None,
                stop: None,
                usage: Usage::default(),
            },
        }
    }

    /// Feeds OpenAI SSE bytes; appends Anthropic SSE bytes to `out`.
    /// Input after the stream ended is ignored.
    pub fn feed(&mut self, openai_sse: &[u8], out: &mut Vec<u8>) {
        if self.st.ended {
            return;
        }
        let st = &mut self.st;
        if let Err(e) = self.reader.push(openai_sse, |ev| st.on_event(ev.data, out)) {
            st.fail("api_error", &format!("the stream is malformed: {e}"), out);
        }
    }

    /// The OpenAI stream ended: an `error` event unless it had ended
    /// properly.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.st
            .fail("api_error", "the provider's stream ended early", out);
    }

    /// Usage seen so far, in OpenAI's terms.
    pub fn usage(&self) -> Usage {
        self.st.usage
    }

    /// Whether `message_stop` or an `error` event has been written.
    pub fn is_ended(&self) -> bool {
        self.st.ended
    }
}

impl State {
    /// One OpenAI frame.
    fn on_event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            return self.end_message(out);
        }
        let Ok(chunk) = serde_json::from_slice::<Chunk>(data) else {
            let msg = "the provider sent a stream frame that is not a chunk";
            return self.fail("api_error", msg, out);
        };
        if let Some(e) = &chunk.error {
            return self.provider_error(e, out);
        }
        self.ensure_started(out);
        if let Some(u) = chunk.usage.as_ref().filter(|u| u.is_object()) {
            self.usage = Usage::from_openai(u);
        }
        let choices = chunk.choices.unwrap_or_default();
        let Some(choice) = choices.into_iter().find(|c| c.index.unwrap_or(0) == 0) else {
            return;
        };
        if let Some(d) = choice.delta {
            self.delta(d, out);
        }
        if let Some(reason) = choice.finish_reason {
            self.close_block(out);
            self.stop = Some(stop_reason(Some(&reason)));
        }
    }

    /// A choice's delta: reasoning, text, then tool calls.
    fn delta(&mut self, d: Delta, out: &mut Vec<u8>) {
        let other = d.reasoning.as_ref().and_then(Value::as_str);
        if let Some(t) = d.reasoning_content.as_deref().or(other) {
            self.text(Block::Thinking, t, out);
        }
        if let Some(t) = d.content.or(d.refusal) {
            self.text(Block::Text, &t, out);
        }
        for call in d.tool_calls.unwrap_or_default() {
            if self.ended {
                return;
            }
            self.tool_delta(call, out);
        }
    }

    /// Text or thinking, in the open block of `kind` or a new one.
    fn text(&mut self, kind: Block, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if self.open != Some(kind) {
            let start = match kind {
                Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                _ => json!({"type": "text", "text": ""}),
            };
            self.open_block(kind, &start, out);
        }
        let (ty, key) = match kind {
            Block::Thinking => ("thinking_delta", "thinking"),
            _ => ("text_delta", "text"),
        };
        self.block_delta(ty, key, text, out);
    }

    /// A tool call fragment: a new OpenAI index opens a `tool_use` block;
    /// arguments go to the open one. Arguments for a call whose block is
    /// closed cannot be carried and end the stream.
    fn tool_delta(&mut self, call: ToolDelta, out: &mut Vec<u8>) {
        let index = call.index.or(self.tool).unwrap_or(0);
        let f = call.function.unwrap_or_default();
        if self.tool.is_none_or(|cur| index > cur) {
            let id = call.id.unwrap_or_default();
            let name = f.name.unwrap_or_default();
            let start = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
            self.open_block(Block::Tool, &start, out);
            self.tool = Some(index);
        } else if self.tool != Some(index) || self.open != Some(Block::Tool) {
            let msg = "the provider interleaved tool calls, which this stream cannot carry";
            return self.fail("api_error", msg, out);
        }
        if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
            self.block_delta("input_json_delta", "partial_json", &args, out);
        }
    }

    /// Closes the open block and opens one of `kind`, `block` its start.
    fn open_block(&mut self, kind: Block, block: &Value, out: &mut Vec<u8>) {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(kind);
        let data = json!({"type": "content_block_start", "index": index, "content_block": block});
        event(out, "content_block_start", &data);
    }

    /// A `content_block_delta` of `ty` whose `key` is `text`.
    fn block_delta(&mut self, ty: &str, key: &str, text: &str, out: &mut Vec<u8>) {
        let index = self.next_index.saturating_sub(1);
        out.extend_from_slice(b"event: content_block_delta\ndata: ");
        let _ = write!(
            out,
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"{ty}","{key}":"#
        );
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(b"}}\n\n");
    }

    /// Closes the open block, if any.
    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_none() {
            return;
        }
        let index = self.next_index.saturating_sub(1);
        let data = json!({"type": "content_block_stop", "index": index});
        event(out, "content_block_stop", &data);
    }

    /// `message_start`, once, with usage 0.
    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let data = json!({"type": "message_start", "message": {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage_value(&Usage::default()),
        }});
        event(out, "message_start", &data);
    }

    /// `[DONE]`: the last block closed, `message_delta`, `message_stop`.
    fn end_message(&mut self, out: &mut Vec<u8>) {
        self.ensure_started(out);
        self.close_block(out);
        let fallback = if self.tool.is_some() {
            "tool_use"
        } else {
            "end_turn"
        };
        let data = json!({
            "type": "message_delta",
            "delta": {"stop_reason": self.stop.unwrap_or(fallback), "stop_sequence": null},
            "usage": usage_value(&self.usage),
        });
        event(out, "message_delta", &data);
        event(out, "message_stop", &json!({"type": "message_stop"}));
        self.ended = true;
    }

    /// An OpenAI error frame's `error` as an `error` event.
    fn provider_error(&mut self, e: &Value, out: &mut Vec<u8>) {
        let kind = e["type"].as_str().unwrap_or("");
        let code = e["code"].as_str();
        let message = e["message"]
            .as_str()
            .or_else(|| e.as_str())
            .unwrap_or("the provider reported an error");
        self.fail(error_type(kind, 0, code), message, out);
    }

    /// Ends the stream with an `error` event (nothing once ended).
    fn fail(&mut self, ty: &str, message: &str, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        event(out, "error", &error_value(ty, message));
        self.ended = true;
    }
}

/// Writes `event: name` and `data` as one event.
fn event(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

/// The fields of an OpenAI chunk read here.
#[derive(serde::Deserialize)]
struct Chunk {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
}

/// One choice of a chunk.
#[derive(serde::Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// A choice's delta.
#[derive(serde::Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Some compatible servers' name for it (others use it for an
    /// object, which is skipped).
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolDelta>>,
}

/// A tool call fragment.
#[derive(serde::Deserialize)]
struct ToolDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

/// A tool call fragment's function.
#[derive(serde::Deserialize, Default)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}
