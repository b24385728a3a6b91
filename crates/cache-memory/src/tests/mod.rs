//! Unit tests of the in-memory backend, one behaviour per test.

use std::time::Duration;

use super::{ManualClock, MemoryCache};

/// A TTL long enough that nothing expires during a test.
const TTL: Duration = Duration::from_secs(3600);

/// A TTL short enough to watch expire.
const SHORT_TTL: Duration = Duration::from_millis(50);

/// One millisecond: the contract's precision, by which a manual clock steps
/// onto a deadline.
const MS: Duration = Duration::from_millis(1);

/// How long a polled condition may take on a loaded machine before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls the condition `$check` (an expression, `.await` allowed) until it
/// holds, failing the test after a generous deadline. Timing is never
/// asserted, only that the condition comes true. Only for what moka does in
/// its own time (eviction, housekeeping) and for background tasks: expiry is
/// tested on a [`ManualClock`], exactly and without waiting.
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let deadline = std::time::Instant::now() + super::DEADLINE;
        while !$check {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting until {}",
                $what
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }};
}

mod basics;
mod batch;
mod clock;
mod collections;
mod concurrency;
mod conditional;
mod lifecycle;
mod pubsub;
mod rate;
mod scan;

/// A cache with the default limits.
fn cache() -> MemoryCache {
    MemoryCache::new()
}

/// A cache with the default limits on a manual clock, and the clock.
fn manual() -> (MemoryCache, ManualClock) {
    let clock = ManualClock::new();
    let cache = MemoryCache::builder().clock(&clock).build().unwrap();
    (cache, clock)
}

/// Whether `key` reads as a miss.
async fn is_gone(cache: &MemoryCache, key: &str) -> bool {
    use cache_core::Cache;
    cache.get(key).await.unwrap().is_none()
}

/// A manual-clock cache holding `gone`, which has just expired, and `kept`,
/// which has not, both with the value `v`.
async fn one_expired(gone: &str, kept: &str) -> MemoryCache {
    use cache_core::Cache;
    let (c, clock) = manual();
    c.set(gone, b"v", SHORT_TTL).await.unwrap();
    c.set(kept, b"v", TTL).await.unwrap();
    clock.advance(SHORT_TTL);
    c
}

/// Asserts that `key` has exactly `ttl` left and reads as a miss once the
/// clock has moved on by `ttl`; `what` names the expectation.
async fn expires_in(c: &MemoryCache, clock: &ManualClock, key: &str, ttl: Duration, what: &str) {
    assert_eq!(c.remaining_ttl(key), Some(ttl), "{what}");
    clock.advance(ttl);
    assert!(is_gone(c, key).await, "{what}");
}
