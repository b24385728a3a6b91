//! The tenant manager's metrics: the live-tenants gauge, creations, and
//! evictions by cause, with tenant labels only when opted in and capped.

mod support;

use std::time::Duration;

use cache_core::metrics::names::{TENANTS_CREATED, TENANTS_EVICTED, TENANTS_LIVE};
use cache_manager::TenantManager;
use cache_testing::metrics::MetricsCapture;
use support::RecordingResolver;

const IDLE: Duration = Duration::from_secs(600);

#[test]
fn creations_lru_and_idle_evictions_and_the_live_gauge_are_counted() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        tokio::time::pause();
        let m = TenantManager::builder(RecordingResolver::new())
            .max_tenants(2)
            .idle_ttl(IDLE)
            .sweep_interval(Duration::from_secs(24 * 3600)) // only the explicit sweep below
            .build()
            .unwrap();
        drop(m.get("a").await.unwrap());
        drop(m.get("b").await.unwrap());
        drop(m.get("c").await.unwrap()); // evicts a (LRU)
        assert_eq!(capture.snapshot().gauge(TENANTS_LIVE, &[]), Some(2.0));
        tokio::time::advance(IDLE).await;
        assert_eq!(m.close_idle().await, 2); // b and c
        drop(m.get("d").await.unwrap());
        m.close().await.unwrap();
    });
    let snap = capture.snapshot();
    let all = snap.describe();
    assert_eq!(snap.counter(TENANTS_CREATED, &[]), 4, "{all}");
    assert_eq!(
        snap.counter(TENANTS_EVICTED, &[("cause", "lru")]),
        1,
        "{all}"
    );
    assert_eq!(
        snap.counter(TENANTS_EVICTED, &[("cause", "idle")]),
        2,
        "{all}"
    );
    assert_eq!(snap.gauge(TENANTS_LIVE, &[]), Some(0.0), "{all}");
    assert!(
        snap.entries
            .iter()
            .all(|m| !m.labels.contains_key("tenant")),
        "tenant labels are off by default: {all}"
    );
}

#[test]
fn tenant_labels_are_opt_in_and_capped() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let m = TenantManager::builder(RecordingResolver::new())
            .metrics_tenant_labels(2)
            .build()
            .unwrap();
        for tenant in ["acme", "globex", "initech", "umbrella"] {
            drop(m.get(tenant).await.unwrap());
        }
        m.close().await.unwrap();
    });
    let snap = capture.snapshot();
    let created = |tenant| snap.counter(TENANTS_CREATED, &[("tenant", tenant)]);
    assert_eq!(
        (created("acme"), created("globex"), created("other")),
        (1, 1, 2)
    );
    assert_eq!(created("initech"), 0);
}
