//! Pull-based statistics: backends count with a [`StatsRecorder`], callers
//! pull a [`CacheStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Debug, Default)]
pub struct StatsRecorder {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    ops: [AtomicU64; Operation::ALL.len()],
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
            && !e.is_not_found()
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
        r.outcome::<()>(&Err(crate::CacheError::not_found("k")));
        r.outcome::<()>(&Err(crate::CacheError::Closed { op: Operation::Get }));
        let s = r.snapshot();
        assert_eq!(s.ops(Operation::Get), 2);
        assert_eq!(s.ops(Operation::Set), 0);
        assert_eq!(s.errors, 1);
        assert_eq!(s.hit_ratio(), Some(0.75));
        assert_eq!(s.total_operations(), 2);
    }
}
