//! Where a [`MemoryCache`](crate::MemoryCache) reads the time: [`Clock`],
//! and, with the `test-util` feature, the [`ManualClock`] that tests move by
//! hand.
//!
//! Every time-dependent behaviour of the cache (expiry, remaining TTLs,
//! rate-limit windows, the lifetime of parked scan pages) reads its cache's
//! [`Clock`], and nothing else, on any clock: entries are judged by the
//! cache's clock only, and those past their deadline are dropped when they
//! are found (reads, the map's sweeps, stats) or evicted as least recently
//! used.

use std::fmt;
use std::time::Instant;

#[cfg(feature = "test-util")]
use std::sync::Arc;
#[cfg(feature = "test-util")]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "test-util")]
use std::time::Duration;

/// The time source of a [`MemoryCache`](crate::MemoryCache), given to
/// [`MemoryCacheBuilder::clock`](crate::MemoryCacheBuilder::clock). Cheap to
/// clone; clones read the same time.
///
/// The default is [`Clock::system`], the real monotonic clock. With the
/// `test-util` feature, a `ManualClock` (through `From`) or `Clock::tokio()`
/// can stand in for it.
///
/// ```
/// use cache_memory::{Clock, MemoryCache};
///
/// let clock = Clock::system();
/// let before = clock.now();
/// let cache = MemoryCache::builder().clock(clock.clone()).build()?;
/// assert!(clock.now() >= before);
/// # drop(cache);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Default)]
enum Source {
    /// `std::time::Instant::now()`.
    #[default]
    System,
    /// A [`ManualClock`].
    #[cfg(feature = "test-util")]
    Manual(ManualClock),
    /// `tokio::time::Instant::now()`.
    #[cfg(feature = "test-util")]
    Tokio,
}

impl Clock {
    /// The real monotonic clock, [`Instant::now`]: the default.
    pub fn system() -> Clock {
        Clock {
            source: Source::System,
        }
    }

    /// Tokio's clock: real time, or a test's paused time in
    /// `#[tokio::test(start_paused = true)]` (then `tokio::time::advance`
    /// moves it, and so expires entries).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::Cache;
    /// use cache_memory::{Clock, MemoryCache};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = MemoryCache::builder().clock(Clock::tokio()).build()?;
    /// cache.set("k", b"v", Duration::from_secs(10)).await?;
    /// tokio::time::advance(Duration::from_secs(10)).await;
    /// assert_eq!(cache.get("k").await?, None);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "test-util")]
    pub fn tokio() -> Clock {
        Clock {
            source: Source::Tokio,
        }
    }

    /// The current time on this clock.
    #[inline]
    pub fn now(&self) -> Instant {
        match &self.source {
            Source::System => Instant::now(),
            #[cfg(feature = "test-util")]
            Source::Manual(clock) => clock.now(),
            #[cfg(feature = "test-util")]
            Source::Tokio => tokio::time::Instant::now().into_std(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::System => f.write_str("Clock::System"),
            #[cfg(feature = "test-util")]
            Source::Manual(clock) => f.debug_tuple("Clock::Manual").field(clock).finish(),
            #[cfg(feature = "test-util")]
            Source::Tokio => f.write_str("Clock::Tokio"),
        }
    }
}

#[cfg(feature = "test-util")]
impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Clock {
        Clock {
            source: Source::Manual(clock),
        }
    }
}

#[cfg(feature = "test-util")]
impl From<&ManualClock> for Clock {
    fn from(clock: &ManualClock) -> Clock {
        Clock::from(clock.clone())
    }
}

/// A clock that moves only when [advanced](ManualClock::advance), shared by
/// every clone: a test's handle on the time of the caches built on it.
/// Needs the `test-util` feature.
///
/// Entries expire exactly when the clock reaches their deadline, with no
/// sleeping, whatever real time does meanwhile:
///
/// ```
/// use std::time::Duration;
/// use cache_core::Cache;
/// use cache_memory::{ManualClock, MemoryCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let clock = ManualClock::new();
/// let cache = MemoryCache::builder().clock(&clock).build()?;
/// cache.set("session:1", b"alice", Duration::from_secs(30)).await?;
///
/// clock.advance(Duration::from_secs(29));
/// assert_eq!(cache.remaining_ttl("session:1"), Some(Duration::from_secs(1)));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get("session:1").await?, None);
/// # Ok(()) }
/// ```
#[cfg(feature = "test-util")]
#[derive(Clone)]
pub struct ManualClock {
    shared: Arc<Manual>,
}

#[cfg(feature = "test-util")]
struct Manual {
    /// The instant the clock was made at: what [`ManualClock::now`] counts from.
    origin: Instant,
    /// Nanoseconds advanced since `origin`, saturating at `u64::MAX`
    /// (about 584 years).
    elapsed_nanos: AtomicU64,
}

#[cfg(feature = "test-util")]
impl ManualClock {
    /// A clock standing at the moment it is made, [`elapsed`](Self::elapsed)
    /// zero.
    pub fn new() -> Self {
        ManualClock {
            shared: Arc::new(Manual {
                origin: Instant::now(),
                elapsed_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves the clock (and every clone) forward by `by`, at nanosecond
    /// precision. Saturates after about 584 years in all rather than
    /// overflowing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_memory::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let view = clock.clone();
    /// let start = view.now();
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(view.now() - start, Duration::from_millis(1500));
    /// assert_eq!(view.elapsed(), Duration::from_millis(1500));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self.shared.elapsed_nanos.fetch_update(
            Ordering::AcqRel,
            Ordering::Acquire,
            |elapsed| Some(elapsed.saturating_add(by)),
        );
    }

    /// The current time on this clock: the instant it was made at plus every
    /// advance. Never goes backwards.
    #[inline]
    pub fn now(&self) -> Instant {
        self.shared.origin + self.elapsed()
    }

    /// The time advanced so far (the sum of every [`advance`](Self::advance)).
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.shared.elapsed_nanos.load(Ordering::Acquire))
    }
}

#[cfg(feature = "test-util")]
impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

#[cfg(feature = "test-util")]
impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time() {
        let clock = ManualClock::new();
        let clone = clock.clone();
        clone.advance(Duration::from_millis(7));
        clock.advance(Duration::from_millis(3));
        assert_eq!(clock.elapsed(), Duration::from_millis(10));
        assert_eq!(Clock::from(&clone).now(), clock.now());
    }

    #[test]
    fn a_manual_clock_stands_still_while_real_time_passes() {
        let clock = ManualClock::new();
        let at = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn advancing_saturates_instead_of_overflowing() {
        let clock = ManualClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
        // Still a valid instant, and TTLs up to the maximum can be added to it.
        let _ = clock.now() + cache_core::ttl::MAX_TTL;
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_follows_paused_time() {
        let clock = Clock::tokio();
        let at = clock.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(clock.now() - at, Duration::from_secs(5));
    }
}
