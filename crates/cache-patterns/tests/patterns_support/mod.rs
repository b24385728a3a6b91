//! Shared helpers of the `patterns_*` tests: a cache that can be made to
//! fail, a manual wall clock, and polling with a deadline.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{
    Cache, CacheError, CacheStats, KeyPage, Operation, RateDecision, RateLimitRule, Result,
    ScanCursor, Subscription, SubscriptionEvent,
};
use cache_memory::MemoryCache;
use cache_patterns::aside::Clock;
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Generous: the machine is small and shared.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds, failing the test after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A wall clock that moves only when told.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        ManualClock(Arc::new(AtomicU64::new(now)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let millis = Arc::clone(&self.0);
        Arc::new(move || {
            SystemTime::UNIX_EPOCH + Duration::from_millis(millis.load(Ordering::SeqCst))
        })
    }
}

/// A [`MemoryCache`] that fails every call with a connection error while
/// `failing` is set, and whose subscriptions the test can script.
#[derive(Debug)]
pub struct SwitchableCache {
    pub inner: MemoryCache,
    failing: AtomicBool,
    scripted: AtomicBool,
    feeds: Mutex<Vec<mpsc::Sender<SubscriptionEvent>>>,
}

impl SwitchableCache {
    pub fn new() -> Arc<Self> {
        Arc::new(SwitchableCache {
            inner: MemoryCache::new(),
            failing: AtomicBool::new(false),
            scripted: AtomicBool::new(false),
            feeds: Mutex::new(Vec::new()),
        })
    }

    /// From now on, subscriptions are fed by the test through [`Self::feed`]
    /// instead of by the backend.
    pub fn script_subscriptions(&self) {
        self.scripted.store(true, Ordering::SeqCst);
    }

    /// Sends `event` to every scripted subscription.
    pub async fn feed(&self, event: SubscriptionEvent) {
        let feeds: Vec<_> = self.feeds.lock().clone();
        for feed in feeds {
            let _ = feed.send(event.clone()).await;
        }
    }

    /// Ends every scripted subscription (as a closed backend does).
    pub fn end_subscriptions(&self) {
        self.feeds.lock().clear();
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self, op: Operation) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(CacheError::connection(
                "127.0.0.1:1",
                std::io::Error::other(format!("injected failure of {op}")),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Cache for SwitchableCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check(Operation::Get)?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.check(Operation::Set)?;
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.check(Operation::Delete)?;
        self.inner.delete(key).await
    }
    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        self.check(Operation::GetOrSet)?;
        self.inner.get_or_set(key, value, ttl).await
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        self.check(Operation::CompareAndSet)?;
        self.inner.compare_and_set(key, expected, new, ttl).await
    }
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.check(Operation::CompareAndDelete)?;
        self.inner.compare_and_delete(key, expected).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.check(Operation::GetMany)?;
        self.inner.get_many(keys).await
    }
    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        self.check(Operation::SetMany)?;
        self.inner.set_many(entries, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.check(Operation::DeleteMany)?;
        self.inner.delete_many(keys).await
    }
    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.check(Operation::IncrBy)?;
        self.inner.incr_by(key, delta, ttl).await
    }
    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        self.check(Operation::ScanKeys)?;
        self.inner.scan_keys(pattern, cursor, count).await
    }
    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        self.check(Operation::DeletePattern)?;
        self.inner.delete_pattern(pattern).await
    }
    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        self.check(Operation::RateLimit)?;
        self.inner.rate_limit(key, rule).await
    }
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.check(Operation::Publish)?;
        self.inner.publish(channel, message).await
    }
    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.check(Operation::Subscribe)?;
        if self.scripted.load(Ordering::SeqCst) {
            let (tx, rx) = mpsc::channel(16);
            self.feeds.lock().push(tx);
            return Ok(Subscription::new(channel, rx));
        }
        self.inner.subscribe(channel).await
    }
    async fn health(&self) -> Result<()> {
        self.check(Operation::Health)?;
        self.inner.health().await
    }
    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
