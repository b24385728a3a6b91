//! get_or_set, compare_and_set, compare_and_delete and incr_by, one caller at a time.

use std::time::Duration;

use super::{MS, SHORT_TTL, TTL, cache, expires_in, manual};
use crate::{ManualClock, MemoryCache};
use cache_core::{Cache, ErrorKind, RateLimitRule};

#[tokio::test]
async fn get_or_set_stores_when_absent() {
    let c = cache();
    let (value, stored) = c.get_or_set("k", b"new", TTL).await.unwrap();
    assert_eq!((value.as_ref(), stored), (&b"new"[..], true));
    assert_eq!(c.get("k").await.unwrap().unwrap(), "new");
}

#[tokio::test]
async fn get_or_set_returns_the_existing_value_without_storing() {
    let c = cache();
    c.set("k", b"old", TTL).await.unwrap();
    let (value, stored) = c.get_or_set("k", b"new", TTL).await.unwrap();
    assert_eq!((value.as_ref(), stored), (&b"old"[..], false));
    assert_eq!(c.get("k").await.unwrap().unwrap(), "old");
}

/// `get_or_set("k", "new", TTL)` on a manual clock, `elapsed` after `k` was
/// set to `old` for [`SHORT_TTL`]: the cache, its clock, and what the call
/// returned (the value and whether it stored).
async fn get_or_set_after(elapsed: Duration) -> (MemoryCache, ManualClock, bytes::Bytes, bool) {
    let (c, clock) = manual();
    c.set("k", b"old", SHORT_TTL).await.unwrap();
    clock.advance(elapsed);
    let (value, stored) = c.get_or_set("k", b"new", TTL).await.unwrap();
    (c, clock, value, stored)
}

#[tokio::test]
async fn get_or_set_leaves_the_existing_ttl_alone() {
    let (c, clock, _, stored) = get_or_set_after(MS).await;
    assert!(!stored);
    let what = "the existing value expires on its own TTL";
    expires_in(&c, &clock, "k", SHORT_TTL - MS, what).await;
}

#[tokio::test]
async fn get_or_set_stores_again_after_expiry() {
    let (c, _, value, stored) = get_or_set_after(SHORT_TTL).await;
    assert_eq!((value.as_ref(), stored), (&b"new"[..], true));
    assert_eq!(c.get("k").await.unwrap().unwrap(), "new");
    assert_eq!(c.remaining_ttl("k"), Some(TTL));
}

#[tokio::test]
async fn compare_and_set_with_none_writes_only_if_absent() {
    let c = cache();
    assert!(c.compare_and_set("k", None, b"first", TTL).await.unwrap());
    assert!(!c.compare_and_set("k", None, b"second", TTL).await.unwrap());
    assert_eq!(c.get("k").await.unwrap().unwrap(), "first");
}

#[tokio::test]
async fn compare_and_set_with_none_does_not_treat_an_empty_value_as_absent() {
    let c = cache();
    c.set("k", b"", TTL).await.unwrap();
    assert!(!c.compare_and_set("k", None, b"x", TTL).await.unwrap());
    assert_eq!(c.get("k").await.unwrap().unwrap(), "");
}

#[tokio::test]
async fn compare_and_set_with_an_empty_expected_needs_an_empty_value() {
    let c = cache();
    assert!(!c.compare_and_set("k", Some(b""), b"x", TTL).await.unwrap());
    assert!(
        c.get("k").await.is_ok_and(|v| v.is_none()),
        "absent is not empty"
    );
    c.set("k", b"", TTL).await.unwrap();
    assert!(c.compare_and_set("k", Some(b""), b"x", TTL).await.unwrap());
    assert_eq!(c.get("k").await.unwrap().unwrap(), "x");
}

#[tokio::test]
async fn compare_and_set_swaps_only_a_matching_value() {
    // (case, stored value, swapped, value afterwards); the CAS expects "old".
    let cases = [
        ("a matching value is replaced", "old", true, "new"),
        ("a different value is left alone", "other", false, "other"),
    ];
    for (case, stored, swapped, after) in cases {
        let c = cache();
        c.set("k", stored.as_bytes(), TTL).await.unwrap();
        let did = c.compare_and_set("k", Some(b"old"), b"new", TTL).await;
        assert_eq!(did.unwrap(), swapped, "{case}");
        assert_eq!(c.get("k").await.unwrap().unwrap(), after, "{case}");
    }
}

#[tokio::test]
async fn compare_and_set_gives_the_new_value_its_ttl() {
    let (c, clock) = manual();
    c.set("k", b"old", TTL).await.unwrap();
    assert!(
        c.compare_and_set("k", Some(b"old"), b"new", SHORT_TTL)
            .await
            .unwrap()
    );
    let what = "the new value expires on the new TTL";
    expires_in(&c, &clock, "k", SHORT_TTL, what).await;
}

#[tokio::test]
async fn compare_and_set_with_none_takes_an_expired_key() {
    let (c, clock) = manual();
    c.set("lock", b"holder-1", SHORT_TTL).await.unwrap();
    clock.advance(SHORT_TTL - MS);
    let taken = c.compare_and_set("lock", None, b"holder-2", TTL);
    assert!(
        !taken.await.unwrap(),
        "still held a millisecond before expiry"
    );
    clock.advance(MS);
    let taken = c.compare_and_set("lock", None, b"holder-2", TTL);
    assert!(taken.await.unwrap(), "the first holder's lock expired");
    assert_eq!(c.get("lock").await.unwrap().unwrap(), "holder-2");
    // The stale holder cannot release the new lock.
    assert!(!c.compare_and_delete("lock", b"holder-1").await.unwrap());
    assert!(c.compare_and_delete("lock", b"holder-2").await.unwrap());
}

#[tokio::test]
async fn compare_and_delete_deletes_a_matching_value() {
    let c = cache();
    c.set("k", b"token", TTL).await.unwrap();
    assert!(c.compare_and_delete("k", b"token").await.unwrap());
    assert!(c.get("k").await.is_ok_and(|v| v.is_none()));
}

#[tokio::test]
async fn compare_and_delete_leaves_a_different_value_alone() {
    let c = cache();
    c.set("k", b"someone-else", TTL).await.unwrap();
    assert!(!c.compare_and_delete("k", b"token").await.unwrap());
    assert_eq!(c.get("k").await.unwrap().unwrap(), "someone-else");
}

#[tokio::test]
async fn compare_and_delete_of_an_absent_key_is_false() {
    assert!(!cache().compare_and_delete("k", b"").await.unwrap());
}

#[tokio::test]
async fn incr_by_starts_an_absent_counter_at_zero() {
    let c = cache();
    assert_eq!(c.incr_by("n", 5, TTL).await.unwrap(), 5);
    assert_eq!(c.incr_by("n", -7, TTL).await.unwrap(), -2);
}

#[tokio::test]
async fn incr_by_stores_decimal_ascii() {
    let c = cache();
    c.incr_by("n", 42, TTL).await.unwrap();
    assert_eq!(c.get("n").await.unwrap().unwrap(), "42");
}

#[tokio::test]
async fn incr_by_continues_a_counter_written_with_set() {
    let c = cache();
    c.set("n", b"-10", TTL).await.unwrap();
    assert_eq!(c.incr_by("n", 3, TTL).await.unwrap(), -7);
}

#[tokio::test]
async fn incr_by_gives_an_absent_counter_the_ttl() {
    let (c, clock) = manual();
    c.incr_by("n", 1, SHORT_TTL).await.unwrap();
    expires_in(&c, &clock, "n", SHORT_TTL, "the counter expires").await;
    assert_eq!(
        c.incr_by("n", 1, TTL).await.unwrap(),
        1,
        "starts over at zero"
    );
    assert_eq!(c.remaining_ttl("n"), Some(TTL), "with the new TTL");
}

#[tokio::test]
async fn incr_by_keeps_the_ttl_of_an_existing_counter() {
    let (c, clock) = manual();
    c.incr_by("n", 1, SHORT_TTL).await.unwrap();
    clock.advance(SHORT_TTL / 2);
    assert_eq!(c.incr_by("n", 1, TTL).await.unwrap(), 2);
    let what = "the counter expires on its first TTL";
    expires_in(&c, &clock, "n", SHORT_TTL / 2, what).await;
}

#[tokio::test]
async fn incr_by_on_a_non_integer_is_a_wrong_type_and_changes_nothing() {
    let c = cache();
    for text in [&b"abc"[..], b"1.5", b" 1", b"+1", b"01", b""] {
        c.set("k", text, TTL).await.unwrap();
        let err = c.incr_by("k", 1, TTL).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongType, "{text:?}");
        assert_eq!(c.get("k").await.unwrap().unwrap(), text);
    }
}

#[tokio::test]
async fn incr_by_overflow_is_an_error_not_a_wrap() {
    let c = cache();
    c.set("n", i64::MAX.to_string().as_bytes(), TTL)
        .await
        .unwrap();
    let err = c.incr_by("n", 1, TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow, "{err:?}");
    assert_eq!(c.get("n").await.unwrap().unwrap(), i64::MAX.to_string());
    c.set("n", i64::MIN.to_string().as_bytes(), TTL)
        .await
        .unwrap();
    assert!(c.incr_by("n", -1, TTL).await.is_err());
}

#[tokio::test]
async fn byte_operations_on_a_rate_limit_log_are_wrong_type_errors() {
    let c = cache();
    c.rate_limit("rl", &RateLimitRule::sliding(5, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(c.get("rl").await.unwrap_err().kind(), ErrorKind::WrongType);
    assert_eq!(
        c.incr_by("rl", 1, TTL).await.unwrap_err().kind(),
        ErrorKind::WrongType
    );
    assert_eq!(
        c.get_many(&["rl"]).await.unwrap(),
        [None],
        "like MGET: a miss"
    );
    assert!(!c.compare_and_delete("rl", b"").await.unwrap());
    c.set("rl", b"plain", TTL).await.unwrap();
    assert_eq!(
        c.get("rl").await.unwrap().unwrap(),
        "plain",
        "set overwrites any kind"
    );
}
