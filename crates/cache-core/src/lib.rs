//! # cache-core
//!
//! The contract of the cache framework: the byte-level async [`Cache`] trait,
//! its typed errors, the TTL, key and glob rules every backend applies, stats,
//! singleflight, and the CBOR codec with limits for untrusted input plus
//! [`TypedCacheExt`] for typed access on any [`Cache`].
//!
//! cache-core knows no backend and no configuration file: `cache-memory` and
//! `cache-redis` implement the trait, `cache-patterns` builds cache-aside,
//! locks, rate limits and the rest on it, and `cache-manager` loads the
//! configuration and hands out per-tenant caches.
//!
//! ## Modules
//! | module | what |
//! | --- | --- |
//! | [`cache`] | the [`Cache`] trait and the types its methods exchange |
//! | [`collections`] | [`Collections`]: sets and hashes, the second trait, reached through [`Cache::collections`] |
//! | [`backoff`] | exponential backoff with jitter, for everything that retries or waits |
//! | [`bounded`] | [`bounded::BoundedMap`]: a concurrent map bounded by weight, LRU per shard, expiry read from the values |
//! | [`layer`] | [`CacheLayer`]: wrappers of a cache that write only what they change |
//! | [`error`] | [`CacheError`], [`ErrorKind`], [`Operation`] |
//! | [`ttl`], [`key`] | the TTL and key rules every backend applies |
//! | [`pattern`] | Redis-compatible globs and escaping |
//! | [`stats`] | [`CacheStats`] snapshots |
//! | [`metrics`] | metric names and labels, [`metrics::OpMetrics`] for backends, helpers for patterns (facade calls with feature `metrics`) |
//! | [`codec`], [`typed`] | CBOR with limits for untrusted input; [`TypedCacheExt`] (`get_as`, `set_as`...) on any [`Cache`] |
//! | [`singleflight`] | concurrent calls for one key share one execution |
//! | `config` | `Secret` and human-readable durations for backend configs (feature `config`) |
//!
//! ## Features
//! | feature | default | what |
//! | --- | --- | --- |
//! | `config` | no | `config::Secret`, `config::duration` (humantime) for the backends' serde configs |
//! | `metrics` | no (on through the backends' default features) | emit through the `metrics` facade (ADR 0010) |
#![forbid(unsafe_code)]

pub mod backoff;
pub mod bounded;
pub mod cache;
pub mod codec;
pub mod collections;
#[cfg(feature = "config")]
pub mod config;
pub mod error;
pub mod key;
pub mod layer;
pub mod metrics;
pub mod pattern;
mod setters;
pub mod singleflight;
pub mod stats;
pub mod ttl;
pub mod typed;

pub use bytes::Bytes;
pub use cache::{
    Cache, KeyPage, KeyTtl, RateDecision, RateLimitAlgorithm, RateLimitRule, ScanCursor,
    Subscription, SubscriptionEvent,
};
pub use collections::{Collections, MemberPage, TypedCollectionsExt};
pub use error::{BoxError, CacheError, CodecError, ConfigError, ErrorKind, Operation, Result};
pub use layer::{CacheLayer, CallInfo, CallKeys, KeyMapping, Next};
pub use stats::{CacheStats, StatsRecorder, StatsShards};
pub use typed::{TypedCache, TypedCacheExt};
