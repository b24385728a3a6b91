//! The in-memory fake: the production [`MemoryCache`] on a [`ManualClock`],
//! so that a caller's tests expire entries, locks and rate-limit windows by
//! advancing the clock, deterministically and without sleeping. There is one
//! in-memory implementation of the contract, and this is it; the conformance
//! suite runs against it on a manual clock (`tests/conformance_fake.rs`).
//!
//! ```
//! use std::time::Duration;
//! use cache_core::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cache_core::Result<()> {
//! let (cache, clock) = cache_testing::fake_cache();
//! cache.set("session:1", b"alice", Duration::from_secs(30)).await?;
//! clock.advance(Duration::from_secs(29));
//! assert_eq!(cache.get("session:1").await?.as_deref(), Some(&b"alice"[..]));
//! assert_eq!(cache.remaining_ttl("session:1"), Some(Duration::from_secs(1)));
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(cache.get("session:1").await?, None);
//! # Ok(()) }
//! ```
//!
//! Other limits or another clock come from the builder, e.g. tokio's clock
//! for tests under `#[tokio::test(start_paused = true)]`:
//!
//! ```
//! use cache_testing::fakes::{Clock, ManualClock, MemoryCache};
//!
//! let clock = ManualClock::new();
//! let small = MemoryCache::builder().max_value_bytes(1024).clock(&clock).build()?;
//! let paused = MemoryCache::builder().clock(Clock::tokio()).build()?;
//! # drop((small, paused));
//! # Ok::<(), cache_core::CacheError>(())
//! ```
//!
//! Wrap it for the rest: [`RecordingCache`](crate::RecordingCache) records
//! the calls, [`FaultyCache`](crate::FaultyCache) injects failures and
//! latency.

pub use cache_memory::{Clock, ManualClock, MemoryCache};

/// A [`MemoryCache`] with the default limits on a new [`ManualClock`], and
/// that clock: time moves for the cache only when the test advances it.
/// Clones of the cache share its entries; clones of the clock its time.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, RateLimitRule};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cache_core::Result<()> {
/// let (cache, clock) = cache_testing::fake_cache();
/// let rule = RateLimitRule::fixed(1, Duration::from_secs(60));
/// assert!(cache.rate_limit("ip:1", &rule).await?.allowed);
/// assert!(!cache.rate_limit("ip:1", &rule).await?.allowed);
/// clock.advance(Duration::from_secs(60));
/// assert!(cache.rate_limit("ip:1", &rule).await?.allowed, "a new window");
/// # Ok(()) }
/// ```
pub fn fake_cache() -> (MemoryCache, ManualClock) {
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .clock(&clock)
        .build()
        .expect("the default limits are valid");
    (cache, clock)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cache_core::Cache;

    use super::*;

    #[tokio::test]
    async fn each_fake_has_its_own_clock_and_entries() {
        let (a, a_clock) = fake_cache();
        let (b, _) = fake_cache();
        a.set("k", b"v", Duration::from_secs(1)).await.unwrap();
        b.set("k", b"v", Duration::from_secs(1)).await.unwrap();
        a_clock.advance(Duration::from_secs(1));
        assert_eq!(a.get("k").await.unwrap(), None);
        assert!(
            b.get("k").await.unwrap().is_some(),
            "b's clock did not move"
        );
    }
}
