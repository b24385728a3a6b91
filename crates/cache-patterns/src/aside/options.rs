//! Per-call entry options (FusionCache's `FusionCacheEntryOptions`, the part
//! that is per entry): the TTL and the tags, for loads and for `set`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::clear::keyed;
use super::tags::checked_tags;
use super::{AsideError, CacheAside};
use cache_core::codec;
use cache_core::error::CacheError;

/// What one call stores: for how long, under which tags.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::{sync::Arc, time::Duration};
/// use cache_memory::MemoryCache;
/// use cache_patterns::aside::{CacheAside, EntryOptions};
///
/// let aside = CacheAside::new(Arc::new(MemoryCache::new()));
/// let options = EntryOptions::new(Duration::from_secs(300)).tags(["user:42", "org:7"]);
/// let name: String = aside
///     .get_or_load_with("user:42:name", &options, || async { Ok::<_, std::io::Error>("Ada".to_owned()) })
///     .await?;
/// assert_eq!(name, "Ada");
///
/// aside.invalidate_tag("org:7").await?; // every value tagged org:7 is a miss from now on
/// let reloaded: String = aside
///     .get_or_load_with("user:42:name", &options, || async { Ok::<_, std::io::Error>("Ada L.".to_owned()) })
///     .await?;
/// assert_eq!(reloaded, "Ada L.");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryOptions {
    /// The (hard) TTL.
    pub ttl: Duration,
    /// The tags ([`CacheAside::invalidate_tag`] drops every value carrying one).
    pub tags: Vec<String>,
}

impl EntryOptions {
    /// Options storing for `ttl`, untagged.
    pub fn new(ttl: Duration) -> Self {
        EntryOptions {
            ttl,
            tags: Vec::new(),
        }
    }

    /// Adds `tags` (at most [`MAX_TAGS`](super::MAX_TAGS) in all, each 1 to
    /// [`MAX_TAG_LEN`](super::MAX_TAG_LEN) bytes; checked by the call).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
}

impl CacheAside {
    /// This aside for one call with `options`' tags: itself when untagged,
    /// otherwise a copy that shares its flights, stats and caches.
    fn with_options(&self, options: &EntryOptions) -> Result<Cow<'_, CacheAside>, CacheError> {
        match checked_tags(&options.tags)? {
            None if self.tags.is_none() => Ok(Cow::Borrowed(self)),
            tags => {
                let mut tagged = self.clone();
                tagged.tags = tags;
                Ok(Cow::Owned(tagged))
            }
        }
    }

    /// [`get_or_load`](Self::get_or_load) with entry options: what the loader
    /// returns is stored for `options.ttl` under `options.tags`. A hit is
    /// taken only while none of the value's tags was invalidated. Concurrent
    /// calls for the key share one flight, whose tags are those of the call
    /// that runs it.
    ///
    /// # Errors
    /// As [`get_or_load`](Self::get_or_load), and
    /// [`ErrorKind::InvalidKey`](cache_core::ErrorKind::InvalidKey) for tags
    /// out of bounds. When the tags' stamps cannot be read, the loaded value
    /// is returned but not stored.
    pub async fn get_or_load_with<T, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<T, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        self.with_options(options)?
            .get_or_load(key, options.ttl, loader)
            .await
    }

    /// [`get_many_or_load`](Self::get_many_or_load) with entry options: every
    /// loaded value is stored under `options.tags`.
    ///
    /// # Errors
    /// As [`get_many_or_load`](Self::get_many_or_load) and
    /// [`get_or_load_with`](Self::get_or_load_with).
    pub async fn get_many_or_load_with<T, F, Fut, E>(
        &self,
        keys: &[&str],
        options: &EntryOptions,
        loader: F,
    ) -> Result<HashMap<String, T>, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        self.with_options(options)?
            .get_many_or_load(keys, options.ttl, loader)
            .await
    }

    /// Stores `value` at `key` for `options.ttl` under `options.tags`
    /// (FusionCache's `Set`), as a load would store it (soft TTL, jitter and
    /// eager-refresh envelope included), in the current generation.
    ///
    /// # Errors
    /// Tags out of bounds, a value that does not encode, and the cache's
    /// errors (reading the generation or the tags' stamps, or writing).
    pub async fn set<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        options: &EntryOptions,
    ) -> Result<(), CacheError> {
        let this = self.with_options(options)?;
        let generation = this.generation().await?;
        let key = keyed(generation, key);
        let stamps = this.tag_stamps().await?;
        let payload = codec::to_vec(value).map_err(|e| CacheError::from(e).with_key(&key))?;
        let (hard, soft) = this.expiries(options.ttl);
        let stored = this.stored_form(&payload, hard, soft, &stamps);
        this.cache.set(&key, &stored, hard).await?;
        this.wrote(&key);
        Ok(())
    }
}
