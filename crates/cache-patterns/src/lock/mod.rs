//! Distributed locks on any [`Cache`]: random tokens, safe release, extension,
//! a watchdog, fencing tokens.
//!
//! A lock is a key holding a fresh random 128-bit token, written with
//! `compare_and_set(key, None, token, ttl)` ("only if absent"), so exactly one
//! caller holds it until it releases it or its TTL runs out.
//!
//! - **Release** is `compare_and_delete(key, token)`: a holder whose TTL ran
//!   out can never delete the lock of the next holder (the reference design's
//!   plain `DEL` does exactly that).
//! - **Extension** is `compare_and_set(Some(token), token, ttl)`: it succeeds
//!   only while the lock is still held by this token, so an expired lock
//!   cannot be revived.
//! - **Watchdog** (optional): a task that keeps extending while the guard
//!   lives, up to a cap on the total hold time, so a holder that crashed or
//!   hangs forever does not hold the lock forever.
//! - **Fencing tokens** (optional): a number that grows with every
//!   acquisition (`incr_by` on a sibling key), for callers that write to a
//!   store which can reject writes carrying an older number than it has seen.
//!   A lock alone cannot protect a store from a holder that paused past its
//!   TTL; a fencing token can.
//! - **Drop** releases on a detached task with a timeout, so a cancelled or
//!   panicking holder still frees the lock promptly instead of after its TTL.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::{sync::Arc, time::Duration};
//! use cache_memory::MemoryCache;
//! use cache_patterns::lock::DistributedLock;
//!
//! let cache = Arc::new(MemoryCache::new());
//! let locks = DistributedLock::new(cache).wait(Duration::from_secs(1));
//!
//! // Scoped: acquired, run, released (a busy lock is `CasFailed` after the wait).
//! let total = locks
//!     .with_lock("order:create:42", Duration::from_secs(10), |_| async { 2 + 2 })
//!     .await?;
//! assert_eq!(total, 4);
//!
//! // Manual: the guard releases on `release()` or, failing that, on drop.
//! let guard = locks.try_acquire("payment:7", Duration::from_secs(10)).await?.expect("free");
//! assert!(locks.try_acquire("payment:7", Duration::from_secs(10)).await?.is_none());
//! assert!(guard.release().await?);
//! assert_eq!(locks.stats().contended, 1);
//! # Ok(()) }
//! ```

mod guard;
mod local;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub use guard::LockGuard;

use self::local::LocalWaiters;
use cache_core::cache::Cache;
use cache_core::error::{CacheError, Result};
use cache_core::metrics::{self, labels, names};
use cache_core::ttl::{MAX_TTL, normalize_ttl};

/// The backoff between attempts while waiting (the one shared by the whole
/// framework; re-exported here, where the patterns that wait configure it).
pub use cache_core::backoff::Backoff;

/// A fresh random 128-bit token, as 32 lowercase hex characters (readable in
/// `redis-cli`, unique per acquisition).
pub(crate) fn random_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Lock counters since the [`DistributedLock`] was built (shared by its clones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStats {
    /// Acquisitions that succeeded.
    pub acquired: u64,
    /// Attempts that found the lock held by someone else (contention).
    pub contended: u64,
    /// Waits that gave up because the wait ran out.
    pub timed_out: u64,
    /// Releases that deleted this holder's lock.
    pub released: u64,
    /// Releases that found the lock no longer held by this holder (its TTL had
    /// run out): the protected section may have overlapped with another holder.
    pub lost: u64,
    /// Successful extensions (by hand or by the watchdog). The check that
    /// fencing makes right after acquiring is not one.
    pub extended: u64,
}

#[derive(Debug, Default)]
struct LockCounters {
    acquired: AtomicU64,
    contended: AtomicU64,
    timed_out: AtomicU64,
    released: AtomicU64,
    lost: AtomicU64,
    extended: AtomicU64,
}

/// The metric a [`LockCounters`] count also feeds: a name and its labels.
type LockMetric = (&'static str, &'static [(&'static str, &'static str)]);

const ACQUIRED: LockMetric = (names::LOCK_ACQUISITIONS, &[(labels::OUTCOME, "acquired")]);
const TIMED_OUT: LockMetric = (names::LOCK_ACQUISITIONS, &[(labels::OUTCOME, "timeout")]);
const CONTENDED: LockMetric = (names::LOCK_CONTENTION, &[]);
const LOST: LockMetric = (names::LOCK_LOST, &[]);
const EXTENDED: LockMetric = (names::LOCK_EXTENSIONS, &[(labels::OUTCOME, "ok")]);
/// Releases are in the stats only.
const RELEASED: LockMetric = ("", &[]);

impl LockCounters {
    fn bump(counter: &AtomicU64, (name, labels): LockMetric) {
        counter.fetch_add(1, Ordering::Relaxed);
        if !name.is_empty() {
            metrics::count(name, labels);
        }
    }

    fn snapshot(&self) -> LockStats {
        LockStats {
            acquired: self.acquired.load(Ordering::Relaxed),
            contended: self.contended.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            extended: self.extended.load(Ordering::Relaxed),
        }
    }
}

/// What [`DistributedLock::with_lock`] tells the protected section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockInfo {
    /// The lock's key in the cache (prefix included).
    pub key: String,
    /// The fencing token of this acquisition, when fencing is on.
    pub fencing_token: Option<u64>,
}

/// A factory of distributed locks over one cache. Cheap to clone; clones
/// share their [`LockStats`].
#[derive(Debug, Clone)]
pub struct DistributedLock {
    cache: Arc<dyn Cache>,
    prefix: String,
    wait: Duration,
    backoff: Backoff,
    watchdog_cap: Option<Duration>,
    fencing: bool,
    release_timeout: Duration,
    counters: Arc<LockCounters>,
    local: Arc<LocalWaiters>,
}

impl DistributedLock {
    /// Locks on `cache` with the defaults: key prefix `lock:`, no waiting in
    /// [`with_lock`](Self::with_lock) (try once), the default [`Backoff`], no
    /// watchdog, no fencing, a 2 s timeout for releases on drop.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        DistributedLock {
            cache,
            prefix: "lock:".to_owned(),
            wait: Duration::ZERO,
            backoff: Backoff::default(),
            watchdog_cap: None,
            fencing: false,
            release_timeout: Duration::from_secs(2),
            counters: Arc::default(),
            local: Arc::default(),
        }
    }

    cache_core::setters! {
        /// The prefix put before every lock key (default `lock:`).
        prefix: impl Into<String> => into;

        /// How long [`with_lock`](Self::with_lock) waits for a busy lock (default
        /// zero: try once).
        wait: Duration;

        /// The backoff between attempts while waiting.
        backoff: Backoff;
    }

    /// Turns the watchdog on: while a guard lives, its lock is extended every
    /// third of its TTL, but never past `cap` after the acquisition.
    pub fn watchdog(mut self, cap: Duration) -> Self {
        self.watchdog_cap = Some(cap);
        self
    }

    cache_core::setters! {
        /// Turns fencing tokens on (one extra `incr_by` and one check per acquisition).
        fencing: bool;

        /// How long the release that a dropped guard starts may take (default 2 s).
        release_timeout: Duration;
    }

    /// Counters since this lock factory was built.
    pub fn stats(&self) -> LockStats {
        self.counters.snapshot()
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Tries once. `Ok(None)` when the lock is held by someone else.
    pub async fn try_acquire(&self, key: &str, ttl: Duration) -> Result<Option<LockGuard>> {
        let ttl = normalize_ttl(ttl)?;
        let lock_key = self.lock_key(key);
        let token = random_token();
        if !self
            .cache
            .compare_and_set(&lock_key, None, token.as_bytes(), ttl)
            .await?
        {
            LockCounters::bump(&self.counters.contended, CONTENDED);
            tracing::debug!(key = %lock_key, "lock is held by another owner");
            return Ok(None);
        }
        // The guard exists from here on, so a cancellation or an error below
        // still releases the lock.
        let mut guard = LockGuard {
            cache: Arc::clone(&self.cache),
            key: lock_key,
            token,
            ttl,
            fencing_token: None,
            released: false,
            watchdog: None,
            lost: Arc::new(AtomicBool::new(false)),
            release_timeout: self.release_timeout,
            counters: Arc::clone(&self.counters),
            local: Arc::clone(&self.local),
        };
        if self.fencing {
            let fence_key = format!("{}:fence", guard.key);
            // The fence counter must outlive every lock: an expired counter
            // would restart at 1 and fencing would go backwards.
            let fence = guard.cache.incr_by(&fence_key, 1, MAX_TTL).await?;
            // Still holding after the increment means no one acquired between
            // our acquisition and our number, so numbers follow acquisition
            // order among the holders that get this far. A check, not an
            // extension: it is not counted in `LockStats::extended`.
            if !guard.reset_ttl_if_held(ttl).await? {
                guard.released = true;
                LockCounters::bump(&self.counters.contended, CONTENDED);
                return Ok(None);
            }
            guard.fencing_token = u64::try_from(fence).ok();
        }
        if let Some(cap) = self.watchdog_cap {
            guard.start_watchdog(cap);
        }
        LockCounters::bump(&self.counters.acquired, ACQUIRED);
        Ok(Some(guard))
    }

    /// Tries until acquired or until `wait` has passed, sleeping with
    /// jittered backoff between attempts. `Ok(None)` when the wait ran out.
    ///
    /// Waiters of one process queue up locally (first come, first served) and
    /// only the first of them polls the backend, so a hundred waiting tasks
    /// cost one poller, not a hundred. A release by a holder of this factory
    /// (or a clone) wakes that poller at once; releases in other processes
    /// are noticed at its next attempt.
    pub async fn acquire(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<LockGuard>> {
        let started = Instant::now();
        let waited = |outcome| {
            let seconds = started.elapsed().as_secs_f64();
            metrics::observe_seconds(
                names::LOCK_WAIT_DURATION,
                &[(labels::OUTCOME, outcome)],
                seconds,
            );
        };
        let deadline = started + wait;
        let local = LocalWaiters::enter(&self.local, &self.lock_key(key));
        // Become this process's poller for the key.
        let Ok(_poller) = tokio::time::timeout_at(deadline, local.queue.lock()).await else {
            LockCounters::bump(&self.counters.timed_out, TIMED_OUT);
            waited("timeout");
            return Ok(None);
        };
        let mut attempt = 0u32;
        loop {
            // Registered before the attempt: a release right after it is not missed.
            let released = local.released.notified();
            if let Some(guard) = self.try_acquire(key, ttl).await? {
                // Dropping `_poller` makes the next local waiter the poller.
                waited("acquired");
                return Ok(Some(guard));
            }
            let now = Instant::now();
            if now >= deadline {
                LockCounters::bump(&self.counters.timed_out, TIMED_OUT);
                waited("timeout");
                return Ok(None);
            }
            let pause = self.backoff.delay(attempt).min(deadline - now);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = released => {}
            }
        }
    }

    /// Runs `f` while holding the lock on `key`, waiting up to the configured
    /// [`wait`](Self::wait), and releases the lock afterwards (also when `f`
    /// is cancelled or panics: the guard releases on drop).
    ///
    /// A lock still busy after the wait is
    /// [`ErrorKind::CasFailed`](cache_core::ErrorKind::CasFailed) (`is_cas_failed()`): the "only if absent"
    /// precondition of the acquisition did not hold.
    pub async fn with_lock<F, Fut, R>(&self, key: &str, ttl: Duration, f: F) -> Result<R>
    where
        F: FnOnce(LockInfo) -> Fut,
        Fut: Future<Output = R>,
    {
        let Some(guard) = self.acquire(key, ttl, self.wait).await? else {
            return Err(CacheError::cas_failed(&self.lock_key(key)));
        };
        let info = LockInfo {
            key: guard.key.clone(),
            fencing_token: guard.fencing_token,
        };
        let out = f(info).await;
        let key = guard.key.clone();
        if let Err(e) = guard.release().await {
            // The result is already computed; the lock expires by its TTL.
            tracing::warn!(key = %key, error = %e, "releasing a lock failed");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_128_bits() {
        let a = random_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token());
    }
}
