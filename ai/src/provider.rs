//! Provider wire formats and how each one authenticates.

/// The wire format an AI upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// OpenAI Chat Completions (`Authorization: Bearer`).
    OpenAi,
    /// Azure OpenAI: deployments in the path, `api-key` header,
    /// `api-version` query.
    Azure,
    /// Anthropic Messages (`x-api-key`, `anthropic-version`).
    Anthropic,
    /// Google Gemini `generateContent` (`x-goog-api-key`).
    Gemini,
    /// Any OpenAI-compatible server (Mistral, DeepSeek, Ollama, vLLM):
    /// OpenAI's format, `Authorization: Bearer`.
    Compatible,
}

/// The `anthropic-version` header every Anthropic request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

impl Kind {
    /// Every kind, with its config name.
    pub const ALL: [(Kind, &'static str); 5] = [
        (Kind::OpenAi, "openai"),
        (Kind::Azure, "azure"),
        (Kind::Anthropic, "anthropic"),
        (Kind::Gemini, "gemini"),
        (Kind::Compatible, "openai-compatible"),
    ];

    /// The kind a config names.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("openai", |(_, n)| n)
    }

    /// The path prefix a provider's API sits under by default.
    pub fn default_base_path(self) -> &'static str {
        match self {
            Kind::OpenAi | Kind::Compatible | Kind::Anthropic => "/v1",
            Kind::Azure => "/openai",
            Kind::Gemini => "/v1beta",
        }
    }

    /// Whether the format is OpenAI's own (requests pass with few changes).
    pub fn is_openai(self) -> bool {
        matches!(self, Kind::OpenAi | Kind::Azure | Kind::Compatible)
    }

    /// The header that carries a key, and its value.
    pub fn auth_header(self, key: &str) -> (&'static str, String) {
        match self {
            Kind::OpenAi | Kind::Compatible => ("authorization", format!("Bearer {key}")),
            Kind::Azure => ("api-key", key.to_owned()),
            Kind::Anthropic => ("x-api-key", key.to_owned()),
            Kind::Gemini => ("x-goog-api-key", key.to_owned()),
        }
    }
}
