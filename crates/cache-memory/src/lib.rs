//! # cache-memory
//!
//! The embedded in-memory backend, [`MemoryCache`]: the default backend and
//! the fallback of the framework, configured by [`MemoryConfig`].
//!
//! Built on [`cache_core::bounded::BoundedMap`], a sharded map with an exact
//! LRU list per shard (ADR 0011); no method here ever waits, so the async
//! trait methods complete on their first poll. See [`MemoryCache`] for
//! bounds, expiry, atomicity and what is per process.

mod builder;
mod clock;
mod collections;
mod config;
mod entry;
mod map;
mod pubsub;
mod rate;
mod scan;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use cache_core::cache::{
    Cache, KeyPage, KeyTtl, RateDecision, RateLimitRule, ScanCursor, Subscription,
};
use cache_core::error::{Operation, Result};
use cache_core::stats::CacheStats;

pub use builder::{DEFAULT_CHANNEL_CAPACITY, DEFAULT_DURATION_SAMPLING, MemoryCacheBuilder};
pub use clock::Clock;
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use config::{MAX_VALUE_BYTES_LIMIT, MemoryConfig};

use builder::Settings;
use store::Store;

/// The in-memory [`Cache`]: bounded, with per-entry TTLs, atomic conditional
/// operations, glob key listing, rate limits and in-process pub/sub.
///
/// ```
/// use std::time::Duration;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_core::CacheError> {
/// let cache = MemoryCache::new();
/// let ttl = Duration::from_secs(60);
///
/// cache.set("user:42", b"Ada", ttl).await?;
/// assert_eq!(cache.get("user:42").await?.as_deref(), Some(&b"Ada"[..]));
/// assert_eq!(cache.get("user:43").await?, None); // a miss is not an error
///
/// // Only the first writer stores; everybody gets the stored value.
/// let (value, stored) = cache.get_or_set("greeting", b"hello", ttl).await?;
/// assert!(stored);
/// let (value2, stored2) = cache.get_or_set("greeting", b"bonjour", ttl).await?;
/// assert_eq!((value2, stored2), (value, false));
///
/// // A lock: taken only if absent, released only by its holder.
/// assert!(cache.compare_and_set("lock:job", None, b"token-1", ttl).await?);
/// assert!(!cache.compare_and_set("lock:job", None, b"token-2", ttl).await?);
/// assert!(cache.compare_and_delete("lock:job", b"token-1").await?);
/// # Ok(())
/// # }
/// ```
///
/// # Bounds
/// At most `max_entries` entries and, if set, `max_bytes` bytes of keys and
/// values; past either, least recently used entries are evicted at once,
/// inside the write (a new write is always admitted). With both bounds each
/// entry is charged its bytes plus `max_bytes / max_entries`, which enforces
/// both with one capacity. A cache of more than 8,192 entries is split into
/// shards (by a hash of the key, up to 64), each bounded by its share and
/// evicting its own least recently used entries; smaller caches have one
/// shard and an exact LRU order. A value that could never fit is refused with
/// [`ErrorKind::ValueTooLarge`](cache_core::ErrorKind::ValueTooLarge).
///
/// # Expiry
/// Every entry carries the instant it expires, on the cache's [`Clock`]
/// ([`MemoryCacheBuilder::clock`], the real monotonic clock by default);
/// reads check it, so an expired value is never returned, and nothing else
/// decides when an entry is gone. Expired entries are freed when read, by a
/// bounded sweep that writes run, when [`Cache::stats`] counts, or by
/// eviction. Rate-limit
/// windows and [`MemoryCache::remaining_ttl`] read the same clock. With the
/// `test-util` feature a `ManualClock` makes all of it deterministic: time
/// moves only when a test advances it.
///
/// # Atomicity
/// Every write of a key happens under that key's stripe lock, so conditional
/// operations are single indivisible steps, also against plain `set` and
/// `delete`. Reads take no lock.
///
/// # Per process
/// Clones share one store. Nothing is shared between processes: rate limits
/// and locks hold per process, and pub/sub reaches this process's
/// subscribers only.
///
/// # Sets and hashes
/// [`Cache::collections`] is this cache: sets and hashes
/// ([`Collections`](cache_core::Collections)) are entries like values (bounds,
/// eviction, TTL and the key calls apply to them), changed in place under the
/// key's stripe lock. Hash fields may expire on the cache's clock. At most
/// [`MemoryCacheBuilder::max_per_call`] members or fields per call.
///
/// # Pub/sub
/// Channel names follow the key rules and messages the value size limit.
/// `subscribe` needs a running tokio runtime (a task forwards each
/// subscription). After [`Cache::close`] every subscription ends: `recv`
/// returns what was already queued, then `None`.
#[derive(Clone)]
pub struct MemoryCache {
    store: Arc<Store>,
}

impl MemoryCache {
    /// A cache with the defaults of [`MemoryConfig`] (100,000 entries,
    /// 256 MiB, values up to 4 MiB).
    pub fn new() -> Self {
        MemoryCache::with_settings(Settings::default(), Clock::system())
    }

    /// A builder, starting from the defaults of [`MemoryConfig`].
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder::default()
    }

    /// A cache for a [`MemoryConfig`] (the `cache.memory` config section),
    /// validated by [`MemoryConfig::validate`]. Errors name the invalid field
    /// relative to the section, e.g. `max_entries`.
    pub fn from_config(config: &MemoryConfig) -> Result<MemoryCache> {
        Ok(MemoryCache::with_settings(
            Settings::from_config(config)?,
            Clock::system(),
        ))
    }

    pub(crate) fn with_settings(settings: Settings, clock: Clock) -> Self {
        tracing::debug!(
            max_entries = settings.max_entries,
            max_bytes = settings.weighing.map(|w| w.max_bytes),
            max_value_bytes = settings.max_value_bytes,
            ?clock,
            "in-memory cache built"
        );
        MemoryCache {
            store: Arc::new(Store::new(settings, clock)),
        }
    }

    /// How long `key` still lives on the cache's clock, or `None` when it
    /// holds nothing live or never expires (or is not a valid key, or the
    /// cache is closed). A synchronous shortcut for tests and diagnostics;
    /// [`Cache::ttl`] tells the cases apart. TTLs are whole milliseconds, so right after a write
    /// this is the TTL given, rounded up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::Cache;
    /// use cache_memory::MemoryCache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// cache.set("k", b"v", Duration::from_secs(60)).await?;
    /// let left = cache.remaining_ttl("k").unwrap();
    /// assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(50));
    /// assert_eq!(cache.remaining_ttl("absent"), None);
    /// # Ok(()) }
    /// ```
    pub fn remaining_ttl(&self, key: &str) -> Option<Duration> {
        self.store.remaining_ttl(key)
    }

    /// Every live key, sorted. For tests and diagnostics: it visits every
    /// entry, so it costs time in proportion to the cache's size (page through
    /// [`Cache::scan_keys`] in production code). Empty once the cache is closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::Cache;
    /// use cache_memory::MemoryCache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// cache.set("b", b"2", Duration::from_secs(60)).await?;
    /// cache.set("a", b"1", Duration::from_secs(60)).await?;
    /// assert_eq!(cache.keys(), ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn keys(&self) -> Vec<String> {
        self.store.keys()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new()
    }
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.store.settings;
        f.debug_struct("MemoryCache")
            .field("clock", &self.store.clock)
            .field("max_entries", &settings.max_entries)
            .field("max_bytes", &settings.weighing.map(|w| w.max_bytes))
            .field("max_value_bytes", &settings.max_value_bytes)
            .field("entries", &self.store.map.entry_count())
            .field("closed", &self.store.is_closed())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let store = &*self.store;
        let timer = store.metrics.start();
        let result = store.get(key);
        store.metrics.finish(Operation::Get, timer, &result);
        let stats = store.stats.local();
        stats.op(Operation::Get);
        match &result {
            Ok(Some(_)) => stats.hits(1),
            Ok(None) => stats.misses(1),
            Err(_) => stats.error(),
        }
        result
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let store = &*self.store;
        store.timed(Operation::Set, || store.set(key, value, ttl))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let store = &*self.store;
        store.timed(Operation::Delete, || store.delete(key))
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        let store = &*self.store;
        store.timed(Operation::GetOrSet, || store.get_or_set(key, value, ttl))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let store = &*self.store;
        store.timed(Operation::CompareAndSet, || {
            store.compare_and_set(key, expected, new, ttl)
        })
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let store = &*self.store;
        store.timed(Operation::CompareAndDelete, || {
            store.compare_and_delete(key, expected)
        })
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let store = &*self.store;
        let timer = store.metrics.start();
        let result = store.get_many(keys);
        store.metrics.finish(Operation::GetMany, timer, &result);
        if let Ok(values) = &result {
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            let stats = store.stats.local();
            stats.hits(hits);
            stats.misses(values.len() as u64 - hits);
        }
        store.record(Operation::GetMany, result)
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let store = &*self.store;
        store.timed(Operation::SetMany, || store.set_many(entries, ttl))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::DeleteMany, || store.delete_many(keys))
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let store = &*self.store;
        store.timed(Operation::IncrBy, || store.incr_by(key, delta, ttl))
    }

    async fn exists(&self, keys: &[&str]) -> Result<u64> {
        let store = &*self.store;
        store.record(Operation::Exists, store.exists(keys))
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        let store = &*self.store;
        store.record(Operation::Expire, store.expire(key, ttl))
    }

    async fn persist(&self, key: &str) -> Result<bool> {
        let store = &*self.store;
        store.record(Operation::Persist, store.persist(key))
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let store = &*self.store;
        store.record(Operation::Ttl, store.ttl(key))
    }

    async fn touch(&self, keys: &[&str]) -> Result<u64> {
        let store = &*self.store;
        store.record(Operation::Touch, store.touch(keys))
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let store = &*self.store;
        store.timed(Operation::ScanKeys, || {
            store.scan_keys(pattern, cursor, count)
        })
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::DeletePattern, || store.delete_pattern(pattern))
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        let store = &*self.store;
        store.timed(Operation::RateLimit, || store.rate_limit(key, rule))
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::Publish, || store.publish(channel, message))
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let store = &*self.store;
        store.timed(Operation::Subscribe, || store.subscribe(channel))
    }

    async fn health(&self) -> Result<()> {
        let store = &*self.store;
        store.timed(Operation::Health, || store.ensure_open(Operation::Health))
    }

    fn collections(&self) -> Option<&dyn cache_core::Collections> {
        Some(self)
    }

    fn stats(&self) -> CacheStats {
        let mut stats = self.store.stats.snapshot();
        let (entries, bytes) = self.store.size();
        stats.entries = Some(entries);
        stats.bytes = bytes;
        stats
    }

    async fn close(&self) -> Result<()> {
        self.store.stats.local().op(Operation::Close);
        self.store.close();
        tracing::debug!("in-memory cache closed");
        Ok(())
    }
}
