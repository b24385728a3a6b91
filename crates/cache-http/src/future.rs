//! The response future of every layer in this crate.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::Response;

use crate::body::CacheBody;

/// The future a layer's service returns: the inner service's response, or
/// the layer's own answer (a 429, a replay, a cached response…).
pub struct ResponseFuture<B, E> {
    inner: BoxFuture<'static, Result<Response<CacheBody<B>>, E>>,
}

impl<B, E> ResponseFuture<B, E> {
    pub(crate) fn new(
        inner: impl Future<Output = Result<Response<CacheBody<B>>, E>> + Send + 'static,
    ) -> Self {
        ResponseFuture {
            inner: Box::pin(inner),
        }
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<CacheBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Takes the service that `poll_ready` made ready and leaves a clone in its
/// place (the usual tower idiom for services that call the inner one from a
/// future).
pub(crate) fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

/// Maps a response body into [`CacheBody::inner`].
pub(crate) fn passthrough<B>(response: Response<B>) -> Response<CacheBody<B>> {
    response.map(CacheBody::inner)
}
