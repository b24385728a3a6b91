//! Recency without reading a clock on the hot path.
//!
//! `get` for a live tenant must cost a few nanoseconds of bookkeeping, and
//! reading the time costs more than the rest of the lookup on some virtual
//! machines. So recency is a *logical* clock: every slot carries the stamp
//! of its last recorded use, and stamps come from one counter.
//!
//! - **LRU.** A use restamps the slot with a fresh (highest) stamp, unless its
//!   stamp is already within `slack` of the newest one: a hot tenant then
//!   costs two loads and no write, and only the order among the `slack` most
//!   recent tenants is approximate, which eviction (of the *least* recent,
//!   thousands of stamps back) never looks at. With `max_tenants` below 16
//!   `slack` is 1 and the order is exact.
//! - **Idleness.** The sweep, on tokio's clock, notes each slot's stamp and
//!   since when it has not changed; a slot whose stamp stayed the same for
//!   `idle_ttl` is idle. Each sweep first advances the counter by `slack`, so
//!   the next use of *any* tenant after a sweep changes its stamp.

use std::sync::atomic::{AtomicU64, Ordering};

/// The manager's counter of uses.
#[derive(Debug)]
pub(crate) struct RecencyClock {
    head: AtomicU64,
    slack: u64,
}

impl RecencyClock {
    pub(crate) fn new(max_tenants: usize) -> Self {
        RecencyClock {
            head: AtomicU64::new(0),
            slack: (max_tenants as u64 / 16).max(1),
        }
    }

    /// A stamp newer than every stamp handed out before.
    pub(crate) fn tick(&self) -> u64 {
        self.head.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records a use of the slot whose stamp is `stamp`.
    pub(crate) fn touch(&self, stamp: &AtomicU64) {
        let head = self.head.load(Ordering::Relaxed);
        if head.saturating_sub(stamp.load(Ordering::Relaxed)) >= self.slack {
            stamp.store(self.tick(), Ordering::Relaxed);
        }
    }

    /// Makes every current stamp old enough that its next use restamps it
    /// (what lets the sweep see every use).
    pub(crate) fn age_all(&self) {
        self.head.fetch_add(self.slack, Ordering::Relaxed);
    }
}

/// A slot's recency: its stamp, and what the idle sweep last saw of it.
#[derive(Debug)]
pub(crate) struct Recency {
    stamp: AtomicU64,
    /// The stamp at the last sweep, and since when (ns on the manager's clock)
    /// it has been unchanged. Written only by sweeps, under the map's write lock.
    swept_stamp: AtomicU64,
    unchanged_since: AtomicU64,
}

impl Recency {
    /// A slot created now (`now`: ns on the manager's clock).
    pub(crate) fn new(clock: &RecencyClock, now: u64) -> Self {
        let stamp = clock.tick();
        Recency {
            stamp: AtomicU64::new(stamp),
            swept_stamp: AtomicU64::new(stamp),
            unchanged_since: AtomicU64::new(now),
        }
    }

    pub(crate) fn touch(&self, clock: &RecencyClock) {
        clock.touch(&self.stamp);
    }

    /// The stamp: larger is more recently used.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(Ordering::Relaxed)
    }

    /// For the sweep at `now`: how long (ns) the slot has gone unused, as far
    /// as sweeps can tell (never longer than the truth).
    pub(crate) fn unused_for(&self, now: u64) -> u64 {
        let stamp = self.stamp();
        if self.swept_stamp.swap(stamp, Ordering::Relaxed) != stamp {
            self.unchanged_since.store(now, Ordering::Relaxed);
            return 0;
        }
        now.saturating_sub(self.unchanged_since.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_makes_a_slot_the_most_recent() {
        let clock = RecencyClock::new(2);
        let (a, b) = (Recency::new(&clock, 0), Recency::new(&clock, 0));
        assert!(a.stamp() < b.stamp());
        a.touch(&clock);
        assert!(a.stamp() > b.stamp());
    }

    #[test]
    fn the_most_recent_slot_is_not_restamped() {
        let clock = RecencyClock::new(2);
        let a = Recency::new(&clock, 0);
        let stamp = a.stamp();
        a.touch(&clock);
        assert_eq!(a.stamp(), stamp);
    }

    #[test]
    fn a_use_after_aging_is_seen_by_the_next_sweep() {
        let clock = RecencyClock::new(1000);
        let a = Recency::new(&clock, 0);
        assert_eq!(a.unused_for(10), 10);
        clock.age_all();
        a.touch(&clock);
        assert_eq!(a.unused_for(20), 0, "the use changed the stamp");
        assert_eq!(a.unused_for(50), 30);
    }

    #[test]
    fn slack_skips_restamping_recent_slots_of_a_large_manager() {
        let clock = RecencyClock::new(1600);
        let a = Recency::new(&clock, 0);
        let stamp = a.stamp();
        for _ in 0..50 {
            clock.tick();
        }
        a.touch(&clock);
        assert_eq!(a.stamp(), stamp, "within the slack of 100");
    }
}
