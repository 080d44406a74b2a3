//! API errors as JSON: `{"error": kind, "message": ..., "field": ...}`,
//! with the status that fits. Another team's object is a 404, exactly as
//! one that does not exist.

use access::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No token, or one that matches nothing.
    Unauthorized,
    /// The store refused or failed.
    Store(StoreError),
    /// The body or query does not parse; `field` is where, if known.
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// No such endpoint.
    NoEndpoint,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl ApiError {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message, field) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required".to_owned(),
                None,
            ),
            ApiError::BadRequest { field, message } => {
                (StatusCode::BAD_REQUEST, "invalid", message, field)
            }
            ApiError::NoEndpoint => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint".to_owned(),
                None,
            ),
            ApiError::Store(e) => store_error(e),
        };
        let body = json!({ "error": kind, "message": message, "field": field });
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Bearer realm=\"coregate\"");
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

fn store_error(e: StoreError) -> (StatusCode, &'static str, String, Option<String>) {
    match e {
        StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", e.to_string(), None),
        StoreError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", e.to_string(), None),
        StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict", e.to_string(), None),
        StoreError::Invalid { field, ref reason } => (
            StatusCode::BAD_REQUEST,
            "invalid",
            reason.clone(),
            Some(field.to_owned()),
        ),
        StoreError::Backend(m) => {
            eprintln!("coregate: management API: store: {m}");
            let message = "the store is unavailable".to_owned();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                message,
                None,
            )
        }
    }
}
