//! The tenant manager: creation, singleflight, LRU, leases, removal, close.
//! Idle sweeping is in `idle.rs`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind, Operation};
use cache_manager::{MAX_TENANT_ID_BYTES, TenantCache, TenantManager, resolver_fn};
use cache_memory::MemoryCache;
use cache_testing::FaultyCache;
use support::{RecordingResolver, eventually, is_closed, manager, recording_manager};

const HOUR: Duration = Duration::from_secs(3600);

/// What `count` calls to `get("acme")`, all spawned at once, returned.
async fn concurrent_gets(m: &TenantManager, count: usize) -> Vec<cache_core::Result<TenantCache>> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.get("acme").await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// A manager whose resolver takes a second per backend, and the task creating
/// tenant `a` on it, once that creation has started.
async fn creating_a() -> (
    Arc<RecordingResolver>,
    TenantManager,
    tokio::task::JoinHandle<cache_core::Result<TenantCache>>,
) {
    let resolver = RecordingResolver::slow(Duration::from_secs(1));
    let m = manager(resolver.clone(), 10, HOUR);
    let creating = {
        let m = m.clone();
        tokio::spawn(async move { m.get("a").await })
    };
    eventually("the creation started", || async { resolver.calls() == 1 }).await;
    (resolver, m, creating)
}

#[tokio::test]
async fn first_get_creates_the_tenant_cache_through_the_resolver() {
    let (resolver, m) = recording_manager(10, HOUR);
    let acme = m.get("acme").await.unwrap();
    acme.set("k", b"v", HOUR).await.unwrap();
    assert_eq!(
        &resolver.only("acme").get("k").await.unwrap().unwrap()[..],
        b"v"
    );
    assert_eq!(acme.tenant().as_str(), "acme");
}

#[tokio::test]
async fn later_gets_return_the_same_cache_without_creating() {
    let (resolver, m) = recording_manager(10, HOUR);
    let first = m.get("acme").await.unwrap();
    let second = m.get("acme").await.unwrap();
    assert!(first.same_cache(&second));
    assert_eq!(resolver.calls(), 1);
    assert_eq!(m.stats().created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_first_calls_create_exactly_one_backend() {
    let resolver = RecordingResolver::slow(Duration::from_millis(50));
    let m = manager(resolver.clone(), 10, HOUR);
    let leases: Vec<TenantCache> = concurrent_gets(&m, 1000)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(resolver.calls(), 1);
    assert_eq!(resolver.built_for("acme").len(), 1);
    assert!(leases.iter().all(|l| l.same_cache(&leases[0])));
    assert_eq!(m.stats().created, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_creation_is_reported_to_every_waiter() {
    let resolver = RecordingResolver::failing(1, Some(Duration::from_secs(1)));
    let m = manager(resolver.clone(), 10, HOUR);
    for result in concurrent_gets(&m, 10).await {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Connection);
    }
    assert_eq!(resolver.calls(), 1);
    assert_eq!(m.stats().creation_failures, 1);
}

#[tokio::test]
async fn a_failed_creation_is_not_cached() {
    let resolver = RecordingResolver::failing(1, None);
    let m = manager(resolver.clone(), 10, HOUR);
    assert!(m.get("acme").await.is_err());
    assert!(!m.contains("acme"));
    m.get("acme").await.expect("the next call tries again");
    assert_eq!(resolver.calls(), 2);
}

#[tokio::test]
async fn empty_tenant_id_is_an_invalid_tenant_id() {
    let m = manager(RecordingResolver::new(), 10, HOUR);
    assert_eq!(
        m.get("").await.unwrap_err().kind(),
        ErrorKind::InvalidTenantId
    );
}

#[tokio::test]
async fn over_long_tenant_id_is_an_invalid_tenant_id() {
    let (resolver, m) = recording_manager(10, HOUR);
    let long = "t".repeat(MAX_TENANT_ID_BYTES + 1);
    let error = m.get(&long).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidTenantId);
    assert!(
        error.to_string().starts_with("invalid tenant id "),
        "{error}"
    );
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_tenant_is_evicted_past_max_tenants() {
    let m = manager(RecordingResolver::new(), 2, HOUR);
    drop(m.get("a").await.unwrap());
    drop(m.get("b").await.unwrap());
    drop(m.get("a").await.unwrap()); // a is now more recent than b
    drop(m.get("c").await.unwrap());
    assert!(m.contains("a"));
    assert!(!m.contains("b"));
    assert!(m.contains("c"));
    assert_eq!(m.stats().open, 2);
    assert_eq!(m.stats().evicted, 1);
}

/// A one-tenant manager on which `a` was used, then `b`, which evicted `a`
/// (no lease held).
async fn a_evicted_by_b() -> (Arc<RecordingResolver>, TenantManager) {
    let (resolver, m) = recording_manager(1, HOUR);
    drop(m.get("a").await.unwrap());
    drop(m.get("b").await.unwrap());
    (resolver, m)
}

#[tokio::test(start_paused = true)]
async fn an_evicted_tenant_nobody_holds_is_closed() {
    let (resolver, _m) = a_evicted_by_b().await;
    let a = resolver.only("a");
    eventually("a's backend is closed", || is_closed(&*a)).await;
}

#[tokio::test(start_paused = true)]
async fn an_evicted_tenant_stays_open_while_leased() {
    let (resolver, m) = recording_manager(1, HOUR);
    let lease = m.get("a").await.unwrap();
    drop(m.get("b").await.unwrap());
    assert!(!m.contains("a"));
    // Give a wrongly scheduled close every chance to run.
    tokio::time::sleep(Duration::from_secs(5)).await;
    lease.set("k", b"still works", HOUR).await.unwrap();
    assert!(!is_closed(&*resolver.only("a")).await);
    assert_eq!(m.stats().draining, 1);
}

#[tokio::test(start_paused = true)]
async fn an_evicted_tenant_is_closed_when_its_last_lease_is_released() {
    let (resolver, m) = recording_manager(1, HOUR);
    let lease = m.get("a").await.unwrap();
    let shared: Arc<dyn Cache> = lease.clone().into_shared();
    drop(m.get("b").await.unwrap());
    drop(lease);
    let a = resolver.only("a");
    assert!(!is_closed(&*a).await, "the shared handle still holds it");
    drop(shared);
    eventually("a's backend is closed", || is_closed(&*a)).await;
    assert_eq!(m.stats().draining, 0);
}

#[tokio::test(start_paused = true)]
async fn a_tenant_evicted_then_used_again_gets_a_new_backend() {
    let (resolver, m) = a_evicted_by_b().await;
    drop(m.get("a").await.unwrap());
    assert_eq!(resolver.built_for("a").len(), 2);
}

#[tokio::test]
async fn remove_closes_an_unused_tenant_at_once() {
    let (resolver, m) = recording_manager(10, HOUR);
    drop(m.get("a").await.unwrap());
    assert!(m.remove("a").await);
    assert!(is_closed(&*resolver.only("a")).await);
    assert!(!m.contains("a"));
    assert_eq!(m.stats().removed, 1);
}

#[tokio::test(start_paused = true)]
async fn remove_of_a_leased_tenant_closes_it_on_release() {
    let (resolver, m) = recording_manager(10, HOUR);
    let lease = m.get("a").await.unwrap();
    assert!(m.remove("a").await);
    lease.health().await.expect("usable until released");
    drop(lease);
    let a = resolver.only("a");
    eventually("a's backend is closed", || is_closed(&*a)).await;
}

#[tokio::test]
async fn remove_of_an_unknown_tenant_reports_false() {
    let m = manager(RecordingResolver::new(), 10, HOUR);
    assert!(!m.remove("nobody").await);
    assert_eq!(m.stats().removed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_tenant_removed_during_its_creation_ends_up_removed_and_closed() {
    let (resolver, m, creating) = creating_a().await;
    assert!(m.remove("a").await);
    let lease = creating
        .await
        .unwrap()
        .expect("the waiter still gets its cache");
    assert!(!m.contains("a"));
    drop(lease);
    let a = resolver.only("a");
    eventually("the created backend is closed", || is_closed(&*a)).await;
    assert_eq!(m.stats().open, 0);
}

#[tokio::test]
async fn closing_through_a_lease_makes_the_next_get_build_a_fresh_cache() {
    let (resolver, m) = recording_manager(10, HOUR);
    m.get("a").await.unwrap().close().await.unwrap();
    let again = m.get("a").await.unwrap();
    again.health().await.expect("a fresh, open cache");
    assert_eq!(resolver.built_for("a").len(), 2);
}

#[tokio::test]
async fn close_closes_every_tenant_cache() {
    let (resolver, m) = recording_manager(10, HOUR);
    let _held = m.get("a").await.unwrap();
    drop(m.get("b").await.unwrap());
    m.close().await.unwrap();
    assert!(
        is_closed(&*resolver.only("a")).await,
        "shutdown closes leased caches too"
    );
    assert!(is_closed(&*resolver.only("b")).await);
    assert_eq!(m.stats().open, 0);
}

#[tokio::test]
async fn get_after_close_fails_with_closed() {
    let m = manager(RecordingResolver::new(), 10, HOUR);
    m.close().await.unwrap();
    assert!(m.get("a").await.unwrap_err().is_closed());
}

#[tokio::test]
async fn closing_twice_is_fine() {
    let m = manager(RecordingResolver::new(), 10, HOUR);
    m.close().await.unwrap();
    m.close().await.unwrap();
    assert!(m.is_closed());
}

#[tokio::test(start_paused = true)]
async fn a_creation_that_completes_after_close_is_refused_and_closed() {
    let (resolver, m, creating) = creating_a().await;
    m.close().await.unwrap();
    assert!(creating.await.unwrap().unwrap_err().is_closed());
    let a = resolver.only("a");
    eventually("the late backend is closed", || is_closed(&*a)).await;
}

#[tokio::test]
async fn stats_count_open_and_created_tenants() {
    let m = manager(RecordingResolver::new(), 10, HOUR);
    drop(m.get("a").await.unwrap());
    drop(m.get("b").await.unwrap());
    let stats = m.stats();
    assert_eq!((stats.open, stats.created, stats.max_tenants), (2, 2, 10));
    let mut tenants: Vec<String> = m.tenants().iter().map(|t| t.as_str().to_owned()).collect();
    tenants.sort();
    assert_eq!(tenants, ["a", "b"]);
}

#[tokio::test]
async fn zero_max_tenants_is_a_config_error_naming_the_field() {
    let error = TenantManager::builder(RecordingResolver::new())
        .max_tenants(0)
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("cache.tenants.max_tenants"),
        "{error}"
    );
}

#[tokio::test]
async fn zero_idle_ttl_is_a_config_error_naming_the_field() {
    let error = TenantManager::builder(RecordingResolver::new())
        .idle_ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("cache.tenants.idle_ttl"),
        "{error}"
    );
}

#[test]
fn building_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let error = TenantManager::builder(RecordingResolver::new())
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
}

/// A manager whose tenant caches all fail to close.
fn manager_with_failing_closes(max_tenants: usize) -> TenantManager {
    let resolver = resolver_fn(|_tenant| async {
        let faulty = FaultyCache::new(Arc::new(MemoryCache::new()) as Arc<dyn Cache>);
        faulty.fail_operation(Operation::Close);
        Ok(Arc::new(faulty) as Arc<dyn Cache>)
    });
    TenantManager::builder(Arc::new(resolver))
        .max_tenants(max_tenants)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failed_close_on_remove_still_removes_the_tenant() {
    let m = manager_with_failing_closes(10);
    drop(m.get("a").await.unwrap());
    assert!(m.remove("a").await);
    assert!(!m.contains("a"));
    let stats = m.stats();
    assert_eq!((stats.closed, stats.close_failures, stats.open), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_close_on_eviction_still_evicts_the_tenant() {
    let m = manager_with_failing_closes(1);
    drop(m.get("a").await.unwrap());
    drop(m.get("b").await.unwrap());
    assert!(!m.contains("a"));
    eventually("the failed close is counted", || async {
        m.stats().close_failures == 1
    })
    .await;
    assert_eq!(m.stats().open, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_creation_leaves_nothing_behind() {
    let (_resolver, m, creating) = creating_a().await;
    creating.abort();
    assert!(creating.await.unwrap_err().is_cancelled());
    m.get("a").await.expect("the next caller creates it");
    assert!(m.contains("a"));
    assert_eq!(m.stats().creating, 0);
}
