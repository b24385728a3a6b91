//! Construction, bounds and eviction, stats, health and close.

use std::time::Duration;

use super::{TTL, cache};
use crate::MemoryCache;
use crate::MemoryConfig;
use cache_core::{Cache, ErrorKind, Operation, RateLimitRule, ScanCursor};

#[tokio::test]
async fn clones_share_one_store() {
    let a = cache();
    let b = a.clone();
    a.set("k", b"v", TTL).await.unwrap();
    assert_eq!(b.get("k").await.unwrap().unwrap(), "v");
}

#[tokio::test]
async fn separate_caches_do_not_share_entries() {
    let a = cache();
    a.set("k", b"v", TTL).await.unwrap();
    assert!(cache().get("k").await.is_ok_and(|v| v.is_none()));
}

#[tokio::test]
async fn new_accepts_values_up_to_the_default_limit() {
    let c = MemoryCache::new();
    let limit = MemoryConfig::default().max_value_bytes;
    c.set("k", &vec![0; limit], TTL).await.unwrap();
    let err = c.set("k", &vec![0; limit + 1], TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
}

#[tokio::test]
async fn from_config_applies_the_value_limit() {
    let config = MemoryConfig {
        max_value_bytes: 10,
        ..MemoryConfig::default()
    };
    let c = MemoryCache::from_config(&config).unwrap();
    let err = c.set("k", &[0; 11], TTL).await.unwrap_err();
    assert!(err.size_limit() == Some(10), "{err:?}");
}

#[test]
fn from_config_names_an_invalid_field() {
    let config = MemoryConfig {
        max_entries: 0,
        ..MemoryConfig::default()
    };
    let err = MemoryCache::from_config(&config).unwrap_err();
    assert!(
        err.config_error().is_some_and(|e| e.field == "max_entries"),
        "{err:?}"
    );
}

#[test]
fn the_builder_names_an_invalid_field() {
    let err = MemoryCache::builder().max_bytes(0).build().unwrap_err();
    assert!(
        err.config_error().is_some_and(|e| e.field == "max_bytes"),
        "{err:?}"
    );
}

#[tokio::test]
async fn debug_shows_the_configuration_but_no_contents() {
    let c = MemoryCache::builder().max_entries(7).build().unwrap();
    c.set("secret-key", b"secret-value", TTL).await.unwrap();
    let printed = format!("{c:?}");
    assert!(printed.contains("max_entries: 7"), "{printed}");
    assert!(!printed.contains("secret"), "{printed}");
}

#[tokio::test]
async fn the_entry_bound_evicts_least_recently_used_entries() {
    let c = MemoryCache::builder()
        .max_entries(100)
        .unbounded_bytes()
        .build()
        .unwrap();
    for i in 0..1000 {
        c.set(&format!("k{i}"), b"v", TTL).await.unwrap();
    }
    eventually!(
        "the cache is back within 100 entries",
        c.stats().entries.unwrap() <= 100
    );
    assert_eq!(
        c.get("k999").await.unwrap().unwrap(),
        "v",
        "the newest entry stays"
    );
    assert!(
        c.get("k0").await.is_ok_and(|v| v.is_none()),
        "the oldest entry went"
    );
}

/// Fills a cache of ten entries, probes `k0` with `probe`, writes five more
/// and says whether `k0` survived.
async fn survives_eviction_after(probe: impl AsyncFnOnce(&MemoryCache)) -> bool {
    let c = MemoryCache::builder()
        .max_entries(10)
        .unbounded_bytes()
        .build()
        .unwrap();
    for i in 0..10 {
        c.set(&format!("k{i}"), b"v", TTL).await.unwrap();
    }
    probe(&c).await;
    for i in 10..15 {
        c.set(&format!("k{i}"), b"v", TTL).await.unwrap();
    }
    assert_eq!(c.stats().entries, Some(10));
    c.store.map.contains_key("k0")
}

#[tokio::test]
async fn touch_is_a_use_that_keeps_an_entry_from_eviction() {
    assert!(
        survives_eviction_after(async |c| assert_eq!(c.touch(&["k0"]).await.unwrap(), 1)).await
    );
}

#[tokio::test]
async fn exists_is_not_a_use() {
    assert!(
        !survives_eviction_after(async |c| assert_eq!(c.exists(&["k0"]).await.unwrap(), 1)).await
    );
}

#[tokio::test]
async fn the_byte_bound_evicts_least_recently_used_entries() {
    let c = MemoryCache::builder()
        .max_entries(1_000_000)
        .max_bytes(100_000)
        .build()
        .unwrap();
    let value = [7u8; 1000];
    for i in 0..1000 {
        c.set(&format!("k{i:04}"), &value, TTL).await.unwrap();
    }
    eventually!(
        "the cache is back within 100,000 bytes",
        c.stats().bytes.unwrap() <= 100_000
    );
    assert!(c.stats().entries.unwrap() <= 100);
    assert_eq!(
        c.get("k0999").await.unwrap().unwrap().len(),
        1000,
        "the newest entry stays"
    );
}

#[tokio::test]
async fn with_both_bounds_the_entry_bound_holds_for_tiny_values() {
    let c = MemoryCache::builder()
        .max_entries(50)
        .max_bytes(1_000_000)
        .build()
        .unwrap();
    for i in 0..500 {
        c.set(&format!("k{i}"), b"v", TTL).await.unwrap();
    }
    eventually!(
        "the cache is back within 50 entries",
        c.stats().entries.unwrap() <= 50
    );
}

#[tokio::test]
async fn a_value_that_could_never_fit_is_refused() {
    let c = MemoryCache::builder()
        .max_entries(10)
        .max_bytes(10_000)
        .build()
        .unwrap();
    // Each entry is charged 1,000 bytes on top of its own: 9,000 remain.
    let err = c.set("k", &[0; 9_000], TTL).await.unwrap_err();
    assert!(err.size_limit() == Some(8_999), "{err:?}");
    c.set("k", &[0; 8_999], TTL).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().unwrap().len(), 8_999);
}

#[tokio::test]
async fn stats_report_entries_and_key_plus_value_bytes() {
    let c = cache();
    c.set("ab", b"xyz", TTL).await.unwrap();
    c.set("c", b"", TTL).await.unwrap();
    let stats = c.stats();
    assert_eq!(stats.entries, Some(2));
    assert_eq!(stats.bytes, Some(6));
}

#[tokio::test]
async fn stats_bytes_are_unknown_without_a_byte_bound() {
    let c = MemoryCache::builder().unbounded_bytes().build().unwrap();
    c.set("k", b"v", TTL).await.unwrap();
    assert_eq!(c.stats().entries, Some(1));
    assert_eq!(c.stats().bytes, None);
}

#[tokio::test]
async fn stats_count_calls_hits_misses_and_errors() {
    let c = cache();
    c.set("k", b"v", TTL).await.unwrap();
    c.get("k").await.unwrap().unwrap();
    assert!(c.get("missing").await.unwrap().is_none());
    c.get_many(&["k", "missing", "k"]).await.unwrap();
    c.set("", b"v", TTL).await.unwrap_err();
    let stats = c.stats();
    assert_eq!((stats.hits, stats.misses), (3, 2));
    assert_eq!(stats.errors, 1, "a miss is not an error, an invalid key is");
    assert_eq!(stats.ops(Operation::Get), 2);
    assert_eq!(stats.ops(Operation::Set), 2);
    assert_eq!(stats.ops(Operation::GetMany), 1);
}

#[tokio::test]
async fn health_is_ok_while_open() {
    cache().health().await.unwrap();
}

#[tokio::test]
async fn every_call_after_close_fails_as_closed_naming_the_operation() {
    let c = cache();
    c.set("k", b"v", TTL).await.unwrap();
    c.close().await.unwrap();
    let rule = RateLimitRule::sliding(1, TTL);
    let start = ScanCursor::start();
    let results = [
        (Operation::Get, c.get("k").await.err()),
        (Operation::Set, c.set("k", b"v", TTL).await.err()),
        (Operation::Delete, c.delete("k").await.err()),
        (
            Operation::GetOrSet,
            c.get_or_set("k", b"v", TTL).await.err(),
        ),
        (
            Operation::CompareAndSet,
            c.compare_and_set("k", None, b"v", TTL).await.err(),
        ),
        (
            Operation::CompareAndDelete,
            c.compare_and_delete("k", b"v").await.err(),
        ),
        (Operation::GetMany, c.get_many(&["k"]).await.err()),
        (
            Operation::SetMany,
            c.set_many(&[("k", b"v")], TTL).await.err(),
        ),
        (Operation::DeleteMany, c.delete_many(&["k"]).await.err()),
        (Operation::IncrBy, c.incr_by("k", 1, TTL).await.err()),
        (Operation::Exists, c.exists(&["k"]).await.err()),
        (Operation::Expire, c.expire("k", TTL).await.err()),
        (Operation::Persist, c.persist("k").await.err()),
        (Operation::Ttl, c.ttl("k").await.err()),
        (Operation::Touch, c.touch(&["k"]).await.err()),
        (
            Operation::ScanKeys,
            c.scan_keys("*", &start, 10).await.err(),
        ),
        (Operation::DeletePattern, c.delete_pattern("*").await.err()),
        (Operation::RateLimit, c.rate_limit("k", &rule).await.err()),
        (Operation::Publish, c.publish("ch", b"m").await.err()),
        (Operation::Subscribe, c.subscribe("ch").await.err()),
        (Operation::Health, c.health().await.err()),
    ];
    for (op, err) in results {
        assert!(
            err.as_ref()
                .is_some_and(|e| e.is_closed() && e.op() == Some(op)),
            "{op}: {err:?}"
        );
    }
}

#[tokio::test]
async fn close_wins_over_invalid_input() {
    let c = cache();
    c.close().await.unwrap();
    let err = c.set("", b"v", Duration::ZERO).await.unwrap_err();
    assert!(err.is_closed(), "{err:?}");
}

#[tokio::test]
async fn closing_twice_is_fine() {
    let c = cache();
    c.close().await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test]
async fn close_through_one_clone_closes_every_clone() {
    let a = cache();
    let b = a.clone();
    a.close().await.unwrap();
    assert!(b.get("k").await.unwrap_err().is_closed());
}

#[tokio::test]
async fn close_releases_the_entries() {
    let c = cache();
    for i in 0..100 {
        c.set(&format!("k{i}"), &[0; 100], TTL).await.unwrap();
    }
    c.close().await.unwrap();
    let stats = c.stats();
    assert_eq!(stats.entries, Some(0));
    assert_eq!(stats.bytes, Some(0));
}
