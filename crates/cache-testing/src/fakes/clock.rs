//! The clocks a [`FakeCache`](super::FakeCache) reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// A clock that moves only when told to, shared by every clone.
///
/// ```
/// use std::time::Duration;
/// use cache_testing::fakes::ManualClock;
///
/// let clock = ManualClock::new();
/// let view = clock.clone();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(view.elapsed(), Duration::from_secs(5));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    elapsed: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock();
        *elapsed = elapsed.saturating_add(by);
    }

    /// Time passed since the clock was made (the sum of every advance).
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// What a fake cache reads the time from.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    /// Tokio's clock (real time, or paused test time under `start_paused`).
    Tokio(tokio::time::Instant),
    /// A [`ManualClock`].
    Manual(ManualClock),
}

impl Clock {
    /// Tokio's clock, starting now.
    pub(crate) fn tokio() -> Self {
        Clock::Tokio(tokio::time::Instant::now())
    }

    /// Time since the clock's origin.
    pub(crate) fn now(&self) -> Duration {
        match self {
            Clock::Tokio(origin) => origin.elapsed(),
            Clock::Manual(clock) => clock.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time() {
        let clock = ManualClock::new();
        let clone = clock.clone();
        clone.advance(Duration::from_millis(7));
        clock.advance(Duration::from_millis(3));
        assert_eq!(clock.elapsed(), Duration::from_millis(10));
        assert_eq!(Clock::Manual(clone).now(), Duration::from_millis(10));
    }

    #[test]
    fn advancing_saturates_instead_of_overflowing() {
        let clock = ManualClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.elapsed(), Duration::MAX);
    }
}
