//! The configuration model: plain serde structs, one per YAML section.
//!
//! Every struct rejects unknown keys by name (`deny_unknown_fields`) and has
//! safe defaults, so a YAML file names only what differs.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_core::config::{duration, null_as_default};
use cache_memory::MemoryConfig;
#[cfg(feature = "redis")]
use cache_redis::RedisConfig;
use serde::{Deserialize, Serialize};

/// The root of a config file: everything lives under `cache:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The `cache:` section.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cache: CacheConfig,
}

/// The `cache:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CacheConfig {
    /// `false` means no cache, explicitly: asking for one is a
    /// [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled) error. Default `true`.
    pub enabled: bool,
    /// Which backend: `memory` (default, embedded) or `redis`.
    #[serde(rename = "type")]
    pub backend: BackendKind,
    /// Prepended to every key and channel (several apps can share one server), e.g. `"orders:"`.
    pub key_prefix: String,
    /// When the Redis backend cannot be reached at start-up (a transient
    /// failure: unreachable, timing out, between roles), use an in-memory
    /// cache instead of failing. A refused login or ACL, like an invalid
    /// config, fails either way. Default `false`: no silent degraded mode.
    pub fallback_to_memory: bool,
    /// The in-memory backend.
    #[serde(deserialize_with = "null_as_default")]
    pub memory: MemoryConfig,
    /// The Redis/Valkey backend (with the default `redis` feature).
    #[cfg(feature = "redis")]
    #[serde(deserialize_with = "null_as_default")]
    pub redis: RedisConfig,
    /// Value compression in front of the backend (off by default).
    #[serde(deserialize_with = "null_as_default")]
    pub compression: CompressionConfig,
    /// The per-tenant manager.
    #[serde(deserialize_with = "null_as_default")]
    pub tenants: TenantsConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            backend: BackendKind::Memory,
            key_prefix: String::new(),
            fallback_to_memory: false,
            memory: MemoryConfig::default(),
            #[cfg(feature = "redis")]
            redis: RedisConfig::default(),
            compression: CompressionConfig::default(),
            tenants: TenantsConfig::default(),
        }
    }
}

/// Which backend a cache uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendKind {
    /// The embedded in-memory backend.
    #[default]
    Memory,
    /// Redis or Valkey. A build without cache-manager's `redis` feature
    /// refuses it at validation, naming the field.
    Redis,
}

/// The `cache.compression:` section: values at or above `threshold` bytes are
/// stored zstd-compressed ([`cache_patterns::compress`]), on every backend
/// this configuration builds (the shared one, the in-memory fallback and the
/// tenant overrides). Values written before it was turned on still read; a
/// decompressed value is capped at the backend's `max_value_bytes`.
///
/// Off by default: other programs that read the same keys (a service in
/// another language sharing the server) would see compressed bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CompressionConfig {
    /// Compress values at or above the threshold. Default `false`.
    pub enabled: bool,
    /// The smallest value compressed, in bytes; at least 32. Default 1,024.
    pub threshold: usize,
    /// The zstd level, 1 to 19 (higher is smaller and slower). Default 1.
    pub level: i32,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: false,
            threshold: cache_patterns::compress::DEFAULT_THRESHOLD,
            level: cache_patterns::compress::DEFAULT_LEVEL,
        }
    }
}

/// The `cache.tenants:` section: the per-tenant manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TenantsConfig {
    /// The most tenants with a live cache at once; least recently used are evicted. Default 1,000.
    pub max_tenants: usize,
    /// A tenant unused this long is closed by the background sweeper. Default 30 minutes.
    #[serde(with = "duration")]
    pub idle_ttl: Duration,
    /// The key namespace of a tenant on a shared backend; `<tenant>` is replaced by the
    /// (escaped) tenant id. Default `tenant:{<tenant>}:`: the braces are a Redis Cluster
    /// hash tag, so one tenant's keys share a slot.
    pub namespace: String,
    /// Tenants with their own backend (own server, database or credentials), by tenant id.
    #[serde(deserialize_with = "null_as_default")]
    pub overrides: BTreeMap<String, TenantOverride>,
}

impl Default for TenantsConfig {
    fn default() -> Self {
        TenantsConfig {
            max_tenants: 1000,
            idle_ttl: Duration::from_secs(30 * 60),
            namespace: "tenant:{<tenant>}:".to_owned(),
            overrides: BTreeMap::new(),
        }
    }
}

/// A tenant's own backend, replacing the shared one for that tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantOverride {
    /// Which backend.
    #[serde(rename = "type", default)]
    pub backend: BackendKind,
    /// Its in-memory settings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory: MemoryConfig,
    /// Its Redis settings (with the default `redis` feature).
    #[cfg(feature = "redis")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub redis: RedisConfig,
}
