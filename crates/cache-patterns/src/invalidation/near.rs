//! A two-level cache: a small local L1 in front of a shared L2, kept
//! coherent across instances by an [`InvalidationBus`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::typed::{DEFAULT_TYPED_CAPACITY, TypedLevel};
use super::{Invalidation, InvalidationBus, InvalidationListener};
use cache_core::cache::Cache;
use cache_core::codec;
use cache_core::error::{CacheError, Result};
use cache_core::layer::CacheLayer;
use cache_core::stats::CacheStats;

/// A [`Cache`] with a process-local L1 (e.g. a small
/// `cache_memory::MemoryCache`) in front of a shared L2
/// (Redis), kept coherent across instances.
///
/// - Reads try L1, then L2; a value read from L2 is kept in L1 for at most
///   `local_ttl` (short: it bounds staleness if an invalidation is lost).
/// - Every write goes to L2, drops the key (or pattern) from this instance's
///   L1, and publishes an invalidation so that every other instance drops it
///   from its L1. A failed publish is logged, not returned: the write itself
///   succeeded, and other instances' copies expire within `local_ttl`.
/// - When invalidations may have been lost (lag, reconnection), all of L1 is
///   dropped; when the subscription ends, L1 is bypassed from then on.
/// - [`get_arc`](Self::get_arc) keeps values decoded (`Arc<T>`, up to
///   [`DEFAULT_TYPED_CAPACITY`](super::DEFAULT_TYPED_CAPACITY) of them) beside
///   L1's bytes, under the same TTL and the same invalidations: a typed L1
///   hit decodes nothing.
/// - `rate_limit`, `publish`, `subscribe`, `scan_keys`, `health` and `stats`
///   are L2's. `close` closes this view and its L1, not the shared L2.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// use std::{sync::Arc, time::Duration};
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
/// use cache_patterns::invalidation::NearCache;
///
/// let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new()); // Redis in production
/// let ttl = Duration::from_secs(60);
/// let local_ttl = Duration::from_secs(5);
/// let a = NearCache::start(Arc::new(MemoryCache::new()), shared.clone(), "app:", local_ttl).await?;
/// let b = NearCache::start(Arc::new(MemoryCache::new()), shared.clone(), "app:", local_ttl).await?;
///
/// a.set("user:1", b"v1", ttl).await?;
/// assert_eq!(b.get("user:1").await?.as_deref(), Some(&b"v1"[..])); // now in b's L1
/// a.set("user:1", b"v2", ttl).await?; // b's L1 copy is dropped by the invalidation
/// let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
/// while b.get("user:1").await?.as_deref() != Some(&b"v2"[..]) {
///     assert!(tokio::time::Instant::now() < deadline);
///     tokio::task::yield_now().await;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NearCache {
    local: Arc<dyn Cache>,
    typed: Arc<TypedLevel>,
    shared: Arc<dyn Cache>,
    local_ttl: Duration,
    bus: InvalidationBus,
    closed: AtomicBool,
}

/// Drops L1 entries on other instances' invalidations.
struct LocalDropper {
    local: Arc<dyn Cache>,
    typed: Arc<TypedLevel>,
}

#[async_trait]
impl InvalidationListener for LocalDropper {
    async fn invalidate(&self, what: &Invalidation) {
        self.typed.drop_matching(what);
        let result = match what {
            Invalidation::Key(key) => self.local.delete(key).await.map(|_| ()),
            Invalidation::Pattern(pattern) => self.local.delete_pattern(pattern).await.map(|_| ()),
            _ => self.local.delete_pattern("*").await.map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, ?what, "dropping local entries failed");
        }
    }
}

impl NearCache {
    /// Starts a near cache: `local` (this process only) in front of `shared`,
    /// invalidations on `{prefix}cache-invalidation` of `shared`, local copies
    /// kept at most `local_ttl`.
    pub async fn start(
        local: Arc<dyn Cache>,
        shared: Arc<dyn Cache>,
        prefix: &str,
        local_ttl: Duration,
    ) -> Result<Self> {
        cache_core::ttl::normalize_ttl(local_ttl)?;
        let bus = InvalidationBus::start(Arc::clone(&shared), prefix).await?;
        let typed = Arc::new(TypedLevel::new(DEFAULT_TYPED_CAPACITY, local_ttl));
        bus.register(Arc::new(LocalDropper {
            local: Arc::clone(&local),
            typed: Arc::clone(&typed),
        }));
        Ok(NearCache {
            local,
            typed,
            shared,
            local_ttl,
            bus,
            closed: AtomicBool::new(false),
        })
    }

    /// The bus (its stats, its instance id; publish your own invalidations).
    pub fn bus(&self) -> &InvalidationBus {
        &self.bus
    }

    /// The local level's stats (its hits are the reads L2 never saw).
    pub fn local_stats(&self) -> CacheStats {
        self.local.stats()
    }

    fn local_usable(&self) -> bool {
        self.bus.is_listening()
    }

    /// Keeps a value read from L2 in L1, unless an invalidation arrived
    /// while it was being read (it could be the value's own).
    async fn keep_local(&self, key: &str, value: &[u8], generation_before: u64) {
        if !self.local_usable() || self.bus.generation() != generation_before {
            return;
        }
        if self.local.set(key, value, self.local_ttl).await.is_err() {
            return;
        }
        // An invalidation that landed between the check and the set.
        if self.bus.generation() != generation_before {
            let _ = self.local.delete(key).await;
        }
    }

    /// The value at `key` decoded as `T` (default [`codec`] limits), shared:
    /// an L1 hit returns the `Arc<T>` decoded when the value was read, without
    /// decoding or copying; otherwise it is read as [`Cache::get`] reads it
    /// (L1 bytes, then L2) and decoded once.
    ///
    /// A value kept as another type is a miss for this one (and replaced).
    ///
    /// # Errors
    /// Those of [`Cache::get`], and [`ErrorKind::Codec`](cache_core::ErrorKind::Codec)
    /// naming the key if the stored value is not a valid `T` (nothing is kept).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use std::{sync::Arc, time::Duration};
    /// use cache_core::{Cache, TypedCacheExt};
    /// use cache_memory::MemoryCache;
    /// use cache_patterns::invalidation::NearCache;
    ///
    /// let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    /// let near = NearCache::start(Arc::new(MemoryCache::new()), shared, "app:", Duration::from_secs(5)).await?;
    /// near.set_as("user:1", &String::from("Ada"), Duration::from_secs(60)).await?;
    /// let first = near.get_arc::<String>("user:1").await?.unwrap(); // read and decoded
    /// let again = near.get_arc::<String>("user:1").await?.unwrap(); // the same Arc
    /// assert!(Arc::ptr_eq(&first, &again));
    /// # Ok(()) }
    /// ```
    pub async fn get_arc<T>(&self, key: &str) -> Result<Option<Arc<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let usable = self.local_usable() && !self.is_closed();
        if usable && let Some(value) = self.typed.get::<T>(key) {
            return Ok(Some(value));
        }
        let generation = self.bus.generation();
        let Some(bytes) = Cache::get(self, key).await? else {
            return Ok(None);
        };
        let value: Arc<T> = Arc::new(
            codec::from_slice(&bytes).map_err(|error| CacheError::from(error).with_key(key))?,
        );
        if usable && self.bus.generation() == generation {
            self.typed.insert(key, Arc::clone(&value));
            // An invalidation that landed between the check and the insert.
            if self.bus.generation() != generation {
                self.typed.remove(key);
            }
        }
        Ok(Some(value))
    }

    /// After a write to L2: drop the local copy, tell the others.
    async fn invalidate(&self, what: Invalidation) {
        self.typed.drop_matching(&what);
        let dropped = match &what {
            Invalidation::Key(key) => self.local.delete(key).await.map(|_| ()),
            Invalidation::Pattern(pattern) => self.local.delete_pattern(pattern).await.map(|_| ()),
            _ => self.local.delete_pattern("*").await.map(|_| ()),
        };
        if let Err(e) = dropped {
            tracing::warn!(error = %e, ?what, "dropping local entries failed");
        }
        if let Err(e) = self.bus.publish(&what).await {
            tracing::warn!(error = %e, ?what, "publishing an invalidation failed; other instances keep their copy up to the local TTL");
        }
    }

    async fn invalidate_keys(&self, keys: &[&str]) {
        for key in keys {
            self.invalidate(Invalidation::Key((*key).to_owned())).await;
        }
    }
}

/// Calls on a closed view fail; what is not written here (`scan_keys`,
/// `rate_limit`, `publish`, `subscribe`, `health`, `stats`) is L2's.
impl CacheLayer for NearCache {
    type Inner = dyn Cache;

    fn inner(&self) -> &Self::Inner {
        &*self.shared
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    async fn get(this: &Self, key: &str) -> Result<Option<Bytes>> {
        if !this.local_usable() {
            return this.shared.get(key).await;
        }
        match this.local.get(key).await {
            Ok(Some(value)) => return Ok(Some(super::near_lookup(value, "hit"))),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(key, error = %e, "local level failed; reading the shared level")
            }
        }
        super::near_lookup((), "miss");
        let generation = this.bus.generation();
        let value = this.shared.get(key).await?;
        if let Some(value) = &value {
            this.keep_local(key, value, generation).await;
        }
        Ok(value)
    }

    async fn set(this: &Self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        this.shared.set(key, value, ttl).await?;
        this.invalidate(Invalidation::Key(key.to_owned())).await;
        Ok(())
    }

    async fn delete(this: &Self, key: &str) -> Result<bool> {
        let existed = this.shared.delete(key).await?;
        this.invalidate(Invalidation::Key(key.to_owned())).await;
        Ok(existed)
    }

    async fn get_or_set(
        this: &Self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Bytes, bool)> {
        let (stored, fresh) = this.shared.get_or_set(key, value, ttl).await?;
        if fresh {
            this.invalidate(Invalidation::Key(key.to_owned())).await;
        }
        Ok((stored, fresh))
    }

    async fn compare_and_set(
        this: &Self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let swapped = this.shared.compare_and_set(key, expected, new, ttl).await?;
        if swapped {
            this.invalidate(Invalidation::Key(key.to_owned())).await;
        }
        Ok(swapped)
    }

    async fn compare_and_delete(this: &Self, key: &str, expected: &[u8]) -> Result<bool> {
        let deleted = this.shared.compare_and_delete(key, expected).await?;
        if deleted {
            this.invalidate(Invalidation::Key(key.to_owned())).await;
        }
        Ok(deleted)
    }

    async fn get_many(this: &Self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if !this.local_usable() {
            return this.shared.get_many(keys).await;
        }
        let mut values = match this.local.get_many(keys).await {
            Ok(values) => values,
            Err(_) => vec![None; keys.len()],
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(values);
        }
        let generation = this.bus.generation();
        let missing_keys: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
        let fetched = this.shared.get_many(&missing_keys).await?;
        for (i, value) in missing.into_iter().zip(fetched) {
            if let Some(value) = &value {
                this.keep_local(keys[i], value, generation).await;
            }
            values[i] = value;
        }
        Ok(values)
    }

    async fn set_many(this: &Self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        this.shared.set_many(entries, ttl).await?;
        let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        this.invalidate_keys(&keys).await;
        Ok(())
    }

    async fn delete_many(this: &Self, keys: &[&str]) -> Result<u64> {
        let deleted = this.shared.delete_many(keys).await?;
        this.invalidate_keys(keys).await;
        Ok(deleted)
    }

    async fn incr_by(this: &Self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let value = this.shared.incr_by(key, delta, ttl).await?;
        this.invalidate(Invalidation::Key(key.to_owned())).await;
        Ok(value)
    }

    async fn delete_pattern(this: &Self, pattern: &str) -> Result<u64> {
        let deleted = this.shared.delete_pattern(pattern).await?;
        this.invalidate(Invalidation::Pattern(pattern.to_owned()))
            .await;
        Ok(deleted)
    }

    async fn close(this: &Self) -> Result<()> {
        this.closed.store(true, Ordering::Release);
        this.typed.drop_matching(&Invalidation::All);
        this.local.close().await
    }
}
