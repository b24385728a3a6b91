//! Unit tests of the in-memory backend, one behaviour per test.

use std::time::Duration;

use super::MemoryCache;

/// A TTL long enough that nothing expires during a test.
const TTL: Duration = Duration::from_secs(3600);

/// A TTL short enough to watch expire.
const SHORT_TTL: Duration = Duration::from_millis(50);

/// How long a polled condition may take on a loaded machine before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls the condition `$check` (an expression, `.await` allowed) until it
/// holds, failing the test after a generous deadline. Timing is never
/// asserted, only that the condition comes true.
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
