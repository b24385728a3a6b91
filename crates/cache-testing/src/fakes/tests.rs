//! The fake on a manual clock: time moves only when the test says so.

use std::time::Duration;

use cache_core::{Cache, ErrorKind, RateLimitRule, ScanCursor, SubscriptionEvent};

use super::{FakeCache, ManualClock};

const SEC: Duration = Duration::from_secs(1);

fn manual() -> (FakeCache, ManualClock) {
    let clock = ManualClock::new();
    (FakeCache::with_clock(clock.clone()), clock)
}

#[tokio::test]
async fn entry_lives_until_the_last_millisecond_of_its_ttl() {
    let (cache, clock) = manual();
    cache.set("k", b"v", 10 * SEC).await.unwrap();
    clock.advance(10 * SEC - Duration::from_millis(1));
    assert_eq!(cache.get("k").await.unwrap().unwrap().as_ref(), b"v");
    clock.advance(Duration::from_millis(1));
    assert!(cache.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn remaining_ttl_shows_what_the_caller_chose() {
    let (cache, clock) = manual();
    cache.set("k", b"v", 30 * SEC).await.unwrap();
    clock.advance(10 * SEC);
    assert_eq!(cache.remaining_ttl("k"), Some(20 * SEC));
    assert_eq!(cache.remaining_ttl("absent"), None);
}

#[tokio::test]
async fn sub_millisecond_ttl_lasts_one_millisecond() {
    let (cache, clock) = manual();
    cache.set("k", b"v", Duration::from_nanos(1)).await.unwrap();
    assert_eq!(cache.remaining_ttl("k"), Some(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.remaining_ttl("k"), None);
}

#[tokio::test]
async fn existing_counter_keeps_its_ttl() {
    let (cache, clock) = manual();
    cache.incr_by("c", 1, 10 * SEC).await.unwrap();
    clock.advance(5 * SEC);
    assert_eq!(cache.incr_by("c", 1, 60 * SEC).await.unwrap(), 2);
    assert_eq!(cache.remaining_ttl("c"), Some(5 * SEC));
    clock.advance(5 * SEC);
    assert_eq!(
        cache.incr_by("c", 1, 60 * SEC).await.unwrap(),
        1,
        "a new window"
    );
}

#[tokio::test]
async fn expired_lock_can_be_taken_and_the_stale_holder_cannot_release_it() {
    let (cache, clock) = manual();
    assert!(
        cache
            .compare_and_set("lock", None, b"a", 5 * SEC)
            .await
            .unwrap()
    );
    assert!(
        !cache
            .compare_and_set("lock", None, b"b", 5 * SEC)
            .await
            .unwrap()
    );
    clock.advance(5 * SEC);
    assert!(
        cache
            .compare_and_set("lock", None, b"b", 5 * SEC)
            .await
            .unwrap()
    );
    assert!(!cache.compare_and_delete("lock", b"a").await.unwrap());
    assert!(cache.compare_and_delete("lock", b"b").await.unwrap());
}

#[tokio::test]
async fn sliding_rate_limit_follows_the_clock() {
    let (cache, clock) = manual();
    let rule = RateLimitRule::sliding(2, 10 * SEC);
    assert!(cache.rate_limit("ip", &rule).await.unwrap().allowed);
    clock.advance(4 * SEC);
    assert!(cache.rate_limit("ip", &rule).await.unwrap().allowed);
    let denied = cache.rate_limit("ip", &rule).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.retry_after, 6 * SEC);
    clock.advance(6 * SEC);
    let again = cache.rate_limit("ip", &rule).await.unwrap();
    assert!(again.allowed);
    assert_eq!(again.remaining, 0);
}

#[tokio::test]
async fn fixed_rate_limit_window_starts_at_the_first_request() {
    let (cache, clock) = manual();
    let rule = RateLimitRule::fixed(1, 10 * SEC);
    clock.advance(3 * SEC);
    assert!(cache.rate_limit("ip", &rule).await.unwrap().allowed);
    clock.advance(9 * SEC);
    assert_eq!(
        cache.rate_limit("ip", &rule).await.unwrap().retry_after,
        SEC
    );
    clock.advance(SEC);
    assert!(cache.rate_limit("ip", &rule).await.unwrap().allowed);
}

#[tokio::test]
async fn values_over_the_configured_limit_are_refused_and_not_written() {
    let cache = FakeCache::new().with_max_value_bytes(4);
    cache.set("k", b"1234", SEC).await.unwrap();
    let err = cache.set("k", b"12345", SEC).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(cache.get("k").await.unwrap().unwrap().as_ref(), b"1234");
}

#[tokio::test]
async fn a_cursor_from_elsewhere_is_refused() {
    let cache = FakeCache::new();
    for bad in ["17", "kzz", "k0"] {
        let err = cache
            .scan_keys("*", &ScanCursor::from_string(bad), 10)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Operation, "{bad}");
    }
}

#[tokio::test]
async fn a_key_that_reads_zero_does_not_restart_the_scan() {
    let cache = FakeCache::new();
    for k in ["0", "1", "2"] {
        cache.set(k, b"v", SEC).await.unwrap();
    }
    let first = cache.scan_keys("*", &ScanCursor::start(), 1).await.unwrap();
    assert_eq!(first.keys, ["0"]);
    let next = first.next.expect("more keys follow");
    let second = cache.scan_keys("*", &next, 5).await.unwrap();
    assert_eq!(second.keys, ["1", "2"]);
    assert_eq!(second.next, None);
}

#[tokio::test]
async fn stats_report_live_entries_and_bytes() {
    let (cache, clock) = manual();
    cache.set("ab", b"123", SEC).await.unwrap();
    cache.set("c", b"4", 2 * SEC).await.unwrap();
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes), (Some(2), Some(7)));
    clock.advance(SEC);
    assert_eq!(cache.stats().entries, Some(1));
    assert_eq!(cache.keys(), ["c"]);
}

#[tokio::test]
async fn publish_counts_only_live_subscribers() {
    let cache = FakeCache::new();
    let mut kept = cache.subscribe("ch").await.unwrap();
    let dropped = cache.subscribe("ch").await.unwrap();
    drop(dropped);
    assert_eq!(cache.publish("ch", b"m").await.unwrap(), 1);
    assert_eq!(
        kept.recv().await,
        Some(SubscriptionEvent::Message(bytes::Bytes::from_static(b"m")))
    );
    assert_eq!(cache.publish("nobody", b"m").await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_default_clock_follows_paused_tokio_time() {
    let cache = FakeCache::new();
    cache.set("k", b"v", 10 * SEC).await.unwrap();
    tokio::time::advance(10 * SEC).await;
    assert!(cache.get("k").await.unwrap().is_none());
}
