//! `clear`: FusionCache's `Clear()`, logical and O(1), by a generation
//! number in the key space.
//!
//! A clearable aside keeps a generation at [`GENERATION_KEY`] in its cache
//! (so one per namespace or tenant when the cache is a `Namespaced` view or a
//! tenant's cache). Generation 0 uses the plain keys, so turning `clearable`
//! on changes nothing until the first `clear`; generation `n > 0` stores key
//! `k` at `~g{n}:k`. `clear` is one `INCR`: every entry of the older
//! generations becomes unreachable at once and expires by its own TTL
//! (nothing is scanned or deleted). The cost: each call reads the generation
//! (one `GET`) unless it was read less than `reread` ago; another instance
//! sees a clear within `reread`, this one at once.
//!
//! Over a [`NearCache`](crate::invalidation::NearCache), the generation is
//! read through its local level, and a clear (through the near cache) drops
//! the generation key from every instance's local level. An aside that
//! [follows](CacheAside::follow_invalidations) the near cache's bus also
//! forgets the generation it holds when that invalidation arrives, so a
//! long `reread` costs no delay: other instances see the clear once the
//! message reaches them. Values in other instances' local levels need no
//! message: they sit at keys of the old generation, which nobody reads.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::CacheAside;
use crate::invalidation::{Invalidation, InvalidationBus, InvalidationListener};
use cache_core::error::{CacheError, Operation};

/// Where a clearable [`CacheAside`] keeps its generation number.
pub const GENERATION_KEY: &str = "__aside:generation";

/// The generation key's TTL, renewed by every clear: far beyond any value's
/// TTL, so an old generation never comes back.
const GENERATION_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// The last generation read or written, and when (`None`: to be re-read,
/// an invalidation said it changed).
#[derive(Debug, Default)]
pub(super) struct Generation {
    known: parking_lot::Mutex<Option<(u64, Option<Instant>)>>,
    /// Grows with every invalidation of the generation key: a read that
    /// overlapped one is not trusted for `reread`.
    forgotten: AtomicU64,
}

impl Generation {
    fn forget(&self) {
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        if let Some((_, read_at)) = &mut *self.known.lock() {
            *read_at = None;
        }
    }
}

/// Forgets an aside's generation when a bus says the generation key changed.
struct GenerationFollower(Arc<Generation>);

#[async_trait]
impl InvalidationListener for GenerationFollower {
    async fn invalidate(&self, what: &Invalidation) {
        let concerned = match what {
            // Any namespace's or tenant's generation key: forgetting one
            // that is not ours costs one read.
            Invalidation::Key(key) => key.ends_with(GENERATION_KEY),
            _ => true,
        };
        if concerned {
            self.0.forget();
        }
    }
}

impl CacheAside {
    /// Makes [`clear`](Self::clear) available: keys carry a generation
    /// number, re-read from the cache at most every `reread` (zero: on every
    /// call, one more round trip each).
    pub fn clearable(mut self, reread: Duration) -> Self {
        self.clear_reread = Some(reread);
        self
    }

    /// Forgets the generation read less than `reread` ago as soon as `bus`
    /// brings an invalidation of the generation key (or of everything), so
    /// another instance's [`clear`](Self::clear) is seen at the speed of the
    /// bus rather than within `reread`. Give it the bus of the
    /// [`NearCache`](crate::invalidation::NearCache) this aside reads through
    /// ([`NearCache::bus`](crate::invalidation::NearCache::bus)), started
    /// before this call so that the near cache drops its local copy of the
    /// generation key before this aside re-reads it; every instance must
    /// clear through its near cache. Call it once per aside and bus: the
    /// listener stays registered as long as the bus lives.
    pub fn follow_invalidations(self, bus: &InvalidationBus) -> Self {
        bus.register(Arc::new(GenerationFollower(Arc::clone(
            &self.shared.generation,
        ))));
        self
    }

    /// Drops every value of this aside's cache (the namespace or tenant it
    /// is a view of) at once, in O(1): one increment of the generation.
    /// Other instances see it within their `reread`.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`](cache_core::ErrorKind::Unsupported) unless
    /// built [`clearable`](Self::clearable); the cache's error otherwise.
    pub async fn clear(&self) -> Result<(), CacheError> {
        if self.clear_reread.is_none() {
            return Err(CacheError::unsupported(
                Operation::IncrBy,
                "clear needs a CacheAside built with clearable(..)",
            ));
        }
        let next = self
            .cache
            .incr_by(GENERATION_KEY, 1, GENERATION_TTL)
            .await?;
        let next = u64::try_from(next)
            .map_err(|_| CacheError::wrong_type(GENERATION_KEY, "a generation number"))?;
        *self.shared.generation.known.lock() = Some((next, Some(Instant::now())));
        Ok(())
    }

    /// The current generation (0 when not clearable).
    pub(super) async fn generation(&self) -> Result<u64, CacheError> {
        let Some(reread) = self.clear_reread else {
            return Ok(0);
        };
        let memo = &self.shared.generation;
        if let Some((known, Some(at))) = *memo.known.lock()
            && at.elapsed() < reread
        {
            return Ok(known);
        }
        let forgotten = memo.forgotten.load(Ordering::Acquire);
        let stored = self.cache.get(GENERATION_KEY).await?;
        let generation = match stored {
            None => 0,
            Some(text) => std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| CacheError::wrong_type(GENERATION_KEY, "a generation number"))?,
        };
        let mut known = memo.known.lock();
        // Never step back to an older generation read concurrently.
        let newest = known.map_or(generation, |(k, _)| k.max(generation));
        // A read that overlapped an invalidation may be the old value.
        let trusted = memo.forgotten.load(Ordering::Acquire) == forgotten;
        *known = Some((newest, trusted.then(Instant::now)));
        Ok(newest)
    }
}

/// Where `key` lives in `generation`.
pub(super) fn keyed(generation: u64, key: &str) -> Cow<'_, str> {
    if generation == 0 {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("~g{generation}:{key}"))
    }
}
