//! Fail-fast validation: the first wrong field stops start-up, named by its
//! dotted path (`cache.redis.addrs[1]`), with a reason that never quotes a secret.
//!
//! An explicitly disabled cache (`enabled: false`) validates nothing else: its
//! sections may be incomplete. The Redis section is checked when the backend is
//! Redis (at the top level, or in a tenant override); the memory and tenants
//! sections are always checked (the in-memory fallback and the manager use them).

use cache_core::error::ConfigError;

use super::load::is_plain_key;
use super::model::{BackendKind, CacheConfig, Config, TenantOverride, TenantsConfig};

/// The longest `key_prefix` (and tenant `namespace`), in bytes. A prefix is an
/// application name such as `orders:`; keys themselves are capped at
/// [`cache_core::key::MAX_KEY_BYTES`].
pub const MAX_KEY_PREFIX_BYTES: usize = 256;

impl Config {
    /// Checks every rule of `docs/config-reference.md` and returns the first
    /// broken one, naming its field. Reads `tls.ca_cert_path` from disk.
    ///
    /// ```
    /// use cache_manager::{config::{BackendKind, Config}};
    /// let mut config = Config::default();
    /// config.cache.backend = BackendKind::Redis;
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.field, "cache.redis.addrs");
    /// config.cache.enabled = false; // explicitly disabled: nothing else is checked
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cache.validate_at("cache")
    }
}

impl CacheConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        check_prefix(&format!("{path}.key_prefix"), &self.key_prefix)?;
        backend_sections(path, self.backend, &self.memory, &self.redis)?;
        self.tenants.validate_at(&format!("{path}.tenants"))
    }
}

impl TenantsConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{path}.{name}");
        if self.max_tenants == 0 {
            return Err(ConfigError::new(field("max_tenants"), "must be at least 1"));
        }
        if self.idle_ttl.is_zero() {
            return Err(ConfigError::new(
                field("idle_ttl"),
                "must be positive (write e.g. `30m`)",
            ));
        }
        crate::tenant::NamespaceTemplate::parse(&self.namespace).map_err(|mut e| {
            e.field = field("namespace");
            e
        })?;
        check_prefix(&field("namespace"), &self.namespace)?;
        for (tenant, tenant_override) in &self.overrides {
            let at = if is_plain_key(tenant) {
                format!("{path}.overrides.{tenant}")
            } else {
                format!("{path}.overrides[{tenant:?}]")
            };
            if tenant.is_empty() {
                return Err(ConfigError::new(at, "a tenant id must not be empty"));
            }
            tenant_override.validate_at(&at)?;
        }
        Ok(())
    }
}

impl TenantOverride {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        backend_sections(path, self.backend, &self.memory, &self.redis)
    }
}

/// The backends' own validators, each placed at its section. The memory
/// section is always checked (the in-memory fallback uses it), the Redis one
/// when the backend is Redis.
fn backend_sections(
    path: &str,
    backend: BackendKind,
    memory: &cache_memory::MemoryConfig,
    redis: &cache_redis::RedisConfig,
) -> Result<(), ConfigError> {
    memory
        .validate()
        .map_err(|e| e.within(&format!("{path}.memory")))?;
    match backend {
        BackendKind::Redis => redis
            .validate()
            .map_err(|e| e.within(&format!("{path}.redis"))),
        BackendKind::Memory => Ok(()),
    }
}

fn check_prefix(field: &str, prefix: &str) -> Result<(), ConfigError> {
    if prefix.len() > MAX_KEY_PREFIX_BYTES {
        return Err(ConfigError::new(
            field,
            format!(
                "is {} bytes, more than the limit of {MAX_KEY_PREFIX_BYTES}",
                prefix.len()
            ),
        ));
    }
    Ok(())
}
