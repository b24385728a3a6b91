//! The cache on clocks other than the real one: only the cache's clock
//! decides what is live, whatever moka or real time do.

use std::time::Duration;

use super::{MS, SHORT_TTL, TTL, is_gone, manual};
use crate::{Clock, ManualClock, MemoryCache};
use cache_core::{Cache, RateLimitRule};

#[tokio::test]
async fn real_time_does_not_expire_entries_on_a_manual_clock() {
    let (c, clock) = manual();
    c.set("k", b"v", MS).await.unwrap();
    // Real time runs past the TTL (the stimulus, not a synchronisation); moka
    // would drop the entry by its own clock if it had been given the TTL.
    std::thread::sleep(Duration::from_millis(20));
    c.stats(); // lets moka run its housekeeping
    assert_eq!(c.get("k").await.unwrap().unwrap(), "v");
    assert_eq!(c.remaining_ttl("k"), Some(MS));
    clock.advance(MS);
    assert!(is_gone(&c, "k").await);
}

#[tokio::test]
async fn remaining_ttl_counts_down_on_the_clock() {
    let (c, clock) = manual();
    c.set("k", b"v", 30 * SHORT_TTL).await.unwrap();
    clock.advance(10 * SHORT_TTL);
    assert_eq!(c.remaining_ttl("k"), Some(20 * SHORT_TTL));
    assert_eq!(c.remaining_ttl("absent"), None);
    assert_eq!(c.remaining_ttl(""), None, "an invalid key holds nothing");
    clock.advance(20 * SHORT_TTL);
    assert_eq!(c.remaining_ttl("k"), None);
}

#[tokio::test]
async fn stats_count_only_live_entries_and_their_bytes() {
    let (c, clock) = manual();
    c.set("ab", b"123", SHORT_TTL).await.unwrap();
    c.set("c", b"4", TTL).await.unwrap();
    let stats = c.stats();
    assert_eq!((stats.entries, stats.bytes), (Some(2), Some(7)));
    clock.advance(SHORT_TTL);
    // moka still held "ab": counting drops it.
    let stats = c.stats();
    assert_eq!((stats.entries, stats.bytes), (Some(1), Some(2)));
    assert_eq!(c.keys(), ["c"]);
}

#[tokio::test]
async fn a_write_over_an_expired_entry_is_live_and_counted() {
    let (c, clock) = manual();
    c.set("k", b"old", SHORT_TTL).await.unwrap();
    clock.advance(SHORT_TTL);
    c.set("k", b"new", SHORT_TTL).await.unwrap();
    assert_eq!(c.stats().entries, Some(1), "the purge keeps the new entry");
    assert_eq!(c.get("k").await.unwrap().unwrap(), "new");
}

#[tokio::test]
async fn keys_lists_live_keys_in_order() {
    let (c, clock) = manual();
    for (key, ttl) in [("b", TTL), ("gone", SHORT_TTL), ("a", TTL)] {
        c.set(key, b"v", ttl).await.unwrap();
    }
    assert_eq!(c.keys(), ["a", "b", "gone"]);
    clock.advance(SHORT_TTL);
    assert_eq!(c.keys(), ["a", "b"]);
    c.close().await.unwrap();
    assert!(c.keys().is_empty());
    assert_eq!(c.remaining_ttl("a"), None);
}

#[tokio::test]
async fn caches_on_one_clock_expire_together_and_clones_share_it() {
    let clock = ManualClock::new();
    let a = MemoryCache::builder().clock(&clock).build().unwrap();
    let b = MemoryCache::builder().clock(clock.clone()).build().unwrap();
    a.set("k", b"a", SHORT_TTL).await.unwrap();
    b.set("k", b"b", SHORT_TTL).await.unwrap();
    clock.clone().advance(SHORT_TTL);
    assert!(is_gone(&a, "k").await);
    assert!(is_gone(&b.clone(), "k").await);
}

#[tokio::test]
async fn rate_limit_windows_follow_the_clock_not_real_time() {
    let (c, clock) = manual();
    let rule = RateLimitRule::sliding(1, 10 * MS);
    assert!(c.rate_limit("ip", &rule).await.unwrap().allowed);
    std::thread::sleep(Duration::from_millis(20));
    let denied = c.rate_limit("ip", &rule).await.unwrap();
    assert!(!denied.allowed, "real time does not slide the window");
    assert_eq!(denied.retry_after, 10 * MS);
    clock.advance(10 * MS);
    assert!(c.rate_limit("ip", &rule).await.unwrap().allowed);
}

#[tokio::test(start_paused = true)]
async fn the_tokio_clock_expires_entries_in_paused_time() {
    let c = MemoryCache::builder()
        .clock(Clock::tokio())
        .build()
        .unwrap();
    c.set("k", b"v", 10 * TTL).await.unwrap();
    tokio::time::advance(10 * TTL - MS).await;
    assert_eq!(c.remaining_ttl("k"), Some(MS));
    tokio::time::advance(MS).await;
    assert!(is_gone(&c, "k").await);
}

#[tokio::test]
async fn debug_names_the_clock() {
    let (c, clock) = manual();
    clock.advance(Duration::from_secs(3));
    let printed = format!("{c:?}");
    assert!(printed.contains("Clock::Manual"), "{printed}");
    assert!(printed.contains("elapsed: 3s"), "{printed}");
    assert!(format!("{:?}", MemoryCache::new()).contains("Clock::System"));
}
