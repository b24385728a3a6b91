//! Typed access to any [`Cache`]: values go through the CBOR [`codec`]
//! (default [`CodecLimits`], or yours through [`TypedCacheExt::with_limits`])
//! on the way in and out.
//!
//! [`TypedCacheExt`] is implemented for every `C: Cache + ?Sized`, so it works
//! on a concrete backend, on `dyn Cache` and, through deref, on
//! `Arc<dyn Cache>`. Bring it into scope and call `get_as`, `set_as`...
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_memory::MemoryCache;
//! use cache_core::{Cache, TypedCacheExt};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Profile {
//!     id: u64,
//!     name: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
//! let ada = Profile { id: 1, name: "Ada".into() };
//! cache.set_as("user:1", &ada, Duration::from_secs(60)).await?;
//! let back: Option<Profile> = cache.get_as("user:1").await?;
//! assert_eq!(back, Some(ada));
//! assert_eq!(cache.get_as::<Profile>("user:2").await?, None);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::codec::{self, CodecLimits};
use crate::error::{CacheError, CodecError, Result};

/// Typed (CBOR) operations on top of the byte-level [`Cache`].
///
/// Every future is `Send`, so the methods can be awaited inside
/// `tokio::spawn`ed tasks. Encoding happens before the first await, so the
/// value passed in need not be `Sync`.
///
/// # Errors
/// Besides the errors of the underlying [`Cache`] call, a value that cannot be
/// encoded within the default limits, or a stored value that cannot be decoded
/// as `T`, is an [`ErrorKind::Codec`](crate::ErrorKind::Codec) error naming
/// the key. Nothing is written when encoding fails. For other limits, use
/// [`with_limits`](Self::with_limits).
pub trait TypedCacheExt: Cache {
    /// A view of this cache whose typed operations apply `limits` instead of
    /// the defaults, when encoding and when decoding (a `max_depth` beyond
    /// [`codec::MAX_DEPTH`] is clamped to it).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use cache_memory::MemoryCache;
    /// use cache_core::{ErrorKind, TypedCacheExt, codec::CodecLimits};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// let small = cache.with_limits(CodecLimits::default().with_max_elements(3));
    /// cache.set_as("list", &[1, 2, 3, 4], Duration::from_secs(60)).await?;
    /// let err = small.get_as::<Vec<u8>>("list").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Codec);
    /// assert_eq!(cache.get_as::<Vec<u8>>("list").await?, Some(vec![1, 2, 3, 4]));
    /// # Ok(())
    /// # }
    /// ```
    fn with_limits(&self, limits: CodecLimits) -> TypedCache<'_, Self> {
        TypedCache {
            cache: self,
            limits,
        }
    }

    /// The value at `key`, decoded as `T`; `None` on a miss.
    ///
    /// A stored value that is not a valid `T` (written by another type,
    /// another version, or not CBOR at all) is [`ErrorKind::Codec`](crate::ErrorKind::Codec) and is
    /// left in place.
    fn get_as<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send;

    /// Stores `value`, encoded as CBOR, at `key` for `ttl`.
    fn set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores `value` only if `key` holds nothing, atomically (see
    /// [`Cache::get_or_set`]).
    ///
    /// Returns the value now stored, decoded, and whether this call stored it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use cache_memory::MemoryCache;
    /// # use cache_core::TypedCacheExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// let ttl = Duration::from_secs(300);
    /// let charged = String::from("charged");
    /// let (first, stored) = cache.get_or_set_as("idem:42", &charged, ttl).await?;
    /// assert_eq!((first, stored), (charged.clone(), true));
    /// let (again, stored) = cache.get_or_set_as("idem:42", &"other".to_string(), ttl).await?;
    /// assert_eq!((again, stored), (charged, false));
    /// # Ok(())
    /// # }
    /// ```
    fn get_or_set_as<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<(T, bool)>> + Send;

    /// Replaces the value at `key` with `new` only if it currently equals
    /// `expected` (`None`: only if absent), atomically (see
    /// [`Cache::compare_and_set`]). Returns whether it did.
    ///
    /// The comparison is on the *encoded bytes*: `expected` is encoded and
    /// compared byte for byte with what is stored. CBOR encoding of the same
    /// value of the same type is deterministic, so this works when the stored
    /// value was written through this codec with the same type, and when the
    /// type's `Serialize` is itself deterministic: structs, enums, `Vec`,
    /// `BTreeMap` are; a `HashMap` or `HashSet` is not (its iteration order
    /// differs between instances). Floats compare by bit pattern (`0.0` and
    /// `-0.0` differ; the same `NaN` matches).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use cache_memory::MemoryCache;
    /// # use cache_core::TypedCacheExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// let ttl = Duration::from_secs(60);
    /// assert!(cache.compare_and_set_as("version", None, &1u32, ttl).await?);
    /// assert!(!cache.compare_and_set_as("version", Some(&7u32), &8u32, ttl).await?);
    /// assert!(cache.compare_and_set_as("version", Some(&1u32), &2u32, ttl).await?);
    /// assert_eq!(cache.get_as::<u32>("version").await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    fn compare_and_set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        expected: Option<&T>,
        new: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The values of `keys`, in order, decoded as `T`, `None` for each miss.
    ///
    /// One [`Cache::get_many`] call. If any stored value cannot be decoded as
    /// `T`, the whole call fails with [`ErrorKind::Codec`](crate::ErrorKind::Codec) (a silent `None`
    /// would hide a poisoned entry).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use cache_memory::MemoryCache;
    /// # use cache_core::TypedCacheExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::new();
    /// cache.set_as("price:1", &250u32, Duration::from_secs(60)).await?;
    /// let prices = cache.get_many_as::<u32>(&["price:1", "price:2"]).await?;
    /// assert_eq!(prices, vec![Some(250), None]);
    /// # Ok(())
    /// # }
    /// ```
    fn get_many_as<T: DeserializeOwned>(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Vec<Option<T>>>> + Send;
}

impl<C: Cache + ?Sized> TypedCacheExt for C {
    fn get_as<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        self.with_limits(CodecLimits::default()).get_as(key)
    }

    fn set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        self.with_limits(CodecLimits::default())
            .set_as(key, value, ttl)
    }

    fn get_or_set_as<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<(T, bool)>> + Send {
        self.with_limits(CodecLimits::default())
            .get_or_set_as(key, value, ttl)
    }

    fn compare_and_set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        expected: Option<&T>,
        new: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        self.with_limits(CodecLimits::default())
            .compare_and_set_as(key, expected, new, ttl)
    }

    fn get_many_as<T: DeserializeOwned>(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Vec<Option<T>>>> + Send {
        self.with_limits(CodecLimits::default()).get_many_as(keys)
    }
}

/// The typed operations of [`TypedCacheExt`] with chosen [`CodecLimits`]:
/// made by [`TypedCacheExt::with_limits`], cheap to copy, borrowing the cache.
///
/// Each method behaves like its namesake on [`TypedCacheExt`], with these
/// limits instead of the defaults on both the encoding and the decoding side.
pub struct TypedCache<'a, C: ?Sized> {
    cache: &'a C,
    limits: CodecLimits,
}

impl<C: ?Sized> Clone for TypedCache<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ?Sized> Copy for TypedCache<'_, C> {}

impl<C: ?Sized> std::fmt::Debug for TypedCache<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCache")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Cache + ?Sized> TypedCache<'a, C> {
    /// The limits this view applies.
    pub fn limits(&self) -> &CodecLimits {
        &self.limits
    }

    /// The cache this view reads and writes.
    pub fn cache(&self) -> &'a C {
        self.cache
    }

    /// See [`TypedCacheExt::get_as`].
    pub async fn get_as<T: DeserializeOwned>(self, key: &str) -> Result<Option<T>> {
        match self.cache.get(key).await? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// See [`TypedCacheExt::set_as`].
    pub fn set_as<T: Serialize + ?Sized>(
        self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        let encoded = self.encode(key, value);
        async move { self.cache.set(key, &encoded?, ttl).await }
    }

    /// See [`TypedCacheExt::get_or_set_as`].
    pub fn get_or_set_as<T: Serialize + DeserializeOwned>(
        self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<(T, bool)>> + Send {
        let encoded = self.encode(key, value);
        async move {
            let (stored, fresh) = self.cache.get_or_set(key, &encoded?, ttl).await?;
            Ok((self.decode(key, &stored)?, fresh))
        }
    }

    /// See [`TypedCacheExt::compare_and_set_as`].
    pub fn compare_and_set_as<T: Serialize + ?Sized>(
        self,
        key: &str,
        expected: Option<&T>,
        new: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        let expected = expected.map(|v| self.encode(key, v)).transpose();
        let new = self.encode(key, new);
        async move {
            let (expected, new) = (expected?, new?);
            self.cache
                .compare_and_set(key, expected.as_deref(), &new, ttl)
                .await
        }
    }

    /// See [`TypedCacheExt::get_many_as`].
    pub async fn get_many_as<T: DeserializeOwned>(self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let values = self.cache.get_many(keys).await?;
        values
            .iter()
            .zip(keys)
            .map(|(value, key)| value.as_ref().map(|v| self.decode(key, v)).transpose())
            .collect()
    }

    /// Encodes a value for `key` within the limits.
    fn encode<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<Vec<u8>> {
        codec::to_vec_with_limits(value, &self.limits)
            .map_err(|error| CacheError::from(error).with_key(key))
    }

    /// Decodes a stored value, noting which key held an undecodable one.
    fn decode<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Result<T> {
        codec::from_slice_with_limits(bytes, &self.limits).map_err(|error: CodecError| {
            tracing::debug!(key, %error, "stored value cannot be decoded");
            CacheError::from(error).with_key(key)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use bytes::Bytes;
    use serde::Deserialize;

    use super::*;
    use crate::cache::{KeyPage, RateDecision, RateLimitRule, ScanCursor, Subscription};
    use crate::error::Operation;
    use crate::stats::CacheStats;

    /// The smallest `Cache` the typed layer needs: a map behind a mutex. TTLs
    /// are ignored; the operations the typed layer never calls are refused.
    #[derive(Debug, Default)]
    struct MapCache {
        entries: Mutex<HashMap<String, Bytes>>,
    }

    impl MapCache {
        fn raw(&self, key: &str) -> Option<Bytes> {
            self.entries.lock().unwrap().get(key).cloned()
        }

        fn put_raw(&self, key: &str, value: &[u8]) {
            let value = Bytes::copy_from_slice(value);
            self.entries.lock().unwrap().insert(key.into(), value);
        }
    }

    fn unsupported<T>(op: Operation) -> Result<T> {
        Err(CacheError::unsupported(
            op,
            "not needed by the typed layer tests",
        ))
    }

    #[async_trait]
    impl Cache for MapCache {
        async fn get(&self, key: &str) -> Result<Option<Bytes>> {
            Ok(self.raw(key))
        }

        async fn set(&self, key: &str, value: &[u8], _ttl: Duration) -> Result<()> {
            self.put_raw(key, value);
            Ok(())
        }

        async fn delete(&self, key: &str) -> Result<bool> {
            Ok(self.entries.lock().unwrap().remove(key).is_some())
        }

        async fn get_or_set(
            &self,
            key: &str,
            value: &[u8],
            _ttl: Duration,
        ) -> Result<(Bytes, bool)> {
            let mut entries = self.entries.lock().unwrap();
            if let Some(existing) = entries.get(key) {
                return Ok((existing.clone(), false));
            }
            let value = Bytes::copy_from_slice(value);
            entries.insert(key.into(), value.clone());
            Ok((value, true))
        }

        async fn compare_and_set(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
            _ttl: Duration,
        ) -> Result<bool> {
            let mut entries = self.entries.lock().unwrap();
            if entries.get(key).map(|v| &v[..]) != expected {
                return Ok(false);
            }
            entries.insert(key.into(), Bytes::copy_from_slice(new));
            Ok(true)
        }

        async fn compare_and_delete(&self, _key: &str, _expected: &[u8]) -> Result<bool> {
            unsupported(Operation::CompareAndDelete)
        }

        async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
            Ok(keys.iter().map(|k| self.raw(k)).collect())
        }

        async fn set_many(&self, _entries: &[(&str, &[u8])], _ttl: Duration) -> Result<()> {
            unsupported(Operation::SetMany)
        }

        async fn delete_many(&self, _keys: &[&str]) -> Result<u64> {
            unsupported(Operation::DeleteMany)
        }

        async fn incr_by(&self, _key: &str, _delta: i64, _ttl: Duration) -> Result<i64> {
            unsupported(Operation::IncrBy)
        }

        async fn exists(&self, _keys: &[&str]) -> Result<u64> {
            unsupported(Operation::Exists)
        }

        async fn expire(&self, _key: &str, _ttl: Duration) -> Result<bool> {
            unsupported(Operation::Expire)
        }

        async fn persist(&self, _key: &str) -> Result<bool> {
            unsupported(Operation::Persist)
        }

        async fn ttl(&self, _key: &str) -> Result<crate::KeyTtl> {
            unsupported(Operation::Ttl)
        }

        async fn touch(&self, _keys: &[&str]) -> Result<u64> {
            unsupported(Operation::Touch)
        }

        async fn scan_keys(
            &self,
            _pattern: &str,
            _cursor: &ScanCursor,
            _count: usize,
        ) -> Result<KeyPage> {
            unsupported(Operation::ScanKeys)
        }

        async fn delete_pattern(&self, _pattern: &str) -> Result<u64> {
            unsupported(Operation::DeletePattern)
        }

        async fn rate_limit(&self, _key: &str, _rule: &RateLimitRule) -> Result<RateDecision> {
            unsupported(Operation::RateLimit)
        }

        async fn publish(&self, _channel: &str, _message: &[u8]) -> Result<u64> {
            unsupported(Operation::Publish)
        }

        async fn subscribe(&self, _channel: &str) -> Result<Subscription> {
            unsupported(Operation::Subscribe)
        }

        async fn health(&self) -> Result<()> {
            Ok(())
        }

        fn stats(&self) -> CacheStats {
            CacheStats::default()
        }

        async fn close(&self) -> Result<()> {
            Ok(())
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Session {
        user_id: u64,
        roles: Vec<String>,
    }

    fn session(user_id: u64) -> Session {
        Session {
            user_id,
            roles: vec!["reader".into()],
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn get_as_returns_what_set_as_stored() {
        let cache = MapCache::default();
        cache.set_as("s:1", &session(1), TTL).await.unwrap();
        assert_eq!(
            cache.get_as::<Session>("s:1").await.unwrap(),
            Some(session(1))
        );
    }

    #[tokio::test]
    async fn set_as_stores_the_codec_encoding() {
        let cache = MapCache::default();
        cache.set_as("s:1", &session(1), TTL).await.unwrap();
        assert_eq!(
            cache.raw("s:1").unwrap(),
            codec::to_vec(&session(1)).unwrap()
        );
    }

    #[tokio::test]
    async fn get_as_on_a_miss_is_none() {
        let cache = MapCache::default();
        assert_eq!(cache.get_as::<Session>("absent").await.unwrap(), None);
    }

    #[tokio::test]
    async fn get_as_on_an_undecodable_value_is_a_codec_error_and_keeps_it() {
        let cache = MapCache::default();
        cache.put_raw("s:1", b"\xFF\x00 not cbor");
        let err = cache.get_as::<Session>("s:1").await.unwrap_err();
        assert!(
            matches!(err.codec_error(), Some(CodecError::Malformed(_))),
            "{err:?}"
        );
        assert_eq!(err.key(), Some("s:1"));
        assert_eq!(cache.raw("s:1").unwrap(), &b"\xFF\x00 not cbor"[..]);
    }

    #[tokio::test]
    async fn get_as_with_the_wrong_type_is_a_decode_error() {
        let cache = MapCache::default();
        cache.set_as("s:1", &"just a string", TTL).await.unwrap();
        let err = cache.get_as::<Session>("s:1").await.unwrap_err();
        assert!(
            matches!(err.codec_error(), Some(CodecError::Decode(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn set_as_refuses_a_value_over_the_limits_and_writes_nothing() {
        let cache = MapCache::default();
        let too_many = vec![0u32; codec::DEFAULT_MAX_ELEMENTS + 1];
        let err = cache.set_as("big", &too_many, TTL).await.unwrap_err();
        assert!(
            matches!(err.codec_error(), Some(CodecError::TooManyElements { .. })),
            "{err:?}"
        );
        assert_eq!(cache.raw("big"), None);
    }

    #[tokio::test]
    async fn get_or_set_as_stores_when_absent() {
        let cache = MapCache::default();
        let (value, stored) = cache.get_or_set_as("s:1", &session(1), TTL).await.unwrap();
        assert_eq!((value, stored), (session(1), true));
        assert_eq!(
            cache.get_as::<Session>("s:1").await.unwrap(),
            Some(session(1))
        );
    }

    #[tokio::test]
    async fn get_or_set_as_returns_the_existing_value() {
        let cache = MapCache::default();
        cache.set_as("s:1", &session(1), TTL).await.unwrap();
        let (value, stored) = cache.get_or_set_as("s:1", &session(2), TTL).await.unwrap();
        assert_eq!((value, stored), (session(1), false));
    }

    #[tokio::test]
    async fn compare_and_set_as_with_none_only_sets_when_absent() {
        let cache = MapCache::default();
        assert!(
            cache
                .compare_and_set_as("lock", None, &1u8, TTL)
                .await
                .unwrap()
        );
        assert!(
            !cache
                .compare_and_set_as("lock", None, &2u8, TTL)
                .await
                .unwrap()
        );
        assert_eq!(cache.get_as::<u8>("lock").await.unwrap(), Some(1));
    }

    #[tokio::test]
    async fn compare_and_set_as_replaces_an_equal_value() {
        let cache = MapCache::default();
        cache.set_as("s:1", &session(1), TTL).await.unwrap();
        let swapped = cache
            .compare_and_set_as("s:1", Some(&session(1)), &session(2), TTL)
            .await
            .unwrap();
        assert!(swapped);
        assert_eq!(
            cache.get_as::<Session>("s:1").await.unwrap(),
            Some(session(2))
        );
    }

    #[tokio::test]
    async fn compare_and_set_as_leaves_a_different_value_alone() {
        let cache = MapCache::default();
        cache.set_as("s:1", &session(1), TTL).await.unwrap();
        let swapped = cache
            .compare_and_set_as("s:1", Some(&session(3)), &session(2), TTL)
            .await
            .unwrap();
        assert!(!swapped);
        assert_eq!(
            cache.get_as::<Session>("s:1").await.unwrap(),
            Some(session(1))
        );
    }

    #[tokio::test]
    async fn get_many_as_returns_values_in_order_with_none_for_misses() {
        let cache = MapCache::default();
        cache.set_as("a", &1u32, TTL).await.unwrap();
        cache.set_as("c", &3u32, TTL).await.unwrap();
        let values = cache.get_many_as::<u32>(&["a", "b", "c"]).await.unwrap();
        assert_eq!(values, vec![Some(1), None, Some(3)]);
    }

    #[tokio::test]
    async fn get_many_as_fails_when_one_value_is_undecodable() {
        let cache = MapCache::default();
        cache.set_as("a", &1u32, TTL).await.unwrap();
        cache.set_as("b", &"text", TTL).await.unwrap();
        let err = cache.get_many_as::<u32>(&["a", "b"]).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Codec, "{err:?}");
        assert_eq!(err.key(), Some("b"), "names the undecodable entry");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_as_takes_values_that_are_not_sync_inside_spawned_tasks() {
        let cache: Arc<dyn Cache> = Arc::new(MapCache::default());
        let writer = Arc::clone(&cache);
        tokio::spawn(async move {
            let counter = std::cell::Cell::new(5u32);
            writer.set_as("n", &counter, TTL).await
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(cache.get_as::<u32>("n").await.unwrap(), Some(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn works_on_arc_dyn_cache_inside_spawned_tasks() {
        let cache: Arc<dyn Cache> = Arc::new(MapCache::default());
        let writer = Arc::clone(&cache);
        tokio::spawn(async move { writer.set_as("s:1", &session(1), TTL).await })
            .await
            .unwrap()
            .unwrap();
        let reader = Arc::clone(&cache);
        let read = tokio::spawn(async move { reader.get_as::<Session>("s:1").await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, Some(session(1)));
    }

    #[tokio::test]
    async fn with_limits_applies_them_when_decoding_and_encoding() {
        let cache = MapCache::default();
        let small = cache.with_limits(CodecLimits::default().with_max_elements(3));
        assert_eq!(small.limits().max_elements, 3);
        cache.set_as("list", &[1u8, 2, 3, 4], TTL).await.unwrap();

        let err = small.get_as::<Vec<u8>>("list").await.unwrap_err();
        assert_eq!(
            err.codec_error(),
            Some(&CodecError::TooManyElements { count: 4, max: 3 })
        );
        let err = small.get_many_as::<Vec<u8>>(&["list"]).await.unwrap_err();
        assert!(err.codec_error().is_some(), "{err:?}");
        let err = small
            .set_as("other", &[1u8, 2, 3, 4], TTL)
            .await
            .unwrap_err();
        assert!(err.codec_error().is_some(), "{err:?}");
        assert_eq!(cache.raw("other"), None, "nothing written");
        let err = small
            .compare_and_set_as("list", Some(&[1u8, 2, 3, 4][..]), &[1u8][..], TTL)
            .await
            .unwrap_err();
        assert!(err.codec_error().is_some(), "{err:?}");
        let err = small
            .get_or_set_as("new", &vec![0u8; 4], TTL)
            .await
            .unwrap_err();
        assert!(err.codec_error().is_some(), "{err:?}");

        small.set_as("short", &[1u8, 2, 3], TTL).await.unwrap();
        assert_eq!(
            small.get_as::<Vec<u8>>("short").await.unwrap(),
            Some(vec![1, 2, 3])
        );
        // The defaults are unchanged on the cache itself.
        assert_eq!(
            cache.get_as::<Vec<u8>>("list").await.unwrap(),
            Some(vec![1, 2, 3, 4])
        );
    }

    /// `n` nested arrays around a `0`, as raw CBOR.
    fn nested(n: usize) -> Vec<u8> {
        let mut input = vec![0x81; n];
        input.push(0x00);
        input
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_deepest_allowed_value_decodes_in_a_spawned_task_and_deeper_is_an_error() {
        let cache = Arc::new(MapCache::default());
        cache.put_raw("at-max", &nested(codec::MAX_DEPTH));
        cache.put_raw("deeper", &nested(10_000));
        let reader = Arc::clone(&cache);
        let (at_max, deeper) = tokio::spawn(async move {
            let deep = reader.with_limits(CodecLimits::default().with_max_depth(10_000));
            let at_max = deep.get_as::<serde_json::Value>("at-max").await.map(drop);
            let deeper = deep.get_as::<serde_json::Value>("deeper").await.map(drop);
            (at_max, deeper)
        })
        .await
        .expect("no panic, no abort");
        at_max.unwrap();
        assert_eq!(
            deeper.unwrap_err().codec_error(),
            Some(&CodecError::TooDeep {
                max: codec::MAX_DEPTH
            })
        );
    }
}
