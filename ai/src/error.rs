//! Errors as the client sees them: OpenAI error objects
//! (`{"error":{"message","type","param","code"}}`) with their HTTP status.

use serde_json::{json, Value};

/// An error answered to the client in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: u16,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `rate_limit_error`,
    /// `upstream_error`, `timeout_error`, `server_error`.
    pub kind: &'static str,
    /// OpenAI's `param`: the request field at fault, when one is.
    pub param: Option<String>,
    /// OpenAI's `code`, when there is one.
    pub code: Option<String>,
    /// Human-readable; never holds a credential.
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A 400 `invalid_request_error` about `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            kind: "invalid_request_error",
            param: Some(param.into()),
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// An error of `status` and `kind` with no field.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            param: None,
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The error object as a JSON value.
    pub fn to_value(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }

    /// The error object's bytes, for a response body.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_value().to_string().into_bytes()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}
