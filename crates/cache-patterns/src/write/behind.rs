//! Write-behind: the cache now, the store later, in batches.
//!
//! Guarantees:
//! - **Bounded**: at most `capacity` keys wait. A full queue makes writers
//!   wait for room ([`WhenFull::Wait`], backpressure) or refuses the write
//!   with [`WriteError::QueueFull`] ([`WhenFull::Reject`]); it never drops one.
//! - **Coalescing**: a key written again before its flush is written once,
//!   with the last value (or deleted, if the last change was a delete).
//! - **Ordered per key**: one flush runs at a time, so a newer value of a key
//!   never reaches the store before an older one.
//! - **Retried**: a failed batch is retried with backoff; after the last
//!   attempt its writes go back to the queue (unless superseded) for the next
//!   flush.
//! - **Nothing acknowledged is lost on a graceful shutdown**:
//!   [`WriteBehind::shutdown`] refuses new writes, flushes everything, and
//!   if the store still fails, says so and keeps the writes for
//!   [`WriteBehind::take_unflushed`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{PendingWrite, StoreError, WriteError, WriteOp, WriteStore, encode};
use crate::lock::Backoff;
use cache_core::cache::Cache;
use cache_core::error::BoxError;
use cache_core::metrics::{self, labels, names};

/// What a write does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait (asynchronously) until a flush makes room: backpressure.
    #[default]
    Wait,
    /// Refuse the write at once with [`WriteError::QueueFull`].
    Reject,
}

/// Write-behind counters (since the queue started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteBehindStats {
    /// Changes accepted.
    pub accepted: u64,
    /// Changes that replaced a pending change of the same key.
    pub coalesced: u64,
    /// Changes refused because the queue was full.
    pub rejected: u64,
    /// Changes written to the store.
    pub flushed: u64,
    /// Batches written to the store.
    pub batches: u64,
    /// Batch attempts that failed and were retried or re-queued.
    pub store_errors: u64,
    /// Cache updates that failed (the change is still queued for the store).
    pub cache_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    coalesced: AtomicU64,
    rejected: AtomicU64,
    flushed: AtomicU64,
    batches: AtomicU64,
    store_errors: AtomicU64,
    cache_errors: AtomicU64,
}

/// Changes the queue-depth gauge (shared by every write-behind of the
/// process, so each adds its own changes rather than setting it).
fn held(delta: i64) {
    metrics::gauge_add(names::WRITE_BEHIND_QUEUE_DEPTH, &[], delta as f64);
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

struct Queue<T> {
    pending: HashMap<String, WriteOp<T>>,
    /// Keys in the order of their first pending change.
    order: VecDeque<String>,
    /// Changes taken by the flush that is running.
    in_flight: usize,
    closed: bool,
}

struct Inner<T> {
    cache: Arc<dyn Cache>,
    store: Arc<dyn WriteStore<T>>,
    ttl: Duration,
    capacity: usize,
    batch_size: usize,
    flush_interval: Duration,
    max_attempts: u32,
    backoff: Backoff,
    when_full: WhenFull,
    queue: Mutex<Queue<T>>,
    /// One flush at a time keeps the changes of a key in order.
    flushing: tokio::sync::Mutex<()>,
    /// Wakes writers waiting for room.
    room: Notify,
    /// Wakes the flusher early (a full batch, a shutdown).
    wake: Notify,
    stopping: AtomicBool,
    counters: Counters,
}

/// Configures a [`WriteBehind`]; [`start`](Self::start) spawns its flusher.
pub struct WriteBehindBuilder<T> {
    cache: Arc<dyn Cache>,
    store: Arc<dyn WriteStore<T>>,
    ttl: Duration,
    capacity: usize,
    batch_size: usize,
    flush_interval: Duration,
    max_attempts: u32,
    backoff: Backoff,
    when_full: WhenFull,
}

impl<T> fmt::Debug for WriteBehindBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBehindBuilder")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("when_full", &self.when_full)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + Send + Sync + 'static> WriteBehindBuilder<T> {
    /// At most `capacity` keys pending (default 10,000; at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Changes per store batch (default 100; at least 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How often the flusher runs (default 1 s). It also runs as soon as a
    /// batch is full.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Attempts per batch in one flush (default 5; at least 1) and the
    /// backoff between them.
    pub fn retry(mut self, max_attempts: u32, backoff: Backoff) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff = backoff;
        self
    }

    cache_core::setters! {
        /// What a write does when the queue is full (default [`WhenFull::Wait`]).
        when_full: WhenFull;
    }

    /// Starts the queue and its flusher task. Must be called inside a tokio runtime.
    pub fn start(self) -> WriteBehind<T> {
        let inner = Arc::new(Inner {
            cache: self.cache,
            store: self.store,
            ttl: self.ttl,
            capacity: self.capacity,
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            when_full: self.when_full,
            queue: Mutex::new(Queue {
                pending: HashMap::new(),
                order: VecDeque::new(),
                in_flight: 0,
                closed: false,
            }),
            flushing: tokio::sync::Mutex::new(()),
            room: Notify::new(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let flusher = tokio::spawn(run_flusher(Arc::clone(&inner)));
        WriteBehind {
            inner,
            flusher: Mutex::new(Some(flusher)),
        }
    }
}

/// A write-behind queue in front of a [`WriteStore`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::{collections::HashMap, sync::{Arc, Mutex}, time::Duration};
/// use cache_memory::MemoryCache;
/// use cache_patterns::{write::{StoreError, WriteBehind, WriteStore}};
///
/// #[derive(Default)]
/// struct Metrics(Mutex<HashMap<String, u64>>);
///
/// #[async_trait::async_trait]
/// impl WriteStore<u64> for Metrics {
///     async fn write(&self, key: &str, value: &u64) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(key.to_owned(), *value);
///         Ok(())
///     }
///     async fn delete(&self, key: &str) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
///
/// let store = Arc::new(Metrics::default());
/// let queue = WriteBehind::builder(Arc::new(MemoryCache::new()), store.clone(), Duration::from_secs(600))
///     .flush_interval(Duration::from_secs(10))
///     .start();
/// for n in 1..=100 {
///     queue.write("metrics:ispb:1", n).await?; // coalesced: one pending change
/// }
/// assert_eq!(queue.queue_depth(), 1);
/// queue.shutdown().await?; // flushes everything
/// assert_eq!(store.0.lock().unwrap()["metrics:ispb:1"], 100);
/// # Ok(()) }
/// ```
pub struct WriteBehind<T> {
    inner: Arc<Inner<T>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl<T> fmt::Debug for WriteBehind<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.inner.queue.lock();
        f.debug_struct("WriteBehind")
            .field("pending", &queue.pending.len())
            .field("in_flight", &queue.in_flight)
            .field("closed", &queue.closed)
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + Send + Sync + 'static> WriteBehind<T> {
    /// A builder: changes go to `cache` at once (values cached for `ttl`) and
    /// to `store` in batches.
    pub fn builder(
        cache: Arc<dyn Cache>,
        store: Arc<dyn WriteStore<T>>,
        ttl: Duration,
    ) -> WriteBehindBuilder<T> {
        WriteBehindBuilder {
            cache,
            store,
            ttl,
            capacity: 10_000,
            batch_size: 100,
            flush_interval: Duration::from_secs(1),
            max_attempts: 5,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
            when_full: WhenFull::Wait,
        }
    }

    /// Caches `value` at `key` and queues it for the store. `Ok` means
    /// accepted: the change reaches the store unless the store keeps failing
    /// through shutdown, which [`shutdown`](Self::shutdown) reports.
    pub async fn write(&self, key: &str, value: T) -> Result<(), WriteError> {
        let encoded = encode(&value)?;
        super::counted("write_behind", self.enqueue(key, WriteOp::Put(value))).await?;
        if let Err(e) = self.inner.cache.set(key, &encoded, self.inner.ttl).await {
            self.cache_failed(key, &e).await;
        }
        Ok(())
    }

    /// Removes `key` from the cache and queues its deletion from the store.
    pub async fn delete(&self, key: &str) -> Result<(), WriteError> {
        self.enqueue(key, WriteOp::Delete).await?;
        if let Err(e) = self.inner.cache.delete(key).await {
            self.cache_failed(key, &e).await;
        }
        Ok(())
    }

    /// Changes not yet written to the store (pending plus being written).
    pub fn queue_depth(&self) -> usize {
        let queue = self.inner.queue.lock();
        queue.pending.len() + queue.in_flight
    }

    /// Counters since the queue started.
    pub fn stats(&self) -> WriteBehindStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriteBehindStats {
            accepted: load(&c.accepted),
            coalesced: load(&c.coalesced),
            rejected: load(&c.rejected),
            flushed: load(&c.flushed),
            batches: load(&c.batches),
            store_errors: load(&c.store_errors),
            cache_errors: load(&c.cache_errors),
        }
    }

    /// Writes every pending change to the store now (with retries).
    pub async fn flush(&self) -> Result<(), WriteError> {
        flush_all(&self.inner).await
    }

    /// Refuses new writes, stops the flusher and flushes everything.
    ///
    /// `Err(Unflushed)` when the store still failed after every retry: the
    /// changes are kept, [`take_unflushed`](Self::take_unflushed) hands them
    /// over. Calling it again retries.
    pub async fn shutdown(&self) -> Result<(), WriteError> {
        self.inner.queue.lock().closed = true;
        // Writers waiting for room are not accepted: they get `ShutDown`.
        self.inner.room.notify_waiters();
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        let flusher = self.flusher.lock().take();
        if let Some(flusher) = flusher
            && let Err(e) = flusher.await
        {
            tracing::error!(error = %e, "the write-behind flusher task failed");
        }
        flush_all(&self.inner).await
    }

    /// After a failed shutdown: the changes that never reached the store,
    /// oldest first, so the caller can persist them elsewhere.
    pub fn take_unflushed(&self) -> Vec<PendingWrite<T>> {
        let mut queue = self.inner.queue.lock();
        let Queue { pending, order, .. } = &mut *queue;
        let taken: Vec<_> = order
            .drain(..)
            .filter_map(|key| pending.remove(&key).map(|op| PendingWrite { key, op }))
            .collect();
        held(-(taken.len() as i64));
        taken
    }

    async fn enqueue(&self, key: &str, op: WriteOp<T>) -> Result<(), WriteError> {
        let inner = &self.inner;
        let mut op = Some(op);
        loop {
            // Registered before the check, so a flush that makes room after
            // it cannot be missed.
            let room = inner.room.notified();
            {
                let mut queue = inner.queue.lock();
                if queue.closed {
                    return Err(WriteError::ShutDown);
                }
                let Some(change) = op.take() else {
                    return Err(WriteError::ShutDown);
                };
                if let Some(slot) = queue.pending.get_mut(key) {
                    *slot = change;
                    add(&inner.counters.coalesced, 1);
                    add(&inner.counters.accepted, 1);
                    return Ok(());
                }
                // Changes being written count too: the bound is on what is held.
                if queue.pending.len() + queue.in_flight < inner.capacity {
                    queue.pending.insert(key.to_owned(), change);
                    queue.order.push_back(key.to_owned());
                    add(&inner.counters.accepted, 1);
                    held(1);
                    if queue.pending.len() >= inner.batch_size {
                        inner.wake.notify_one();
                    }
                    return Ok(());
                }
                if inner.when_full == WhenFull::Reject {
                    add(&inner.counters.rejected, 1);
                    metrics::count(names::WRITE_BEHIND_DROPPED, &[(labels::CAUSE, "full")]);
                    return Err(WriteError::QueueFull {
                        capacity: inner.capacity,
                    });
                }
                op = Some(change);
            }
            inner.wake.notify_one();
            room.await;
        }
    }

    /// The store will get the change; make sure the cache does not serve the
    /// previous value meanwhile.
    async fn cache_failed(&self, key: &str, e: &cache_core::CacheError) {
        add(&self.inner.counters.cache_errors, 1);
        tracing::warn!(key, error = %e, "write-behind: updating the cache failed; invalidating");
        if let Err(e) = self.inner.cache.delete(key).await {
            tracing::warn!(key, error = %e, "write-behind: invalidating the cache failed");
        }
    }
}

impl<T> Drop for WriteBehind<T> {
    fn drop(&mut self) {
        // Dropped without `shutdown`: the flusher still flushes what is
        // pending, in the background, then ends.
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.wake.notify_one();
    }
}

async fn run_flusher<T: Send + Sync + 'static>(inner: Arc<Inner<T>>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(inner.flush_interval) => {}
            () = inner.wake.notified() => {}
        }
        let stopping = inner.stopping.load(Ordering::Acquire);
        if let Err(e) = flush_all(&inner).await {
            tracing::warn!(error = %e, "write-behind flush failed; the changes stay queued");
        }
        if stopping {
            return;
        }
    }
}

/// Flushes batch after batch until the queue is empty or a batch fails
/// every attempt (it is then re-queued).
async fn flush_all<T: Send + Sync + 'static>(inner: &Inner<T>) -> Result<(), WriteError> {
    let _one_at_a_time = inner.flushing.lock().await;
    loop {
        let batch = take_batch(inner);
        if batch.is_empty() {
            return Ok(());
        }
        // If this future is dropped mid-write (a caller's timeout), the batch
        // goes back to the queue instead of vanishing.
        let mut in_flight = InFlight {
            inner,
            batch: Some(batch),
        };
        let batch = in_flight.batch.as_deref().unwrap_or_default();
        let size = batch.len();
        match write_with_retries(inner, batch).await {
            Ok(()) => {
                in_flight.batch = None;
                inner.queue.lock().in_flight = 0;
                add(&inner.counters.flushed, size as u64);
                add(&inner.counters.batches, 1);
                metrics::count_n(names::WRITE_BEHIND_FLUSHED, &[], size as u64);
                held(-(size as i64));
                inner.room.notify_waiters();
            }
            Err(source) => {
                drop(in_flight);
                return Err(WriteError::Unflushed {
                    count: inner.queue.lock().pending.len(),
                    source: BoxError::from(source),
                });
            }
        }
    }
}

/// A batch being written; re-queued when dropped before it succeeded.
struct InFlight<'a, T> {
    inner: &'a Inner<T>,
    batch: Option<Vec<PendingWrite<T>>>,
}

impl<T> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            requeue(self.inner, batch);
        }
    }
}

fn take_batch<T>(inner: &Inner<T>) -> Vec<PendingWrite<T>> {
    let mut queue = inner.queue.lock();
    let Queue {
        pending,
        order,
        in_flight,
        ..
    } = &mut *queue;
    let mut batch = Vec::with_capacity(inner.batch_size.min(order.len()));
    while batch.len() < inner.batch_size {
        let Some(key) = order.pop_front() else { break };
        if let Some(op) = pending.remove(&key) {
            batch.push(PendingWrite { key, op });
        }
    }
    *in_flight = batch.len();
    batch
}

async fn write_with_retries<T: Send + Sync>(
    inner: &Inner<T>,
    batch: &[PendingWrite<T>],
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match inner.store.write_batch(batch).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                add(&inner.counters.store_errors, 1);
                attempt += 1;
                if attempt >= inner.max_attempts {
                    return Err(e);
                }
                tracing::debug!(error = %e, attempt, "write-behind batch failed; retrying");
                metrics::count(names::WRITE_BEHIND_RETRIES, &[]);
                tokio::time::sleep(inner.backoff.delay(attempt - 1)).await;
            }
        }
    }
}

/// Puts a failed batch back at the front of the queue, except for keys that
/// were written again meanwhile (the newer change wins).
fn requeue<T>(inner: &Inner<T>, batch: Vec<PendingWrite<T>>) {
    let mut queue = inner.queue.lock();
    queue.in_flight = 0;
    for change in batch.into_iter().rev() {
        if queue.pending.contains_key(&change.key) {
            held(-1); // superseded by the newer change
        } else {
            queue.order.push_front(change.key.clone());
            queue.pending.insert(change.key, change.op);
        }
    }
}
