//! The idle sweep, on paused tokio time: no real sleeps.

mod support;

use std::time::Duration;

use cache_manager::TenantManager;
use support::{RecordingResolver, eventually, is_closed, manager, recording_manager};

const IDLE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_tenant_unused_for_idle_ttl_is_closed_by_the_background_sweep() {
    let (resolver, m) = recording_manager(10, IDLE);
    drop(m.get("a").await.unwrap());
    tokio::time::sleep(IDLE).await;
    let a = resolver.only("a");
    eventually("a's backend is closed", || is_closed(&*a)).await;
    assert!(!m.contains("a"));
    assert_eq!(m.stats().idle_closed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_tenant_is_not_closed_before_idle_ttl() {
    let (resolver, m) = recording_manager(10, IDLE);
    drop(m.get("a").await.unwrap());
    tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
    assert!(m.contains("a"));
    assert!(!is_closed(&*resolver.only("a")).await);
}

#[tokio::test(start_paused = true)]
async fn using_a_tenant_keeps_it_open() {
    let (resolver, m) = recording_manager(10, IDLE);
    for _ in 0..10 {
        drop(m.get("a").await.unwrap());
        tokio::time::sleep(IDLE / 2).await;
    }
    assert!(m.contains("a"));
    assert_eq!(resolver.built_for("a").len(), 1);
    assert_eq!(m.stats().idle_closed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_leased_tenant_is_not_closed_as_idle() {
    let m = manager(RecordingResolver::new(), 10, IDLE);
    let lease = m.get("a").await.unwrap();
    tokio::time::sleep(IDLE * 5).await;
    assert!(m.contains("a"));
    lease.health().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn close_idle_closes_only_idle_tenants() {
    let resolver = RecordingResolver::new();
    let m = TenantManager::builder(resolver.clone())
        .idle_ttl(IDLE)
        .sweep_interval(Duration::from_secs(24 * 3600)) // keep the background sweep out of it
        .build()
        .unwrap();
    drop(m.get("old").await.unwrap());
    tokio::time::advance(IDLE).await;
    drop(m.get("fresh").await.unwrap());
    assert_eq!(m.close_idle().await, 1);
    assert!(is_closed(&*resolver.only("old")).await);
    assert!(m.contains("fresh"));
}

#[tokio::test(start_paused = true)]
async fn the_sweep_runs_while_the_manager_is_open() {
    let m = manager(RecordingResolver::new(), 10, IDLE);
    assert!(m.stats().sweeper_running);
}

#[tokio::test(start_paused = true)]
async fn close_stops_the_sweep() {
    let m = manager(RecordingResolver::new(), 10, IDLE);
    m.close().await.unwrap();
    assert!(!m.stats().sweeper_running);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_manager_stops_the_sweep() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let m = manager(RecordingResolver::new(), 10, IDLE);
    assert_eq!(metrics.num_alive_tasks(), before + 1, "the sweep task");
    drop(m);
    eventually("the sweep task ended", || async {
        metrics.num_alive_tasks() == before
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_manager_closes_its_tenant_caches() {
    let (resolver, m) = recording_manager(10, IDLE * 100);
    drop(m.get("a").await.unwrap());
    drop(m);
    let a = resolver.only("a");
    eventually("a's backend is closed", || is_closed(&*a)).await;
}
