//! Token usage and finish reasons, in OpenAI's terms, from every
//! provider's.

use serde_json::{json, Value};

use crate::provider::Kind;

/// Tokens one call used, in OpenAI's terms: `input` counts every prompt
/// token, cached ones included; `cached` and `reasoning` are parts of
/// `input` and `output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Completion tokens, reasoning ones included.
    pub output: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning: u64,
}

impl Usage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }

    /// OpenAI's `usage` object.
    pub fn to_openai(&self) -> Value {
        json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.total(),
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        })
    }

    /// From OpenAI's `usage` object (missing fields are 0).
    pub fn from_openai(u: &Value) -> Usage {
        Usage {
            input: num(&u["prompt_tokens"]),
            output: num(&u["completion_tokens"]),
            cached: num(&u["prompt_tokens_details"]["cached_tokens"]),
            reasoning: num(&u["completion_tokens_details"]["reasoning_tokens"]),
        }
    }

    /// From Anthropic's `usage`, whose `input_tokens` leaves out the
    /// tokens written to and read from the cache.
    pub fn from_anthropic(u: &Value) -> Usage {
        let read = num(&u["cache_read_input_tokens"]);
        let written = num(&u["cache_creation_input_tokens"]);
        Usage {
            input: num(&u["input_tokens"])
                .saturating_add(read)
                .saturating_add(written),
            output: num(&u["output_tokens"]),
            cached: read,
            reasoning: 0,
        }
    }

    /// From Gemini's `usageMetadata` (cumulative in a stream: the last
    /// one seen is the whole call's). Thoughts are output tokens.
    pub fn from_gemini(u: &Value) -> Usage {
        let thoughts = num(&u["thoughtsTokenCount"]);
        Usage {
            input: num(&u["promptTokenCount"]).saturating_add(num(&u["toolUsePromptTokenCount"])),
            output: num(&u["candidatesTokenCount"]).saturating_add(thoughts),
            cached: num(&u["cachedContentTokenCount"]),
            reasoning: thoughts,
        }
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// OpenAI's `finish_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// `stop`: a natural end or a stop sequence.
    Stop,
    /// `length`: the token limit.
    Length,
    /// `tool_calls`: the model called tools.
    ToolCalls,
    /// `content_filter`: a safety or policy stop.
    ContentFilter,
}

impl FinishReason {
    /// OpenAI's string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }

    /// The reason for a provider's stop reason. Unknown reasons are
    /// `stop`, except Gemini's, which are all safety or malformed-call
    /// stops (`content_filter`).
    pub fn from_provider(kind: Kind, raw: &str) -> FinishReason {
        match (kind, raw) {
            (Kind::Anthropic, "max_tokens") => FinishReason::Length,
            (Kind::Anthropic, "tool_use") => FinishReason::ToolCalls,
            (Kind::Anthropic, "refusal") => FinishReason::ContentFilter,
            (Kind::Anthropic, _) => FinishReason::Stop,
            (Kind::Gemini, "STOP") | (Kind::Gemini, "FINISH_REASON_UNSPECIFIED") => {
                FinishReason::Stop
            }
            (Kind::Gemini, "MAX_TOKENS") => FinishReason::Length,
            (Kind::Gemini, _) => FinishReason::ContentFilter,
            (_, "length") => FinishReason::Length,
            (_, "tool_calls") | (_, "function_call") => FinishReason::ToolCalls,
            (_, "content_filter") => FinishReason::ContentFilter,
            _ => FinishReason::Stop,
        }
    }
}
