//! The work of one flight: look the key up again, coordinate with other
//! processes, load, store.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::envelope::{
    Entry, Stamp, eager_envelope, failure_envelope, tagged_envelope, value_envelope,
};
use super::{CacheAside, CrossProcess, FactoryTimeout, Fetched, RememberedFailure};
use crate::lock::LockGuard;
use cache_core::codec;
use cache_core::error::{BoxError, CacheError};

/// A decodable value found in the cache.
struct Found<T> {
    payload: Bytes,
    value: T,
    fresh: bool,
    /// Past its eager-refresh time.
    due: bool,
}

/// What a lookup inside the flight found.
enum Probe<T> {
    Found(Found<T>),
    Failure(String),
    Nothing,
}

/// How the cross-process coordination ended.
enum Coordination<T> {
    /// Another process stored a fresh value meanwhile.
    Filled(Found<T>),
    /// Load, holding this lock if there is one.
    Load(Option<LockGuard>),
    /// The lock failed in a way that loading without it must not hide (a
    /// refusal, a wrong type at the lock key): the flight fails with it.
    Failed(CacheError),
}

impl CacheAside {
    /// Runs one flight; `eager` when it is an eager refresh, which loads
    /// even a fresh value once its refresh is due.
    pub(super) async fn fill<T, L, Fut>(
        &self,
        key: &str,
        loader: L,
        mine: &mut Option<T>,
        eager: bool,
    ) -> Result<Fetched, CacheError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Duration), BoxError>> + Send + 'static,
    {
        let counters = &self.shared.counters;
        let mut stale: Option<(Bytes, T)> = None;
        let mut cache_usable = true;
        // The flight covers the lookup too: a value stored by a flight that
        // ended just before this one began is found here, not loaded again.
        match self.probe::<T>(key).await {
            Ok(Probe::Found(found)) if found.fresh && !(eager && found.due) => {
                return Ok(self.keep(found, mine));
            }
            Ok(Probe::Found(found)) => stale = Some((found.payload, found.value)),
            Ok(Probe::Failure(message)) => {
                self.tally(&counters.negative_hits, "negative");
                return Ok(Fetched::Failed {
                    source: std::sync::Arc::new(RememberedFailure { message }),
                    remembered: true,
                });
            }
            Ok(Probe::Nothing) => {}
            Err(e) if self.degrades_on(&e) => cache_usable = false,
            Err(e) => return Err(e),
        }

        // The tags' stamps are read before the loader runs: an invalidation
        // from now on changes them, so it drops what this load stores. Not
        // known (the cache failed), the loaded value is not stored at all.
        let stamps = if !cache_usable {
            self.tags.is_none().then(Vec::new)
        } else {
            match self.tag_stamps().await {
                Ok(stamps) => Some(stamps),
                Err(e) => {
                    self.tally(&counters.cache_errors, "cache_error");
                    if !self.degrades_on(&e) {
                        return Err(e);
                    }
                    None
                }
            }
        };

        let mut guard = None;
        if cache_usable && let Some(cross) = &self.cross_process {
            if let Some((payload, value)) = stale.take() {
                // With a stale value in hand, only the lock holder refreshes;
                // everybody else serves stale at once.
                match cross.locks.try_acquire(key, cross.ttl).await {
                    Ok(Some(g)) => {
                        guard = Some(g);
                        stale = Some((payload, value));
                    }
                    Ok(None) => {
                        *mine = Some(value);
                        return Ok(Fetched::Value {
                            payload,
                            stale: true,
                        });
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(key, error = %e, "cross-process lock failed; loading without it");
                        stale = Some((payload, value));
                    }
                    Err(e) => return Err(e),
                }
            } else {
                match self.coordinate::<T>(key, cross).await {
                    Coordination::Filled(found) => return Ok(self.keep(found, mine)),
                    Coordination::Load(g) => guard = g,
                    Coordination::Failed(e) => return Err(e),
                }
            }
        }

        if !cache_usable {
            self.tally(&counters.degraded, "fail_open");
        }
        self.tally(&counters.loads, "loaded");
        let loaded = self
            .run_loader(key, loader, stale.is_some(), stamps.as_deref())
            .await;
        let fetched = match loaded {
            Ok((value, ttl)) => {
                let payload = Bytes::from(codec::to_vec(&value)?);
                match &stamps {
                    Some(stamps) if cache_usable => self.store(key, &payload, ttl, stamps).await?,
                    Some(stamps) => {
                        // The read failed: the write is not tried, but queued.
                        let (hard, soft) = self.expiries(ttl);
                        let stored = self.stored_form(&payload, hard, soft, stamps);
                        self.queue_write(key, &stored, hard);
                    }
                    None => {
                        tracing::debug!(key, "tag stamps unknown; the loaded value is not stored")
                    }
                }
                *mine = Some(value);
                Fetched::Value {
                    payload,
                    stale: false,
                }
            }
            Err(source) => {
                self.tally(&counters.load_errors, "load_error");
                tracing::debug!(key, error = %source, "loader failed");
                if let Some((payload, value)) = stale {
                    *mine = Some(value);
                    Fetched::Value {
                        payload,
                        stale: true,
                    }
                } else {
                    let timed_out = source.downcast_ref::<FactoryTimeout>().is_some();
                    if cache_usable
                        && !timed_out
                        && let Some(ttl) = self.negative_ttl
                    {
                        let remembered = failure_envelope(&source.to_string());
                        if let Err(e) = self.cache.set(key, &remembered, ttl).await {
                            self.tally(&counters.cache_errors, "cache_error");
                            tracing::warn!(key, error = %e, "remembering a loader failure failed");
                        }
                    }
                    Fetched::Failed {
                        source,
                        remembered: false,
                    }
                }
            }
        };
        if let Some(guard) = guard {
            // After the store: waiters elsewhere find the value when the lock goes.
            if let Err(e) = guard.release().await {
                tracing::warn!(key, error = %e, "releasing the cross-process load lock failed");
            }
        }
        Ok(fetched)
    }

    /// Waits for the cross-process lock or for another process's value.
    async fn coordinate<T: DeserializeOwned>(
        &self,
        key: &str,
        cross: &CrossProcess,
    ) -> Coordination<T> {
        let deadline = Instant::now() + cross.wait;
        let mut attempt = 0u32;
        loop {
            match cross.locks.try_acquire(key, cross.ttl).await {
                Ok(Some(guard)) => {
                    // The holder before us may have stored just before releasing.
                    if let Ok(Probe::Found(found)) = self.probe::<T>(key).await
                        && found.fresh
                    {
                        if let Err(e) = guard.release().await {
                            tracing::warn!(key, error = %e, "releasing the cross-process load lock failed");
                        }
                        return Coordination::Filled(found);
                    }
                    return Coordination::Load(Some(guard));
                }
                Ok(None) => {}
                // Only a failure that may pass by itself is worth loading
                // without the lock for; anything else (an ACL refusal on the
                // lock key) is the caller's to see.
                Err(e) if e.is_transient() => {
                    tracing::warn!(key, error = %e, "cross-process lock failed; loading without it");
                    return Coordination::Load(None);
                }
                Err(e) => return Coordination::Failed(e),
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::debug!(key, "waited for another process's load in vain; loading");
                return Coordination::Load(None);
            }
            tokio::time::sleep(cross.backoff.delay(attempt).min(deadline - now)).await;
            attempt = attempt.saturating_add(1);
            if let Ok(Probe::Found(found)) = self.probe::<T>(key).await
                && found.fresh
            {
                return Coordination::Filled(found);
            }
        }
    }

    /// Looks `key` up and decodes it as `T`; an undecodable value is nothing.
    async fn probe<T: DeserializeOwned>(&self, key: &str) -> Result<Probe<T>, CacheError> {
        Ok(match self.lookup(key).await? {
            Some(Entry::Value {
                payload,
                soft_expiry_ms,
                refresh_at_ms,
                ..
            }) => match codec::from_slice::<T>(&payload) {
                Ok(value) => Probe::Found(Found {
                    fresh: self.is_fresh(soft_expiry_ms),
                    due: self.is_due(refresh_at_ms),
                    payload,
                    value,
                }),
                Err(e) => {
                    tracing::debug!(key, error = %e, "stored value no longer decodes; reloading");
                    Probe::Nothing
                }
            },
            Some(Entry::Failure { message }) => Probe::Failure(message),
            Some(Entry::Unknown) | None => Probe::Nothing,
        })
    }

    fn keep<T>(&self, found: Found<T>, mine: &mut Option<T>) -> Fetched {
        *mine = Some(found.value);
        Fetched::Value {
            payload: found.payload,
            stale: !found.fresh,
        }
    }

    /// Stores a loaded value. A failure is counted and logged, and returned
    /// only when the backend refused the write ([`CacheError::is_refused`]:
    /// an ACL or credential problem that would otherwise turn every call into
    /// a load, unseen); otherwise the caller has its value either way.
    pub(super) async fn store(
        &self,
        key: &str,
        payload: &[u8],
        ttl: Duration,
        stamps: &[Stamp],
    ) -> Result<(), CacheError> {
        let (hard, soft) = self.expiries(ttl);
        let stored = self.stored_form(payload, hard, soft, stamps);
        let result = self.cache.set(key, &stored, hard).await;
        match &result {
            Ok(()) => {
                self.wrote(key);
                self.backend_answered();
            }
            Err(e) if e.is_transient() => self.queue_write(key, &stored, hard),
            Err(_) => {}
        }
        self.store_failure(key, result)
    }

    /// What is stored for `payload` with these expiries and tag stamps: the
    /// plain payload, or an envelope with its soft expiry (and eager-refresh
    /// time, and tags).
    pub(super) fn stored_form(
        &self,
        payload: &[u8],
        hard: Duration,
        soft: Option<Duration>,
        stamps: &[Stamp],
    ) -> Vec<u8> {
        let after = |d: Duration| {
            self.now_ms()
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        if !stamps.is_empty() {
            let refresh_at = self
                .eager_refresh_threshold
                .map(|threshold| after(soft.unwrap_or(hard).mul_f64(threshold)));
            return tagged_envelope(payload, soft.map(after), refresh_at, stamps);
        }
        match (soft, self.eager_refresh_threshold) {
            (soft, Some(threshold)) => {
                let soft = soft.unwrap_or(hard);
                eager_envelope(payload, after(soft), after(soft.mul_f64(threshold)))
            }
            (Some(soft), None) => value_envelope(payload, after(soft)),
            (None, None) => payload.to_vec(),
        }
    }

    /// The policy for a failed store: counted and logged, and returned only
    /// when the backend refused it.
    pub(super) fn store_failure(
        &self,
        key: &str,
        result: Result<(), CacheError>,
    ) -> Result<(), CacheError> {
        match result {
            Err(e) if e.is_refused() => {
                self.tally(&self.shared.counters.cache_errors, "cache_error");
                Err(e)
            }
            Err(e) => {
                self.tally(&self.shared.counters.cache_errors, "cache_error");
                tracing::warn!(key, error = %e, "storing a loaded value failed");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }
}
