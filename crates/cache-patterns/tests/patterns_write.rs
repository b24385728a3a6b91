//! Write-through, write-around and write-behind on the in-memory backend,
//! with an in-memory store that can be made to fail or to block.

mod patterns_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{Cache, TypedCacheExt};
use cache_memory::MemoryCache;
use cache_patterns::lock::Backoff;
use cache_patterns::write::{
    PendingWrite, StoreError, WhenFull, WriteAround, WriteBehind, WriteError, WriteOp, WriteStore,
    WriteThrough,
};
use parking_lot::Mutex;
use patterns_support::{DEADLINE, SwitchableCache, eventually};
use tokio::sync::Semaphore;

const TTL: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A table in memory, with fault injection: fail the next `n` calls, fail
/// every `k`-th call, fail always, or block each call on a gate.
#[derive(Default)]
struct FakeStore {
    rows: Mutex<HashMap<String, u64>>,
    /// Calls that arrived (counted before the gate).
    entered: AtomicUsize,
    batch_sizes: Mutex<Vec<usize>>,
    calls: AtomicUsize,
    fail_next: AtomicUsize,
    fail_every: AtomicUsize,
    fail_always: AtomicBool,
    gate: Option<Arc<Semaphore>>,
}

impl FakeStore {
    fn gated(gate: Arc<Semaphore>) -> Self {
        FakeStore {
            gate: Some(gate),
            ..FakeStore::default()
        }
    }

    fn row(&self, key: &str) -> Option<u64> {
        self.rows.lock().get(key).copied()
    }

    async fn enter(&self) -> Result<(), StoreError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let every = self.fail_every.load(Ordering::SeqCst);
        let injected = self.fail_always.load(Ordering::SeqCst)
            || self
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            || (every > 0 && call.is_multiple_of(every));
        if injected {
            return Err("injected store failure".into());
        }
        Ok(())
    }
}

#[async_trait]
impl WriteStore<u64> for FakeStore {
    async fn write(&self, key: &str, value: &u64) -> Result<(), StoreError> {
        self.enter().await?;
        self.rows.lock().insert(key.to_owned(), *value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.enter().await?;
        self.rows.lock().remove(key);
        Ok(())
    }

    async fn write_batch(&self, batch: &[PendingWrite<u64>]) -> Result<(), StoreError> {
        // All or nothing, like a transaction.
        self.enter().await?;
        self.batch_sizes.lock().push(batch.len());
        let mut rows = self.rows.lock();
        for change in batch {
            match &change.op {
                WriteOp::Put(value) => {
                    rows.insert(change.key.clone(), *value);
                }
                _ => {
                    rows.remove(&change.key);
                }
            }
        }
        Ok(())
    }
}

fn memory() -> Arc<MemoryCache> {
    Arc::new(MemoryCache::new())
}

fn fast_retries() -> Backoff {
    Backoff::new(Duration::from_millis(1), Duration::from_millis(5))
}

#[tokio::test]
async fn write_through_writes_the_store_then_the_cache() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let through = WriteThrough::new(cache.clone(), store.clone(), TTL);
    through.write("entry:1", &7).await.unwrap();
    assert_eq!(store.row("entry:1"), Some(7));
    assert_eq!(cache.get_as::<u64>("entry:1").await.unwrap().unwrap(), 7);
}

#[tokio::test]
async fn write_through_leaves_the_cache_untouched_when_the_store_fails() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    cache.set_as("entry:1", &1u64, TTL).await.unwrap();
    store.fail_always.store(true, Ordering::SeqCst);
    let through = WriteThrough::new(cache.clone(), store.clone(), TTL);
    let err = through.write("entry:1", &2).await.unwrap_err();
    assert!(matches!(err, WriteError::Store { .. }), "{err:?}");
    assert_eq!(cache.get_as::<u64>("entry:1").await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn write_through_reports_a_cache_it_could_neither_update_nor_invalidate() {
    let (cache, store) = (SwitchableCache::new(), Arc::new(FakeStore::default()));
    cache.fail(true);
    let through = WriteThrough::new(cache.clone(), store.clone(), TTL);
    let err = through.write("entry:1", &2).await.unwrap_err();
    assert!(matches!(err, WriteError::Cache(_)), "{err:?}");
    assert_eq!(store.row("entry:1"), Some(2), "the store write stands");
}

#[tokio::test]
async fn write_through_delete_removes_from_both() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let through = WriteThrough::new(cache.clone(), store.clone(), TTL);
    through.write("entry:1", &7).await.unwrap();
    through.delete("entry:1").await.unwrap();
    assert_eq!(store.row("entry:1"), None);
    assert!(cache.get("entry:1").await.unwrap().is_none());
}

#[tokio::test]
async fn write_around_writes_the_store_and_invalidates_the_key() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    cache.set_as("vsync:1", &1u64, TTL).await.unwrap();
    let around = WriteAround::new(cache.clone(), store.clone());
    around.write("vsync:1", &2).await.unwrap();
    assert_eq!(store.row("vsync:1"), Some(2));
    assert!(cache.get("vsync:1").await.unwrap().is_none());
}

#[tokio::test]
async fn write_around_keeps_the_cache_when_the_store_fails() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    cache.set_as("vsync:1", &1u64, TTL).await.unwrap();
    store.fail_always.store(true, Ordering::SeqCst);
    let around = WriteAround::new(cache.clone(), store.clone());
    assert!(around.write("vsync:1", &2).await.is_err());
    assert_eq!(cache.get_as::<u64>("vsync:1").await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn write_behind_caches_at_once_and_flushes_in_batches() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let behind = WriteBehind::builder(cache.clone(), store.clone(), TTL)
        .batch_size(10)
        .flush_interval(HOUR)
        .start();
    for i in 0..25u64 {
        behind.write(&format!("m:{i:02}"), i).await.unwrap();
    }
    assert_eq!(cache.get_as::<u64>("m:24").await.unwrap().unwrap(), 24);
    behind.flush().await.unwrap();
    assert_eq!(behind.queue_depth(), 0);
    assert_eq!(store.rows.lock().len(), 25);
    let sizes = store.batch_sizes.lock().clone();
    assert!(sizes.iter().all(|&n| n <= 10), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 25);
}

#[tokio::test]
async fn write_behind_flushes_every_interval() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let behind = WriteBehind::builder(cache, store.clone(), TTL)
        .flush_interval(Duration::from_millis(20))
        .start();
    behind.write("m:1", 1).await.unwrap();
    eventually("the periodic flush wrote the change", || {
        let row = store.row("m:1");
        async move { row == Some(1) }
    })
    .await;
}

#[tokio::test]
async fn write_behind_coalesces_writes_of_one_key() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let behind = WriteBehind::builder(cache, store.clone(), TTL)
        .flush_interval(HOUR)
        .start();
    for n in 1..=100u64 {
        behind.write("m:1", n).await.unwrap();
    }
    assert_eq!(behind.queue_depth(), 1);
    behind.flush().await.unwrap();
    assert_eq!(*store.batch_sizes.lock(), vec![1]);
    assert_eq!(store.row("m:1"), Some(100));
    assert_eq!(behind.stats().coalesced, 99);
}

#[tokio::test]
async fn write_behind_delete_supersedes_a_pending_write() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    store.rows.lock().insert("m:1".into(), 0);
    let behind = WriteBehind::builder(cache.clone(), store.clone(), TTL)
        .flush_interval(HOUR)
        .start();
    behind.write("m:1", 5).await.unwrap();
    behind.delete("m:1").await.unwrap();
    assert!(cache.get("m:1").await.unwrap().is_none());
    behind.flush().await.unwrap();
    assert_eq!(store.row("m:1"), None);
}

#[tokio::test]
async fn write_behind_retries_a_failed_batch() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    store.fail_next.store(2, Ordering::SeqCst);
    let behind = WriteBehind::builder(cache, store.clone(), TTL)
        .flush_interval(HOUR)
        .retry(5, fast_retries())
        .start();
    behind.write("m:1", 1).await.unwrap();
    behind.flush().await.unwrap();
    assert_eq!(store.row("m:1"), Some(1));
    assert_eq!(behind.stats().store_errors, 2);
}

#[tokio::test]
async fn a_batch_that_fails_every_attempt_stays_queued() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    store.fail_always.store(true, Ordering::SeqCst);
    let behind = WriteBehind::builder(cache, store.clone(), TTL)
        .flush_interval(HOUR)
        .retry(3, fast_retries())
        .start();
    behind.write("m:1", 1).await.unwrap();
    behind.write("m:2", 2).await.unwrap();
    let err = behind.flush().await.unwrap_err();
    assert!(
        matches!(err, WriteError::Unflushed { count: 2, .. }),
        "{err:?}"
    );
    assert_eq!(behind.queue_depth(), 2);
    store.fail_always.store(false, Ordering::SeqCst);
    behind.flush().await.unwrap();
    assert_eq!((store.row("m:1"), store.row("m:2")), (Some(1), Some(2)));
}

#[tokio::test]
async fn a_newer_write_wins_over_a_failed_batch_that_is_requeued() {
    let gate = Arc::new(Semaphore::new(0));
    let (cache, store) = (memory(), Arc::new(FakeStore::gated(gate.clone())));
    store.fail_always.store(true, Ordering::SeqCst);
    let behind = Arc::new(
        WriteBehind::builder(cache, store.clone(), TTL)
            .flush_interval(HOUR)
            .retry(1, fast_retries())
            .start(),
    );
    behind.write("m:1", 1).await.unwrap();
    let flushing = {
        let behind = behind.clone();
        tokio::spawn(async move { behind.flush().await })
    };
    eventually("the batch is being written", || {
        let entered = store.entered.load(Ordering::SeqCst);
        async move { entered == 1 }
    })
    .await;
    behind.write("m:1", 2).await.unwrap(); // while value 1 is in flight
    gate.add_permits(1); // the in-flight batch fails
    assert!(flushing.await.unwrap().is_err());
    store.fail_always.store(false, Ordering::SeqCst);
    gate.add_permits(100);
    behind.flush().await.unwrap();
    assert_eq!(store.row("m:1"), Some(2));
}

#[tokio::test]
async fn a_flush_cancelled_mid_write_loses_nothing() {
    let gate = Arc::new(Semaphore::new(0));
    let (cache, store) = (memory(), Arc::new(FakeStore::gated(gate.clone())));
    let behind = Arc::new(
        WriteBehind::builder(cache, store.clone(), TTL)
            .flush_interval(HOUR)
            .start(),
    );
    behind.write("m:1", 1).await.unwrap();
    let flushing = {
        let behind = behind.clone();
        tokio::spawn(async move { behind.flush().await })
    };
    eventually("the store call has started", || {
        let entered = store.entered.load(Ordering::SeqCst);
        async move { entered == 1 }
    })
    .await;
    flushing.abort();
    let _ = flushing.await;
    assert_eq!(behind.queue_depth(), 1);
    gate.add_permits(100);
    behind.flush().await.unwrap();
    assert_eq!(store.row("m:1"), Some(1));
}

#[tokio::test]
async fn a_full_queue_refuses_writes_when_rejecting() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let behind = WriteBehind::builder(cache, store, TTL)
        .capacity(2)
        .flush_interval(HOUR)
        .when_full(WhenFull::Reject)
        .start();
    behind.write("a", 1).await.unwrap();
    behind.write("b", 2).await.unwrap();
    behind.write("a", 3).await.unwrap(); // coalesced: no new room needed
    let err = behind.write("c", 4).await.unwrap_err();
    assert!(
        matches!(err, WriteError::QueueFull { capacity: 2 }),
        "{err:?}"
    );
    assert_eq!(behind.queue_depth(), 2);
    assert_eq!(behind.stats().rejected, 1);
}

#[tokio::test]
async fn a_full_queue_makes_writers_wait_for_room() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    let behind = Arc::new(
        WriteBehind::builder(cache, store.clone(), TTL)
            .capacity(2)
            .batch_size(100)
            .flush_interval(HOUR)
            .start(),
    );
    behind.write("a", 1).await.unwrap();
    behind.write("b", 2).await.unwrap();
    let writer = {
        let behind = behind.clone();
        tokio::spawn(async move { behind.write("c", 3).await })
    };
    // The full queue wakes the flusher, which makes room: the writer gets in.
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the writer got room")
        .unwrap()
        .unwrap();
    behind.flush().await.unwrap();
    assert_eq!(store.row("c"), Some(3));
    assert_eq!(store.rows.lock().len(), 3);
}

#[tokio::test]
async fn a_waiting_writer_stays_blocked_while_the_store_cannot_make_room() {
    let gate = Arc::new(Semaphore::new(0));
    let (cache, store) = (memory(), Arc::new(FakeStore::gated(gate.clone())));
    let behind = Arc::new(
        WriteBehind::builder(cache, store.clone(), TTL)
            .capacity(1)
            .flush_interval(HOUR)
            .start(),
    );
    behind.write("a", 1).await.unwrap();
    let writer = {
        let behind = behind.clone();
        tokio::spawn(async move { behind.write("b", 2).await })
    };
    // The flusher takes "a" and blocks in the store; "b" must wait for room.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(
        !writer.is_finished(),
        "a full queue must not accept the write"
    );
    gate.add_permits(100);
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("room was made")
        .unwrap()
        .unwrap();
    behind.shutdown().await.unwrap();
    assert_eq!((store.row("a"), store.row("b")), (Some(1), Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_flushes_every_accepted_write_despite_store_failures() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    store.fail_every.store(3, Ordering::SeqCst);
    let behind = Arc::new(
        WriteBehind::builder(cache, store.clone(), TTL)
            .capacity(100)
            .batch_size(16)
            .flush_interval(Duration::from_millis(10))
            .retry(10, fast_retries())
            .start(),
    );
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let behind = behind.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..200u64 {
                behind
                    .write(&format!("k:{w}:{i}"), w * 1000 + i)
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    behind.shutdown().await.unwrap();
    let rows = store.rows.lock();
    assert_eq!(rows.len(), 1600);
    for w in 0..8u64 {
        for i in 0..200u64 {
            assert_eq!(rows.get(&format!("k:{w}:{i}")), Some(&(w * 1000 + i)));
        }
    }
    assert!(
        behind.stats().store_errors > 0,
        "the test must inject failures"
    );
}

#[tokio::test]
async fn shutdown_reports_and_hands_over_what_the_store_refused() {
    let (cache, store) = (memory(), Arc::new(FakeStore::default()));
    store.fail_always.store(true, Ordering::SeqCst);
    let behind = WriteBehind::builder(cache, store.clone(), TTL)
        .flush_interval(HOUR)
        .retry(2, fast_retries())
        .start();
    behind.write("m:1", 1).await.unwrap();
    behind.delete("m:2").await.unwrap();
    let err = behind.shutdown().await.unwrap_err();
    assert!(
        matches!(err, WriteError::Unflushed { count: 2, .. }),
        "{err:?}"
    );
    assert!(matches!(
        behind.write("m:3", 3).await,
        Err(WriteError::ShutDown)
    ));
    let unflushed = behind.take_unflushed();
    assert_eq!(
        unflushed,
        vec![
            PendingWrite::new("m:1", WriteOp::Put(1)),
            PendingWrite::new("m:2", WriteOp::Delete)
        ]
    );
}
