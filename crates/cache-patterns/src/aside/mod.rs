//! Cache-aside (lazy loading) and read-through, with stampede protection.
//!
//! [`CacheAside::get_or_load`] returns the cached value of a key, or runs a
//! loader, stores its result and returns it. Around that simple contract:
//!
//! - **Stampede protection in the process.** Concurrent calls for one key on
//!   one `CacheAside` (and its clones) share one *flight*: one cache lookup
//!   and at most one loader run, whose result every caller gets. The flight
//!   looks the key up again before loading, so a caller that missed just
//!   before another flight stored the value does not load again. A caller
//!   that gives up (dropped, timed out) fails nobody; if the caller running
//!   the flight gives up, a waiting caller takes over with its own loader.
//!   Build one `CacheAside` per cache (per tenant) and share it: the scope of
//!   the protection is (this cache instance, key).
//! - **Across processes (optional).** [`cross_process_lock`](CacheAside::cross_process_lock):
//!   before loading, a flight takes a short lock (`compare_and_set`); flights
//!   in other processes that find it taken serve a stale value if they have
//!   one, or wait with backoff, re-checking the cache, and load themselves
//!   only if the wait runs out.
//! - **Soft and hard TTL.** With a [`soft_ttl`](CacheAside::soft_ttl), a value
//!   is stored in an envelope with its soft-expiry time; the backend TTL is
//!   the hard TTL. Past the soft TTL, the value is refreshed, by the caller
//!   or [in the background](CacheAside::background_refresh), and served stale
//!   while the loader fails, until the hard TTL removes it.
//! - **TTL jitter** shortens each TTL by a random fraction, so entries written
//!   together do not expire together.
//! - **Failures.** Loader errors are not cached unless
//!   [`negative_ttl`](CacheAside::negative_ttl) asks for it. A cache that fails
//!   transiently degrades to calling the loader ([`fail_open`](CacheAside::fail_open),
//!   the default) or fails the call; both are counted in [`AsideStats`]. A
//!   refusal by the backend (an ACL `NOPERM`, wrong credentials) always fails
//!   the call. A stored
//!   value that no longer decodes as `T` counts as a miss and is overwritten.
//! - **Per-result TTL.** [`get_or_load_expiring`](CacheAside::get_or_load_expiring)
//!   lets the loader choose the TTL from what it loaded (a token's expiry).
//! - **Tags.** [`EntryOptions::tags`] on [`get_or_load_with`](CacheAside::get_or_load_with),
//!   [`get_many_or_load_with`](CacheAside::get_many_or_load_with) or
//!   [`set`](CacheAside::set); [`invalidate_tag`](CacheAside::invalidate_tag)
//!   makes every value carrying the tag a miss, on every instance, by lazy
//!   tag stamps: a call naming the tags reads their stamps with the value
//!   in one batched lookup (other tags a value carries, in one more), and an
//!   absent stamp is a miss, so a lost tag key never brings an invalidated
//!   value back.
//! - **Clear.** [`clearable`](CacheAside::clearable) and
//!   [`clear`](CacheAside::clear): every value at once, in O(1), by a
//!   generation number; over a near cache, other instances follow at the
//!   speed of its bus with [`follow_invalidations`](CacheAside::follow_invalidations).
//!
//! Values are encoded with [`cache_core::codec`] (CBOR). Without a soft TTL they
//! are stored as plain codec bytes, readable by
//! [`TypedCacheExt::get_as`](cache_core::TypedCacheExt::get_as); values written by
//! `set_as` or by [`crate::write`] are read as fresh values.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{sync::Arc, time::Duration};
//! use cache_memory::MemoryCache;
//! use cache_patterns::aside::CacheAside;
//!
//! let users = CacheAside::new(Arc::new(MemoryCache::new()))
//!     .soft_ttl(Duration::from_secs(60))
//!     .jitter(0.1);
//!
//! let ttl = Duration::from_secs(300);
//! let name: String = users
//!     .get_or_load("user:42", ttl, || async { Ok::<_, std::io::Error>("Ada".to_owned()) })
//!     .await?;
//! assert_eq!(name, "Ada");
//!
//! // A hit: the loader is not called.
//! let again: String = users
//!     .get_or_load("user:42", ttl, || async { Err::<String, _>(std::io::Error::other("unreachable")) })
//!     .await?;
//! assert_eq!(again, "Ada");
//! assert_eq!((users.stats().hits, users.stats().loads), (1, 1));
//! # Ok(()) }
//! ```

mod batch;
mod clear;
mod envelope;
mod fill;
mod options;
mod read_through;
mod recovery;
mod tags;
mod timeouts;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use batch::NotLoaded;
pub use clear::GENERATION_KEY;
pub use options::EntryOptions;
pub use read_through::ReadThrough;
pub use tags::{DEFAULT_TAG_TTL, MAX_TAG_LEN, MAX_TAGS, TAG_KEY_PREFIX};
pub use timeouts::FactoryTimeout;

use self::envelope::Entry;
use crate::lock::{Backoff, DistributedLock};
use cache_core::cache::Cache;
use cache_core::codec;
use cache_core::error::{BoxError, CacheError};
use cache_core::metrics::{self, labels, names};
use cache_core::singleflight::Singleflight;

/// A wall clock for soft expiry (shared by every process, so wall time, not
/// a monotonic instant). Tests pass a manual one.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A failure of [`CacheAside`] or [`ReadThrough`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AsideError {
    /// The loader failed: this call's loader, the loader of the flight it
    /// joined, or (with negative caching) a recent failure remembered in the
    /// cache, in which case `remembered` is `true` and `source` carries the
    /// remembered message only.
    #[error("loading the value of key {key:?} failed")]
    Load {
        /// The key.
        key: String,
        /// The loader's error (downcast it to the loader's own type).
        #[source]
        source: BoxError,
        /// Whether the failure was remembered rather than just observed.
        remembered: bool,
    },
    /// The cache failed and the pattern fails closed, or a value could not
    /// be encoded or decoded.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl AsideError {
    /// Whether the loader failed (as opposed to the cache).
    pub fn is_load(&self) -> bool {
        matches!(self, AsideError::Load { .. })
    }

    /// The cache error, when the cache failed.
    pub fn cache_error(&self) -> Option<&CacheError> {
        match self {
            AsideError::Cache(e) => Some(e),
            AsideError::Load { .. } => None,
        }
    }
}

/// A remembered loader failure: only its message survives the trip through
/// the cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (remembered by negative caching)")]
pub struct RememberedFailure {
    /// The loader error's message when it failed.
    pub message: String,
}

/// Counters since the [`CacheAside`] was built (shared by its clones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AsideStats {
    /// Calls answered with a fresh value straight from the cache.
    pub hits: u64,
    /// Calls that found no fresh value and went through a flight (joining
    /// one or running it).
    pub misses: u64,
    /// Loader runs.
    pub loads: u64,
    /// Loader runs that failed.
    pub load_errors: u64,
    /// Calls answered with a value past its soft TTL.
    pub stale_served: u64,
    /// Calls answered with a remembered loader failure.
    pub negative_hits: u64,
    /// Cache operations that failed.
    pub cache_errors: u64,
    /// Loads run because the cache could not be read (fail-open).
    pub degraded: u64,
    /// Calls answered by another caller's load (they joined its flight).
    pub coalesced: u64,
    /// Lookups that found a tagged value one of whose tags was invalidated
    /// since it was stored (a miss; one call may look a key up twice).
    pub tag_invalidated: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    load_errors: AtomicU64,
    stale_served: AtomicU64,
    negative_hits: AtomicU64,
    cache_errors: AtomicU64,
    degraded: AtomicU64,
    coalesced: AtomicU64,
    tag_invalidated: AtomicU64,
}

impl CacheAside {
    /// Counts one outcome in the stats and in `cache.aside.requests`.
    fn tally(&self, counter: &AtomicU64, outcome: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        let labels = [
            (labels::STRATEGY, self.strategy),
            (labels::OUTCOME, outcome),
        ];
        metrics::count(names::ASIDE_REQUESTS, &labels);
    }
}

/// What one flight produced, shared with every caller that joined it.
#[derive(Debug, Clone)]
enum Fetched {
    /// A value's codec payload; `stale` when past its soft TTL.
    Value { payload: Bytes, stale: bool },
    /// The loader failed.
    Failed { source: BoxError, remembered: bool },
    /// A batch loader returned no value for the key.
    Absent,
}

struct Shared {
    flights: Singleflight<String, Fetched>,
    counters: Counters,
    /// Keys with a background refresh running (one per key at a time).
    refreshing: parking_lot::Mutex<HashSet<String>>,
    generation: Arc<clear::Generation>,
    recovery: recovery::Recovery,
}

/// Takes `key` out of [`Shared::refreshing`] however the refresh ends.
struct Refreshing {
    shared: Arc<Shared>,
    key: String,
}

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.shared.refreshing.lock().remove(&self.key);
    }
}

#[derive(Clone)]
struct CrossProcess {
    locks: DistributedLock,
    ttl: Duration,
    wait: Duration,
    backoff: Backoff,
}

/// Cache-aside over one cache. Configure with the builder methods, then
/// share it (clones share the flights and the stats).
#[derive(Clone)]
pub struct CacheAside {
    cache: Arc<dyn Cache>,
    ttl: Duration,
    soft_ttl: Option<Duration>,
    jitter: f64,
    fail_open: bool,
    background_refresh: bool,
    negative_ttl: Option<Duration>,
    cross_process: Option<CrossProcess>,
    clock: Option<Clock>,
    factory_soft_timeout: Option<Duration>,
    factory_hard_timeout: Option<Duration>,
    eager_refresh_threshold: Option<f64>,
    clear_reread: Option<Duration>,
    auto_recovery: Option<usize>,
    /// The tags of this call's loads (a copy made by [`EntryOptions`]).
    tags: Option<Arc<[String]>>,
    tag_ttl: Duration,
    /// The `strategy` label: `cache_aside`, or `read_through` under a [`ReadThrough`].
    strategy: &'static str,
    shared: Arc<Shared>,
}

impl fmt::Debug for CacheAside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheAside")
            .field("ttl", &self.ttl)
            .field("soft_ttl", &self.soft_ttl)
            .field("jitter", &self.jitter)
            .field("fail_open", &self.fail_open)
            .field("background_refresh", &self.background_refresh)
            .field("negative_ttl", &self.negative_ttl)
            .field(
                "cross_process_lock",
                &self.cross_process.as_ref().map(|c| (c.ttl, c.wait)),
            )
            .field("manual_clock", &self.clock.is_some())
            .field("factory_soft_timeout", &self.factory_soft_timeout)
            .field("factory_hard_timeout", &self.factory_hard_timeout)
            .field("eager_refresh_threshold", &self.eager_refresh_threshold)
            .field("clear_reread", &self.clear_reread)
            .field("auto_recovery", &self.auto_recovery)
            .field("tags", &self.tags)
            .field("tag_ttl", &self.tag_ttl)
            .finish_non_exhaustive()
    }
}

impl CacheAside {
    /// Cache-aside on `cache` with the defaults: TTL 5 minutes (for
    /// [`ReadThrough`]), no soft TTL, no jitter, fail-open, refresh by the
    /// caller, no negative caching, no cross-process lock.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        CacheAside {
            cache,
            ttl: Duration::from_secs(300),
            soft_ttl: None,
            jitter: 0.0,
            fail_open: true,
            background_refresh: false,
            negative_ttl: None,
            cross_process: None,
            clock: None,
            factory_soft_timeout: None,
            factory_hard_timeout: None,
            eager_refresh_threshold: None,
            clear_reread: None,
            auto_recovery: None,
            tags: None,
            tag_ttl: tags::DEFAULT_TAG_TTL,
            strategy: "cache_aside",
            shared: Arc::new(Shared {
                flights: Singleflight::new(),
                counters: Counters::default(),
                refreshing: parking_lot::Mutex::new(HashSet::new()),
                generation: Arc::default(),
                recovery: recovery::Recovery::default(),
            }),
        }
    }

    cache_core::setters! {
        /// The default (hard) TTL, used by [`ReadThrough`] (default 5 minutes).
        ttl: Duration;

        /// Values older than `soft_ttl` (capped at each value's hard TTL) are
        /// refreshed, and served stale while the loader fails.
        soft_ttl: Duration => Some;
    }

    /// Shortens every TTL by a random fraction in `[0, jitter)` (clamped to
    /// `0.0..=0.9`), so entries written together do not expire together.
    /// Jitter never lengthens a TTL: a TTL a loader derived from a token's
    /// expiry stays safe.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 0.9)
        } else {
            0.0
        };
        self
    }

    cache_core::setters! {
        /// Whether a cache that fails transiently (unreachable, timing out,
        /// between roles; see [`CacheError::is_transient`]) or is closed degrades
        /// to calling the loader (`true`, the default) or fails the call. A
        /// refusal ([`CacheError::is_refused`]: an ACL or credential problem) is
        /// never absorbed: neither when reading, nor when storing what was loaded,
        /// nor on the cross-process lock.
        fail_open: bool;

        /// Past the soft TTL, return the stale value at once and refresh on a
        /// background task (`true`), or refresh in the call (`false`, default).
        background_refresh: bool;

        /// Remembers a loader failure for `ttl`: calls meanwhile get the failure
        /// without running the loader (protecting a struggling backend). Only the
        /// failure's message is stored. A stale value is never replaced by a
        /// failure.
        negative_ttl: Duration => Some;
    }

    /// Protects loads across processes: a flight takes a lock of `lock_ttl`
    /// on the key before loading; flights elsewhere serve a stale value or
    /// wait up to `wait` (re-checking the cache), then load anyway.
    pub fn cross_process_lock(mut self, lock_ttl: Duration, wait: Duration) -> Self {
        self.cross_process = Some(CrossProcess {
            locks: DistributedLock::new(Arc::clone(&self.cache)).prefix("lock:aside:"),
            ttl: lock_ttl,
            wait,
            backoff: Backoff::default(),
        });
        self
    }

    cache_core::setters! {
        /// The wall clock used for soft expiry (default: the system clock).
        clock: Clock => Some;

        /// FusionCache's `FactorySoftTimeout`: when a stale value is at hand
        /// (past the soft TTL, before the hard TTL), a loader still running
        /// after this long is left to finish in the background, where it
        /// stores its value, and the caller gets the stale value at once.
        /// Without a stale value the caller waits (up to the hard timeout).
        factory_soft_timeout: Duration => Some;

        /// FusionCache's `FactoryHardTimeout`: a loader still running after
        /// this long fails the call with [`AsideError::Load`] whose source is a
        /// [`FactoryTimeout`] (a stale value, if any, is served instead, as for
        /// any loader failure). The loader is left to finish in the
        /// background and store its value; a timeout is never remembered by
        /// negative caching.
        factory_hard_timeout: Duration => Some;
    }

    /// FusionCache's `EagerRefreshThreshold`: a hit after `threshold` of a
    /// value's (soft) TTL has passed returns the value and refreshes it on a
    /// background task, one refresh per key at a time, so a hot key is
    /// reloaded before it goes stale. `threshold` is a fraction strictly
    /// between 0 and 1 (FusionCache's rule); anything else turns eager
    /// refresh off. Values are stored in an envelope that carries the
    /// refresh time (8 bytes more), also without a soft TTL.
    pub fn eager_refresh_threshold(mut self, threshold: f64) -> Self {
        self.eager_refresh_threshold = (threshold > 0.0 && threshold < 1.0).then_some(threshold);
        self
    }

    /// The cache underneath.
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.cache
    }

    /// This aside labelled as `strategy` in the metrics (a [`ReadThrough`]'s own copy).
    pub(crate) fn labelled(mut self, strategy: &'static str) -> Self {
        self.strategy = strategy;
        self
    }

    /// The configured default TTL.
    pub fn default_ttl(&self) -> Duration {
        self.ttl
    }

    /// Counters since this `CacheAside` was built.
    pub fn stats(&self) -> AsideStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AsideStats {
            hits: load(&c.hits),
            misses: load(&c.misses),
            loads: load(&c.loads),
            load_errors: load(&c.load_errors),
            stale_served: load(&c.stale_served),
            negative_hits: load(&c.negative_hits),
            cache_errors: load(&c.cache_errors),
            degraded: load(&c.degraded),
            coalesced: load(&c.coalesced),
            tag_invalidated: load(&c.tag_invalidated),
        }
    }

    /// Removes `key` from the cache (the next call loads). Returns whether it
    /// held a value.
    pub async fn invalidate(&self, key: &str) -> Result<bool, CacheError> {
        let generation = self.generation().await?;
        self.cache.delete(&clear::keyed(generation, key)).await
    }

    /// The value of `key`, or the result of `loader`, stored for `ttl`.
    pub async fn get_or_load<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<T, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        self.fetch(key, move || async move {
            loader()
                .await
                .map(|value| (value, ttl))
                .map_err(|e| BoxError::from(e.into()))
        })
        .await
    }

    /// Like [`get_or_load`](Self::get_or_load), but the loader returns the
    /// TTL with the value (e.g. until a token expires).
    pub async fn get_or_load_expiring<T, F, Fut, E>(
        &self,
        key: &str,
        loader: F,
    ) -> Result<T, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Duration), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        self.fetch(key, move || async move {
            loader().await.map_err(|e| BoxError::from(e.into()))
        })
        .await
    }

    async fn fetch<T, L, Fut>(&self, key: &str, loader: L) -> Result<T, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Duration), BoxError>> + Send + 'static,
    {
        let counters = &self.shared.counters;
        let generation = match self.generation().await {
            Ok(generation) => generation,
            Err(e) if self.degrades_on(&e) => {
                self.tally(&counters.cache_errors, "cache_error");
                self.tally(&counters.degraded, "fail_open");
                self.tally(&counters.loads, "loaded");
                return loader().await.map(|(value, _)| value).map_err(|source| {
                    self.tally(&counters.load_errors, "load_error");
                    AsideError::Load {
                        key: key.to_owned(),
                        source,
                        remembered: false,
                    }
                });
            }
            Err(e) => return Err(e.into()),
        };
        let key = &*clear::keyed(generation, key);
        // The fast path, outside the flight: a hit costs one lookup and one
        // decode, like a plain `get_as`.
        match self.lookup(key).await {
            Ok(Some(Entry::Value {
                payload,
                soft_expiry_ms,
                refresh_at_ms,
                ..
            })) => {
                let fresh = self.is_fresh(soft_expiry_ms);
                if (fresh || self.background_refresh)
                    && let Ok(value) = codec::from_slice::<T>(&payload)
                {
                    if fresh {
                        self.tally(&counters.hits, "hit");
                        if self.is_due(refresh_at_ms) {
                            self.spawn_refresh(key, loader, true);
                        }
                    } else {
                        self.tally(&counters.stale_served, "stale");
                        self.spawn_refresh(key, loader, false);
                    }
                    return Ok(value);
                }
            }
            Ok(Some(Entry::Failure { message })) => {
                self.tally(&counters.negative_hits, "negative");
                return Err(remembered(key, message));
            }
            Ok(Some(Entry::Unknown) | None) => {}
            Err(e) => {
                if !self.degrades_on(&e) {
                    return Err(e.into());
                }
            }
        }
        self.tally(&counters.misses, "miss");
        let mut mine: Option<T> = None;
        let outcome = self
            .shared
            .flights
            .run(key.to_owned(), || self.fill(key, loader, &mut mine, false))
            .await;
        self.settle(key, outcome, mine)
    }

    /// Turns a flight's shared outcome into this caller's answer.
    fn settle<T: DeserializeOwned>(
        &self,
        key: &str,
        outcome: Result<Fetched, CacheError>,
        mine: Option<T>,
    ) -> Result<T, AsideError> {
        match outcome? {
            Fetched::Value { payload, stale } => {
                if stale {
                    self.tally(&self.shared.counters.stale_served, "stale");
                }
                match mine {
                    Some(value) => Ok(value),
                    // Another caller's flight loaded it.
                    None => codec::from_slice(&payload)
                        .inspect(|_| self.tally(&self.shared.counters.coalesced, "coalesced"))
                        .map_err(|e| CacheError::from(e).with_key(key).into()),
                }
            }
            Fetched::Failed { source, remembered } => Err(AsideError::Load {
                key: key.to_owned(),
                source,
                remembered,
            }),
            Fetched::Absent => Err(AsideError::Load {
                key: key.to_owned(),
                source: Arc::new(batch::NotLoaded),
                remembered: false,
            }),
        }
    }

    /// Refreshes `key` on a background task, unless a refresh of it is
    /// already running here; `eager` when the value is still fresh but due.
    fn spawn_refresh<T, L, Fut>(&self, key: &str, loader: L, eager: bool)
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Duration), BoxError>> + Send + 'static,
    {
        let key = key.to_owned();
        if self.shared.flights.followers(&key).is_some() {
            return; // a refresh (or a load) is already running for this key
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.shared.refreshing.lock().insert(key.clone()) {
            return; // one background refresh per key at a time
        }
        let running = Refreshing {
            shared: Arc::clone(&self.shared),
            key: key.clone(),
        };
        let this = self.clone();
        runtime.spawn(async move {
            let _running = running;
            let mut mine: Option<T> = None;
            let outcome = this
                .shared
                .flights
                .run(key.clone(), || this.fill(&key, loader, &mut mine, eager))
                .await;
            if let Err(e) = outcome {
                tracing::warn!(key = %key, error = %e, "background refresh failed");
            }
        });
    }

    /// Reads `key`; a tagged value one of whose tags was invalidated since
    /// is a miss. The stamps of this call's tags are read with the value (one
    /// `get_many`); those of other tags the value carries, in one more.
    async fn lookup(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let read = async {
            let tag_keys = self.named_tag_keys();
            let (stored, known) = if tag_keys.is_empty() {
                (self.cache.get(key).await?, Vec::new())
            } else {
                // The value and the stamps of the tags this call names, in
                // one read: a value stored under those tags needs no other.
                let keys: Vec<&str> = std::iter::once(key)
                    .chain(tag_keys.iter().map(String::as_str))
                    .collect();
                let mut read = self.cache.get_many(&keys).await?.into_iter();
                (read.next().flatten(), self.known_stamps(read.collect()))
            };
            self.backend_answered();
            let mut entry = [stored.map(Entry::parse)];
            self.drop_tag_invalidated(&mut entry, &known).await?;
            Ok(entry)
        };
        match read.await {
            Ok([entry]) => Ok(entry),
            Err(e) => {
                self.tally(&self.shared.counters.cache_errors, "cache_error");
                Err(e)
            }
        }
    }

    /// Whether a cache error is absorbed (fail-open) rather than returned:
    /// only a transient failure (unreachable, timing out, between roles) or a
    /// closed cache. Everything else is returned either way: an invalid key,
    /// and above all a refusal (`NOPERM`, wrong credentials), which calling
    /// the loader would hide.
    fn degrades_on(&self, e: &CacheError) -> bool {
        let absorbed = self.fail_open && (e.is_transient() || e.is_closed());
        if absorbed {
            tracing::warn!(error = %e, "cache unavailable; calling the loader (fail-open)");
        }
        absorbed
    }

    fn now_ms(&self) -> u64 {
        let now = self.clock.as_ref().map_or_else(SystemTime::now, |c| c());
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn is_fresh(&self, soft_expiry_ms: Option<u64>) -> bool {
        soft_expiry_ms.is_none_or(|at| self.now_ms() < at)
    }

    /// Whether an eager refresh is due (only while eager refresh is on).
    fn is_due(&self, refresh_at_ms: Option<u64>) -> bool {
        self.eager_refresh_threshold.is_some()
            && refresh_at_ms.is_some_and(|at| self.now_ms() >= at)
    }

    /// The hard TTL and, with a soft TTL configured, the soft TTL of a value
    /// whose loader asked for `ttl`, both shortened by the same jitter.
    fn expiries(&self, ttl: Duration) -> (Duration, Option<Duration>) {
        let factor = if self.jitter > 0.0 {
            1.0 - rand::random::<f64>() * self.jitter
        } else {
            1.0
        };
        let floor = Duration::from_millis(1);
        let hard = ttl.mul_f64(factor).max(floor.min(ttl));
        let soft = self
            .soft_ttl
            .map(|soft| soft.min(ttl).mul_f64(factor).max(floor.min(hard)));
        (hard, soft)
    }
}

fn remembered(key: &str, message: String) -> AsideError {
    AsideError::Load {
        key: key.to_owned(),
        source: Arc::new(RememberedFailure { message }),
        remembered: true,
    }
}

#[cfg(test)]
mod tests;
