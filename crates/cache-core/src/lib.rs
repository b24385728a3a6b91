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
//! | [`singleflight`] | concurrent calls for one key share one execution |
//!
//! ## Features
//! | feature | default | what |
//! | --- | --- | --- |
//! | `memory` | yes | the in-memory backend (moka) |
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod error;
pub mod key;
pub mod pattern;
pub mod singleflight;
pub mod stats;
pub mod ttl;

pub use bytes::Bytes;
pub use cache::{
    Cache, KeyPage, RateDecision, RateLimitAlgorithm, RateLimitRule, ScanCursor, Subscription,
    SubscriptionEvent,
};
pub use error::{
    BoxError, CacheError, CodecError, ConfigError, ErrorKind, Operation, OptionalExt, Result,
};
pub use stats::{CacheStats, StatsRecorder};
