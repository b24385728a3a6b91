//! Sets and hashes in memory, beyond the conformance suite: the byte bound,
//! the value and per-call limits, exact field expiry on a manual clock.

use super::{MS, TTL, manual};
use crate::MemoryCache;
use cache_core::{Cache, ErrorKind, KeyTtl, ScanCursor};

#[tokio::test]
async fn a_field_expires_exactly_at_its_ttl_on_the_cache_clock() {
    let (c, clock) = manual();
    let s = c.collections().unwrap();
    s.hash_set("h", &[("a", b"1"), ("b", b"2")], TTL)
        .await
        .unwrap();
    let field_ttl = std::time::Duration::from_secs(10);
    assert_eq!(
        s.hash_expire_fields("h", &["a"], field_ttl).await.unwrap(),
        [true]
    );
    clock.advance(field_ttl - MS);
    assert_eq!(
        s.hash_field_ttl("h", &["a"]).await.unwrap(),
        [KeyTtl::Remaining(MS)]
    );
    clock.advance(MS);
    assert_eq!(s.hash_get("h", &["a", "b"]).await.unwrap()[0], None);
    assert_eq!(
        s.hash_field_ttl("h", &["a"]).await.unwrap(),
        [KeyTtl::Absent]
    );
    assert_eq!(s.hash_get_all("h").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_hash_whose_fields_all_expired_is_removed_by_the_next_hash_call() {
    let (c, clock) = manual();
    let s = c.collections().unwrap();
    s.hash_set("h", &[("a", b"1")], TTL).await.unwrap();
    s.hash_expire_fields("h", &["a"], MS).await.unwrap();
    clock.advance(MS);
    assert_eq!(s.hash_get("h", &["a"]).await.unwrap(), [None]);
    assert_eq!(s.hash_delete("h", &["a"]).await.unwrap(), 0);
    assert_eq!(c.exists(&["h"]).await.unwrap(), 0);
    // Written again, it starts over with the new TTL.
    s.hash_set("h", &[("b", b"2")], 2 * MS).await.unwrap();
    assert_eq!(c.ttl("h").await.unwrap(), KeyTtl::Remaining(2 * MS));
}

#[tokio::test]
async fn a_set_is_charged_against_the_byte_bound_and_one_that_cannot_fit_is_refused() {
    let c = MemoryCache::builder()
        .max_entries(10)
        .max_bytes(10_000)
        .build()
        .unwrap();
    let s = c.collections().unwrap();
    let before = c.stats().bytes.unwrap();
    s.set_add("s", &[&[1; 100], &[2; 100]], TTL).await.unwrap();
    assert_eq!(c.stats().bytes.unwrap() - before, 1 + 200);
    let big: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 500]).collect();
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    let err = s.set_add("s", &refs, TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    // Refused whole: the set is as it was.
    assert_eq!(s.set_count("s").await.unwrap(), 2);
    let err = s
        .hash_set("h", &[("f", &[0; 20_000])], TTL)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
}

#[tokio::test]
async fn members_and_values_follow_the_value_limit_and_calls_the_per_call_limit() {
    let c = MemoryCache::builder()
        .max_value_bytes(4)
        .max_per_call(2)
        .build()
        .unwrap();
    let s = c.collections().unwrap();
    let err = s.set_add("s", &[b"12345"], TTL).await.unwrap_err();
    assert_eq!((err.value_size(), err.size_limit()), (Some(5), Some(4)));
    let err = s.hash_set("h", &[("f", b"12345")], TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    let err = s.hash_get("h", &["a", "b", "c"]).await.unwrap_err();
    assert_eq!(err.reason(), Some("3 fields is more than the limit of 2"));
    assert!(s.set_add("s", &[b"1", b"2"], TTL).await.is_ok());
    let err = MemoryCache::builder().max_per_call(0).build().unwrap_err();
    assert_eq!(err.config_error().unwrap().field, "max_per_call");
}

#[tokio::test]
async fn a_foreign_member_cursor_is_refused() {
    let (c, _clock) = manual();
    let s = c.collections().unwrap();
    s.set_add("s", &[b"a"], TTL).await.unwrap();
    let err = s
        .set_members("s", &ScanCursor::from_string("12"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
}

#[tokio::test]
async fn members_page_in_order_and_survive_writes_between_pages() {
    let (c, _clock) = manual();
    let s = c.collections().unwrap();
    let members: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'a' + i]).collect();
    let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
    s.set_add("s", &refs, TTL).await.unwrap();
    let first = s.set_members("s", &ScanCursor::start(), 4).await.unwrap();
    assert_eq!(first.members, &refs[..4]);
    // Removing a listed member and adding one before the cursor change nothing after it.
    s.set_remove("s", &[b"a"]).await.unwrap();
    s.set_add("s", &[b"0"], TTL).await.unwrap();
    let second = s.set_members("s", &first.next.unwrap(), 100).await.unwrap();
    assert_eq!(second.members, &refs[4..]);
    assert_eq!(second.next, None);
}
