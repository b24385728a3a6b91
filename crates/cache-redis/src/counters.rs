//! Statistics counters spread over a few [`StatsRecorder`]s (the same
//! scheme as the in-memory backend's).
//!
//! One recorder per cache means every call on every core increments the same
//! cache line (three times per call: the operation, the hit or miss, the
//! outcome), and that line bouncing between cores is a share of the
//! per-call overhead over bare redis-rs (ADR 0005). Each thread counts in one of
//! [`SLOTS`] recorders instead (picked once per thread), and a snapshot sums
//! them. The counters stay relaxed atomics; a snapshot taken during calls is
//! as approximate as a single recorder's would be.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::{CacheStats, StatsRecorder};

/// Recorders per cache (a power of two).
const SLOTS: usize = 8;

/// A recorder alone on its cache lines.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Slot(StatsRecorder);

/// The counters of one cache.
#[derive(Debug)]
pub(crate) struct Counters {
    slots: Box<[Slot]>,
}

impl Counters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Counters {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// The recorder the current thread counts in.
    #[inline]
    pub(crate) fn local(&self) -> &StatsRecorder {
        &self.slots[thread_slot() % SLOTS].0
    }

    /// The sum of every recorder (entries and bytes left `None`: Redis does
    /// not tell them cheaply).
    pub(crate) fn snapshot(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for slot in self.slots.iter() {
            let part = slot.0.snapshot();
            total.hits += part.hits;
            total.misses += part.misses;
            total.errors += part.errors;
            if total.operations.is_empty() {
                total.operations = part.operations;
            } else {
                for ((_, sum), (_, n)) in total.operations.iter_mut().zip(part.operations) {
                    *sum += n;
                }
            }
        }
        total
    }
}

/// A number fixed per thread, handed out in turn, so that threads spread
/// over the slots.
#[inline]
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.with(|slot| *slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::Operation;

    #[test]
    fn a_snapshot_sums_the_counts_of_every_thread() {
        let counters = Counters::new();
        std::thread::scope(|scope| {
            for _ in 0..(SLOTS * 2) {
                scope.spawn(|| {
                    let local = counters.local();
                    local.op(Operation::Get);
                    local.hits(2);
                    local.misses(1);
                    local.error();
                });
            }
        });
        let stats = counters.snapshot();
        let threads = (SLOTS * 2) as u64;
        assert_eq!(stats.ops(Operation::Get), threads);
        assert_eq!(stats.ops(Operation::Set), 0);
        assert_eq!(
            (stats.hits, stats.misses, stats.errors),
            (2 * threads, threads, threads)
        );
        assert_eq!(stats.operations.len(), Operation::ALL.len());
    }
}
