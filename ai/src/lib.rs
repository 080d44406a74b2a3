//! The AI front end's translation layer, sans-io: an OpenAI Chat
//! Completions request becomes an OpenAI, Azure OpenAI, Anthropic Messages,
//! Gemini or OpenAI-compatible request, and the provider's answer (whole,
//! or as a server-sent-event stream fed in any cut) becomes an OpenAI
//! answer again. Streams are translated frame by frame with memory bounded
//! by one frame. The engine owns sockets, keys and routing; this crate
//! only rewrites bytes.

pub mod chat;
pub mod error;
pub mod messages;
pub mod provider;
pub mod response;
pub mod sse;
pub mod stream;
pub mod template;
pub mod tokens;
pub mod usage;

pub use chat::{ChatRequest, EncodeOpts, Outbound};
pub use error::ApiError;
pub use provider::Kind;
pub use response::{decode_error, decode_response};
pub use stream::StreamTranslator;
pub use template::{Template, TemplateSpec, VarKind, VarSpec};
pub use usage::{FinishReason, Usage};
