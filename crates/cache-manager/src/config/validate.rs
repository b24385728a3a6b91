//! Fail-fast validation: the first wrong field stops start-up, named by its
//! dotted path (`cache.redis.addrs[1]`), with a reason that never quotes a secret.
//!
//! An explicitly disabled cache (`enabled: false`) validates nothing else: its
//! sections may be incomplete. The Redis section is checked when the backend is
//! Redis (at the top level, or in a tenant override); the memory and tenants
//! sections are always checked (the in-memory fallback and the manager use them).

use cache_core::error::{ConfigError, check_byte_limit};

use super::load::is_plain_key;
use super::model::{
    BackendKind, CacheConfig, CompressionConfig, Config, TenantOverride, TenantsConfig,
};

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
        self.backend_sections(path)?;
        self.compression
            .validate_at(&format!("{path}.compression"))?;
        self.tenants.validate_at(&format!("{path}.tenants"))
    }
}

impl CompressionConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        use cache_patterns::compress::MIN_THRESHOLD;
        if self.threshold < MIN_THRESHOLD {
            return Err(ConfigError::new(
                format!("{path}.threshold"),
                format!(
                    "must be at least {MIN_THRESHOLD} bytes (shorter values never get smaller), got {}",
                    self.threshold
                ),
            ));
        }
        if !(1..=19).contains(&self.level) {
            return Err(ConfigError::new(
                format!("{path}.level"),
                format!("must be a zstd level from 1 to 19, got {}", self.level),
            ));
        }
        Ok(())
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
        self.backend_sections(path)
    }
}

/// The backends' own validators, each placed at its section. The memory
/// section is always checked (the in-memory fallback uses it), the Redis one
/// when the backend is Redis. Written once for the root and a tenant override.
macro_rules! backend_sections {
    ($($section:ty),*) => {$(
        impl $section {
            fn backend_sections(&self, path: &str) -> Result<(), ConfigError> {
                self.memory
                    .validate()
                    .map_err(|e| e.within(&format!("{path}.memory")))?;
                match self.backend {
                    #[cfg(feature = "redis")]
                    BackendKind::Redis => self
                        .redis
                        .validate()
                        .map_err(|e| e.within(&format!("{path}.redis"))),
                    #[cfg(not(feature = "redis"))]
                    BackendKind::Redis => Err(ConfigError::new(
                        format!("{path}.type"),
                        "is `redis`, but this build leaves the Redis backend out \
                         (cache-manager's `redis` feature is off)",
                    )),
                    BackendKind::Memory => Ok(()),
                }
            }
        }
    )*};
}
backend_sections!(CacheConfig, TenantOverride);

fn check_prefix(field: &str, prefix: &str) -> Result<(), ConfigError> {
    check_byte_limit("a prefix", prefix.len(), MAX_KEY_PREFIX_BYTES)
        .map_err(|reason| ConfigError::new(field, reason))
}

/// A build without the `redis` feature refuses every way of asking for Redis
/// at start-up, by name, instead of quietly running on memory.
#[cfg(all(test, not(feature = "redis")))]
mod without_redis {
    use std::collections::HashMap;

    use super::*;

    fn apply(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<_, _> = vars.iter().copied().collect();
        let env = |name: &str| env.get(name).map(|v| v.to_string());
        let mut config = Config::default();
        config.apply_env(&env)?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn type_redis_is_refused_naming_the_field() {
        let err = apply(&[("CACHE_TYPE", "redis")]).unwrap_err();
        assert_eq!(err.field, "cache.type");
        assert!(err.reason.contains("`redis` feature"), "{}", err.reason);
    }

    #[test]
    fn a_tenant_override_on_redis_is_refused_naming_its_field() {
        let config = Config::from_yaml_str(
            "cache:\n  tenants:\n    overrides:\n      acme:\n        type: redis\n",
        )
        .unwrap();
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "cache.tenants.overrides.acme.type");
    }

    #[test]
    fn redis_variables_are_refused_by_name() {
        for name in [
            "CACHE_REDIS_ADDRS",
            "CACHE_ADDRS",
            "CACHE_PASSWORD",
            "VALKEY_HOST",
            "VALKEY_ENABLED",
            "CACHE_READ_TIMEOUT",
        ] {
            let value = if name == "VALKEY_ENABLED" {
                "true"
            } else {
                "1s"
            };
            let err = apply(&[(name, value)]).unwrap_err();
            assert!(err.field.contains(name), "{name}: {err}");
            assert!(err.reason.contains("`redis` feature"), "{name}: {err}");
        }
    }

    #[test]
    fn kubernetes_service_links_alone_do_not_fail_a_memory_build() {
        let config = apply(&[
            ("REDIS_PORT", "tcp://10.0.0.7:6379"),
            ("VALKEY_PORT", "6380"),
        ])
        .unwrap();
        assert_eq!(config.cache.backend, BackendKind::Memory);
    }

    #[test]
    fn a_redis_section_in_yaml_is_refused() {
        let err = Config::from_yaml_str("cache:\n  redis:\n    addrs: ['r:6379']\n").unwrap_err();
        assert!(err.reason.contains("redis"), "{err}");
    }
}
