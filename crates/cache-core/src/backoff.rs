//! Exponential backoff with jitter: the one computation of "how long to wait
//! before trying again", shared by the Redis backend's retries, the lock's
//! waits, cache-aside's cross-process waits and write-behind's retries.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::backoff::Backoff;
//!
//! let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
//! assert_eq!(backoff.ceiling(0), Duration::from_millis(50));
//! assert_eq!(backoff.ceiling(3), Duration::from_millis(400));
//! assert_eq!(backoff.ceiling(10), Duration::from_secs(2)); // capped
//! let wait = backoff.delay(3);
//! assert!(wait >= Duration::from_millis(200) && wait <= Duration::from_millis(400));
//! ```

use std::time::Duration;

use rand::Rng as _;

/// Delays that double from `base` up to `max`, each drawn at random from the
/// upper half of its ceiling ("equal jitter").
///
/// The delay before retry `n` (from 0) is uniform in `[c/2, c]` where
/// `c = min(max, base · 2ⁿ)`: exponential, so that callers that keep failing
/// do not hammer the backend; jittered, so that callers that failed together
/// do not retry together; never below half the ceiling, so that every wait
/// still grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Delays growing from `base` to `max` (`max` is raised to `base` if lower).
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
        }
    }

    /// The first ceiling.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest ceiling.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The ceiling of the delay before retry `attempt` (0-based), before
    /// jitter: `base · 2^attempt`, at most `max`. Never overflows.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // 2^31 still fits a u32; beyond, the product saturates anyway.
        let factor = 1u32 << attempt.min(31);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The jittered delay before retry `attempt` (0-based): uniform in
    /// `[ceiling / 2, ceiling]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return ceiling;
        }
        rand::rng().random_range(ceiling / 2..=ceiling)
    }
}

impl Default for Backoff {
    /// 10 ms growing to 200 ms.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(10), Duration::from_millis(200))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_double_from_the_base_up_to_the_cap() {
        let b = Backoff::new(10 * MS, 100 * MS);
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [10 * MS, 20 * MS, 40 * MS, 80 * MS, 100 * MS, 100 * MS]
        );
    }

    #[test]
    fn huge_attempts_and_durations_saturate_at_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::MAX);
        assert_eq!(b.ceiling(31), Duration::from_secs(1 << 31));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1 << 31));
        let b = Backoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(b.ceiling(5), Duration::MAX);
        let b = Backoff::new(10 * MS, 500 * MS);
        assert!(b.delay(u32::MAX) <= 500 * MS);
    }

    #[test]
    fn delays_stay_within_the_upper_half_of_their_ceiling() {
        let b = Backoff::new(10 * MS, 100 * MS);
        for attempt in 0..40 {
            let ceiling = b.ceiling(attempt);
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "attempt {attempt}: {d:?} outside [{:?}, {ceiling:?}]",
                    ceiling / 2
                );
            }
        }
    }

    #[test]
    fn delays_are_spread_over_the_jitter_range() {
        let b = Backoff::new(100 * MS, 100 * MS);
        let delays: Vec<_> = (0..1_000).map(|_| b.delay(0)).collect();
        let low = delays.iter().filter(|d| **d < 60 * MS).count();
        let high = delays.iter().filter(|d| **d > 90 * MS).count();
        // Uniform on [50, 100] ms: about 200 of 1,000 land in each tenth-wide
        // band; none at all would mean no jitter.
        assert!(low > 100 && high > 100, "low {low}, high {high}");
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn a_max_below_the_base_is_raised_and_zero_is_fine() {
        let b = Backoff::new(50 * MS, 10 * MS);
        assert_eq!(b.max(), 50 * MS);
        assert_eq!(b.ceiling(3), 50 * MS);
        let zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.delay(7), Duration::ZERO);
    }
}
