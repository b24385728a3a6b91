//! # cache-http
//!
//! The cache inside a service's HTTP stack. Tower layers (so they work with
//! any tower-based server: axum, tonic's HTTP side, hyper with tower) for the
//! four things services used to write by hand, an axum admin API, and health
//! checks:
//!
//! | module | what |
//! | --- | --- |
//! | [`ratelimit`] | [`RateLimitLayer`]: rules per route by client IP, tenant, principal or route; `429` with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` headers |
//! | [`idempotency`] | [`IdempotencyLayer`]: `Idempotency-Key` on unsafe methods; replays, `409` while in flight, `422` on a reused key |
//! | [`lock`] | [`LockLayer`]: a distributed lock per request key, `409` while held, released on response, panic or cancellation |
//! | [`response_cache`] | [`ResponseCacheLayer`]: `GET`/`HEAD` responses with soft and hard TTL, `Age` and `X-Cache` |
//! | [`admin`] | [`admin::router`]: `/cache/keys`, `/cache/pattern`, `/cache/stats`, tenant-scoped, RFC 9457 errors |
//! | [`auth`] | [`BearerAuthLayer`]: a bearer token in front of the admin API |
//! | [`health`] | `/health/live` and `/health/ready` as a router and as functions |
//!
//! The layers get their cache from a [`CacheSource`]: one `Arc<dyn Cache>`,
//! or a per-tenant closure (cache-manager's `ModuleDeps` fits in one line).
//! They depend on the contract and the patterns only, never on a backend.
//! They read the request's [`Tenant`](identity::Tenant) and
//! [`Principal`](identity::Principal) from its extensions, where the
//! service's own middleware puts them.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use axum::{Router, routing::{get, post}};
//! use cache_http::{CacheSource, IdempotencyLayer, RateLimitLayer, ResponseCacheLayer};
//! use cache_http::identity::{ClientIp, RequestKey};
//! use cache_http::ratelimit::Rule;
//!
//! let cache: Arc<dyn cache_core::Cache> = Arc::new(cache_memory::MemoryCache::new());
//! let source = CacheSource::fixed(cache);
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" })
//!         .layer(ResponseCacheLayer::new(source.clone(), Duration::from_secs(30))))
//!     .route("/orders", post(|| async { "created" }).layer(
//!         tower::ServiceBuilder::new()
//!             .layer(RateLimitLayer::new(source.clone()).rule(Rule::sliding(
//!                 "orders", 10, Duration::from_secs(1), RequestKey::ClientIp(ClientIp::peer()),
//!             )))
//!             .layer(IdempotencyLayer::new(source.clone()).required(true)),
//!     ));
//! # let _ = app;
//! ```
//!
//! Metrics (through the `metrics` facade; the application installs the
//! recorder): `cache.http.rate_limit` {outcome = allowed, denied, fail_open,
//! fail_closed}, `cache.http.idempotency` {outcome = first, replay,
//! in_flight, mismatch, missing_key}, `cache.http.lock` {outcome = acquired,
//! conflict, timeout}, `cache.http.response_cache` {outcome = hit, miss,
//! stale, bypass}. Each layer runs its work in a `tracing` span of the same
//! name.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
mod future;
pub mod health;
pub mod idempotency;
pub mod identity;
pub mod lock;
pub mod problem;
pub mod ratelimit;
pub mod response_cache;
mod source;

pub use auth::BearerAuthLayer;
pub use body::CacheBody;
pub use idempotency::IdempotencyLayer;
pub use lock::LockLayer;
pub use ratelimit::RateLimitLayer;
pub use response_cache::ResponseCacheLayer;
pub use source::{CacheSource, TenantLookup};
