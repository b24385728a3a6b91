//! The held lock: extension, watchdog, release (explicit or on drop).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::local::LocalWaiters;
use super::{EXTENDED, LOST, LockCounters, RELEASED};
use cache_core::cache::Cache;
use cache_core::error::Result;
use cache_core::metrics::{self, labels, names};

pub(super) struct Watchdog {
    pub(super) task: JoinHandle<()>,
}

/// A held lock. Release it with [`release`](Self::release); a guard that is
/// dropped instead releases on a detached task (bounded by the release
/// timeout), so the lock is freed even when its holder was cancelled.
pub struct LockGuard {
    pub(super) cache: Arc<dyn Cache>,
    pub(super) key: String,
    pub(super) token: String,
    pub(super) ttl: Duration,
    pub(super) fencing_token: Option<u64>,
    pub(super) released: bool,
    pub(super) watchdog: Option<Watchdog>,
    pub(super) lost: Arc<AtomicBool>,
    pub(super) release_timeout: Duration,
    pub(super) counters: Arc<LockCounters>,
    pub(super) local: Arc<LocalWaiters>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is an ownership credential: never printed.
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("fencing_token", &self.fencing_token)
            .field("watchdog", &self.watchdog.is_some())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    /// The lock's key in the cache (prefix included).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token of this acquisition, when fencing is on: larger than
    /// the token of every earlier acquisition of the same lock.
    pub fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    /// Whether the watchdog found the lock taken from this holder (its TTL ran
    /// out before an extension). Always `false` without a watchdog.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Extends the lock to `ttl` from now, only if this guard still holds it.
    /// Returns `false` (and changes nothing) when the lock expired or belongs
    /// to someone else.
    pub async fn extend(&self, ttl: Duration) -> Result<bool> {
        let extended = self.reset_ttl_if_held(ttl).await?;
        if extended {
            LockCounters::bump(&self.counters.extended, EXTENDED);
        }
        Ok(extended)
    }

    /// Sets the lock's TTL to `ttl` from now if this guard still holds it;
    /// `false` when it does not. Counts nothing: [`extend`](Self::extend)
    /// counts extensions, the acquisition's fencing check counts nothing.
    pub(super) async fn reset_ttl_if_held(&self, ttl: Duration) -> Result<bool> {
        self.cache
            .compare_and_set(
                &self.key,
                Some(self.token.as_bytes()),
                self.token.as_bytes(),
                ttl,
            )
            .await
    }

    /// Releases the lock if this guard still holds it. Returns `false` when it
    /// no longer did (its TTL ran out; another holder's lock is left alone).
    pub async fn release(mut self) -> Result<bool> {
        self.stop_watchdog();
        self.released = true;
        let released = self
            .cache
            .compare_and_delete(&self.key, self.token.as_bytes())
            .await?;
        count_release(&self.counters, &self.key, released);
        self.local.wake_poller(&self.key);
        Ok(released)
    }

    pub(super) fn start_watchdog(&mut self, cap: Duration) {
        let cache = Arc::clone(&self.cache);
        let key = self.key.clone();
        let token = self.token.clone();
        let ttl = self.ttl;
        let lost = Arc::clone(&self.lost);
        let counters = Arc::clone(&self.counters);
        let deadline = Instant::now() + cap;
        let period = (ttl / 3).max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    tracing::debug!(key = %key, "lock watchdog reached its cap");
                    return;
                }
                // Never extend past the cap: the lock then expires at the cap.
                let next = ttl.min(remaining);
                match cache
                    .compare_and_set(&key, Some(token.as_bytes()), token.as_bytes(), next)
                    .await
                {
                    Ok(true) => LockCounters::bump(&counters.extended, EXTENDED),
                    Ok(false) => {
                        lost.store(true, Ordering::Release);
                        // In the metrics only: the stats count a loss at release.
                        let lost_extension = [(labels::OUTCOME, "lost")];
                        metrics::count(names::LOCK_EXTENSIONS, &lost_extension);
                        tracing::warn!(key = %key, "lock lost before the watchdog could extend it");
                        return;
                    }
                    // A transient failure: the next tick tries again while the
                    // current TTL still runs.
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "lock watchdog extension failed")
                    }
                }
            }
        });
        self.watchdog = Some(Watchdog { task });
    }

    pub(super) fn stop_watchdog(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            // An extension already sent cannot revive the lock after the
            // release: it requires the token to be present.
            watchdog.task.abort();
        }
    }
}

fn count_release(counters: &LockCounters, key: &str, released: bool) {
    if released {
        LockCounters::bump(&counters.released, RELEASED);
    } else {
        LockCounters::bump(&counters.lost, LOST);
        tracing::warn!(key = %key, "lock was no longer held at release (its TTL ran out)");
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_watchdog();
        if self.released {
            return;
        }
        self.released = true;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.key, "lock guard dropped outside a tokio runtime; the lock expires by its TTL");
            return;
        };
        let cache = Arc::clone(&self.cache);
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        let timeout = self.release_timeout;
        let counters = Arc::clone(&self.counters);
        let local = Arc::clone(&self.local);
        runtime.spawn(async move {
            match tokio::time::timeout(timeout, cache.compare_and_delete(&key, token.as_bytes()))
                .await
            {
                Ok(Ok(released)) => {
                    count_release(&counters, &key, released);
                    local.wake_poller(&key);
                }
                Ok(Err(e)) => {
                    tracing::warn!(key = %key, error = %e, "releasing a dropped lock failed")
                }
                Err(_) => tracing::warn!(key = %key, "releasing a dropped lock timed out"),
            }
        });
    }
}
