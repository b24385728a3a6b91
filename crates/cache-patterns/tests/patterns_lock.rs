//! Distributed locks on the in-memory backend.

mod patterns_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_patterns::lock::DistributedLock;
use patterns_support::eventually;
use tokio::time::Instant;

const LONG: Duration = Duration::from_secs(60);

fn locks() -> (Arc<MemoryCache>, DistributedLock) {
    let cache = Arc::new(MemoryCache::new());
    (cache.clone(), DistributedLock::new(cache))
}

#[tokio::test]
async fn a_lock_is_exclusive_until_released() {
    let (_, locks) = locks();
    let guard = locks.try_acquire("job", LONG).await.unwrap().unwrap();
    assert!(locks.try_acquire("job", LONG).await.unwrap().is_none());
    assert!(guard.release().await.unwrap());
    assert!(locks.try_acquire("job", LONG).await.unwrap().is_some());
}

#[tokio::test]
async fn a_holder_whose_ttl_ran_out_cannot_release_the_next_holders_lock() {
    let (_, locks) = locks();
    let late = locks
        .try_acquire("job", Duration::from_millis(30))
        .await
        .unwrap()
        .unwrap();
    let next = Arc::new(parking_lot::Mutex::new(None));
    eventually("the first lock expires and another holder takes it", || {
        let (locks, next) = (locks.clone(), next.clone());
        async move {
            let guard = locks.try_acquire("job", LONG).await.unwrap();
            let taken = guard.is_some();
            *next.lock() = guard;
            taken
        }
    })
    .await;
    assert!(!late.release().await.unwrap(), "not the holder any more");
    assert!(
        locks.try_acquire("job", LONG).await.unwrap().is_none(),
        "the next holder's lock is intact"
    );
    assert_eq!(locks.stats().lost, 1);
}

#[tokio::test]
async fn an_expired_lock_cannot_be_extended() {
    let (cache, locks) = locks();
    let guard = locks
        .try_acquire("job", Duration::from_millis(30))
        .await
        .unwrap()
        .unwrap();
    eventually("the lock expires", || {
        let cache = cache.clone();
        async move { cache.get("lock:job").await.is_ok_and(|v| v.is_none()) }
    })
    .await;
    assert!(!guard.extend(LONG).await.unwrap());
    assert!(
        cache.get("lock:job").await.unwrap().is_none(),
        "extension must not revive it"
    );
}

#[tokio::test]
async fn a_held_lock_can_be_extended() {
    let (cache, locks) = locks();
    let guard = locks
        .try_acquire("job", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert!(guard.extend(LONG).await.unwrap());
    let extended_at = Instant::now();
    // Wait past the original TTL: the lock is still there.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(extended_at.elapsed() >= Duration::from_millis(400));
    assert!(cache.get("lock:job").await.is_ok_and(|v| v.is_some()));
    assert!(locks.try_acquire("job", LONG).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_keeps_a_lock_past_its_ttl_and_stops_at_the_cap() {
    let ttl = Duration::from_secs(1);
    let cap = Duration::from_secs(4);
    let (_, locks) = locks();
    let watched = locks.clone().watchdog(cap);
    let started = Instant::now();
    let guard = watched.try_acquire("job", ttl).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        locks.try_acquire("job", LONG).await.unwrap().is_none(),
        "held 2.5 × TTL later thanks to the watchdog"
    );
    assert!(!guard.is_lost());
    eventually("the lock expires after the cap", || {
        let locks = locks.clone();
        async move { locks.try_acquire("job", LONG).await.unwrap().is_some() }
    })
    .await;
    let held = started.elapsed();
    assert!(
        held >= cap.mul_f64(0.9),
        "expired after {held:?}, before the cap"
    );
    assert!(locks.stats().extended >= 3);
    drop(guard);
}

#[tokio::test]
async fn the_watchdog_notices_a_lost_lock() {
    let (cache, locks) = locks();
    let guard = locks
        .clone()
        .watchdog(LONG)
        .try_acquire("job", Duration::from_millis(150))
        .await
        .unwrap()
        .unwrap();
    // Someone (an operator) removes the lock by hand.
    cache.delete("lock:job").await.unwrap();
    eventually("the watchdog reports the loss", || {
        let lost = guard.is_lost();
        async move { lost }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_task_holds_the_lock_at_a_time() {
    const TASKS: usize = 16;
    const ROUNDS: usize = 100;
    let (_, locks) = locks();
    let locks = locks.wait(Duration::from_secs(60));
    let inside = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (locks, inside, entries) = (locks.clone(), inside.clone(), entries.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                locks
                    .with_lock("counter", LONG, |_| async {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        tokio::task::yield_now().await;
                        entries.fetch_add(1, Ordering::SeqCst);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(entries.load(Ordering::SeqCst), TASKS * ROUNDS);
    assert!(
        locks.stats().contended > 0,
        "the test must create contention"
    );
}

#[tokio::test]
async fn fencing_tokens_grow_with_every_acquisition() {
    let (_, locks) = locks();
    let locks = locks.fencing(true);
    let mut last = 0;
    for _ in 0..5 {
        let guard = locks.try_acquire("job", LONG).await.unwrap().unwrap();
        let token = guard.fencing_token().unwrap();
        assert!(token > last, "{token} after {last}");
        last = token;
        guard.release().await.unwrap();
    }
}

#[tokio::test]
async fn the_fencing_check_after_acquiring_is_not_counted_as_an_extension() {
    let (_, locks) = locks();
    let locks = locks.fencing(true);
    let guard = locks.try_acquire("job", LONG).await.unwrap().unwrap();
    assert!(guard.fencing_token().is_some());
    assert_eq!(locks.stats().acquired, 1);
    assert_eq!(locks.stats().extended, 0, "acquiring extended nothing");
    assert!(guard.extend(LONG).await.unwrap());
    assert_eq!(locks.stats().extended, 1, "a real extension counts");
    guard.release().await.unwrap();
}

#[tokio::test]
async fn with_lock_passes_the_fencing_token() {
    let (_, locks) = locks();
    let locks = locks.fencing(true);
    let first = locks
        .with_lock("job", LONG, |info| async move { info.fencing_token })
        .await
        .unwrap();
    let second = locks
        .with_lock("job", LONG, |info| async move { info.fencing_token })
        .await
        .unwrap();
    assert!(second.unwrap() > first.unwrap());
}

#[tokio::test]
async fn a_dropped_guard_releases_the_lock() {
    let (_, locks) = locks();
    let guard = locks.try_acquire("job", LONG).await.unwrap().unwrap();
    drop(guard);
    eventually("the dropped guard's lock is released", || {
        let locks = locks.clone();
        async move { locks.try_acquire("job", LONG).await.unwrap().is_some() }
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_holder_still_releases_the_lock() {
    let (_, locks) = locks();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let holder = {
        let locks = locks.clone();
        tokio::spawn(async move {
            locks
                .with_lock("job", LONG, |_| async move {
                    let _ = entered_tx.send(());
                    std::future::pending::<()>().await
                })
                .await
        })
    };
    entered_rx.await.unwrap();
    assert!(locks.try_acquire("job", LONG).await.unwrap().is_none());
    holder.abort();
    eventually("the cancelled holder's lock is released", || {
        let locks = locks.clone();
        async move { locks.try_acquire("job", LONG).await.unwrap().is_some() }
    })
    .await;
}

#[tokio::test]
async fn with_lock_on_a_busy_lock_fails_with_cas_failed_after_the_wait() {
    let (_, locks) = locks();
    let _held = locks.try_acquire("job", LONG).await.unwrap().unwrap();
    let waiting = locks.clone().wait(Duration::from_millis(50));
    let started = Instant::now();
    let err = waiting
        .with_lock("job", LONG, |_| async { unreachable!("never acquired") })
        .await
        .unwrap_err();
    assert!(err.is_cas_failed(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    let stats = locks.stats();
    assert_eq!(stats.timed_out, 1);
    assert!(stats.contended >= 2, "{stats:?}");
}

#[tokio::test]
async fn acquire_waits_until_the_holder_releases() {
    let (_, locks) = locks();
    let held = locks.try_acquire("job", LONG).await.unwrap().unwrap();
    let waiter = {
        let locks = locks.clone();
        tokio::spawn(async move { locks.acquire("job", LONG, Duration::from_secs(30)).await })
    };
    eventually("the waiter is contending", || {
        let contended = locks.stats().contended;
        async move { contended >= 1 }
    })
    .await;
    held.release().await.unwrap();
    let guard = waiter.await.unwrap().unwrap();
    assert!(guard.is_some());
}

#[test]
fn a_guard_never_prints_its_token() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (cache, locks) = locks();
        let guard = locks.try_acquire("job", LONG).await.unwrap().unwrap();
        let token = cache.get("lock:job").await.unwrap().unwrap();
        let printed = format!("{guard:?}");
        assert!(
            !printed.contains(std::str::from_utf8(&token).unwrap()),
            "{printed}"
        );
        assert_eq!(token.len(), 32, "128 random bits in hex");
    });
}
