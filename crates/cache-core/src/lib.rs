//! # cache-core
//!
//! The contract of the cache framework: the byte-level async [`Cache`] trait,
//! its typed errors, TTL and key rules, the CBOR codec with limits for
//! untrusted input, the configuration model, the embedded in-memory backend,
//! and everything generic over the trait.
//!
//! cache-core knows no network backend: `cache-redis` implements the trait on
//! Redis and Valkey, `cache-manager` hands out per-tenant caches.
//!
//! ## Modules
//! | module | what |
//! | --- | --- |
//! | [`error`] | [`CacheError`], [`ErrorKind`], [`Operation`] |
//! | [`ttl`], [`key`] | the TTL and key rules every backend applies |
//! | [`pattern`] | Redis-compatible globs and escaping |
//! | [`stats`] | [`CacheStats`] snapshots |
//! | [`codec`], [`typed`] | CBOR with limits for untrusted input; [`TypedCacheExt`] (`get_as`, `set_as`...) on any [`Cache`] |
//! | [`namespace`] | [`Namespaced`]: a view of a shared cache under a key prefix |
//! | [`singleflight`] | concurrent calls for one key share one execution |
//! | `memory` | [`MemoryCache`]: the embedded in-memory backend (moka), the default and the fallback (feature `memory`) |
//! | [`aside`] | [`CacheAside`] / [`ReadThrough`]: get-or-load with stampede protection, soft/hard TTL, jitter, fail-open |
//! | [`write`](mod@write) | write-through, write-around, write-behind (bounded, coalescing, flushed on shutdown) over a [`WriteStore`](write::WriteStore) |
//! | [`lock`] | [`DistributedLock`]: token-safe locks, extension, watchdog, fencing tokens |
//! | [`ratelimit`] | [`RateLimiter`]: sliding or fixed windows on the backend's clock |
//! | [`idempotency`] | [`Idempotency`]: first request runs, duplicates replay its response |
//! | [`counter`] | [`Counter`]: atomic counters with a TTL |
//! | [`invalidation`] | [`InvalidationBus`], [`NearCache`]: cross-instance invalidation of local state |
//!
//! ## Features
//! | feature | default | what |
//! | --- | --- | --- |
//! | `memory` | yes | the in-memory backend (moka) |
#![forbid(unsafe_code)]

pub mod aside;
pub mod cache;
pub mod codec;
pub mod config;
pub mod counter;
pub mod error;
pub mod idempotency;
pub mod invalidation;
pub mod key;
pub mod lock;
#[cfg(feature = "memory")]
pub mod memory;
pub mod namespace;
pub mod pattern;
pub mod ratelimit;
pub mod singleflight;
pub mod stats;
pub mod ttl;
pub mod typed;
pub mod write;

pub use aside::{CacheAside, ReadThrough};
pub use bytes::Bytes;
pub use cache::{
    Cache, KeyPage, RateDecision, RateLimitAlgorithm, RateLimitRule, ScanCursor, Subscription,
    SubscriptionEvent,
};
pub use counter::Counter;
pub use error::{
    BoxError, CacheError, CodecError, ConfigError, ErrorKind, Operation, OptionalExt, Result,
};
pub use idempotency::Idempotency;
pub use invalidation::{InvalidationBus, NearCache};
pub use lock::DistributedLock;
#[cfg(feature = "memory")]
pub use memory::MemoryCache;
pub use namespace::Namespaced;
pub use ratelimit::RateLimiter;
pub use stats::{CacheStats, StatsRecorder, StatsShards};
pub use typed::TypedCacheExt;
