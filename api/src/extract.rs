//! Bodies and queries that name the field they fail on: unknown fields,
//! wrong types and missing fields are a 400 with the field's path.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body read.
const MAX_BODY: usize = 64 << 10;

/// A JSON body.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::field(
                "body",
                "send JSON with content-type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::field("body", e.body_text()))?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError::field("body", "larger than 64 KiB"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Body(v)),
            Err(e) => Err(path_error(e.path().to_string(), e.inner().to_string())),
        }
    }
}

/// A query string.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Query)
            .map_err(|e| ApiError::field("query", e.to_string()))
    }
}

/// An error at `path` (`.` when the whole value is wrong: then a missing
/// or unknown field is named in the message, and taken from there).
fn path_error(path: String, message: String) -> ApiError {
    let named = || {
        let start = message.find('`')? + 1;
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_owned())
    };
    let field = match path.as_str() {
        "." | "" => named().unwrap_or_else(|| "body".to_owned()),
        _ => path,
    };
    ApiError::BadRequest {
        field: Some(field),
        message,
    }
}

/// Path parameters; a malformed one (an id that is not a number) is a 400.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathParams(v)),
            Err(e) => Err(ApiError::field("path", e.body_text())),
        }
    }
}
