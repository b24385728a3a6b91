//! `MockCache` can stand in for `Arc<dyn Cache>` and verifies its expectations.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Bytes, Cache, CacheStats, KeyTtl};
use cache_testing::mock::MockCache;
use mockall::Sequence;
use mockall::predicate::eq;

#[tokio::test]
async fn scripted_answers_reach_a_caller_through_dyn_cache() {
    let mut mock = MockCache::new();
    mock.expect_get()
        .with(eq("k"))
        .returning(|_| Ok(Some(Bytes::from_static(b"scripted"))));
    let cache: Arc<dyn Cache> = Arc::new(mock);
    assert_eq!(cache.get("k").await.unwrap().unwrap().as_ref(), b"scripted");
}

#[tokio::test]
async fn calls_happen_in_the_expected_order() {
    let mut mock = MockCache::new();
    let mut seq = Sequence::new();
    mock.expect_get()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    mock.expect_set()
        .withf(|k, v, ttl| k == "k" && v == b"fresh" && *ttl == Duration::from_secs(30))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    assert!(mock.get("k").await.unwrap().is_none());
    mock.set("k", b"fresh", Duration::from_secs(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn methods_with_nested_references_are_mocked_with_boxed_futures() {
    let mut mock = MockCache::new();
    mock.expect_set_many()
        .withf(|entries, _| entries.len() == 2 && entries[1].0 == "b")
        .returning(|_, _| Box::pin(async { Ok(()) }));
    mock.expect_delete_many().returning(|keys| {
        let n = keys.len() as u64;
        Box::pin(async move { Ok(n) })
    });
    mock.expect_compare_and_set()
        .withf(|_, expected, _, _| *expected == Some(&b"old"[..]))
        .returning(|_, _, _, _| Box::pin(async { Ok(false) }));
    mock.set_many(&[("a", b"1"), ("b", b"2")], Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(mock.delete_many(&["a", "b", "c"]).await.unwrap(), 3);
    assert!(
        !mock
            .compare_and_set("k", Some(b"old"), b"new", Duration::from_secs(1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn sync_stats_can_be_scripted() {
    let mut mock = MockCache::new();
    mock.expect_stats().returning(CacheStats::default);
    assert_eq!(mock.stats().hits, 0);
}

#[test]
#[should_panic(expected = "No matching expectation found")]
fn an_unexpected_call_panics() {
    let mock = MockCache::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = rt.block_on(mock.health());
}

#[tokio::test]
async fn key_operations_can_be_scripted() {
    let mut mock = MockCache::new();
    mock.expect_exists()
        .withf(|keys| keys == ["a", "b"])
        .returning(|_| Box::pin(async { Ok(1) }));
    mock.expect_touch().returning(|keys| {
        let n = keys.len() as u64;
        Box::pin(async move { Ok(n) })
    });
    mock.expect_expire()
        .withf(|k, ttl| k == "a" && *ttl == Duration::from_secs(9))
        .returning(|_, _| Ok(true));
    mock.expect_persist().with(eq("a")).returning(|_| Ok(false));
    mock.expect_ttl()
        .with(eq("a"))
        .returning(|_| Ok(KeyTtl::NoExpiry));
    let cache: Arc<dyn Cache> = Arc::new(mock);
    assert_eq!(cache.exists(&["a", "b"]).await.unwrap(), 1);
    assert_eq!(cache.touch(&["a", "b", "c"]).await.unwrap(), 3);
    assert!(cache.expire("a", Duration::from_secs(9)).await.unwrap());
    assert!(!cache.persist("a").await.unwrap());
    assert_eq!(cache.ttl("a").await.unwrap(), KeyTtl::NoExpiry);
}
