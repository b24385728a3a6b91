//! Shared helpers of the `patterns_*` tests: a cache that can be made to
//! fail, a manual wall clock, and polling with a deadline.
#![allow(dead_code, unreachable_pub)]

pub use cache_testing::wait::eventually;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use cache_core::{
    Cache, CacheError, CacheLayer, CallInfo, Next, Operation, Result, Subscription,
    SubscriptionEvent,
};
use cache_memory::MemoryCache;
use cache_patterns::aside::Clock;
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Generous: the machine is small and shared.
pub const DEADLINE: Duration = Duration::from_secs(20);

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

impl CacheLayer for SwitchableCache {
    type Inner = MemoryCache;

    fn inner(&self) -> &MemoryCache {
        &self.inner
    }

    /// Every call but `close` fails while `failing` is set.
    async fn around<T: Send>(&self, call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
        if call.op != Operation::Close {
            self.check(call.op)?;
        }
        next.await
    }

    async fn subscribe(this: &Self, channel: &str) -> Result<Subscription> {
        if this.scripted.load(Ordering::SeqCst) {
            let (tx, rx) = mpsc::channel(16);
            this.feeds.lock().push(tx);
            return Ok(Subscription::new(channel, rx));
        }
        this.inner.subscribe(channel).await
    }
}
