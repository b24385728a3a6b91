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

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

use super::CacheAside;
use cache_core::error::{CacheError, Operation};

/// Where a clearable [`CacheAside`] keeps its generation number.
pub const GENERATION_KEY: &str = "__aside:generation";

/// The generation key's TTL, renewed by every clear: far beyond any value's
/// TTL, so an old generation never comes back.
const GENERATION_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// The last generation read or written, and when.
#[derive(Debug, Default)]
pub(super) struct Generation(parking_lot::Mutex<Option<(u64, Instant)>>);

impl CacheAside {
    /// Makes [`clear`](Self::clear) available: keys carry a generation
    /// number, re-read from the cache at most every `reread` (zero: on every
    /// call, one more round trip each).
    pub fn clearable(mut self, reread: Duration) -> Self {
        self.clear_reread = Some(reread);
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
        *self.shared.generation.0.lock() = Some((next, Instant::now()));
        Ok(())
    }

    /// The current generation (0 when not clearable).
    pub(super) async fn generation(&self) -> Result<u64, CacheError> {
        let Some(reread) = self.clear_reread else {
            return Ok(0);
        };
        if let Some((known, at)) = *self.shared.generation.0.lock()
            && at.elapsed() < reread
        {
            return Ok(known);
        }
        let stored = self.cache.get(GENERATION_KEY).await?;
        let generation = match stored {
            None => 0,
            Some(text) => std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| CacheError::wrong_type(GENERATION_KEY, "a generation number"))?,
        };
        let mut known = self.shared.generation.0.lock();
        // Never step back to an older generation read concurrently.
        let newest = known.map_or(generation, |(k, _)| k.max(generation));
        *known = Some((newest, Instant::now()));
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
