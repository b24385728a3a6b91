//! Counters with a TTL, atomic on every backend (over [`Cache::incr_by`]).
//!
//! A counter starts at 0 and gets its TTL at the first increment; later
//! increments keep that TTL, so a counter is also a fixed window ("uploads
//! today"). Values are decimal ASCII in the cache, the Redis convention, so
//! `redis-cli GET` shows them and other services can read them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::{sync::Arc, time::Duration};
//! use cache_memory::MemoryCache;
//! use cache_patterns::counter::Counter;
//!
//! let cache = Arc::new(MemoryCache::new());
//! let views = Counter::new(cache, "views:reel:456", Duration::from_secs(3600));
//! assert_eq!(views.get().await?, 0);
//! assert_eq!(views.incr().await?, 1);
//! assert_eq!(views.incr_by(10).await?, 11);
//! assert_eq!(views.decr().await?, 10);
//! views.reset().await?;
//! assert_eq!(views.get().await?, 0);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use cache_core::cache::Cache;
use cache_core::error::{CacheError, Operation, Result};
use cache_core::ttl::normalize_ttl;

/// One named counter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Counter {
    cache: Arc<dyn Cache>,
    key: String,
    ttl: Duration,
}

impl Counter {
    /// The counter at `key`; `ttl` applies from its first increment.
    pub fn new(cache: Arc<dyn Cache>, key: impl Into<String>, ttl: Duration) -> Self {
        Counter {
            cache,
            key: key.into(),
            ttl,
        }
    }

    /// The counter's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Adds 1 and returns the new value.
    pub async fn incr(&self) -> Result<i64> {
        self.incr_by(1).await
    }

    /// Subtracts 1 and returns the new value (counters may go negative).
    pub async fn decr(&self) -> Result<i64> {
        self.incr_by(-1).await
    }

    /// Adds `delta` (which may be negative) and returns the new value.
    /// Overflow is an error, never a wrap.
    pub async fn incr_by(&self, delta: i64) -> Result<i64> {
        let ttl = normalize_ttl(self.ttl)?;
        self.cache.incr_by(&self.key, delta, ttl).await
    }

    /// Subtracts `delta` and returns the new value.
    pub async fn decr_by(&self, delta: i64) -> Result<i64> {
        // Overflow is reported as the backends report it for `incr_by`.
        let negated = delta.checked_neg().ok_or_else(|| {
            CacheError::overflow(
                Operation::IncrBy,
                Some(&self.key),
                DecrementOverflow { delta },
            )
        })?;
        self.incr_by(negated).await
    }

    /// The current value, 0 when the counter is absent (never incremented, or expired).
    pub async fn get(&self) -> Result<i64> {
        let Some(raw) = self.cache.get(&self.key).await? else {
            return Ok(0);
        };
        std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| CacheError::wrong_type(&self.key, "a decimal i64 counter"))
    }

    /// Removes the counter (it restarts at 0 with a fresh TTL). Returns whether it existed.
    pub async fn reset(&self) -> Result<bool> {
        self.cache.delete(&self.key).await
    }
}

/// A decrement whose negation leaves the range of `i64`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("decrementing by {delta} overflows a 64-bit signed integer")]
struct DecrementOverflow {
    delta: i64,
}
