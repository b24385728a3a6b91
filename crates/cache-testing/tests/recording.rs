//! `RecordingCache` records every call with its keys, TTL and outcome.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind, Operation, RateLimitRule, ScanCursor};
use cache_memory::MemoryCache;
use cache_testing::recording::RecordingCache;

const TTL: Duration = Duration::from_secs(60);

fn recording() -> RecordingCache<MemoryCache> {
    RecordingCache::new(Arc::new(MemoryCache::new()))
}

#[tokio::test]
async fn records_calls_in_order_with_keys_ttl_and_outcome() {
    let cache = recording();
    let _ = cache.get("a").await;
    cache.set("a", b"1", TTL).await.unwrap();
    let _ = cache.get("a").await;
    let calls = cache.calls();
    let summary: Vec<_> = calls
        .iter()
        .map(|c| (c.op, c.keys.clone(), c.ttl, c.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (Operation::Get, vec!["a".to_owned()], None, Ok(())),
            (Operation::Set, vec!["a".to_owned()], Some(TTL), Ok(())),
            (Operation::Get, vec!["a".to_owned()], None, Ok(())),
        ]
    );
}

#[tokio::test]
async fn batch_calls_record_every_key_in_order() {
    let cache = recording();
    cache
        .set_many(&[("x", b"1"), ("y", b"2")], TTL)
        .await
        .unwrap();
    cache.get_many(&["y", "z", "x"]).await.unwrap();
    cache.delete_many(&["x"]).await.unwrap();
    assert_eq!(cache.calls_of(Operation::SetMany)[0].keys, ["x", "y"]);
    assert_eq!(cache.calls_of(Operation::GetMany)[0].keys, ["y", "z", "x"]);
    assert_eq!(cache.calls_of(Operation::DeleteMany)[0].keys, ["x"]);
}

#[tokio::test]
async fn patterns_channels_and_windows_are_recorded() {
    let cache = recording();
    cache
        .scan_keys("t:*", &ScanCursor::start(), 10)
        .await
        .unwrap();
    cache.delete_pattern("t:*").await.unwrap();
    cache.publish("ch", b"m").await.unwrap();
    let window = Duration::from_secs(9);
    cache
        .rate_limit("ip", &RateLimitRule::fixed(1, window))
        .await
        .unwrap();
    let calls = cache.calls();
    assert_eq!(calls[0].keys, ["t:*"]);
    assert_eq!(calls[1].keys, ["t:*"]);
    assert_eq!(calls[2].keys, ["ch"]);
    assert_eq!(
        (calls[3].op, calls[3].ttl),
        (Operation::RateLimit, Some(window))
    );
}

#[tokio::test]
async fn errors_are_recorded_by_kind() {
    let cache = recording();
    let _ = cache.set("", b"v", TTL).await;
    let _ = cache.set("k", b"v", Duration::ZERO).await;
    cache.close().await.unwrap();
    let _ = cache.health().await;
    let outcomes: Vec<_> = cache.calls().iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Err(ErrorKind::InvalidKey),
            Err(ErrorKind::InvalidTtl),
            Ok(()),
            Err(ErrorKind::Closed)
        ]
    );
}

#[tokio::test]
async fn count_and_clear() {
    let cache = recording();
    for _ in 0..3 {
        let _ = cache.get("k").await;
    }
    cache.health().await.unwrap();
    assert_eq!(cache.count(Operation::Get), 3);
    assert_eq!(cache.count(Operation::Health), 1);
    assert!(cache.calls_of(Operation::Health)[0].keys.is_empty());
    cache.clear();
    assert!(cache.calls().is_empty());
}

#[tokio::test]
async fn stats_come_from_the_wrapped_cache() {
    let cache = recording();
    let _ = cache.get("k").await;
    assert_eq!(cache.stats().misses, 1);
}

#[tokio::test]
async fn key_operations_are_recorded_with_their_keys_and_ttl() {
    let cache = recording();
    cache.set("a", b"1", TTL).await.unwrap();
    cache.exists(&["a", "b"]).await.unwrap();
    let short = Duration::from_secs(5);
    cache.expire("a", short).await.unwrap();
    cache.ttl("a").await.unwrap();
    cache.persist("a").await.unwrap();
    cache.touch(&["b", "a"]).await.unwrap();
    let summary: Vec<_> = cache.calls()[1..]
        .iter()
        .map(|c| (c.op, c.keys.clone(), c.ttl))
        .collect();
    let keys = |ks: &[&str]| ks.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        summary,
        [
            (Operation::Exists, keys(&["a", "b"]), None),
            (Operation::Expire, keys(&["a"]), Some(short)),
            (Operation::Ttl, keys(&["a"]), None),
            (Operation::Persist, keys(&["a"]), None),
            (Operation::Touch, keys(&["b", "a"]), None),
        ]
    );
}

#[tokio::test]
async fn records_set_and_hash_calls_with_their_key_and_ttl() {
    let cache = recording();
    let collections = cache.collections().expect("over a memory cache");
    collections.set_add("s", &[b"m"], TTL).await.unwrap();
    let _ = collections.hash_get("s", &["f"]).await;
    let summary: Vec<_> = cache
        .calls()
        .iter()
        .map(|c| (c.op, c.keys.clone(), c.ttl, c.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (Operation::SetAdd, vec!["s".to_owned()], Some(TTL), Ok(())),
            (
                Operation::HashGet,
                vec!["s".to_owned()],
                None,
                Err(ErrorKind::WrongType)
            ),
        ]
    );
}
