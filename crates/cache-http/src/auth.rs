//! A bearer token in front of a router (the admin API): requests without
//! `Authorization: Bearer <token>`, or with another token, get `401` with
//! `WWW-Authenticate: Bearer`. The token is compared in constant time and
//! never printed.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use tower_layer::Layer;

use crate::future::{ResponseFuture, passthrough, take_ready};
use crate::problem::Problem;

/// Requires `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerAuthLayer {
    token: Arc<[u8]>,
}

impl std::fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("token", &"<redacted>")
            .finish()
    }
}

impl BearerAuthLayer {
    /// Requests must carry `token`.
    pub fn new(token: impl AsRef<[u8]>) -> Self {
        BearerAuthLayer {
            token: Arc::from(token.as_ref()),
        }
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            token: Arc::clone(&self.token),
        }
    }
}

/// The service of [`BearerAuthLayer`].
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    token: Arc<[u8]>,
}

impl<S> std::fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Constant-time equality (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &http::HeaderMap, token: &[u8]) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let scheme = b"bearer ";
    value.len() > scheme.len()
        && value[..scheme.len()].eq_ignore_ascii_case(scheme)
        && same(value[scheme.len()..].trim_ascii(), token)
}

crate::future::layer_service! {
    BearerAuth;
    fn call(&mut self, req) {
        if !authorized(req.headers(), &self.token) {
            tracing::debug!("admin request refused: missing or wrong bearer token");
            let mut response =
                Problem::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
                    .into_cache_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return ResponseFuture::new(async move { Ok(response) });
        }
        let call = take_ready(&mut self.inner).call(req);
        ResponseFuture::new(async move { call.await.map(passthrough) })
    }
}
