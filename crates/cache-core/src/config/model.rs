//! The configuration model: plain serde structs, one per YAML section.
//!
//! Every struct rejects unknown keys by name (`deny_unknown_fields`) and has
//! safe defaults, so a YAML file names only what differs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// [`CacheError::Disabled`](crate::CacheError::Disabled) error. Default `true`.
    pub enabled: bool,
    /// Which backend: `memory` (default, embedded) or `redis`.
    #[serde(rename = "type")]
    pub backend: BackendKind,
    /// Prepended to every key and channel (several apps can share one server), e.g. `"orders:"`.
    pub key_prefix: String,
    /// When the Redis backend cannot be reached at start-up, use an
    /// in-memory cache instead of failing. Default `false`: no silent degraded mode.
    pub fallback_to_memory: bool,
    /// The in-memory backend.
    #[serde(deserialize_with = "null_as_default")]
    pub memory: MemoryConfig,
    /// The Redis/Valkey backend.
    #[serde(deserialize_with = "null_as_default")]
    pub redis: RedisConfig,
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
            redis: RedisConfig::default(),
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
    /// Redis or Valkey.
    Redis,
}

/// The `cache.memory:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// The most entries held; least recently/frequently used are evicted past it. Default 100,000.
    pub max_entries: u64,
    /// The most bytes (keys + values) held, if set. Default 256 MiB.
    pub max_bytes: Option<u64>,
    /// The TTL that helpers use when a caller gives none. Default 5 minutes.
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

/// How the Redis servers are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RedisMode {
    /// One server (or an ElastiCache serverless / single-node endpoint).
    #[default]
    Standalone,
    /// Redis/Valkey Cluster: `addrs` are seed nodes.
    Cluster,
    /// A master found through Sentinel: `addrs` are the sentinels.
    Sentinel,
}

/// The `cache.redis:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Standalone, cluster or sentinel.
    pub mode: RedisMode,
    /// `host:port` addresses: the server, the cluster seed nodes, or the sentinels.
    pub addrs: Vec<String>,
    /// Sentinel mode: the monitored master's name. Default `mymaster`.
    pub sentinel_master: String,
    /// ACL user name (Redis 6+). Empty for password-only AUTH.
    pub username: Option<String>,
    /// Password (ACL or `requirepass`). Never printed.
    pub password: Option<Secret>,
    /// Database index (standalone and sentinel only; cluster has only 0).
    pub database: i64,
    /// TLS.
    #[serde(deserialize_with = "null_as_default")]
    pub tls: TlsConfig,
    /// Multiplexed connections kept open per node. Default 1: one multiplexed
    /// connection pipelines concurrent commands best (ADR 0005 has the numbers).
    pub pool_size: usize,
    /// How long to wait for a connection (TCP + TLS + AUTH). Default 5 s.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// How long to wait for a command's reply. Default 2 s.
    #[serde(with = "duration")]
    pub command_timeout: Duration,
    /// Retries of an operation that is safe to retry, after the first try. Default 3.
    pub max_retries: u32,
    /// The first retry's backoff; doubles each retry, with jitter. Default 50 ms.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// The longest backoff between retries. Default 2 s.
    #[serde(with = "duration")]
    pub max_retry_backoff: Duration,
    /// The largest value accepted, in bytes. Default 4 MiB (ElastiCache advises values under 1 MB).
    pub max_value_bytes: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            mode: RedisMode::Standalone,
            addrs: Vec::new(),
            sentinel_master: "mymaster".to_owned(),
            username: None,
            password: None,
            database: 0,
            tls: TlsConfig::default(),
            pool_size: 1,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_backoff: Duration::from_millis(50),
            max_retry_backoff: Duration::from_secs(2),
            max_value_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The `cache.redis.tls:` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Connect over TLS. Default `false`.
    pub enabled: bool,
    /// A PEM CA bundle, base64-encoded (ElastiCache style). Never printed.
    pub ca_cert_base64: Option<Secret>,
    /// A PEM CA bundle on disk. At most one of the two CA fields.
    pub ca_cert_path: Option<PathBuf>,
    /// The name the server certificate must carry. The Redis backend verifies the
    /// certificate against the host written in `addrs` (redis-rs has no separate
    /// server-name setting), so a value that differs from that host is refused at
    /// start-up: write the certificate's name in `addrs` instead.
    pub server_name: Option<String>,
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
    /// Its Redis settings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub redis: RedisConfig,
}

/// A section written with nothing under it (`redis:` with every line
/// commented out) is YAML null: read it as the section's defaults.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A secret string (password, token, CA material): `Debug` and `Display` print
/// `"***"`, serialization writes `"***"`, so logging a config never leaks it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Durations as humans write them: `300ms`, `5s`, `24h`, `1h 30m`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Parses `300ms`, `5s`, `24h`, `1h 30m`. A bare number is refused: the unit must be explicit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
            return Err(format!(
                "`{text}` has no unit; write e.g. `{text}ms` or `{text}s`"
            ));
        }
        humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
    }

    /// Formats like `5s` or `1h 30m`.
    pub fn format(d: Duration) -> String {
        humantime::format_duration(d).to_string()
    }

    /// serde `serialize_with`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// serde `deserialize_with`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }
}
