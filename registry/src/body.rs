//! Request extractors whose rejections are problem documents: JSON bodies and query strings.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: malformed JSON is 400, a body of the wrong shape 422, an oversized one 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A JSON body that may also be left out (an empty body stands for `T::default()`); one that is sent is checked as
/// `ApiJson` checks it, except that it needs no `Content-Type`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for ApiJsonOrEmpty<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| json_rejection(JsonRejection::BytesRejection(e)))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        axum::Json::<T>::from_bytes(&bytes).map(|axum::Json(value)| Self(value)).map_err(json_rejection)
    }
}

/// 422 for JSON that parsed but does not have the shape a handler expects (serde's message names the field).
pub fn invalid_shape(serde_error: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable("validation_failed", serde_message(&serde_error.to_string()))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => invalid_shape(err.body_text()),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", "The request body is not valid JSON."),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large("The request body is larger than this endpoint accepts.")
        }
        other => ApiError::bad_request("bad_request", other.body_text()),
    }
}

/// Serde's message without axum's prefix; it names the field and the expectation, never the value sent.
fn serde_message(text: &str) -> String {
    let text = text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(text);
    format!("The request body does not have the expected shape: {text}")
}

/// A query string: a value of the wrong type is 422.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(err)) => {
                Err(ApiError::unprocessable("validation_failed", format!("Invalid query parameters: {}", err.body_text())))
            }
            Err(other) => Err(ApiError::bad_request("bad_request", other.body_text())),
        }
    }
}
