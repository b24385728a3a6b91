//! get / set / delete, TTLs, and input validation.

use std::time::Duration;

use super::{MS, SHORT_TTL, TTL, cache, expires_in, is_gone, manual};
use crate::MemoryCache;
use cache_core::key::MAX_KEY_BYTES;
use cache_core::ttl::MAX_TTL;
use cache_core::{Cache, ErrorKind, RateLimitRule};

#[tokio::test]
async fn get_returns_what_set_stored() {
    let cases = [
        ("a plain value", "value", TTL),
        ("the empty byte string is a value", "", TTL),
        ("the longest ttl is accepted", "v", MAX_TTL),
    ];
    for (case, value, ttl) in cases {
        let c = cache();
        c.set("k", value.as_bytes(), ttl).await.unwrap();
        assert_eq!(c.get("k").await.unwrap().unwrap(), value, "{case}");
    }
}

#[tokio::test]
async fn get_of_a_missing_key_is_a_miss_not_an_error() {
    assert_eq!(cache().get("missing").await.unwrap(), None);
}

#[tokio::test]
async fn set_replaces_the_value() {
    let c = cache();
    c.set("k", b"one", TTL).await.unwrap();
    c.set("k", b"two", TTL).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().unwrap(), "two");
}

#[tokio::test]
async fn set_replaces_the_ttl() {
    let (c, clock) = manual();
    c.set("k", b"one", TTL).await.unwrap();
    c.set("k", b"two", SHORT_TTL).await.unwrap();
    expires_in(
        &c,
        &clock,
        "k",
        SHORT_TTL,
        "the shorter TTL expires the value",
    )
    .await;
}

#[tokio::test]
async fn keys_are_binary_safe_within_utf8() {
    let c = cache();
    let key = "\0\n*?[]\\ключ";
    c.set(key, b"v", TTL).await.unwrap();
    assert_eq!(c.get(key).await.unwrap().unwrap(), "v");
    assert!(c.get("\0\n*?[]\\").await.is_ok_and(|v| v.is_none()));
}

#[tokio::test]
async fn delete_reports_whether_a_value_was_there() {
    let c = cache();
    c.set("k", b"v", TTL).await.unwrap();
    assert!(c.delete("k").await.unwrap());
    assert!(!c.delete("k").await.unwrap());
    assert!(c.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_an_expired_value_reports_nothing_deleted() {
    let (c, clock) = manual();
    c.set("k", b"v", SHORT_TTL).await.unwrap();
    clock.advance(SHORT_TTL);
    // moka still holds the entry (it has no expiry off the system clock).
    assert!(!c.delete("k").await.unwrap());
}

#[tokio::test]
async fn values_live_until_the_last_instant_of_their_ttl() {
    let (c, clock) = manual();
    c.set("k", b"v", SHORT_TTL).await.unwrap();
    c.set("long", b"v", TTL).await.unwrap();
    clock.advance(SHORT_TTL - Duration::from_nanos(1));
    assert_eq!(c.get("k").await.unwrap().unwrap(), "v");
    clock.advance(Duration::from_nanos(1));
    assert!(
        is_gone(&c, "k").await,
        "gone from the first instant past it"
    );
    assert_eq!(c.get("long").await.unwrap().unwrap(), "v");
}

#[tokio::test]
async fn values_expire_on_the_real_clock_too() {
    // The default clock: moka's timers and the read check agree.
    let c = cache();
    c.set("k", b"v", SHORT_TTL).await.unwrap();
    c.set("long", b"v", TTL).await.unwrap();
    eventually!("the value expires", is_gone(&c, "k").await);
    assert_eq!(c.get("long").await.unwrap().unwrap(), "v");
}

#[tokio::test]
async fn a_sub_millisecond_ttl_is_rounded_up_to_one_millisecond() {
    let (c, clock) = manual();
    c.set("k", b"v", Duration::from_nanos(1)).await.unwrap();
    assert_eq!(c.remaining_ttl("k"), Some(MS));
    clock.advance(MS - Duration::from_nanos(1));
    assert_eq!(c.get("k").await.unwrap().unwrap(), "v");
    clock.advance(Duration::from_nanos(1));
    assert!(is_gone(&c, "k").await, "the 1 ms value expires");
}

#[tokio::test]
async fn every_method_refuses_an_empty_key() {
    let c = cache();
    let rule = RateLimitRule::sliding(1, TTL);
    let errors = [
        c.get("").await.err(),
        c.set("", b"v", TTL).await.err(),
        c.delete("").await.err(),
        c.get_or_set("", b"v", TTL).await.err(),
        c.compare_and_set("", None, b"v", TTL).await.err(),
        c.compare_and_delete("", b"v").await.err(),
        c.get_many(&["ok", ""]).await.err(),
        c.set_many(&[("ok", b"v"), ("", b"v")], TTL).await.err(),
        c.delete_many(&["ok", ""]).await.err(),
        c.incr_by("", 1, TTL).await.err(),
        c.rate_limit("", &rule).await.err(),
        c.publish("", b"m").await.err(),
        c.subscribe("").await.err(),
    ];
    for (i, err) in errors.into_iter().enumerate() {
        assert_eq!(
            err.map(|e| e.kind()),
            Some(ErrorKind::InvalidKey),
            "call #{i}"
        );
    }
}

#[tokio::test]
async fn an_oversized_key_is_refused() {
    let c = cache();
    let key = "k".repeat(MAX_KEY_BYTES + 1);
    let err = c.set(&key, b"v", TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    c.set(&key[1..], b"v", TTL).await.unwrap();
}

#[tokio::test]
async fn every_method_taking_a_ttl_refuses_zero() {
    let c = cache();
    let zero = Duration::ZERO;
    let errors = [
        c.set("k", b"v", zero).await.err(),
        c.get_or_set("k", b"v", zero).await.err(),
        c.compare_and_set("k", None, b"v", zero).await.err(),
        c.set_many(&[("k", b"v")], zero).await.err(),
        c.incr_by("k", 1, zero).await.err(),
        c.rate_limit("k", &RateLimitRule::fixed(1, zero))
            .await
            .err(),
    ];
    for (i, err) in errors.into_iter().enumerate() {
        assert_eq!(
            err.map(|e| e.kind()),
            Some(ErrorKind::InvalidTtl),
            "call #{i}"
        );
    }
    assert!(c.get("k").await.unwrap().is_none(), "nothing was written");
}

#[tokio::test]
async fn a_ttl_over_the_maximum_is_refused() {
    let c = cache();
    let err = c
        .set("k", b"v", MAX_TTL + Duration::from_millis(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTtl);
}

#[tokio::test]
async fn incr_by_on_an_existing_counter_still_refuses_a_zero_ttl() {
    let c = cache();
    c.incr_by("n", 1, TTL).await.unwrap();
    let err = c.incr_by("n", 1, Duration::ZERO).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTtl);
    assert_eq!(c.get("n").await.unwrap().unwrap(), "1");
}

#[tokio::test]
async fn an_oversized_value_is_refused_and_nothing_is_written() {
    let c = MemoryCache::builder().max_value_bytes(8).build().unwrap();
    let big = [0u8; 9];
    let errors = [
        c.set("k", &big, TTL).await.err(),
        c.get_or_set("k", &big, TTL).await.err(),
        c.compare_and_set("k", None, &big, TTL).await.err(),
        c.set_many(&[("k", &big)], TTL).await.err(),
        c.publish("k", &big).await.err(),
    ];
    for (i, err) in errors.into_iter().enumerate() {
        assert!(
            err.as_ref()
                .is_some_and(|e| (e.value_size(), e.size_limit()) == (Some(9), Some(8))),
            "call #{i}: {err:?}"
        );
    }
    assert!(c.get("k").await.unwrap().is_none());
    c.set("k", &big[..8], TTL).await.unwrap();
}
