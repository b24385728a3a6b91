//! [`FaultyCache`]: wraps any cache and injects failures and latency, for
//! testing how callers degrade (fail-open reads, retries, timeouts).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::{Cache, Operation};
//! use cache_testing::{fakes::MemoryCache, faulty::FaultyCache};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = FaultyCache::new(Arc::new(MemoryCache::new()));
//! cache.fail_next(2);
//! assert!(cache.set("k", b"v", Duration::from_secs(1)).await.unwrap_err().is_transient());
//! assert!(cache.get("k").await.is_err());
//! cache.set("k", b"v", Duration::from_secs(1)).await.unwrap(); // passes through again
//!
//! cache.fail_operation(Operation::Get);
//! assert!(cache.get("k").await.is_err());
//! assert_eq!(cache.injected_faults(), 3);
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{
    Cache, CacheError, CacheStats, KeyPage, Operation, RateDecision, RateLimitRule, Result,
    ScanCursor, Subscription,
};
use parking_lot::Mutex;

/// The address named by the default injected error.
pub const FAULT_ADDR: &str = "fault-injection";

/// The error injected unless [`FaultyCache::set_error`] chose another: a
/// [`ErrorKind::Connection`](cache_core::ErrorKind::Connection) to [`FAULT_ADDR`], which is transient.
pub fn default_fault() -> CacheError {
    CacheError::connection(
        FAULT_ADDR,
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "injected fault"),
    )
}

/// What to inject.
#[derive(Debug)]
struct Plan {
    /// Calls of any operation still to fail.
    fail_next: u64,
    /// Operations that fail on every call.
    failing: BTreeSet<Operation>,
    /// The error injected.
    error: CacheError,
    /// Delay before every call.
    latency: Duration,
    /// Delay before calls of one operation (instead of `latency`).
    op_latency: BTreeMap<Operation, Duration>,
    /// Faults injected so far, by operation.
    injected: BTreeMap<Operation, u64>,
}

/// A cache that fails or slows calls on demand and passes the rest to the
/// cache it wraps. See the [module docs](self).
///
/// Every decision is taken when a call starts, in call order: with
/// `fail_next(2)`, the first two calls to start fail. Latency is slept
/// (`tokio::time::sleep`) before the call fails or passes through, so it
/// also follows paused tokio time.
pub struct FaultyCache<C: ?Sized = dyn Cache> {
    inner: Arc<C>,
    plan: Mutex<Plan>,
}

impl<C: ?Sized + fmt::Debug> fmt::Debug for FaultyCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyCache")
            .field("inner", &self.inner)
            .field("plan", &*self.plan.lock())
            .finish()
    }
}

impl<C: Cache + ?Sized> FaultyCache<C> {
    /// Wraps `inner`, injecting nothing until told to.
    pub fn new(inner: Arc<C>) -> Self {
        FaultyCache {
            inner,
            plan: Mutex::new(Plan {
                fail_next: 0,
                failing: BTreeSet::new(),
                error: default_fault(),
                latency: Duration::ZERO,
                op_latency: BTreeMap::new(),
                injected: BTreeMap::new(),
            }),
        }
    }

    /// The wrapped cache (calls on it bypass the faults).
    pub fn inner(&self) -> &Arc<C> {
        &self.inner
    }

    /// Fails the next `n` calls, whatever their operation (replacing any count left).
    pub fn fail_next(&self, n: u64) {
        self.plan.lock().fail_next = n;
    }

    /// Fails every call of `op` until [`pass_operation`](Self::pass_operation) or [`heal`](Self::heal).
    pub fn fail_operation(&self, op: Operation) {
        self.plan.lock().failing.insert(op);
    }

    /// Stops failing every call of `op`.
    pub fn pass_operation(&self, op: Operation) {
        self.plan.lock().failing.remove(&op);
    }

    /// Injects `error` from now on (default: [`default_fault`]).
    pub fn set_error(&self, error: CacheError) {
        self.plan.lock().error = error;
    }

    /// Sleeps `latency` before every call (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        self.plan.lock().latency = latency;
    }

    /// Sleeps `latency` before calls of `op`, instead of the general latency.
    pub fn set_operation_latency(&self, op: Operation, latency: Duration) {
        self.plan.lock().op_latency.insert(op, latency);
    }

    /// Stops injecting anything (the counters stay; the error goes back to the default).
    pub fn heal(&self) {
        let mut plan = self.plan.lock();
        plan.fail_next = 0;
        plan.failing.clear();
        plan.error = default_fault();
        plan.latency = Duration::ZERO;
        plan.op_latency.clear();
    }

    /// Faults injected so far.
    pub fn injected_faults(&self) -> u64 {
        self.plan.lock().injected.values().sum()
    }

    /// Faults injected so far into calls of `op`.
    pub fn injected_faults_for(&self, op: Operation) -> u64 {
        self.plan.lock().injected.get(&op).copied().unwrap_or(0)
    }

    /// Decides this call's fate, sleeps its latency, and returns the
    /// injected error, if any.
    async fn before(&self, op: Operation) -> Result<()> {
        let (latency, fault) = {
            let mut plan = self.plan.lock();
            let fail = if plan.fail_next > 0 {
                plan.fail_next -= 1;
                true
            } else {
                plan.failing.contains(&op)
            };
            let fault = fail.then(|| {
                *plan.injected.entry(op).or_default() += 1;
                plan.error.clone()
            });
            let latency = plan.op_latency.get(&op).copied().unwrap_or(plan.latency);
            (latency, fault)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Some(e) => {
                tracing::debug!(op = %op, "injecting a fault");
                Err(e)
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl<C: Cache + ?Sized> Cache for FaultyCache<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.before(Operation::Get).await?;
        self.inner.get(key).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.before(Operation::Set).await?;
        self.inner.set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.before(Operation::Delete).await?;
        self.inner.delete(key).await
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        self.before(Operation::GetOrSet).await?;
        self.inner.get_or_set(key, value, ttl).await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        self.before(Operation::CompareAndSet).await?;
        self.inner.compare_and_set(key, expected, new, ttl).await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.before(Operation::CompareAndDelete).await?;
        self.inner.compare_and_delete(key, expected).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.before(Operation::GetMany).await?;
        self.inner.get_many(keys).await
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        self.before(Operation::SetMany).await?;
        self.inner.set_many(entries, ttl).await
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.before(Operation::DeleteMany).await?;
        self.inner.delete_many(keys).await
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.before(Operation::IncrBy).await?;
        self.inner.incr_by(key, delta, ttl).await
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        self.before(Operation::ScanKeys).await?;
        self.inner.scan_keys(pattern, cursor, count).await
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        self.before(Operation::DeletePattern).await?;
        self.inner.delete_pattern(pattern).await
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        self.before(Operation::RateLimit).await?;
        self.inner.rate_limit(key, rule).await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.before(Operation::Publish).await?;
        self.inner.publish(channel, message).await
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.before(Operation::Subscribe).await?;
        self.inner.subscribe(channel).await
    }

    async fn health(&self) -> Result<()> {
        self.before(Operation::Health).await?;
        self.inner.health().await
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    async fn close(&self) -> Result<()> {
        self.before(Operation::Close).await?;
        self.inner.close().await
    }
}
