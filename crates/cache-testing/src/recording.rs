//! [`RecordingCache`]: wraps a cache and records every call, for asserting
//! what a caller did (which keys, which TTL, in what order).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::{Cache, ErrorKind, Operation};
//! use cache_testing::{fakes::MemoryCache, recording::RecordingCache};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = RecordingCache::new(Arc::new(MemoryCache::new()));
//! let _ = cache.get("user:1").await;
//! cache.set("user:1", b"alice", Duration::from_secs(60)).await.unwrap();
//!
//! let calls = cache.calls();
//! assert_eq!(calls[0].op, Operation::Get);
//! assert_eq!(calls[0].outcome, Ok(())); // a miss is not an error
//! assert_eq!(calls[1].keys, ["user:1"]);
//! assert_eq!(calls[1].ttl, Some(Duration::from_secs(60)));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{
    Cache, CacheStats, ErrorKind, KeyPage, Operation, RateDecision, RateLimitRule, Result,
    ScanCursor, Subscription,
};
use parking_lot::Mutex;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// The operation.
    pub op: Operation,
    /// The keys it named, in order: the key, the batch's keys, the pattern
    /// of `scan_keys` / `delete_pattern`, or the channel of `publish` /
    /// `subscribe`. Empty for `health` and `close`.
    pub keys: Vec<String>,
    /// The TTL passed, for calls that take one (a rate limit's window).
    pub ttl: Option<Duration>,
    /// `Ok(())`, or the kind of the error it returned.
    pub outcome: std::result::Result<(), ErrorKind>,
}

/// A cache that records every call and passes it to the cache it wraps.
/// See the [module docs](self).
pub struct RecordingCache<C: ?Sized = dyn Cache> {
    inner: Arc<C>,
    calls: Mutex<Vec<Call>>,
}

impl<C: ?Sized + fmt::Debug> fmt::Debug for RecordingCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingCache")
            .field("inner", &self.inner)
            .field("calls", &self.calls.lock().len())
            .finish()
    }
}

impl<C: Cache + ?Sized> RecordingCache<C> {
    /// Wraps `inner` with an empty record.
    pub fn new(inner: Arc<C>) -> Self {
        RecordingCache {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped cache (calls on it are not recorded).
    pub fn inner(&self) -> &Arc<C> {
        &self.inner
    }

    /// Every call so far, in the order they finished.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    /// The calls of `op`, in order.
    pub fn calls_of(&self, op: Operation) -> Vec<Call> {
        self.calls
            .lock()
            .iter()
            .filter(|c| c.op == op)
            .cloned()
            .collect()
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: Operation) -> usize {
        self.calls.lock().iter().filter(|c| c.op == op).count()
    }

    /// Forgets every recorded call.
    pub fn clear(&self) {
        self.calls.lock().clear();
    }

    fn record<T>(
        &self,
        op: Operation,
        keys: impl IntoIterator<Item = impl Into<String>>,
        ttl: Option<Duration>,
        result: Result<T>,
    ) -> Result<T> {
        self.calls.lock().push(Call {
            op,
            keys: keys.into_iter().map(Into::into).collect(),
            ttl,
            outcome: result.as_ref().map(drop).map_err(|e| e.kind()),
        });
        result
    }
}

const NO_KEYS: [&str; 0] = [];

#[async_trait]
impl<C: Cache + ?Sized> Cache for RecordingCache<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let r = self.inner.get(key).await;
        self.record(Operation::Get, [key], None, r)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let r = self.inner.set(key, value, ttl).await;
        self.record(Operation::Set, [key], Some(ttl), r)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let r = self.inner.delete(key).await;
        self.record(Operation::Delete, [key], None, r)
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        let r = self.inner.get_or_set(key, value, ttl).await;
        self.record(Operation::GetOrSet, [key], Some(ttl), r)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let r = self.inner.compare_and_set(key, expected, new, ttl).await;
        self.record(Operation::CompareAndSet, [key], Some(ttl), r)
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let r = self.inner.compare_and_delete(key, expected).await;
        self.record(Operation::CompareAndDelete, [key], None, r)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let r = self.inner.get_many(keys).await;
        self.record(Operation::GetMany, keys.iter().copied(), None, r)
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let r = self.inner.set_many(entries, ttl).await;
        self.record(
            Operation::SetMany,
            entries.iter().map(|(k, _)| *k),
            Some(ttl),
            r,
        )
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let r = self.inner.delete_many(keys).await;
        self.record(Operation::DeleteMany, keys.iter().copied(), None, r)
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let r = self.inner.incr_by(key, delta, ttl).await;
        self.record(Operation::IncrBy, [key], Some(ttl), r)
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let r = self.inner.scan_keys(pattern, cursor, count).await;
        self.record(Operation::ScanKeys, [pattern], None, r)
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let r = self.inner.delete_pattern(pattern).await;
        self.record(Operation::DeletePattern, [pattern], None, r)
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        let r = self.inner.rate_limit(key, rule).await;
        self.record(Operation::RateLimit, [key], Some(rule.window), r)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        let r = self.inner.publish(channel, message).await;
        self.record(Operation::Publish, [channel], None, r)
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let r = self.inner.subscribe(channel).await;
        self.record(Operation::Subscribe, [channel], None, r)
    }

    async fn health(&self) -> Result<()> {
        let r = self.inner.health().await;
        self.record(Operation::Health, NO_KEYS, None, r)
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    async fn close(&self) -> Result<()> {
        let r = self.inner.close().await;
        self.record(Operation::Close, NO_KEYS, None, r)
    }
}
