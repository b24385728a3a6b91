//! [`MemoryConfig`]: the serde configuration of a [`MemoryCache`](crate::MemoryCache)
//! (the `cache.memory:` section of a config file) and its one validator.

use std::time::Duration;

use cache_core::ConfigError;
use cache_core::config::duration;
use serde::{Deserialize, Serialize};

use crate::builder::Settings;

/// The largest `max_value_bytes`: 512 MiB, Redis's own limit for one string
/// (`proto-max-bulk-len`), so a value that fits one backend fits the other.
pub const MAX_VALUE_BYTES_LIMIT: usize = 512 * 1024 * 1024;

/// The configuration of a [`MemoryCache`](crate::MemoryCache).
///
/// Rejects unknown keys by name; every field has a safe default.
///
/// ```
/// use cache_memory::{MemoryCache, MemoryConfig};
/// let mut config = MemoryConfig::default();
/// config.max_entries = 0;
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.field, "max_entries"); // relative: the manager says `cache.memory.max_entries`
/// config.max_entries = 10_000;
/// let cache = MemoryCache::from_config(&config)?;
/// # drop(cache);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// The most entries held; least recently/frequently used are evicted past it. Default 100,000.
    pub max_entries: u64,
    /// The most bytes (keys + values) held, if set. Default 256 MiB.
    pub max_bytes: Option<u64>,
    /// The TTL the manager's helpers (`ModuleDeps::aside`) use when a caller
    /// gives none. Default 5 minutes.
    #[serde(with = "duration")]
    pub default_ttl: Duration,
    /// The largest value accepted, in bytes. Default 4 MiB.
    pub max_value_bytes: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_entries: 100_000,
            max_bytes: Some(256 * 1024 * 1024),
            default_ttl: Duration::from_secs(300),
            max_value_bytes: 4 * 1024 * 1024,
        }
    }
}

impl MemoryConfig {
    /// Checks every rule, with the same code [`MemoryCache::from_config`](crate::MemoryCache::from_config)
    /// runs, so what validates here builds there. Fields are named relative to
    /// this section (`max_bytes`); see [`ConfigError::within`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = cache_core::ttl::ttl_millis(self.default_ttl) {
            let reason = e.reason().map_or_else(|| e.to_string(), str::to_owned);
            return Err(ConfigError::new("default_ttl", reason));
        }
        Settings::from_config(self).map(drop)
    }
}
