//! Pull-based statistics: backends count with a [`StatsRecorder`], callers
//! pull a [`CacheStats`] snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::Operation;

/// A snapshot of a cache's counters since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a value (`get`, and each found key of `get_many`).
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Calls that returned an error other than not-found or a failed precondition.
    pub errors: u64,
    /// Calls by operation, in [`Operation::ALL`] order; see [`CacheStats::ops`].
    pub operations: Vec<(Operation, u64)>,
    /// Entries held, where the backend knows it cheaply (in-memory).
    pub entries: Option<u64>,
    /// Bytes held (keys and values), where the backend knows it cheaply.
    pub bytes: Option<u64>,
}

impl CacheStats {
    /// Calls of `op` so far.
    pub fn ops(&self, op: Operation) -> u64 {
        self.operations
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(0, |(_, n)| *n)
    }

    /// Hits over lookups, `None` before the first lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }

    /// Every call counted, all operations together.
    pub fn total_operations(&self) -> u64 {
        self.operations.iter().map(|(_, n)| n).sum()
    }
}

/// Lock-free counters behind [`CacheStats`], for backend implementers.
#[derive(Debug)]
pub struct StatsRecorder {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    ops: [AtomicU64; Operation::ALL.len()],
}

// By hand: `Default` is derived for arrays of at most 32 elements.
impl Default for StatsRecorder {
    fn default() -> Self {
        StatsRecorder {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            ops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl StatsRecorder {
    /// New counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call of `op`.
    pub fn op(&self, op: Operation) {
        self.ops[op.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` hits.
    pub fn hits(&self, n: u64) {
        self.hits.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` misses.
    pub fn misses(&self, n: u64) {
        self.misses.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one error.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the outcome of a call: an error unless it is a miss or a failed
    /// precondition, which are answers, not failures.
    pub fn outcome<T>(&self, result: &crate::Result<T>) {
        if let Err(e) = result
            && !e.is_cas_failed()
        {
            self.error();
        }
    }

    /// A snapshot of the counters (entries and bytes left `None`).
    pub fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            operations: Operation::ALL
                .iter()
                .map(|op| (*op, self.ops[op.index()].load(Ordering::Relaxed)))
                .collect(),
            entries: None,
            bytes: None,
        }
    }
}

/// Recorders per [`StatsShards`] (a power of two).
const SLOTS: usize = 8;

/// A recorder alone on its cache lines.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Slot(StatsRecorder);

/// Statistics counters spread over a few [`StatsRecorder`]s, for backends
/// whose calls are short enough that one shared recorder would be a hot spot.
///
/// One recorder per cache means every call on every core increments the same
/// cache line; each thread counts in one of a few recorders instead (picked
/// once per thread), each alone on its cache line, and a snapshot sums them.
/// The counters stay relaxed atomics: a snapshot taken during calls is as
/// approximate as a single recorder's would be.
#[derive(Debug)]
pub struct StatsShards {
    slots: Box<[Slot]>,
}

impl Default for StatsShards {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsShards {
    /// All zero.
    pub fn new() -> Self {
        StatsShards {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// The recorder the current thread counts in.
    #[inline]
    pub fn local(&self) -> &StatsRecorder {
        &self.slots[thread_slot() % SLOTS].0
    }

    /// The sum of every recorder (entries and bytes left `None`).
    pub fn snapshot(&self) -> CacheStats {
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

    #[test]
    fn counts_and_ratio() {
        let r = StatsRecorder::new();
        r.op(Operation::Get);
        r.op(Operation::Get);
        r.hits(3);
        r.misses(1);
        r.outcome::<()>(&Err(crate::CacheError::closed(Operation::Get)));
        let s = r.snapshot();
        assert_eq!(s.ops(Operation::Get), 2);
        assert_eq!(s.ops(Operation::Set), 0);
        assert_eq!(s.errors, 1);
        assert_eq!(s.hit_ratio(), Some(0.75));
        assert_eq!(s.total_operations(), 2);
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn a_snapshot_sums_the_counts_of_every_thread() {
        let counters = StatsShards::new();
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
