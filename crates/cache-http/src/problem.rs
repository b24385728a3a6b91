//! RFC 9457 problem details: the body of every answer the layers and the
//! admin API produce themselves.

use bytes::Bytes;
use cache_core::{CacheError, ErrorKind};
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::body::CacheBody;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem (RFC 9457 §3.1 members; `type` is `about:blank`, so `title`
/// is the status's reason phrase).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `about:blank`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The reason phrase of the status.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened, for a human.
    pub detail: String,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The JSON bytes.
    pub fn to_bytes(&self) -> Bytes {
        // A struct of strings and a number always serializes.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A response carrying this problem, with the body type of the layers
    /// (axum handlers use its `IntoResponse` instead).
    pub fn into_cache_response<B>(self) -> Response<CacheBody<B>> {
        let mut response = Response::new(CacheBody::full(self.to_bytes()));
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// The problem of a cache error: bad input is the client's (400), an
    /// unreachable or disabled cache is 503, the rest 500. The message is the
    /// error's own, which never holds a secret.
    pub fn from_cache_error(e: &CacheError) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidKey
            | ErrorKind::InvalidTenantId
            | ErrorKind::InvalidTtl
            | ErrorKind::ValueTooLarge => StatusCode::BAD_REQUEST,
            _ if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Disabled | ErrorKind::Closed => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.to_string())
    }

    /// The problem a layer answers a client with when the cache failed: the
    /// client's own bad input (an invalid tenant id, key) stays a `400` with
    /// its message; anything else is a `503` that names no address, key or
    /// internal detail (the layer logs the error itself).
    pub fn for_client(e: &CacheError) -> Self {
        let problem = Problem::from_cache_error(e);
        if problem.status() == StatusCode::BAD_REQUEST {
            return problem;
        }
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service's cache is unavailable; retry later",
        )
    }
}
