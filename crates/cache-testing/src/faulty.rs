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

use cache_core::{Cache, CacheError, CacheLayer, CallInfo, Next, Operation, Result};
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

/// Every call but `stats` first sleeps its latency and may fail, as planned.
impl<C: Cache + ?Sized> CacheLayer for FaultyCache<C> {
    type Inner = C;

    fn inner(&self) -> &C {
        &self.inner
    }

    async fn around<T: Send>(&self, call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
        self.before(call.op).await?;
        next.await
    }
}
