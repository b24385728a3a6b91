//! `FaultyCache` fails, slows and counts exactly as told, and otherwise passes through.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheError, ErrorKind, KeyTtl, Operation};
use cache_memory::MemoryCache;
use cache_testing::faulty::{FAULT_ADDR, FaultyCache};

const TTL: Duration = Duration::from_secs(60);

fn faulty() -> FaultyCache<MemoryCache> {
    FaultyCache::new(Arc::new(MemoryCache::new()))
}

#[tokio::test]
async fn passes_everything_through_until_told_otherwise() {
    let cache = faulty();
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().unwrap().as_ref(), b"v");
    assert_eq!(
        cache.inner().get("k").await.unwrap().unwrap().as_ref(),
        b"v"
    );
    assert_eq!(cache.injected_faults(), 0);
}

#[tokio::test]
async fn fails_the_next_n_calls_then_passes_through() {
    let cache = faulty();
    cache.fail_next(3);
    for _ in 0..3 {
        let err = cache.set("k", b"v", TTL).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
    }
    assert!(
        cache.inner().get("k").await.unwrap().is_none(),
        "a failed call must not reach the inner cache"
    );
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().unwrap().as_ref(), b"v");
    assert_eq!(cache.injected_faults(), 3);
    assert_eq!(cache.injected_faults_for(Operation::Set), 3);
}

#[tokio::test]
async fn fail_next_counts_calls_of_every_operation() {
    let cache = faulty();
    cache.fail_next(2);
    assert!(cache.health().await.is_err());
    assert!(cache.delete("k").await.is_err());
    assert!(cache.health().await.is_ok());
    assert_eq!(cache.injected_faults_for(Operation::Health), 1);
    assert_eq!(cache.injected_faults_for(Operation::Delete), 1);
}

#[tokio::test]
async fn default_fault_is_a_transient_connection_error_to_the_fault_address() {
    let cache = faulty();
    cache.fail_next(1);
    match cache.get("k").await.unwrap_err() {
        e if e.kind() == ErrorKind::Connection => {
            assert!(e.is_transient());
            assert!(e.to_string().contains(FAULT_ADDR), "{e}");
        }
        other => panic!("expected a Connection error, got {other:?}"),
    }
}

#[tokio::test]
async fn failing_operation_fails_only_that_operation_until_passed() {
    let cache = faulty();
    cache.set("k", b"v", TTL).await.unwrap();
    cache.fail_operation(Operation::Get);
    assert!(cache.get("k").await.is_err());
    assert!(cache.get("k").await.is_err());
    assert_eq!(cache.get_many(&["k"]).await.unwrap().len(), 1);
    cache.pass_operation(Operation::Get);
    assert!(cache.get("k").await.is_ok());
    assert_eq!(cache.injected_faults_for(Operation::Get), 2);
}

#[tokio::test]
async fn injects_the_chosen_error() {
    let cache = faulty();
    cache.set_error(CacheError::timeout(
        Operation::Get,
        None,
        Duration::from_millis(5),
    ));
    cache.fail_operation(Operation::Get);
    assert_eq!(cache.get("k").await.unwrap_err().kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn heal_stops_every_fault_and_keeps_the_counters() {
    let cache = faulty();
    cache.fail_next(5);
    cache.fail_operation(Operation::Set);
    assert!(cache.get("k").await.is_err());
    cache.heal();
    cache.set("k", b"v", TTL).await.unwrap();
    assert!(cache.get("k").await.is_ok());
    assert_eq!(cache.injected_faults(), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_calls_by_the_configured_time() {
    let cache = faulty();
    cache.set_latency(Duration::from_secs(2));
    cache.set_operation_latency(Operation::Get, Duration::from_secs(5));
    let start = tokio::time::Instant::now();
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let start = tokio::time::Instant::now();
    cache.get("k").await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn latency_lets_callers_exercise_their_timeouts() {
    let cache = faulty();
    cache.set_latency(Duration::from_secs(30));
    let outcome = tokio::time::timeout(Duration::from_secs(1), cache.get("k")).await;
    assert!(outcome.is_err(), "the call must still be pending after 1 s");
}

#[tokio::test]
async fn wraps_a_shared_dyn_cache() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let cache: Arc<dyn Cache> = Arc::new(FaultyCache::new(shared.clone()));
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(shared.get("k").await.unwrap().unwrap().as_ref(), b"v");
}

#[tokio::test]
async fn key_operations_pass_through_and_fail_by_operation() {
    let cache = faulty();
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(cache.exists(&["k", "absent"]).await.unwrap(), 1);
    assert!(cache.expire("k", TTL).await.unwrap());
    assert!(cache.persist("k").await.unwrap());
    assert_eq!(cache.ttl("k").await.unwrap(), KeyTtl::NoExpiry);
    assert_eq!(cache.touch(&["k"]).await.unwrap(), 1);
    cache.fail_operation(Operation::Expire);
    let err = cache.expire("k", TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    // The other key operations still pass.
    assert_eq!(cache.exists(&["k"]).await.unwrap(), 1);
    assert_eq!(cache.injected_faults_for(Operation::Expire), 1);
}

#[tokio::test]
async fn faults_reach_set_and_hash_calls_by_operation() {
    let cache = FaultyCache::new(Arc::new(MemoryCache::new()));
    cache.fail_operation(Operation::HashSet);
    let collections = cache.collections().expect("over a memory cache");
    let ttl = Duration::from_secs(60);
    assert!(
        collections
            .hash_set("h", &[("f", b"v")], ttl)
            .await
            .is_err()
    );
    assert_eq!(collections.set_add("s", &[b"m"], ttl).await.unwrap(), 1);
    assert_eq!(cache.injected_faults_for(Operation::HashSet), 1);
}
