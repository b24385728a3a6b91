//! Awaiting a condition in a test instead of sleeping a guessed time.

use std::future::Future;
use std::time::Duration;

/// How long [`eventually`] waits. Generous: CI machines are small and shared,
/// and under tokio's paused time this is virtual time anyway.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `condition` every 5 ms until it holds; panics naming `what` when
/// [`DEADLINE`] passes first. It sleeps on tokio's clock between polls, so
/// paused-time tests advance.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let polls = AtomicU32::new(0);
/// cache_testing::wait::eventually("the third poll", || async {
///     polls.fetch_add(1, Ordering::SeqCst) == 2
/// })
/// .await;
/// assert_eq!(polls.load(Ordering::SeqCst), 3);
/// # }
/// ```
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let polled = tokio::time::timeout(DEADLINE, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        polled.is_ok(),
        "timed out after {DEADLINE:?} waiting until {what}"
    );
}

/// Whether `cache` reads `expected` at `key` right now (an error or a miss is
/// `false`): a condition for [`eventually`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use cache_core::Cache;
/// let (cache, _clock) = cache_testing::fake_cache();
/// cache.set("k", b"v", std::time::Duration::from_secs(5)).await.unwrap();
/// assert!(cache_testing::wait::reads(&cache, "k", "v").await);
/// assert!(!cache_testing::wait::reads(&cache, "other", "v").await);
/// # }
/// ```
pub async fn reads(cache: &dyn cache_core::Cache, key: &str, expected: impl AsRef<[u8]>) -> bool {
    cache
        .get(key)
        .await
        .is_ok_and(|v| v.is_some_and(|v| v == expected.as_ref()))
}
