//! The operation metrics of `MemoryCache`, counted exactly by a debugging
//! recorder local to each test.

use std::time::Duration;

use cache_core::Cache;
use cache_core::metrics::names::{OPERATION_DURATION, OPERATIONS};
use cache_memory::MemoryCache;
use cache_testing::metrics::MetricsCapture;

const TTL: Duration = Duration::from_secs(60);

#[test]
fn a_hit_a_miss_a_write_and_an_error_are_counted_once_each() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = MemoryCache::builder()
            .metrics_duration_sampling(1)
            .build()
            .unwrap();
        cache.set("user:1", b"Ada", TTL).await.unwrap();
        assert!(cache.get("user:1").await.unwrap().is_some());
        assert!(cache.get("user:2").await.unwrap().is_none());
        assert!(cache.get("").await.is_err());
    });
    let snap = capture.snapshot();
    let memory = ("db.system.name", "memory");
    let get = ("db.operation.name", "get");
    assert_eq!(
        snap.counter(OPERATIONS, &[memory, get, ("outcome", "hit")]),
        1,
        "{}",
        snap.describe()
    );
    assert_eq!(
        snap.counter(OPERATIONS, &[memory, get, ("outcome", "miss")]),
        1
    );
    assert_eq!(
        snap.counter(
            OPERATIONS,
            &[
                memory,
                get,
                ("outcome", "invalid_key"),
                ("error.type", "invalid_key")
            ]
        ),
        1
    );
    assert_eq!(
        snap.counter(
            OPERATIONS,
            &[memory, ("db.operation.name", "set"), ("outcome", "ok")]
        ),
        1
    );
    assert_eq!(snap.counter(OPERATIONS, &[]), 4);
    let durations = snap.histogram(OPERATION_DURATION, &[memory]);
    assert_eq!(durations.len(), 4);
    assert!(
        durations.iter().all(|s| (0.0..10.0).contains(s)),
        "{durations:?}"
    );
}

#[test]
fn by_default_one_call_in_sixteen_is_timed_and_every_call_counted() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = MemoryCache::new();
        for _ in 0..2 * cache_memory::DEFAULT_DURATION_SAMPLING {
            cache.get("absent").await.unwrap();
        }
    });
    let snap = capture.snapshot();
    assert_eq!(snap.counter(OPERATIONS, &[("outcome", "miss")]), 32);
    assert_eq!(snap.histogram(OPERATION_DURATION, &[]).len(), 2);
}

#[test]
fn no_key_appears_in_any_label() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = MemoryCache::new();
        cache
            .set("secret-key-name", b"secret-value", TTL)
            .await
            .unwrap();
        cache.get("secret-key-name").await.unwrap();
        cache.incr_by("secret-key-name", 1, TTL).await.unwrap_err();
    });
    let values = capture.snapshot().label_values();
    assert!(!values.is_empty());
    assert!(values.iter().all(|v| !v.contains("secret")), "{values:?}");
}

#[test]
fn a_cache_built_without_a_recorder_records_nothing_later() {
    let cache = MemoryCache::new();
    let capture = MetricsCapture::new();
    capture.block_on(async {
        cache.get("k").await.unwrap();
    });
    assert_eq!(capture.snapshot().counter(OPERATIONS, &[]), 0);
}
