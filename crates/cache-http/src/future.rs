//! What the layers of this crate share: the response future, the outcome
//! counters, and the macros that write each layer's `Service` impl around
//! its `call`, its service struct with `Debug` and `Layer` impl, and its
//! config setters.

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

/// Counts one `outcome` of a layer in its `metric` (`cache.http.*`),
/// through cache-core's facade helpers: nothing is built (no key, no label)
/// when no recorder is installed (ADR 0010).
pub(crate) fn count(metric: &'static str, outcome: &'static str) {
    cache_core::metrics::count(metric, &[(cache_core::metrics::labels::OUTCOME, outcome)]);
}

/// Counts one `outcome` and records it on the layer's current span.
pub(crate) fn count_outcome(metric: &'static str, outcome: &'static str) {
    count(metric, outcome);
    tracing::Span::current().record("outcome", outcome);
}

/// Writes `impl Service<Request<ReqBody>> for $service<S>` around a layer's
/// `call`: the inner service answers `Response<ResBody>` and is `Clone +
/// Send`, the response is `Response<CacheBody<ResBody>>`, the future is
/// [`ResponseFuture`] and `poll_ready` is the inner service's. `request` is
/// what the inner service takes (default `Request<ReqBody>`); `req_body` and
/// `res_body` are extra bounds on the bodies (each ends with `+`).
macro_rules! layer_service {
    (
        $service:ident
        $(, request = $inner_req:ty)?
        $(, req_body = [$($req_bound:tt)+])?
        $(, res_body = [$($res_bound:tt)+])?;
        fn call(&mut $self:ident, $req:ident) $call:block
    ) => {
        impl<S, ReqBody, ResBody> ::tower_service::Service<::http::Request<ReqBody>> for $service<S>
        where
            S: ::tower_service::Service<
                    $crate::future::layer_service!(@request $($inner_req)?),
                    Response = ::http::Response<ResBody>,
                > + Clone
                + Send
                + 'static,
            S::Future: Send + 'static,
            S::Error: Send + 'static,
            ReqBody: $($($req_bound)+)? Send + 'static,
            ResBody: $($($res_bound)+)? Send + 'static,
        {
            type Response = ::http::Response<$crate::body::CacheBody<ResBody>>;
            type Error = S::Error;
            type Future = $crate::future::ResponseFuture<ResBody, S::Error>;

            fn poll_ready(
                &mut self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut $self, $req: ::http::Request<ReqBody>) -> Self::Future $call
        }
    };
    (@request) => { ::http::Request<ReqBody> };
    (@request $inner_req:ty) => { $inner_req };
}
pub(crate) use layer_service;

/// Writes a layer's by-value setters of its `config` fields, one per line
/// like [`cache_core::setters!`]: `name: Type;` sets `self.config.name`,
/// `name: Type => Some;` an optional field, `name: impl Into<T> => into;`
/// converts, `name: impl IntoIterator<Item = T> => collect;` collects.
macro_rules! config_setters {
    ($($(#[$attr:meta])* $name:ident: $ty:ty $(=> $wrap:ident)?;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.config.$name = $crate::future::config_setters!(@value $name $($wrap)?);
                self
            }
        )*
    };
    (@value $value:ident) => { $value };
    (@value $value:ident Some) => { ::core::option::Option::Some($value) };
    (@value $value:ident into) => { ::core::convert::Into::into($value) };
    (@value $value:ident collect) => { ::core::iter::Iterator::collect(::core::iter::IntoIterator::into_iter($value)) };
}
pub(crate) use config_setters;

/// Writes a layer's service struct (`inner`, the layer's `config` shared in
/// an `Arc`, and any per-cache state listed, each starting empty), its
/// `Debug` (`inner` and `config`), its `ready` and the `Layer` impl that
/// makes it.
macro_rules! layer_struct {
    (
        $(#[$attr:meta])*
        $layer:ident => $service:ident { $($state:ident: $state_ty:ty),* $(,)? }
    ) => {
        $(#[$attr])*
        #[derive(Clone)]
        pub struct $service<S> {
            inner: S,
            config: ::std::sync::Arc<Config>,
            $($state: ::std::sync::Arc<$state_ty>,)*
        }

        impl<S: ::std::fmt::Debug> ::std::fmt::Debug for $service<S> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($service))
                    .field("inner", &self.inner)
                    .field("config", &self.config)
                    .finish_non_exhaustive()
            }
        }

        impl<S: Clone> $service<S> {
            /// The inner service that `poll_ready` made ready (a clone is
            /// left in its place) and the config, for the response future.
            fn ready(&mut self) -> (S, ::std::sync::Arc<Config>) {
                (
                    $crate::future::take_ready(&mut self.inner),
                    ::std::sync::Arc::clone(&self.config),
                )
            }
        }

        impl<S> ::tower_layer::Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    config: ::std::sync::Arc::new(self.config.clone()),
                    $($state: ::std::sync::Arc::new(<$state_ty>::new()),)*
                }
            }
        }
    };
}
pub(crate) use layer_struct;
