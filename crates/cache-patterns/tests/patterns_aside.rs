//! Cache-aside and read-through on the in-memory backend.

mod patterns_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{Cache, CacheError, ErrorKind, Operation, TypedCacheExt};
use cache_memory::MemoryCache;
use cache_patterns::aside::{AsideError, CacheAside, ReadThrough, RememberedFailure};
use cache_testing::faulty::FaultyCache;
use patterns_support::{ManualClock, SwitchableCache, eventually};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};

const TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.to_owned(),
    }
}

fn memory() -> Arc<MemoryCache> {
    Arc::new(MemoryCache::new())
}

type LoadResult<T> = Result<T, std::io::Error>;

#[tokio::test]
async fn a_miss_runs_the_loader_stores_and_returns_its_value() {
    let cache = memory();
    let aside = CacheAside::new(cache.clone());
    let got = aside
        .get_or_load("user:1", TTL, || async { LoadResult::Ok(user(1, "Ada")) })
        .await
        .unwrap();
    assert_eq!(got, user(1, "Ada"));
    assert_eq!(
        cache.get_as::<User>("user:1").await.unwrap().unwrap(),
        user(1, "Ada")
    );
    let stats = aside.stats();
    assert_eq!((stats.misses, stats.loads, stats.hits), (1, 1, 0));
}

#[tokio::test]
async fn a_hit_returns_the_cached_value_without_loading() {
    let cache = memory();
    cache.set_as("user:1", &user(1, "Ada"), TTL).await.unwrap();
    let aside = CacheAside::new(cache);
    let got: User = aside
        .get_or_load("user:1", TTL, || async {
            LoadResult::Err(std::io::Error::other("the loader must not run on a hit"))
        })
        .await
        .unwrap();
    assert_eq!(got, user(1, "Ada"));
    assert_eq!((aside.stats().hits, aside.stats().loads), (1, 0));
}

/// Starts a `get_or_load` of `key` whose loader returns `value` once the
/// returned gate is notified; returns when the loader is running.
async fn gated_load(
    aside: &CacheAside,
    key: &'static str,
    value: u32,
) -> (
    tokio::task::JoinHandle<Result<u32, AsideError>>,
    Arc<Notify>,
) {
    let release = Arc::new(Notify::new());
    let (entered_tx, entered_rx) = oneshot::channel();
    let (aside, gate) = (aside.clone(), release.clone());
    let task = tokio::spawn(async move {
        aside
            .get_or_load(key, TTL, move || async move {
                let _ = entered_tx.send(());
                gate.notified().await;
                LoadResult::Ok(value)
            })
            .await
    });
    entered_rx.await.unwrap();
    (task, release)
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_fail_the_others() {
    let aside = CacheAside::new(memory());
    let (leader, release) = gated_load(&aside, "slow", 1).await;
    // A follower that times out while the leader loads.
    let impatient = tokio::time::timeout(
        Duration::from_millis(20),
        aside.get_or_load("slow", TTL, || async { LoadResult::Ok(2u32) }),
    )
    .await;
    assert!(impatient.is_err(), "the follower gave up");
    release.notify_one();
    assert_eq!(leader.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn when_the_leader_is_cancelled_a_waiting_caller_loads_instead() {
    let aside = CacheAside::new(memory());
    let (entered_tx, entered_rx) = oneshot::channel();
    let leader = {
        let aside = aside.clone();
        tokio::spawn(async move {
            aside
                .get_or_load("k", TTL, move || async move {
                    let _ = entered_tx.send(());
                    std::future::pending::<LoadResult<u32>>().await
                })
                .await
        })
    };
    entered_rx.await.unwrap();
    let follower = {
        let aside = aside.clone();
        tokio::spawn(async move {
            aside
                .get_or_load("k", TTL, || async { LoadResult::Ok(42u32) })
                .await
        })
    };
    eventually("the follower waits on the leader", || {
        let misses = aside.stats().misses;
        async move { misses == 2 }
    })
    .await;
    leader.abort();
    let value = tokio::time::timeout(patterns_support::DEADLINE, follower)
        .await
        .expect("the follower took over")
        .unwrap()
        .unwrap();
    assert_eq!(value, 42);
}

#[tokio::test]
async fn a_stored_value_that_no_longer_decodes_is_a_miss_and_is_overwritten() {
    let cache = memory();
    cache.set("user:1", b"\x01not a user", TTL).await.unwrap();
    let aside = CacheAside::new(cache.clone());
    let got = aside
        .get_or_load("user:1", TTL, || async { LoadResult::Ok(user(1, "Ada")) })
        .await
        .unwrap();
    assert_eq!(got, user(1, "Ada"));
    assert_eq!(
        cache.get_as::<User>("user:1").await.unwrap().unwrap(),
        user(1, "Ada")
    );
    assert_eq!(aside.stats().loads, 1);
}

#[tokio::test]
async fn loader_errors_are_not_cached() {
    let aside = CacheAside::new(memory());
    let err = aside
        .get_or_load("k", TTL, || async {
            LoadResult::<u32>::Err(std::io::Error::other("db down"))
        })
        .await
        .unwrap_err();
    assert!(err.is_load(), "{err:?}");
    let got = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(5u32) })
        .await
        .unwrap();
    assert_eq!(got, 5);
    assert_eq!((aside.stats().loads, aside.stats().load_errors), (2, 1));
}

#[tokio::test]
async fn the_loader_error_reaches_the_caller_and_can_be_downcast() {
    #[derive(Debug, thiserror::Error)]
    #[error("no such user")]
    struct NoSuchUser;

    let aside = CacheAside::new(memory());
    let err = aside
        .get_or_load("user:404", TTL, || async { Err::<User, _>(NoSuchUser) })
        .await
        .unwrap_err();
    let AsideError::Load {
        source, remembered, ..
    } = err
    else {
        panic!("expected a load error, got {err:?}");
    };
    assert!(!remembered);
    assert!(source.downcast_ref::<NoSuchUser>().is_some());
}

#[tokio::test]
async fn negative_caching_remembers_a_failure_for_its_ttl() {
    let aside = CacheAside::new(memory()).negative_ttl(Duration::from_secs(60));
    let first = aside
        .get_or_load("k", TTL, || async {
            LoadResult::<u32>::Err(std::io::Error::other("db down"))
        })
        .await
        .unwrap_err();
    assert!(matches!(
        first,
        AsideError::Load {
            remembered: false,
            ..
        }
    ));
    let second = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap_err();
    let AsideError::Load {
        source, remembered, ..
    } = second
    else {
        panic!("expected the remembered failure");
    };
    assert!(remembered);
    let remembered = source.downcast_ref::<RememberedFailure>().unwrap();
    assert_eq!(remembered.message, "db down");
    assert_eq!((aside.stats().loads, aside.stats().negative_hits), (1, 1));
}

#[tokio::test]
async fn a_remembered_failure_expires_after_the_negative_ttl() {
    let aside = CacheAside::new(memory()).negative_ttl(Duration::from_millis(50));
    let _ = aside
        .get_or_load("k", TTL, || async {
            LoadResult::<u32>::Err(std::io::Error::other("db down"))
        })
        .await;
    eventually("the failure is forgotten", || {
        let aside = aside.clone();
        async move {
            aside
                .get_or_load("k", TTL, || async { LoadResult::Ok(9u32) })
                .await
                .is_ok_and(|v| v == 9)
        }
    })
    .await;
}

#[tokio::test]
async fn the_loader_may_choose_the_ttl_from_its_result() {
    let cache = memory();
    let aside = CacheAside::new(cache.clone());
    let token: String = aside
        .get_or_load_expiring("token:svc", || async {
            // e.g. an access token that expires in 50 ms
            LoadResult::Ok(("tok-1".to_owned(), Duration::from_millis(50)))
        })
        .await
        .unwrap();
    assert_eq!(token, "tok-1");
    eventually("the token entry expires with the loader's TTL", || {
        let cache = cache.clone();
        async move { cache.get("token:svc").await.is_ok_and(|v| v.is_none()) }
    })
    .await;
}

#[tokio::test]
async fn a_failing_cache_degrades_to_the_loader_when_failing_open() {
    let cache = SwitchableCache::new();
    cache.fail(true);
    let aside = CacheAside::new(cache.clone());
    let got = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(3u32) })
        .await
        .unwrap();
    assert_eq!(got, 3);
    let stats = aside.stats();
    assert_eq!(stats.degraded, 1);
    assert!(stats.cache_errors >= 2, "{stats:?}"); // the lookups and the store
}

#[tokio::test]
async fn a_failing_cache_fails_the_call_when_failing_closed() {
    let cache = SwitchableCache::new();
    cache.fail(true);
    let aside = CacheAside::new(cache.clone()).fail_open(false);
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = loads.clone();
    let err = aside
        .get_or_load("k", TTL, move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            LoadResult::Ok(3u32)
        })
        .await
        .unwrap_err();
    assert!(
        err.cache_error().is_some_and(|e| e.is_transient()),
        "{err:?}"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 0);
}

/// A memory cache whose `op` calls fail with an ACL refusal, as Redis's
/// `NOPERM` maps.
fn refusing(op: Operation) -> Arc<FaultyCache<MemoryCache>> {
    let cache = Arc::new(FaultyCache::new(memory()));
    cache.set_error(
        CacheError::new(ErrorKind::PermissionDenied, op)
            .with_source(std::io::Error::other("NOPERM injected")),
    );
    cache.fail_operation(op);
    cache
}

/// A loader that counts its runs.
fn counting_loader(
    loads: &Arc<AtomicUsize>,
) -> impl FnOnce() -> std::future::Ready<LoadResult<u32>> + Send + 'static {
    let loads = loads.clone();
    move || {
        loads.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(3u32))
    }
}

#[tokio::test]
async fn a_refused_read_fails_the_call_even_when_failing_open() {
    let cache = refusing(Operation::Get);
    let aside = CacheAside::new(cache.clone());
    let loads = Arc::new(AtomicUsize::new(0));
    let err = aside
        .get_or_load("k", TTL, counting_loader(&loads))
        .await
        .unwrap_err();
    let cause = err.cache_error().expect("a cache error");
    assert_eq!(cause.kind(), ErrorKind::PermissionDenied, "{err:?}");
    assert!(!cause.is_transient());
    assert_eq!(
        loads.load(Ordering::SeqCst),
        0,
        "the loader must not hide it"
    );
    assert_eq!(aside.stats().degraded, 0);
}

#[tokio::test]
async fn a_refused_store_of_the_loaded_value_fails_the_call() {
    let cache = refusing(Operation::Set);
    let aside = CacheAside::new(cache.clone());
    let loads = Arc::new(AtomicUsize::new(0));
    let err = aside
        .get_or_load("k", TTL, counting_loader(&loads))
        .await
        .unwrap_err();
    assert!(
        err.cache_error().is_some_and(CacheError::is_refused),
        "{err:?}"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(aside.stats().cache_errors >= 1);
}

#[tokio::test]
async fn a_transient_store_failure_still_returns_the_loaded_value() {
    let cache = Arc::new(FaultyCache::new(memory()));
    cache.fail_operation(Operation::Set); // the default fault: a connection error
    let aside = CacheAside::new(cache.clone());
    let got: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(3u32) })
        .await
        .unwrap();
    assert_eq!(got, 3);
}

#[tokio::test]
async fn a_refused_cross_process_lock_fails_the_call_instead_of_loading_without_it() {
    // The lock is taken with compare_and_set; reads and writes of values pass.
    let cache = refusing(Operation::CompareAndSet);
    let aside = CacheAside::new(cache.clone()).cross_process_lock(TTL, Duration::from_secs(1));
    let loads = Arc::new(AtomicUsize::new(0));
    let err = aside
        .get_or_load("k", TTL, counting_loader(&loads))
        .await
        .unwrap_err();
    assert_eq!(
        err.cache_error().map(CacheError::kind),
        Some(ErrorKind::PermissionDenied),
        "{err:?}"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 0);

    // A transient lock failure still degrades to loading without the lock.
    cache.set_error(CacheError::timeout(
        Operation::CompareAndSet,
        Some("k"),
        Duration::from_millis(5),
    ));
    let got: u32 = aside
        .get_or_load("k", TTL, counting_loader(&loads))
        .await
        .unwrap();
    assert_eq!((got, loads.load(Ordering::SeqCst)), (3, 1));
}

#[tokio::test]
async fn past_the_soft_ttl_the_caller_refreshes_the_value() {
    let clock = ManualClock::new();
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(10))
        .clock(clock.clock());
    let v1: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    assert_eq!(v1, 1);
    clock.advance(Duration::from_secs(5));
    let still: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(2u32) })
        .await
        .unwrap();
    assert_eq!(still, 1, "fresh before the soft TTL");
    clock.advance(Duration::from_secs(6));
    let refreshed: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(2u32) })
        .await
        .unwrap();
    assert_eq!(refreshed, 2);
}

#[tokio::test]
async fn a_stale_value_is_served_while_the_loader_fails() {
    let clock = ManualClock::new();
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(10))
        .clock(clock.clock());
    let _: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(11));
    let stale: u32 = aside
        .get_or_load("k", TTL, || async {
            LoadResult::Err(std::io::Error::other("db down"))
        })
        .await
        .unwrap();
    assert_eq!(stale, 1);
    let stats = aside.stats();
    assert_eq!((stats.stale_served, stats.load_errors), (1, 1));
}

#[tokio::test]
async fn a_stale_value_is_not_served_past_the_hard_ttl() {
    let clock = ManualClock::new();
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_millis(10))
        .clock(clock.clock());
    let _: u32 = aside
        .get_or_load("k", Duration::from_millis(100), || async {
            LoadResult::Ok(1u32)
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    // The hard TTL is the backend's: once it passes, the failure shows.
    eventually("the hard TTL ends stale serving", || {
        let aside = aside.clone();
        async move {
            aside
                .get_or_load("k", TTL, || async {
                    LoadResult::<u32>::Err(std::io::Error::other("db down"))
                })
                .await
                .is_err()
        }
    })
    .await;
}

#[tokio::test]
async fn background_refresh_serves_stale_at_once_and_refreshes_behind() {
    let clock = ManualClock::new();
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(10))
        .background_refresh(true)
        .clock(clock.clock());
    let (served, release) = stale_then_gated_reload(&aside, &clock).await;
    assert_eq!(served, 1, "stale, without waiting for the refresh");
    release.notify_one();
    eventually_cached(&aside, "k", 2).await;
}

/// Loads 1 at "k", lets it go stale (soft TTL 10 s), then calls again
/// with a loader of 2 that waits for the returned gate; returns what that
/// call answered.
async fn stale_then_gated_reload(aside: &CacheAside, clock: &ManualClock) -> (u32, Arc<Notify>) {
    let _: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(11));
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let served: u32 = aside
        .get_or_load("k", TTL, move || async move {
            gate.notified().await;
            LoadResult::Ok(2u32)
        })
        .await
        .unwrap();
    (served, release)
}

/// Waits until `reader`, whose loader always fails (so only the cache can
/// answer), reads `want` at `key`.
async fn eventually_cached(reader: &CacheAside, key: &'static str, want: u32) {
    eventually("the cache holds the new value", || {
        let reader = reader.clone();
        async move {
            reader
                .get_or_load(key, TTL, || async {
                    LoadResult::Err(std::io::Error::other("only the cache can answer"))
                })
                .await
                .is_ok_and(|v: u32| v == want)
        }
    })
    .await;
}

#[tokio::test]
async fn jitter_never_lengthens_a_ttl() {
    let cache = memory();
    let aside = CacheAside::new(cache.clone()).jitter(0.5);
    for i in 0..20 {
        let key = format!("j:{i}");
        let _: u32 = aside
            .get_or_load(&key, Duration::from_millis(40), || async {
                LoadResult::Ok(1u32)
            })
            .await
            .unwrap();
    }
    // Every entry is gone once the unjittered TTL has passed.
    eventually("all jittered entries expired", || {
        let cache = cache.clone();
        async move {
            let keys: Vec<String> = (0..20).map(|i| format!("j:{i}")).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            cache
                .get_many(&keys)
                .await
                .unwrap()
                .iter()
                .all(Option::is_none)
        }
    })
    .await;
}

#[tokio::test]
async fn two_processes_with_the_cross_process_lock_load_once() {
    let cache = memory();
    // Two CacheAside instances share no in-process flight: like two processes.
    let a = CacheAside::new(cache.clone()).cross_process_lock(TTL, Duration::from_secs(30));
    let b = CacheAside::new(cache.clone()).cross_process_lock(TTL, Duration::from_secs(30));
    let loads = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (entered_tx, entered_rx) = oneshot::channel();
    let first = {
        let (loads, release) = (loads.clone(), release.clone());
        tokio::spawn(async move {
            a.get_or_load("report", TTL, move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                let _ = entered_tx.send(());
                release.notified().await;
                LoadResult::Ok(10u32)
            })
            .await
        })
    };
    entered_rx.await.unwrap();
    let attempts_before = cache.stats().ops(cache_core::Operation::CompareAndSet);
    let second = {
        let loads = loads.clone();
        tokio::spawn(async move {
            b.get_or_load("report", TTL, move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                LoadResult::Ok(20u32)
            })
            .await
        })
    };
    eventually("the second process found the lock taken", || {
        let n = cache.stats().ops(cache_core::Operation::CompareAndSet);
        async move { n > attempts_before }
    })
    .await;
    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap(), 10);
    assert_eq!(
        second.await.unwrap().unwrap(),
        10,
        "waited for the first's value"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn read_through_loads_each_key_with_the_bound_loader() {
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = loads.clone();
    let aside = CacheAside::new(memory()).ttl(TTL);
    let users = ReadThrough::new(aside, move |key: String| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let id: u64 = key.trim_start_matches("user:").parse().unwrap();
            LoadResult::Ok(user(id, "loaded"))
        }
    });
    assert_eq!(users.get("user:1").await.unwrap(), user(1, "loaded"));
    assert_eq!(users.get("user:2").await.unwrap(), user(2, "loaded"));
    assert_eq!(users.get("user:1").await.unwrap(), user(1, "loaded"));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert!(users.invalidate("user:1").await.unwrap());
    assert_eq!(users.get("user:1").await.unwrap(), user(1, "loaded"));
    assert_eq!(loads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn past_the_factory_soft_timeout_the_caller_gets_the_stale_value_and_the_cache_the_fresh_one()
{
    let (cache, _) = cache_testing::fake_cache();
    let cache = Arc::new(cache);
    let clock = ManualClock::new();
    let aside = CacheAside::new(cache.clone())
        .soft_ttl(Duration::from_secs(10))
        .factory_soft_timeout(Duration::from_millis(20))
        .clock(clock.clock());
    let (served, release) = stale_then_gated_reload(&aside, &clock).await;
    assert_eq!(served, 1, "the stale value, once the soft timeout ran out");
    release.notify_one();
    let reader = CacheAside::new(cache.clone())
        .soft_ttl(Duration::from_secs(10))
        .clock(clock.clock());
    eventually_cached(&reader, "k", 2).await;
    assert_eq!(
        aside.stats().loads,
        2,
        "the timed-out load was not repeated"
    );
}

#[tokio::test]
async fn without_a_stale_value_the_soft_timeout_does_not_apply() {
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(10))
        .factory_soft_timeout(Duration::from_millis(1));
    let got: u32 = aside
        .get_or_load("k", TTL, || async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            LoadResult::Ok(7u32)
        })
        .await
        .unwrap();
    assert_eq!(
        got, 7,
        "nothing stale to serve: the caller waits for the loader"
    );
}

#[tokio::test]
async fn past_the_factory_hard_timeout_the_call_fails_and_the_load_completes_behind() {
    let (cache, _) = cache_testing::fake_cache();
    let cache = Arc::new(cache);
    let aside = CacheAside::new(cache.clone())
        .factory_hard_timeout(Duration::from_millis(20))
        .negative_ttl(TTL);
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let err = aside
        .get_or_load("k", TTL, move || async move {
            gate.notified().await;
            LoadResult::Ok(3u32)
        })
        .await
        .unwrap_err();
    let AsideError::Load {
        source, remembered, ..
    } = &err
    else {
        panic!("expected a load error, got {err:?}");
    };
    assert!(!remembered);
    let timeout = source
        .downcast_ref::<cache_patterns::aside::FactoryTimeout>()
        .expect("the source is a FactoryTimeout");
    assert!(!timeout.soft);
    release.notify_one();
    eventually("the timed-out load stored its value", || {
        let cache = cache.clone();
        async move { cache.get_as::<u32>("k").await.ok().flatten() == Some(3) }
    })
    .await;
}

#[tokio::test]
async fn a_hit_past_the_eager_refresh_threshold_refreshes_once_in_the_background() {
    let cache = memory();
    let clock = ManualClock::new();
    let aside = CacheAside::new(cache.clone())
        .eager_refresh_threshold(0.5)
        .clock(clock.clock());
    // Reads what is stored without refreshing anything.
    let reader = CacheAside::new(cache.clone()).clock(clock.clock());
    let _: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(20));
    let early: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(99u32) })
        .await
        .unwrap();
    assert_eq!(
        (early, aside.stats().loads),
        (1, 1),
        "before the threshold: a plain hit"
    );

    clock.advance(Duration::from_secs(11)); // 31 s of 60: past half
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let (gate, runs) = (release.clone(), runs.clone());
        let got: u32 = aside
            .get_or_load("k", TTL, move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                LoadResult::Ok(2u32)
            })
            .await
            .unwrap();
        assert_eq!(got, 1, "a hit answers at once with the cached value");
    }
    release.notify_one();
    eventually_cached(&reader, "k", 2).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one refresh per key at a time"
    );
    assert_eq!(aside.stats().hits, 6);
}

#[tokio::test]
async fn an_eager_refresh_threshold_outside_zero_to_one_is_off() {
    for t in [0.0, 1.0, -0.5, f64::NAN] {
        let debug = format!("{:?}", CacheAside::new(memory()).eager_refresh_threshold(t));
        assert!(
            debug.contains("eager_refresh_threshold: None"),
            "{t}: {debug}"
        );
    }
}

type Loaded = std::collections::HashMap<String, u32>;

#[tokio::test]
async fn get_many_or_load_looks_up_once_and_loads_only_the_misses_in_one_call() {
    let cache = memory();
    cache.set_as("a", &1u32, TTL).await.unwrap();
    let aside = CacheAside::new(cache.clone());
    let asked = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let record = asked.clone();
    let got = aside
        .get_many_or_load(
            &["a", "b", "c", "b"],
            TTL,
            move |keys: Vec<String>| async move {
                record.lock().push(keys.clone());
                LoadResult::Ok(
                    keys.into_iter()
                        .map(|k| (k.clone(), k.len() as u32 + 10))
                        .collect::<Loaded>(),
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        Loaded::from([("a".into(), 1), ("b".into(), 11), ("c".into(), 11)])
    );
    let mut calls = asked.lock().clone();
    calls.iter_mut().for_each(|c| c.sort());
    assert_eq!(
        calls,
        vec![vec!["b".to_owned(), "c".to_owned()]],
        "one loader call, misses only"
    );
    assert_eq!(cache.get_as::<u32>("c").await.unwrap(), Some(11), "stored");
    let again = aside
        .get_many_or_load(&["a", "b", "c"], TTL, |_keys: Vec<String>| async {
            LoadResult::<Loaded>::Err(std::io::Error::other("everything is cached"))
        })
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    let stats = aside.stats();
    assert_eq!((stats.hits, stats.misses, stats.loads), (4, 2, 1));
}

#[tokio::test]
async fn get_many_or_load_joins_a_flight_already_loading_a_key() {
    let aside = CacheAside::new(memory());
    let (single, release) = gated_load(&aside, "b", 20).await;
    let asked = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let record = asked.clone();
    let batch = {
        let aside = aside.clone();
        tokio::spawn(async move {
            aside
                .get_many_or_load(&["a", "b"], TTL, move |keys: Vec<String>| async move {
                    record.lock().extend(keys.clone());
                    LoadResult::Ok(keys.into_iter().map(|k| (k, 99u32)).collect::<Loaded>())
                })
                .await
        })
    };
    eventually("the batch loaded its own miss", || {
        let asked = asked.clone();
        async move { !asked.lock().is_empty() }
    })
    .await;
    release.notify_one();
    let got = batch.await.unwrap().unwrap();
    assert_eq!(
        got,
        Loaded::from([("a".into(), 99), ("b".into(), 20)]),
        "b from the running flight"
    );
    assert_eq!(
        *asked.lock(),
        vec!["a".to_owned()],
        "b was not loaded again"
    );
    assert_eq!(single.await.unwrap().unwrap(), 20);
}

#[tokio::test]
async fn keys_the_batch_loader_leaves_out_are_absent_and_not_cached() {
    let cache = memory();
    let aside = CacheAside::new(cache.clone());
    let got = aside
        .get_many_or_load(&["a", "gone"], TTL, |_keys: Vec<String>| async {
            LoadResult::Ok(Loaded::from([("a".into(), 1), ("unasked".into(), 5)]))
        })
        .await
        .unwrap();
    assert_eq!(got, Loaded::from([("a".into(), 1)]));
    assert_eq!(cache.get("gone").await.unwrap(), None);
    assert_eq!(
        cache.get("unasked").await.unwrap(),
        None,
        "only asked-for keys are stored"
    );
}

#[tokio::test]
async fn a_failing_batch_loader_fails_the_call_but_serves_stale_values() {
    let clock = ManualClock::new();
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(10))
        .clock(clock.clock());
    let _: u32 = aside
        .get_or_load("a", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(11));
    let fail = || {
        |_keys: Vec<String>| async { LoadResult::<Loaded>::Err(std::io::Error::other("db down")) }
    };
    let stale = aside.get_many_or_load(&["a"], TTL, fail()).await.unwrap();
    assert_eq!(stale, Loaded::from([("a".into(), 1)]));
    let err = aside
        .get_many_or_load(&["a", "b"], TTL, fail())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AsideError::Load { key, .. } if key == "b"),
        "{err:?}"
    );
}

/// A loader that counts its runs.
type CountedLoader = Box<dyn FnOnce() -> std::future::Ready<LoadResult<u32>> + Send>;

/// A run counter and a maker of loaders of `value` that count in it.
fn counting(value: u32) -> (Arc<AtomicUsize>, impl Fn() -> CountedLoader) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    (runs, move || {
        let counter = counter.clone();
        Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(LoadResult::Ok(value))
        })
    })
}

#[tokio::test]
async fn clear_drops_every_value_of_one_namespace_at_once_and_no_other() {
    use cache_patterns::namespace::Namespaced;
    let shared: Arc<dyn Cache> = memory();
    let orders = CacheAside::new(Arc::new(Namespaced::new(shared.clone(), "orders:")))
        .clearable(Duration::ZERO);
    let users = CacheAside::new(Arc::new(Namespaced::new(shared.clone(), "users:")))
        .clearable(Duration::ZERO);
    let (runs, loader) = counting(1);
    for key in ["a", "b"] {
        let _: u32 = orders.get_or_load(key, TTL, loader()).await.unwrap();
        let _: u32 = users.get_or_load(key, TTL, loader()).await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    orders.clear().await.unwrap();
    for key in ["a", "b"] {
        let _: u32 = orders.get_or_load(key, TTL, loader()).await.unwrap();
        let _: u32 = users.get_or_load(key, TTL, loader()).await.unwrap();
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        6,
        "orders reloaded, users still cached"
    );
    assert!(
        shared.get("orders:a").await.unwrap().is_some(),
        "a clear deletes nothing: the old generation just expires"
    );
    let got = orders
        .get_many_or_load(&["a", "c"], TTL, |keys: Vec<String>| async move {
            LoadResult::Ok(keys.into_iter().map(|k| (k, 5u32)).collect::<Loaded>())
        })
        .await
        .unwrap();
    assert_eq!(
        got,
        Loaded::from([("a".into(), 1), ("c".into(), 5)]),
        "logical keys in and out"
    );
    assert!(
        orders.invalidate("a").await.unwrap(),
        "invalidate finds the current generation"
    );
}

#[tokio::test(start_paused = true)]
async fn another_instance_sees_a_clear_once_its_generation_is_reread() {
    let cache = memory();
    let reread = Duration::from_secs(5);
    let one = CacheAside::new(cache.clone()).clearable(reread);
    let two = CacheAside::new(cache.clone()).clearable(reread);
    let (runs, loader) = counting(1);
    let _: u32 = one.get_or_load("k", TTL, loader()).await.unwrap();
    let _: u32 = two.get_or_load("k", TTL, loader()).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    one.clear().await.unwrap();
    let _: u32 = two.get_or_load("k", TTL, loader()).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "within reread: the generation it knew"
    );
    tokio::time::advance(reread).await;
    let _: u32 = two.get_or_load("k", TTL, loader()).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "after reread: the new generation"
    );
    let _: u32 = one.get_or_load("k", TTL, loader()).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the clearing instance knew at once"
    );
}

#[tokio::test]
async fn clear_without_clearable_is_a_typed_error() {
    let err = CacheAside::new(memory()).clear().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[tokio::test]
async fn a_generation_that_is_not_a_number_is_a_typed_error() {
    let cache = memory();
    cache
        .set(cache_patterns::aside::GENERATION_KEY, b"junk", TTL)
        .await
        .unwrap();
    let aside = CacheAside::new(cache).clearable(Duration::ZERO);
    let err = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap_err();
    assert_eq!(
        err.cache_error().map(CacheError::kind),
        Some(ErrorKind::WrongType)
    );
}

#[tokio::test]
async fn writes_that_failed_while_the_backend_was_down_are_written_when_it_returns_newest_first() {
    let cache = SwitchableCache::new();
    let aside = CacheAside::new(cache.clone()).auto_recovery(2);
    cache.fail(true);
    for (key, value) in [("a", 1u32), ("a", 2), ("b", 3), ("c", 4)] {
        let got: u32 = aside
            .get_or_load(key, TTL, move || async move { LoadResult::Ok(value) })
            .await
            .unwrap();
        assert_eq!(got, value, "fail-open: the loaded value");
    }
    assert_eq!(
        aside.pending_writes(),
        2,
        "bounded: the oldest (a) was dropped"
    );
    assert!(aside.recover().await.is_err(), "still down");
    assert_eq!(aside.pending_writes(), 2, "nothing lost by a failed retry");
    cache.fail(false);
    // Any call that reaches the backend starts the drain.
    let _: u32 = aside
        .get_or_load("d", TTL, || async { LoadResult::Ok(5u32) })
        .await
        .unwrap();
    eventually("the queued writes reached the backend", || {
        let aside = aside.clone();
        async move { aside.pending_writes() == 0 }
    })
    .await;
    assert_eq!(cache.inner.get_as::<u32>("b").await.unwrap(), Some(3));
    assert_eq!(cache.inner.get_as::<u32>("c").await.unwrap(), Some(4));
    assert_eq!(cache.inner.get_as::<u32>("a").await.unwrap(), None);
}

#[tokio::test]
async fn a_queued_write_never_overwrites_a_newer_one_that_succeeded() {
    let cache = SwitchableCache::new();
    let aside = CacheAside::new(cache.clone()).auto_recovery(10);
    cache.fail(true);
    let _: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(1u32) })
        .await
        .unwrap();
    assert_eq!(aside.pending_writes(), 1);
    cache.fail(false);
    aside.invalidate("k").await.unwrap();
    let _: u32 = aside
        .get_or_load("k", TTL, || async { LoadResult::Ok(2u32) })
        .await
        .unwrap();
    assert_eq!(aside.recover().await.unwrap(), 0);
    assert_eq!(
        cache.inner.get_as::<u32>("k").await.unwrap(),
        Some(2),
        "newer wins"
    );
}
