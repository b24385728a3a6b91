//! `get_many_or_load`: FusionCache's long-requested batch get-or-set.
//!
//! One `get_many` for every key; one loader call for the keys that missed
//! and that no other flight is loading; a flight per key, so a concurrent
//! [`CacheAside::get_or_load`] (or another batch) of one of those keys joins
//! this load instead of running its own, and this batch joins theirs.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::clear::keyed;
use super::envelope::Entry;
use super::{AsideError, CacheAside, Fetched};
use cache_core::codec;
use cache_core::error::{BoxError, CacheError};

/// The source of an [`AsideError::Load`] for a key whose batch loader
/// (see [`CacheAside::get_many_or_load`]) returned no value for it, seen by
/// a [`CacheAside::get_or_load`] that joined that batch's flight (or a key
/// whose flight this batch took over after its loader had started).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the batch loader returned no value for this key")]
pub struct NotLoaded;

/// What the batch's one loader call produced: each loaded key's codec payload.
type Batch = Result<Arc<HashMap<String, Bytes>>, BoxError>;

type Flight<'a> = Pin<Box<dyn Future<Output = Result<Fetched, CacheError>> + Send + 'a>>;

enum Slot<'a> {
    Running(Flight<'a>),
    Done(Result<Fetched, CacheError>),
}

impl CacheAside {
    /// The values of `keys`: the cached ones from one batched lookup
    /// (`get_many`), the rest from **one** call of `loader` with the keys
    /// that missed, stored (`set_many`) for `ttl` and returned.
    ///
    /// Each missing key is loaded in a flight of its own: a key that another
    /// call is loading already is not passed to `loader`; this call waits
    /// for that flight instead. Keys the loader leaves out of its map are
    /// left out of the answer and not cached. A key given twice is looked up
    /// once. A value past its soft TTL is reloaded, and served if the loader
    /// fails; a remembered failure (negative caching) counts as a miss here.
    /// Jitter draws one factor for the whole batch. The factory timeouts do
    /// not apply to the batch loader.
    ///
    /// # Errors
    /// [`AsideError::Load`] (for the first failed key) when the loader fails
    /// and a key has no stale value; [`AsideError::Cache`] as for
    /// [`get_or_load`](Self::get_or_load).
    pub async fn get_many_or_load<T, F, Fut, E>(
        &self,
        keys: &[&str],
        ttl: Duration,
        loader: F,
    ) -> Result<HashMap<String, T>, AsideError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        let counters = &self.shared.counters;
        let mut seen = HashSet::new();
        let logical: Vec<&str> = keys.iter().copied().filter(|k| seen.insert(*k)).collect();
        let mut found = HashMap::with_capacity(logical.len());
        let mut cache_usable = true;
        let generation = match self.generation().await {
            Ok(generation) => generation,
            Err(e) => {
                self.tally(&counters.cache_errors, "cache_error");
                if !self.degrades_on(&e) {
                    return Err(e.into());
                }
                cache_usable = false;
                0
            }
        };
        // Where each key lives in this generation, and back.
        let physical: Vec<String> = logical
            .iter()
            .map(|k| keyed(generation, k).into_owned())
            .collect();
        let logical_of: HashMap<String, String> = physical
            .iter()
            .cloned()
            .zip(logical.iter().map(|k| (*k).to_owned()))
            .collect();
        let keys: Vec<&str> = physical.iter().map(String::as_str).collect();
        // The stamps of the tags this call names are read with the values.
        let tag_keys = self.named_tag_keys();
        let mut known = Vec::new();
        let stored = match cache_usable {
            true => {
                let read: Vec<&str> = keys
                    .iter()
                    .copied()
                    .chain(tag_keys.iter().map(String::as_str))
                    .collect();
                self.cache.get_many(&read).await
            }
            false => Ok(vec![None; keys.len()]),
        };
        let mut entries: Vec<Option<Entry>> = match stored {
            Ok(mut stored) => {
                known = self.known_stamps(stored.split_off(keys.len().min(stored.len())));
                stored.into_iter().map(|s| s.map(Entry::parse)).collect()
            }
            Err(e) => {
                self.tally(&counters.cache_errors, "cache_error");
                if !self.degrades_on(&e) {
                    return Err(e.into());
                }
                cache_usable = false;
                vec![None; keys.len()]
            }
        };
        if let Err(e) = self.drop_tag_invalidated(&mut entries, &known).await {
            self.tally(&counters.cache_errors, "cache_error");
            if !self.degrades_on(&e) {
                return Err(e.into());
            }
            cache_usable = false;
            entries.fill(None);
        }
        // The misses, with the stale payload to fall back on, if any.
        let mut misses: Vec<(String, Option<Bytes>)> = Vec::new();
        for (key, entry) in keys.iter().zip(entries) {
            let mut stale = None;
            if let Some(Entry::Value {
                payload,
                soft_expiry_ms,
                ..
            }) = entry
                && let Ok(value) = codec::from_slice::<T>(&payload)
            {
                if self.is_fresh(soft_expiry_ms) {
                    self.tally(&counters.hits, "hit");
                    found.insert(logical_of[*key].clone(), value);
                    continue;
                }
                stale = Some(payload);
            }
            self.tally(&counters.misses, "miss");
            misses.push(((*key).to_owned(), stale));
        }
        if misses.is_empty() {
            return Ok(found);
        }

        let led = parking_lot::Mutex::new(Vec::new());
        let (tx, rx) = watch::channel::<Option<Batch>>(None);
        let mut slots: Vec<Slot<'_>> = misses
            .iter()
            .map(|(key, stale)| {
                let (led, mut rx) = (&led, rx.clone());
                let flight = self.shared.flights.run(key.clone(), move || {
                    led.lock().push(key.clone());
                    async move {
                        let batch = loop {
                            if let Some(batch) = rx.borrow_and_update().clone() {
                                break batch;
                            }
                            if rx.changed().await.is_err() {
                                // This flight was taken over after the
                                // batch had started: it has no share.
                                break Err(Arc::new(NotLoaded) as BoxError);
                            }
                        };
                        Ok(batch_outcome(key, batch, stale.clone()))
                    }
                });
                Slot::Running(Box::pin(flight))
            })
            .collect();
        // One poll of every flight: those this call leads have registered
        // their key in `led` (a flight's work starts in its first poll); the
        // others have joined a flight already running elsewhere.
        std::future::poll_fn(|cx| {
            for slot in &mut slots {
                if let Slot::Running(flight) = slot
                    && let Poll::Ready(done) = flight.as_mut().poll(cx)
                {
                    *slot = Slot::Done(done);
                }
            }
            Poll::Ready(())
        })
        .await;
        let mine = std::mem::take(&mut *led.lock());
        let refused = if mine.is_empty() {
            None
        } else {
            let (batch, refused) = self
                .load_batch(mine, &logical_of, ttl, loader, cache_usable)
                .await;
            let _ = tx.send(Some(batch));
            refused
        };
        drop(tx);
        let mut outcomes = Vec::with_capacity(slots.len());
        for slot in slots {
            outcomes.push(match slot {
                Slot::Done(done) => done,
                Slot::Running(flight) => flight.await,
            });
        }
        if let Some(e) = refused {
            return Err(e.into());
        }
        let mut first_failure = None;
        for ((key, _), outcome) in misses.iter().zip(outcomes) {
            match outcome? {
                Fetched::Value { payload, stale } => {
                    if stale {
                        self.tally(&counters.stale_served, "stale");
                    }
                    let value = codec::from_slice::<T>(&payload)
                        .map_err(|e| CacheError::from(e).with_key(key))?;
                    found.insert(logical_of[key].clone(), value);
                }
                Fetched::Absent => {}
                Fetched::Failed { source, remembered } => {
                    first_failure.get_or_insert(AsideError::Load {
                        key: logical_of[key].clone(),
                        source,
                        remembered,
                    });
                }
            }
        }
        match first_failure {
            Some(e) => Err(e),
            None => Ok(found),
        }
    }

    /// Runs the batch loader for `keys` (stored keys; the loader sees their
    /// `logical_of` names) and stores what it returned; a refused store comes
    /// back beside the batch.
    async fn load_batch<T, F, Fut, E>(
        &self,
        keys: Vec<String>,
        logical_of: &HashMap<String, String>,
        ttl: Duration,
        loader: F,
        cache_usable: bool,
    ) -> (Batch, Option<CacheError>)
    where
        T: Serialize,
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, T>, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let counters = &self.shared.counters;
        // Read before the loader runs, as for one key (see `fill`).
        let mut stamps = None;
        if cache_usable {
            match self.tag_stamps().await {
                Ok(read) => stamps = Some(read),
                Err(e) => {
                    self.tally(&counters.cache_errors, "cache_error");
                    if !self.degrades_on(&e) {
                        return (Err(Arc::new(e.clone())), Some(e));
                    }
                }
            }
        }
        if !cache_usable {
            self.tally(&counters.degraded, "fail_open");
        }
        self.tally(&counters.loads, "loaded");
        let physical_of: HashMap<&str, &str> = keys
            .iter()
            .map(|k| (logical_of[k].as_str(), k.as_str()))
            .collect();
        let names = keys.iter().map(|k| logical_of[k].clone()).collect();
        let loaded = match loader(names).await {
            Ok(loaded) => loaded,
            Err(e) => {
                self.tally(&counters.load_errors, "load_error");
                return (Err(BoxError::from(e.into())), None);
            }
        };
        let mut payloads = HashMap::with_capacity(loaded.len());
        for (name, value) in loaded {
            let Some(key) = physical_of.get(name.as_str()) else {
                continue; // not asked for (or another flight's): not ours to store
            };
            let key = (*key).to_owned();
            match codec::to_vec(&value) {
                Ok(bytes) => {
                    payloads.insert(key, Bytes::from(bytes));
                }
                Err(e) => return (Err(Arc::new(CacheError::from(e).with_key(&key))), None),
            }
        }
        let mut refused = None;
        if let Some(stamps) = stamps
            && !payloads.is_empty()
        {
            let (hard, soft) = self.expiries(ttl);
            let stored: Vec<(&str, Vec<u8>)> = payloads
                .iter()
                .map(|(key, payload)| {
                    let stored = self.stored_form(payload, hard, soft, &stamps);
                    (key.as_str(), stored)
                })
                .collect();
            let entries: Vec<(&str, &[u8])> =
                stored.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let result = self.cache.set_many(&entries, hard).await;
            refused = self.store_failure("(batch)", result).err();
        }
        (Ok(Arc::new(payloads)), refused)
    }
}

/// One key's share of the batch: its value, its stale value when the
/// loader failed, its failure, or nothing.
fn batch_outcome(key: &str, batch: Batch, stale: Option<Bytes>) -> Fetched {
    match batch {
        Ok(payloads) => match payloads.get(key) {
            Some(payload) => Fetched::Value {
                payload: payload.clone(),
                stale: false,
            },
            None => Fetched::Absent,
        },
        Err(source) => match stale {
            Some(payload) => Fetched::Value {
                payload,
                stale: true,
            },
            None => Fetched::Failed {
                source,
                remembered: false,
            },
        },
    }
}
