//! Auto-recovery (FusionCache's Auto-Recovery): cache writes that failed
//! because the backend was unreachable are kept in a bounded queue and
//! written again once it answers.
//!
//! One entry per key: a newer write replaces the queued one, and a write
//! that succeeds drops it, so an old value never overwrites a newer one. Full,
//! the queue drops its oldest entry. Each entry keeps what is left of its TTL.
//! A retry checks just before writing that its entry is still the newest;
//! a newer write from this instance that lands between that check and the
//! retry's `SET` (one round trip) can still be overwritten by it.
//! Writes of [`CacheAside::get_many_or_load`] are not queued.
//! The queue is drained on a background task after the next cache call that
//! succeeds (a read or a write), or by [`CacheAside::recover`].

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::CacheAside;
use cache_core::error::CacheError;

/// A write waiting for the backend.
#[derive(Debug, Clone)]
struct Pending {
    stored: Vec<u8>,
    ttl: Duration,
    queued: Instant,
    seq: u64,
}

/// The queue of failed writes, keyed by (stored) key.
#[derive(Debug, Default)]
pub(super) struct Recovery {
    pending: parking_lot::Mutex<(HashMap<String, Pending>, u64)>,
    draining: std::sync::atomic::AtomicBool,
}

impl CacheAside {
    /// Keeps up to `max_pending` writes that failed while the backend was
    /// unreachable (or was not tried because a read had just failed) and
    /// writes them again once it answers; newer writes win.
    pub fn auto_recovery(mut self, max_pending: usize) -> Self {
        self.auto_recovery = (max_pending > 0).then_some(max_pending);
        self
    }

    /// How many writes wait for the backend.
    pub fn pending_writes(&self) -> usize {
        self.shared.recovery.pending.lock().0.len()
    }

    /// Writes the queued writes again now; returns how many are left (after
    /// the first failure, the rest wait for the next try).
    ///
    /// # Errors
    /// The first write's error, when the backend still fails.
    pub async fn recover(&self) -> Result<usize, CacheError> {
        let mut batch: Vec<(String, Pending)> = {
            let pending = self.shared.recovery.pending.lock();
            pending
                .0
                .iter()
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect()
        };
        batch.sort_by_key(|(_, p)| p.seq);
        for (key, entry) in batch {
            let Some(ttl) = entry
                .ttl
                .checked_sub(entry.queued.elapsed())
                .filter(|t| !t.is_zero())
            else {
                self.forget_pending(&key, entry.seq);
                continue; // expired while queued
            };
            if !self.still_pending(&key, entry.seq) {
                continue; // a newer write took its place meanwhile
            }
            self.cache.set(&key, &entry.stored, ttl).await?;
            self.forget_pending(&key, entry.seq);
        }
        Ok(self.pending_writes())
    }

    /// Queues a write that failed (only with auto-recovery on).
    pub(super) fn queue_write(&self, key: &str, stored: &[u8], ttl: Duration) {
        let Some(max) = self.auto_recovery else {
            return;
        };
        let mut guard = self.shared.recovery.pending.lock();
        let (pending, seq) = &mut *guard;
        *seq += 1;
        if !pending.contains_key(key)
            && pending.len() >= max
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
            tracing::warn!(key = %oldest, "auto-recovery queue full; dropped its oldest write");
        }
        pending.insert(
            key.to_owned(),
            Pending {
                stored: stored.to_vec(),
                ttl,
                queued: Instant::now(),
                seq: *seq,
            },
        );
    }

    /// A write of `key` succeeded: a queued older one must not follow it.
    pub(super) fn wrote(&self, key: &str) {
        if self.auto_recovery.is_some() {
            self.shared.recovery.pending.lock().0.remove(key);
        }
    }

    /// The backend answered: drain the queue in the background, once.
    pub(super) fn backend_answered(&self) {
        use std::sync::atomic::Ordering;
        let recovery = &self.shared.recovery;
        if self.auto_recovery.is_none() || recovery.pending.lock().0.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if recovery.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        runtime.spawn(async move {
            if let Err(e) = this.recover().await {
                tracing::debug!(error = %e, "auto-recovery: the backend still fails");
            }
            this.shared
                .recovery
                .draining
                .store(false, Ordering::Release);
        });
    }

    fn still_pending(&self, key: &str, seq: u64) -> bool {
        self.shared
            .recovery
            .pending
            .lock()
            .0
            .get(key)
            .is_some_and(|p| p.seq == seq)
    }

    fn forget_pending(&self, key: &str, seq: u64) {
        let mut guard = self.shared.recovery.pending.lock();
        if guard.0.get(key).is_some_and(|p| p.seq == seq) {
            guard.0.remove(key);
        }
    }
}
