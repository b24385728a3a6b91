//! Building a [`MemoryCache`]: the builder, and the validated settings that
//! it and [`MemoryCache::from_config`] produce.

use cache_core::collections::DEFAULT_MAX_PER_CALL;
use cache_core::error::{ConfigError, Result};
use cache_core::key::MAX_KEY_BYTES;

use crate::clock::Clock;
use crate::config::{MAX_VALUE_BYTES_LIMIT, MemoryConfig};

use super::MemoryCache;
use super::entry::Weighing;

/// Messages a subscriber may fall behind by before it is told it lagged, by default.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 1024;

/// One call in this many (per thread) is timed for the duration histogram, by default.
pub const DEFAULT_DURATION_SAMPLING: u32 = 16;

/// The largest accepted channel capacity (each channel preallocates it).
const MAX_CHANNEL_CAPACITY: usize = 1 << 20;

/// Validated settings of one cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The entry bound.
    pub(crate) max_entries: u64,
    /// The byte bound and how entries are charged against it, if there is one.
    pub(crate) weighing: Option<Weighing>,
    /// The largest value accepted.
    pub(crate) max_value_bytes: usize,
    /// Per-channel broadcast capacity.
    pub(crate) channel_capacity: usize,
    /// One call in this many (per thread) is timed for the duration histogram.
    pub(crate) duration_sampling: u32,
    /// The most members or fields one call of a set or hash may name.
    pub(crate) max_per_call: usize,
}

impl Settings {
    /// Checks the values and derives the weighing. Errors name the field.
    pub(crate) fn new(
        max_entries: u64,
        max_bytes: Option<u64>,
        max_value_bytes: usize,
        channel_capacity: usize,
    ) -> std::result::Result<Self, ConfigError> {
        if max_entries == 0 {
            return Err(ConfigError::new("max_entries", "must be at least 1"));
        }
        if max_value_bytes == 0 || max_value_bytes > MAX_VALUE_BYTES_LIMIT {
            return Err(ConfigError::new(
                "max_value_bytes",
                format!(
                    "must be between 1 and {MAX_VALUE_BYTES_LIMIT} bytes (512 MiB), not {max_value_bytes}"
                ),
            ));
        }
        if !(1..=MAX_CHANNEL_CAPACITY).contains(&channel_capacity) {
            return Err(ConfigError::new(
                "channel_capacity",
                format!("must be between 1 and {MAX_CHANNEL_CAPACITY}"),
            ));
        }
        let weighing = match max_bytes {
            None => None,
            Some(0) => {
                return Err(ConfigError::new(
                    "max_bytes",
                    "must be at least 1 when set (leave it unset for no byte bound)",
                ));
            }
            Some(max_bytes) => {
                let largest = (MAX_KEY_BYTES + max_value_bytes) as u64;
                let weighing = Weighing::new(max_bytes, max_entries, largest);
                // A 1-byte key with a 1-byte value must fit, or nothing would.
                if !weighing.fits(2) {
                    return Err(ConfigError::new(
                        "max_bytes",
                        format!(
                            "{max_bytes} bytes leave no room for keys and values with \
                             max_entries = {max_entries}: every entry is charged \
                             max_bytes / max_entries = {} bytes on top of its own size",
                            weighing.per_entry
                        ),
                    ));
                }
                Some(weighing)
            }
        };
        Ok(Settings {
            max_entries,
            weighing,
            max_value_bytes,
            channel_capacity,
            duration_sampling: DEFAULT_DURATION_SAMPLING,
            max_per_call: DEFAULT_MAX_PER_CALL,
        })
    }

    /// The settings of a [`MemoryConfig`] section.
    /// The settings of a config section, every rule checked (the TTL too,
    /// which the cache itself does not keep).
    pub(crate) fn from_config(config: &MemoryConfig) -> std::result::Result<Self, ConfigError> {
        if let Err(e) = cache_core::ttl::ttl_millis(config.default_ttl) {
            let reason = e.reason().map_or_else(|| e.to_string(), str::to_owned);
            return Err(ConfigError::new("default_ttl", reason));
        }
        Settings::new(
            config.max_entries,
            config.max_bytes,
            config.max_value_bytes,
            DEFAULT_CHANNEL_CAPACITY,
        )
    }
}

impl Default for Settings {
    /// The settings of [`MemoryConfig::default`], which are valid (checked by
    /// a test), derived without a fallible path.
    fn default() -> Self {
        let defaults = MemoryConfig::default();
        let largest = (MAX_KEY_BYTES + defaults.max_value_bytes) as u64;
        Settings {
            max_entries: defaults.max_entries,
            weighing: defaults
                .max_bytes
                .map(|max_bytes| Weighing::new(max_bytes, defaults.max_entries, largest)),
            max_value_bytes: defaults.max_value_bytes,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            duration_sampling: DEFAULT_DURATION_SAMPLING,
            max_per_call: DEFAULT_MAX_PER_CALL,
        }
    }
}

impl MemoryConfig {
    /// Checks every rule, with the same code [`MemoryCache::from_config`](crate::MemoryCache::from_config)
    /// runs, so what validates here builds there. Fields are named relative to
    /// this section (`max_bytes`); see [`ConfigError::within`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        Settings::from_config(self).map(drop)
    }
}

/// Builds a [`MemoryCache`]; start with [`MemoryCache::builder`]. Unset values
/// are the defaults of [`MemoryConfig`].
///
/// ```
/// use cache_memory::MemoryCache;
/// let cache = MemoryCache::builder()
///     .max_entries(10_000)
///     .max_bytes(64 * 1024 * 1024)
///     .max_value_bytes(1024 * 1024)
///     .build()?;
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryCacheBuilder {
    max_entries: u64,
    max_bytes: Option<u64>,
    max_value_bytes: usize,
    channel_capacity: usize,
    clock: Clock,
    duration_sampling: u32,
    max_per_call: usize,
}

impl Default for MemoryCacheBuilder {
    fn default() -> Self {
        let defaults = MemoryConfig::default();
        MemoryCacheBuilder {
            max_entries: defaults.max_entries,
            max_bytes: defaults.max_bytes,
            max_value_bytes: defaults.max_value_bytes,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            clock: Clock::system(),
            duration_sampling: DEFAULT_DURATION_SAMPLING,
            max_per_call: DEFAULT_MAX_PER_CALL,
        }
    }
}

impl MemoryCacheBuilder {
    cache_core::setters! {
        /// The most entries held (at least 1); least recently used entries are
        /// evicted past it.
        max_entries: u64;

        /// The most key and value bytes held (at least 1); least recently used
        /// entries are evicted past it. With both bounds, each entry is charged its
        /// bytes plus `max_bytes / max_entries`, so that both hold.
        max_bytes: u64 => Some;
    }

    /// No byte bound: only [`max_entries`](Self::max_entries) limits the cache.
    pub fn unbounded_bytes(mut self) -> Self {
        self.max_bytes = None;
        self
    }

    cache_core::setters! {
        /// The largest value accepted (at least 1); larger writes fail with
        /// [`ErrorKind::ValueTooLarge`](cache_core::ErrorKind::ValueTooLarge).
        max_value_bytes: usize;

        /// How many messages a subscriber may fall behind on a channel before it
        /// receives [`SubscriptionEvent::Lagged`](cache_core::SubscriptionEvent::Lagged)
        /// (1 to 2^20; default [`DEFAULT_CHANNEL_CAPACITY`]).
        channel_capacity: usize;

        /// The clock that expiry, remaining TTLs and rate-limit windows read
        /// (default [`Clock::system`], the real monotonic clock). With the
        /// `test-util` feature, pass a `ManualClock` (or a reference to one) to
        /// expire entries by advancing it, without sleeping.
        ///
        /// ```
        /// use cache_memory::{Clock, MemoryCache};
        /// let cache = MemoryCache::builder().clock(Clock::system()).build()?;
        /// # drop(cache);
        /// # Ok::<(), cache_core::CacheError>(())
        /// ```
        clock: impl Into<Clock> => into;
    }

    /// Times one call in `every` (per thread) for the
    /// `db.client.operation.duration` histogram; every call is counted in
    /// `cache.operations` regardless. Default [`DEFAULT_DURATION_SAMPLING`]: a
    /// histogram sample costs more than a sixth of a get hit under a
    /// Prometheus recorder (ADR 0010); 1 times every call.
    pub fn metrics_duration_sampling(mut self, every: u32) -> Self {
        self.duration_sampling = every.max(1);
        self
    }

    /// The most members or fields one call on a set or hash may name (at
    /// least 1; default [`DEFAULT_MAX_PER_CALL`]); past it the call fails with
    /// [`ErrorKind::ValueTooLarge`](cache_core::ErrorKind::ValueTooLarge).
    pub fn max_per_call(mut self, limit: usize) -> Self {
        self.max_per_call = limit;
        self
    }

    /// The cache, or a config error naming the first invalid value.
    pub fn build(self) -> Result<MemoryCache> {
        let settings = Settings::new(
            self.max_entries,
            self.max_bytes,
            self.max_value_bytes,
            self.channel_capacity,
        )
        .map_err(cache_core::CacheError::from)?;
        if self.max_per_call == 0 {
            return Err(ConfigError::new("max_per_call", "must be at least 1").into());
        }
        let settings = Settings {
            duration_sampling: self.duration_sampling,
            max_per_call: self.max_per_call,
            ..settings
        };
        Ok(MemoryCache::with_settings(settings, self.clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: std::result::Result<Settings, ConfigError>) -> String {
        match result {
            Err(e) => e.field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn default_settings_are_the_validated_default_config() {
        let settings = Settings::from_config(&MemoryConfig::default()).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.max_entries, 100_000);
        assert!(settings.weighing.is_some());
    }

    #[test]
    fn a_zero_bound_names_its_field() {
        for (settings, field) in [
            (Settings::new(0, None, 10, 10), "max_entries"),
            (Settings::new(10, Some(0), 10, 10), "max_bytes"),
            (Settings::new(10, None, 0, 10), "max_value_bytes"),
        ] {
            assert_eq!(field_of(settings), field);
        }
    }

    #[test]
    fn max_bytes_without_room_for_entries_is_refused() {
        // One entry charged all of max_bytes as its share leaves nothing for data.
        assert_eq!(field_of(Settings::new(1, Some(1000), 10, 10)), "max_bytes");
        assert!(Settings::new(2, Some(1000), 10, 10).is_ok());
    }

    #[test]
    fn channel_capacity_is_bounded() {
        assert_eq!(field_of(Settings::new(10, None, 10, 0)), "channel_capacity");
        assert_eq!(
            field_of(Settings::new(10, None, 10, MAX_CHANNEL_CAPACITY + 1)),
            "channel_capacity"
        );
    }
}
