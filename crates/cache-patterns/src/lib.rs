//! # cache-patterns
//!
//! The patterns every service needs, written once against the byte-level
//! [`Cache`](cache_core::Cache) contract, so they run unchanged on every
//! backend (in-memory, Redis standalone, sentinel, cluster) and through any
//! wrapper (a tenant's namespace, a near cache).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_memory::MemoryCache;
//! use cache_patterns::CacheAside;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let users = CacheAside::new(Arc::new(MemoryCache::new()));
//! let name: String = users
//!     .get_or_load("user:42", Duration::from_secs(60), || async {
//!         Ok::<_, std::io::Error>("Ada".to_owned())
//!     })
//!     .await?;
//! assert_eq!(name, "Ada");
//! # Ok(())
//! # }
//! ```
//!
//! ## Modules
//! | module | what |
//! | --- | --- |
//! | [`aside`] | [`CacheAside`] / [`ReadThrough`]: get-or-load with stampede protection, soft/hard TTL, jitter, fail-open, batch loads, tags, O(1) clear |
//! | [`write`](mod@write) | write-through, write-around, write-behind (bounded, coalescing, flushed on shutdown) over a [`WriteStore`](write::WriteStore) |
//! | [`lock`] | [`DistributedLock`]: token-safe locks, extension, watchdog, fencing tokens |
//! | [`ratelimit`] | [`RateLimiter`]: sliding or fixed windows on the backend's clock |
//! | [`idempotency`] | [`Idempotency`]: first request runs, duplicates replay its response |
//! | [`counter`] | [`Counter`]: atomic counters with a TTL |
//! | [`invalidation`] | [`InvalidationBus`], [`NearCache`]: cross-instance invalidation of local state |
//! | [`namespace`] | [`Namespaced`]: a view of a shared cache under a key prefix |
//! | `compress` | `Compressed`: values over a threshold stored zstd-compressed (feature `compression`, default) |
#![forbid(unsafe_code)]

pub mod aside;
#[cfg(feature = "compression")]
pub mod compress;
pub mod counter;
pub mod idempotency;
pub mod invalidation;
pub mod lock;
pub mod namespace;
pub mod ratelimit;
pub mod write;

pub use aside::{CacheAside, ReadThrough};
pub use counter::Counter;
pub use idempotency::Idempotency;
pub use invalidation::{InvalidationBus, NearCache};
pub use lock::DistributedLock;
pub use namespace::Namespaced;
pub use ratelimit::RateLimiter;
