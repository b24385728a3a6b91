//! Write strategies: write-through, write-around and write-behind, over a
//! [`WriteStore`] (the system of record: a database, a service).
//!
//! | strategy | the store | the cache | for |
//! | --- | --- | --- | --- |
//! | [`WriteThrough`] | written first | then updated | data read soon after it is written |
//! | [`WriteAround`] | written first | then invalidated | bulk writes, data rarely read again soon |
//! | [`WriteBehind`] | written later, in batches | updated at once | high-frequency updates (metrics, counters) |
//!
//! Cache-aside and read-through, the read strategies, are in [`crate::aside`].
//! Values go to the cache as plain codec (CBOR) bytes, which
//! [`CacheAside`](crate::aside::CacheAside) and
//! [`TypedCacheExt::get_as`](cache_core::TypedCacheExt::get_as) read.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{collections::HashMap, sync::{Arc, Mutex}, time::Duration};
//! use cache_core::{Cache, TypedCacheExt};
//! use cache_memory::MemoryCache;
//! use cache_patterns::{write::{StoreError, WriteStore, WriteThrough}};
//!
//! #[derive(Default)]
//! struct Entries(Mutex<HashMap<String, String>>); // stands in for a database table
//!
//! #[async_trait::async_trait]
//! impl WriteStore<String> for Entries {
//!     async fn write(&self, key: &str, value: &String) -> Result<(), StoreError> {
//!         self.0.lock().unwrap().insert(key.to_owned(), value.clone());
//!         Ok(())
//!     }
//!     async fn delete(&self, key: &str) -> Result<(), StoreError> {
//!         self.0.lock().unwrap().remove(key);
//!         Ok(())
//!     }
//! }
//!
//! let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
//! let store = Arc::new(Entries::default());
//! let entries = WriteThrough::new(cache.clone(), store.clone(), Duration::from_secs(300));
//! entries.write("entry:1", &"pix-key".to_owned()).await?;
//! assert_eq!(store.0.lock().unwrap()["entry:1"], "pix-key");
//! assert_eq!(cache.get_as::<String>("entry:1").await?.as_deref(), Some("pix-key"));
//! # Ok(()) }
//! ```

mod behind;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

pub use behind::{WhenFull, WriteBehind, WriteBehindBuilder, WriteBehindStats};

use cache_core::cache::Cache;
use cache_core::codec;
use cache_core::error::{BoxError, CacheError};
use cache_core::metrics::{self, labels, names};

/// The error a [`WriteStore`] returns.
pub type StoreError = Box<dyn StdError + Send + Sync>;

/// One change for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOp<T> {
    /// Write this value.
    Put(T),
    /// Delete the key.
    Delete,
}

/// A change for one key, as [`WriteStore::write_batch`] receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingWrite<T> {
    /// The key.
    pub key: String,
    /// The change.
    pub op: WriteOp<T>,
}

impl<T> PendingWrite<T> {
    /// A change for `key`.
    pub fn new(key: impl Into<String>, op: WriteOp<T>) -> Self {
        PendingWrite {
            key: key.into(),
            op,
        }
    }
}

/// The system of record behind a write strategy.
#[async_trait]
pub trait WriteStore<T: Send + Sync>: Send + Sync {
    /// Writes `value` at `key`.
    async fn write(&self, key: &str, value: &T) -> Result<(), StoreError>;

    /// Deletes `key`; an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Applies a batch (write-behind), at most one change per key, oldest
    /// first. The default applies them one by one; override it with a
    /// multi-row statement or a transaction. An error means the whole batch
    /// is retried, so applying a change twice must be harmless (an upsert).
    async fn write_batch(&self, batch: &[PendingWrite<T>]) -> Result<(), StoreError> {
        for change in batch {
            match &change.op {
                WriteOp::Put(value) => self.write(&change.key, value).await?,
                WriteOp::Delete => self.delete(&change.key).await?,
            }
        }
        Ok(())
    }
}

/// A failure of a write strategy.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The store refused the write; the cache was left alone.
    #[error("the store failed to write key {key:?}")]
    Store {
        /// The key.
        key: String,
        /// The store's error.
        #[source]
        source: BoxError,
    },
    /// The cache failed (for write-around: after the store succeeded, so the
    /// cache may still serve the previous value until its TTL).
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The write-behind queue is full and the policy is [`WhenFull::Reject`].
    /// Nothing was queued.
    #[error("the write-behind queue is full ({capacity} keys pending); the write was not accepted")]
    QueueFull {
        /// The queue's capacity in keys.
        capacity: usize,
    },
    /// The write-behind queue was shut down; the write was not accepted.
    #[error("the write-behind queue is shut down; the write was not accepted")]
    ShutDown,
    /// Accepted writes that could not be flushed to the store after every
    /// retry. They are kept: a later flush retries them, and after shutdown
    /// [`WriteBehind::take_unflushed`] hands them over.
    #[error("{count} accepted writes could not be flushed to the store")]
    Unflushed {
        /// How many writes are still pending.
        count: usize,
        /// The store's last error.
        #[source]
        source: BoxError,
    },
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WriteError> {
    codec::to_vec(value).map_err(|e| WriteError::Cache(CacheError::from(e)))
}

/// Write-through: the store first, then the cache. A store failure leaves
/// the cache untouched; a cache failure after a successful store write
/// removes the key instead (so the cache never serves the old value), and is
/// an error only if even that fails. Cheap to clone.
pub struct WriteThrough<T> {
    cache: Arc<dyn Cache>,
    store: Arc<dyn WriteStore<T>>,
    ttl: Duration,
}

impl<T> Clone for WriteThrough<T> {
    fn clone(&self) -> Self {
        WriteThrough {
            cache: Arc::clone(&self.cache),
            store: Arc::clone(&self.store),
            ttl: self.ttl,
        }
    }
}

impl<T> fmt::Debug for WriteThrough<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteThrough")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + Send + Sync + 'static> WriteThrough<T> {
    /// Writes to `store` and `cache`, caching values for `ttl`.
    pub fn new(cache: Arc<dyn Cache>, store: Arc<dyn WriteStore<T>>, ttl: Duration) -> Self {
        WriteThrough { cache, store, ttl }
    }

    /// Writes `value` to the store, then to the cache.
    pub async fn write(&self, key: &str, value: &T) -> Result<(), WriteError> {
        counted("write_through", async {
            // Encode first: a value the cache cannot hold fails before any write.
            let encoded = encode(value)?;
            self.store
                .write(key, value)
                .await
                .map_err(|e| store_error(key, e))?;
            if let Err(e) = self.cache.set(key, &encoded, self.ttl).await {
                tracing::warn!(key, error = %e, "write-through: caching failed after the store write; invalidating");
                self.cache.delete(key).await.map_err(|_| e)?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes `key` from the store, then from the cache.
    pub async fn delete(&self, key: &str) -> Result<(), WriteError> {
        delete_from_both(&*self.store, &*self.cache, key).await
    }
}

/// Write-around: the store first, then the key is invalidated, so the next
/// read (cache-aside) loads the new value. Nothing is cached by the write:
/// bulk writes do not push hot entries out. Cheap to clone.
pub struct WriteAround<T> {
    cache: Arc<dyn Cache>,
    store: Arc<dyn WriteStore<T>>,
    _values: PhantomData<fn(T)>,
}

impl<T> Clone for WriteAround<T> {
    fn clone(&self) -> Self {
        WriteAround {
            cache: Arc::clone(&self.cache),
            store: Arc::clone(&self.store),
            _values: PhantomData,
        }
    }
}

impl<T> fmt::Debug for WriteAround<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteAround").finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> WriteAround<T> {
    /// Writes to `store` and invalidates in `cache`.
    pub fn new(cache: Arc<dyn Cache>, store: Arc<dyn WriteStore<T>>) -> Self {
        WriteAround {
            cache,
            store,
            _values: PhantomData,
        }
    }

    /// Writes `value` to the store, then removes `key` from the cache.
    pub async fn write(&self, key: &str, value: &T) -> Result<(), WriteError> {
        counted("write_around", async {
            self.store
                .write(key, value)
                .await
                .map_err(|e| store_error(key, e))?;
            self.cache.delete(key).await?;
            Ok(())
        })
        .await
    }

    /// Deletes `key` from the store, then from the cache.
    pub async fn delete(&self, key: &str) -> Result<(), WriteError> {
        delete_from_both(&*self.store, &*self.cache, key).await
    }
}

/// Counts one write of `strategy` in `cache.write.requests`: `ok` or `error`.
async fn counted(
    strategy: &'static str,
    write: impl Future<Output = Result<(), WriteError>>,
) -> Result<(), WriteError> {
    let result = write.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    let labels = [(labels::STRATEGY, strategy), (labels::OUTCOME, outcome)];
    metrics::count(names::WRITE_REQUESTS, &labels);
    result
}

fn store_error(key: &str, source: StoreError) -> WriteError {
    WriteError::Store {
        key: key.to_owned(),
        source: BoxError::from(source),
    }
}

/// A delete of write-through and write-around: the store first (the source
/// of truth), then the cache, so a read in between reloads at worst.
async fn delete_from_both<T: Send + Sync>(
    store: &dyn WriteStore<T>,
    cache: &dyn Cache,
    key: &str,
) -> Result<(), WriteError> {
    store.delete(key).await.map_err(|e| store_error(key, e))?;
    cache.delete(key).await?;
    Ok(())
}
