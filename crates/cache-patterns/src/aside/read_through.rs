//! Read-through: cache-aside with the loader bound to the cache, so callers
//! only ask for keys.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AsideError, CacheAside};
use cache_core::error::{BoxError, CacheError};

type BoundLoader<T> =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<(T, Duration), BoxError>> + Send + Sync>;

/// A [`CacheAside`] with its loader: `get(key)` returns the cached value or
/// loads it with the bound loader, with every protection of `CacheAside`
/// (one load per key at a time, soft/hard TTL, jitter, fail-open...).
/// Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::{sync::Arc, time::Duration};
/// use cache_memory::MemoryCache;
/// use cache_patterns::{aside::{CacheAside, ReadThrough}};
///
/// let aside = CacheAside::new(Arc::new(MemoryCache::new())).ttl(Duration::from_secs(3600));
/// let config = ReadThrough::new(aside, |key: String| async move {
///     // e.g. SELECT value FROM config WHERE name = $1
///     Ok::<_, std::io::Error>(format!("value of {key}"))
/// });
/// assert_eq!(config.get("config:feature-x").await?, "value of config:feature-x");
/// assert_eq!(config.get("config:feature-x").await?, "value of config:feature-x");
/// assert_eq!(config.aside().stats().loads, 1);
/// # Ok(()) }
/// ```
pub struct ReadThrough<T> {
    aside: CacheAside,
    loader: BoundLoader<T>,
}

impl<T> Clone for ReadThrough<T> {
    fn clone(&self) -> Self {
        ReadThrough {
            aside: self.aside.clone(),
            loader: Arc::clone(&self.loader),
        }
    }
}

impl<T> fmt::Debug for ReadThrough<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadThrough")
            .field("aside", &self.aside)
            .finish_non_exhaustive()
    }
}

impl<T> ReadThrough<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    /// Binds `loader` to `aside`; values are stored for the aside's
    /// [`ttl`](CacheAside::ttl).
    pub fn new<F, Fut, E>(aside: CacheAside, loader: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        let ttl = aside.default_ttl();
        let loader: BoundLoader<T> = Arc::new(move |key| {
            loader(key)
                .map(move |r| r.map(|v| (v, ttl)).map_err(|e| BoxError::from(e.into())))
                .boxed()
        });
        ReadThrough {
            aside: aside.labelled("read_through"),
            loader,
        }
    }

    /// Binds a loader that chooses each value's TTL from what it loaded.
    pub fn expiring<F, Fut, E>(aside: CacheAside, loader: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(T, Duration), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        let loader: BoundLoader<T> = Arc::new(move |key| {
            loader(key)
                .map(|r| r.map_err(|e| BoxError::from(e.into())))
                .boxed()
        });
        ReadThrough {
            aside: aside.labelled("read_through"),
            loader,
        }
    }

    /// The value of `key`, loaded by the bound loader on a miss.
    pub async fn get(&self, key: &str) -> Result<T, AsideError> {
        let loader = Arc::clone(&self.loader);
        let owned = key.to_owned();
        self.aside.fetch(key, move || loader(owned)).await
    }

    /// Removes `key` from the cache (the next `get` loads).
    pub async fn invalidate(&self, key: &str) -> Result<bool, CacheError> {
        self.aside.invalidate(key).await
    }

    /// The cache-aside underneath (its stats, its cache).
    pub fn aside(&self) -> &CacheAside {
        &self.aside
    }
}
