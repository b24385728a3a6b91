//! The bounded map under a [`Store`](super::store::Store):
//! [`cache_core::bounded::BoundedMap`] of [`Entry`], weighed by count or by
//! [`Weighing`], its sweeps on the cache's [`Clock`] (ADR 0011).

use cache_core::bounded::{BoundedMap, Expiring, Weigher};
use std::time::Instant;

use super::clock::Clock;
use super::entry::{Entry, Weighing};

/// The store's map.
pub(crate) type Map = BoundedMap<Entry, EntryWeigher>;

/// How entries are weighed against the capacity.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryWeigher {
    /// One unit per entry.
    Count,
    /// Key and payload bytes plus a share (see [`Weighing`]).
    Bytes(Weighing),
}

impl Weigher<Entry> for EntryWeigher {
    #[inline]
    fn weigh(&self, key: &str, entry: &Entry) -> u64 {
        match self {
            EntryWeigher::Count => 1,
            EntryWeigher::Bytes(weighing) => u64::from(weighing.weigh(key, entry)),
        }
    }
}

impl Expiring for Entry {
    #[inline]
    fn is_live(&self, now: Instant) -> bool {
        Entry::is_live(self, now)
    }
}

/// A map of at most `max_entries` entries, or by `weighing` when the byte
/// bound is set, where no entry weighs more than `largest` units.
pub(crate) fn new_map(
    max_entries: u64,
    weighing: Option<Weighing>,
    largest: u64,
    clock: Clock,
) -> Map {
    let (weigher, capacity) = match weighing {
        Some(w) => (EntryWeigher::Bytes(w), w.capacity()),
        None => (EntryWeigher::Count, max_entries),
    };
    BoundedMap::with_capacity(max_entries, capacity, largest, weigher)
        .with_clock(move || clock.now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    #[test]
    fn entries_expire_on_the_caches_clock_and_weigh_by_bytes() {
        let weighing = Weighing::new(1000, 10, 500);
        let map = new_map(10, Some(weighing), weighing.weight_of(500), Clock::system());
        let now = Instant::now();
        map.insert(
            "k",
            Entry::bytes(Bytes::from_static(b"12345"), now + Duration::from_secs(1)),
        );
        assert_eq!(map.weighted_size(), weighing.weight_of(6));
        assert!(map.get_live("k", now).is_some());
        assert!(map.get_live("k", now + Duration::from_secs(1)).is_none());
        assert_eq!(map.entry_count(), 0);
    }
}
