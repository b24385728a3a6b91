//! The near cache's typed level: values kept decoded, as `Arc<T>`, so that a
//! typed L1 hit ([`NearCache::get_arc`](super::NearCache::get_arc)) decodes
//! and copies nothing.
//!
//! It sits beside the byte-level L1 and follows the same invalidations: every
//! key, pattern or "everything" that drops byte copies drops typed ones, and a
//! value is kept only if no invalidation arrived while it was being read.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use cache_core::pattern;

use super::Invalidation;

/// Decoded values the typed level keeps at most, by default.
pub const DEFAULT_TYPED_CAPACITY: u64 = 10_000;

/// A decoded value of some type; a read as another type is a miss.
type Decoded = Arc<dyn Any + Send + Sync>;

/// Decoded values by key, each for at most the near cache's local TTL.
pub(super) struct TypedLevel {
    entries: moka::sync::Cache<String, Decoded>,
}

/// The decoded values are of any type: only their count is shown.
impl std::fmt::Debug for TypedLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedLevel")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TypedLevel {
    pub(super) fn new(capacity: u64, ttl: Duration) -> Self {
        TypedLevel {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The value at `key` if it is kept as a `T`.
    #[inline]
    pub(super) fn get<T: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<T>> {
        self.entries.get(key)?.downcast::<T>().ok()
    }

    pub(super) fn insert<T: Send + Sync + 'static>(&self, key: &str, value: Arc<T>) {
        self.entries.insert(key.to_owned(), value);
    }

    pub(super) fn remove(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// Drops what `what` names.
    pub(super) fn drop_matching(&self, what: &Invalidation) {
        match what {
            Invalidation::Key(key) => self.entries.invalidate(key.as_str()),
            Invalidation::Pattern(glob) => {
                for (key, _) in self.entries.iter() {
                    if pattern::matches(glob, &key) {
                        self.entries.invalidate(key.as_str());
                    }
                }
            }
            _ => self.entries.invalidate_all(),
        }
    }
}
