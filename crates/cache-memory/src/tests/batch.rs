//! get_many, set_many, delete_many.

use std::time::Duration;

use super::{MS, SHORT_TTL, TTL, cache, manual, one_expired};
use crate::MemoryCache;
use cache_core::{Cache, ErrorKind};

#[tokio::test]
async fn get_many_returns_values_in_order_with_none_for_misses() {
    let c = cache();
    c.set("a", b"1", TTL).await.unwrap();
    c.set("c", b"3", TTL).await.unwrap();
    let values = c.get_many(&["a", "b", "c", "a"]).await.unwrap();
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
    assert_eq!(values, [Some(&b"1"[..]), None, Some(b"3"), Some(b"1")]);
}

#[tokio::test]
async fn get_many_of_no_keys_is_empty() {
    assert!(cache().get_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn get_many_skips_expired_values() {
    let c = one_expired("a", "b").await;
    let values = c.get_many(&["a", "b"]).await.unwrap();
    assert_eq!(values, [None, Some(bytes::Bytes::from_static(b"v"))]);
}

#[tokio::test]
async fn set_many_stores_every_entry_with_the_ttl() {
    let (c, clock) = manual();
    c.set_many(&[("a", b"1"), ("b", b"2")], SHORT_TTL)
        .await
        .unwrap();
    assert_eq!(c.get("a").await.unwrap().unwrap(), "1");
    assert_eq!(c.get("b").await.unwrap().unwrap(), "2");
    clock.advance(SHORT_TTL - MS);
    assert_eq!(c.remaining_ttl("a"), Some(MS));
    assert_eq!(c.remaining_ttl("b"), Some(MS));
    clock.advance(MS);
    assert_eq!(c.get_many(&["a", "b"]).await.unwrap(), [None, None]);
}

/// A refused batch: what it is, the cache, the entries, the TTL and the error kind expected.
type RefusedBatch = (
    &'static str,
    MemoryCache,
    &'static [(&'static str, &'static [u8])],
    Duration,
    ErrorKind,
);

#[tokio::test]
async fn set_many_writes_nothing_when_any_entry_is_refused() {
    let small = || MemoryCache::builder().max_value_bytes(4).build().unwrap();
    let cases: [RefusedBatch; 3] = [
        (
            "a later key is invalid",
            cache(),
            &[("a", b"1"), ("", b"2")],
            TTL,
            ErrorKind::InvalidKey,
        ),
        (
            "a later value is too large",
            small(),
            &[("a", b"1"), ("b", b"12345")],
            TTL,
            ErrorKind::ValueTooLarge,
        ),
        (
            "the ttl is zero",
            cache(),
            &[("a", b"1")],
            Duration::ZERO,
            ErrorKind::InvalidTtl,
        ),
    ];
    for (case, c, entries, ttl, kind) in cases {
        let err = c.set_many(entries, ttl).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{case}: {err:?}");
        assert!(
            c.get("a").await.is_ok_and(|v| v.is_none()),
            "{case}: nothing is written"
        );
    }
}

#[tokio::test]
async fn delete_many_counts_the_keys_that_held_a_value() {
    let c = cache();
    c.set_many(&[("a", b"1"), ("b", b"2")], TTL).await.unwrap();
    assert_eq!(c.delete_many(&["a", "b", "missing"]).await.unwrap(), 2);
    assert_eq!(c.get_many(&["a", "b"]).await.unwrap(), [None, None]);
}

#[tokio::test]
async fn delete_many_deletes_nothing_when_a_key_is_invalid() {
    let c = cache();
    c.set("a", b"1", TTL).await.unwrap();
    assert!(c.delete_many(&["a", ""]).await.is_err());
    assert_eq!(c.get("a").await.unwrap().unwrap(), "1");
}
