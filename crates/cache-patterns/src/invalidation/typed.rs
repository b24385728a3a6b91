//! The near cache's typed level: values kept decoded, as `Arc<T>`, so that a
//! typed L1 hit ([`NearCache::get_arc`](super::NearCache::get_arc)) decodes
//! and copies nothing.
//!
//! It sits beside the byte-level L1 and follows the same invalidations: every
//! key, pattern or "everything" that drops byte copies drops typed ones, and a
//! value is kept only if no invalidation arrived while it was being read.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::bounded::{BoundedMap, ByCount, Expiring};
use cache_core::pattern;

use super::Invalidation;

/// Decoded values the typed level keeps at most, by default.
pub const DEFAULT_TYPED_CAPACITY: u64 = 10_000;

/// A decoded value of some type (a read as another type is a miss), and the
/// instant its local copy ends (`None`: a TTL past the end of time).
#[derive(Clone)]
struct Decoded {
    value: Arc<dyn Any + Send + Sync>,
    expires_at: Option<Instant>,
}

impl Expiring for Decoded {
    #[inline]
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Decoded values by key, each for at most the near cache's local TTL, in
/// the LRU map that `cache_memory` stores its entries in (ADR 0011): a hit is
/// a hash, an uncontended lock and an `Arc` clone.
pub(super) struct TypedLevel {
    entries: BoundedMap<Decoded>,
    ttl: Duration,
}

/// The decoded values are of any type: only their count is shown.
impl std::fmt::Debug for TypedLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedLevel")
            .field("entries", &self.entries.entry_count())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TypedLevel {
    pub(super) fn new(capacity: u64, ttl: Duration) -> Self {
        TypedLevel {
            entries: BoundedMap::new(capacity, 1, ByCount),
            ttl,
        }
    }

    /// The value at `key` if it is kept, live, as a `T`.
    #[inline]
    pub(super) fn get<T: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<T>> {
        self.entries
            .get_live(key, Instant::now())?
            .value
            .downcast::<T>()
            .ok()
    }

    /// Keeps `value` at `key` for the local TTL from now.
    pub(super) fn insert<T: Send + Sync + 'static>(&self, key: &str, value: Arc<T>) {
        let expires_at = Instant::now().checked_add(self.ttl);
        self.entries.insert(key, Decoded { value, expires_at });
    }

    pub(super) fn remove(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// Drops what `what` names.
    pub(super) fn drop_matching(&self, what: &Invalidation) {
        match what {
            Invalidation::Key(key) => self.entries.invalidate(key),
            Invalidation::Pattern(glob) => {
                self.entries.retain(|key, _| !pattern::matches(glob, key))
            }
            _ => self.entries.invalidate_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_typed_until_the_local_ttl() {
        let level = TypedLevel::new(10, Duration::from_millis(0));
        level.insert("k", Arc::new(1_u32));
        assert!(level.get::<u32>("k").is_none(), "a zero TTL keeps nothing");
        let level = TypedLevel::new(10, Duration::from_secs(60));
        level.insert("k", Arc::new(1_u32));
        assert_eq!(level.get::<u32>("k").as_deref(), Some(&1));
        assert!(level.get::<String>("k").is_none(), "another type is a miss");
    }

    #[test]
    fn invalidations_drop_keys_patterns_and_everything() {
        let level = TypedLevel::new(10, Duration::from_secs(60));
        for key in ["user:1", "user:2", "order:1", "order:2"] {
            level.insert(key, Arc::new(key.to_owned()));
        }
        level.drop_matching(&Invalidation::Key("order:1".into()));
        level.drop_matching(&Invalidation::Pattern("user:*".into()));
        let kept: Vec<_> = ["user:1", "user:2", "order:1", "order:2"]
            .into_iter()
            .filter(|k| level.get::<String>(k).is_some())
            .collect();
        assert_eq!(kept, ["order:2"]);
        level.drop_matching(&Invalidation::All);
        assert!(level.get::<String>("order:2").is_none());
    }

    #[test]
    fn the_capacity_bounds_the_values_kept() {
        let level = TypedLevel::new(3, Duration::from_secs(60));
        for i in 0..10_u32 {
            level.insert(&format!("k{i}"), Arc::new(i));
        }
        assert_eq!(level.entries.entry_count(), 3);
        assert!(level.get::<u32>("k9").is_some(), "the most recent stays");
    }
}
