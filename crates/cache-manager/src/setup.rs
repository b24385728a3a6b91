//! Building everything from configuration in one call.
//!
//! [`CacheSetup::load`] reads the YAML file and the environment
//! ([`Config::load`]), validates, connects the shared backend and builds the
//! [`TenantManager`] and the [`GetCache`] closure for modules:
//!
//! - `enabled: false`: no backend and no manager; the closure answers every
//!   request with [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled), explicitly.
//! - `type: memory | redis`: the shared backend. When Redis cannot be reached
//!   at start-up, `fallback_to_memory: true` logs a warning and uses memory;
//!   otherwise start-up fails with the connection error.
//! - `key_prefix`: put in front of every key, outside the tenant namespace
//!   (`<key_prefix><namespace of the tenant><key>`).
//! - `tenants.overrides`: tenants with their own backend, connected on their
//!   first use (an unreachable tenant backend fails that tenant's requests, not
//!   start-up; `fallback_to_memory` does not apply to it). Their keys get the
//!   same prefix and namespace as on the shared backend.
//!
//! Misconfiguration fails at start-up with a [`ErrorKind::Config`](cache_core::ErrorKind::Config) naming the field.
//!
//! ```
//! use cache_manager::config::Config;
//! use cache_manager::{CacheSetup, RequestContext};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let config = Config::from_yaml_str("cache:\n  type: memory\n  key_prefix: \"orders:\"\n")?;
//! let setup = CacheSetup::from_config(&config).await?;
//! let cache = (setup.get_cache())(&RequestContext::for_tenant("acme")).await?;
//! cache.set("k", b"v", std::time::Duration::from_secs(5)).await?;
//! setup.close().await
//! # }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::{BackendKind, CacheConfig, CompressionConfig, Config, TenantOverride};
use async_trait::async_trait;
use cache_core::{Cache, CacheError, ConfigError, Result};
use cache_memory::MemoryCache;
use cache_memory::MemoryConfig;
use cache_patterns::Namespaced;
use cache_patterns::compress::{Compressed, Compression};
#[cfg(feature = "redis")]
use cache_redis::{RedisCache, RedisConfig};
#[cfg(feature = "redis")]
use futures::future::BoxFuture;

use crate::deps::{self, GetCache, ModuleDeps};
use crate::manager::TenantManager;
use crate::resolver::{NamespaceResolver, OverrideResolver, TenantResolver};
use crate::tenant::{NamespaceTemplate, TenantId};

/// Everything the cache configuration describes, built and connected.
pub struct CacheSetup {
    manager: Option<TenantManager>,
    get_cache: GetCache,
    default_ttl: std::time::Duration,
}

impl CacheSetup {
    /// [`Config::load`] (the file at `path`, if any, then the environment),
    /// then [`CacheSetup::from_config`].
    pub async fn load(path: Option<&Path>) -> Result<CacheSetup> {
        let config = Config::load(path)?;
        CacheSetup::from_config(&config).await
    }

    /// [`CacheSetup::load`] with an injected environment (see
    /// [`Config::load_with_env`]): for tests, which never touch the process's.
    pub async fn load_with_env(
        path: Option<&Path>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<CacheSetup> {
        let config = Config::load_with_env(path, env)?;
        CacheSetup::from_config(&config).await
    }

    /// Validates `config`, connects the shared backend and builds the manager.
    /// Must run inside a Tokio runtime (the manager's idle sweep is a task).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](cache_core::ErrorKind::Config) naming the first wrong field; the connection
    /// error of an unreachable Redis unless `fallback_to_memory` is set.
    pub async fn from_config(config: &Config) -> Result<CacheSetup> {
        config.validate()?;
        let cache = &config.cache;
        if !cache.enabled {
            tracing::info!("cache disabled by configuration");
            return Ok(CacheSetup {
                manager: None,
                get_cache: deps::disabled(),
                default_ttl: cache.memory.default_ttl,
            });
        }
        let template = NamespaceTemplate::parse(&cache.tenants.namespace)?;
        let overrides = parse_overrides(cache)?;
        let shared = build_backend(cache).await?;
        let shared_resolver: Arc<dyn TenantResolver> = Arc::new(NamespaceResolver::with_prefix(
            shared,
            cache.key_prefix.clone(),
            template.clone(),
        ));
        let resolver: Arc<dyn TenantResolver> = if overrides.is_empty() {
            shared_resolver
        } else {
            let mut resolver = OverrideResolver::new(shared_resolver);
            for (tenant, tenant_override) in overrides {
                resolver = resolver.with_override(
                    tenant,
                    Arc::new(OwnBackendResolver {
                        backend: tenant_override,
                        compression: cache.compression.clone(),
                        prefix: cache.key_prefix.clone(),
                        template: template.clone(),
                    }),
                );
            }
            Arc::new(resolver)
        };
        let manager = TenantManager::builder(resolver)
            .config(&cache.tenants)
            .build()?;
        Ok(CacheSetup {
            get_cache: deps::from_manager(manager.clone()),
            manager: Some(manager),
            default_ttl: cache.memory.default_ttl,
        })
    }

    /// The tenant manager; `None` when the cache is disabled.
    pub fn manager(&self) -> Option<&TenantManager> {
        self.manager.as_ref()
    }

    /// Whether caching is on.
    pub fn is_enabled(&self) -> bool {
        self.manager.is_some()
    }

    /// The closure that gives a request its tenant's cache (or
    /// [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled)).
    pub fn get_cache(&self) -> GetCache {
        self.get_cache.clone()
    }

    /// [`ModuleDeps`] around [`CacheSetup::get_cache`], with
    /// `cache.memory.default_ttl` as the modules' default TTL.
    pub fn module_deps(&self) -> ModuleDeps {
        ModuleDeps::new(self.get_cache()).with_default_ttl(self.default_ttl)
    }

    /// Closes the manager, every tenant cache and the shared backend.
    pub async fn close(&self) -> Result<()> {
        match &self.manager {
            Some(manager) => manager.close().await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for CacheSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSetup")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

/// One cache from the `cache:` section, for tools that need a single cache
/// rather than tenants (an operator CLI): the backend (with
/// `fallback_to_memory`) under `key_prefix`. Closing it closes the backend.
///
/// # Errors
/// [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled) when `enabled` is `false`; otherwise as
/// [`CacheSetup::from_config`].
pub async fn build_cache(config: &CacheConfig) -> Result<Arc<dyn Cache>> {
    let whole = Config {
        cache: config.clone(),
    };
    whole.validate()?;
    if !config.enabled {
        return Err(CacheError::disabled());
    }
    let backend = build_backend(config).await?;
    if config.key_prefix.is_empty() {
        return Ok(backend);
    }
    Ok(Arc::new(Namespaced::owning(
        backend,
        config.key_prefix.clone(),
    )))
}

/// The shared backend of `config`, without prefix, compressed as
/// `cache.compression` says.
async fn build_backend(config: &CacheConfig) -> Result<Arc<dyn Cache>> {
    match config.backend {
        BackendKind::Redis => match connect_redis(config).await {
            Ok(redis) => compressed(redis, &config.compression, config.redis_max_value_bytes()),
            // Only an unreachable server: a refused password or ACL, or a bad
            // config, is a mistake that an in-memory cache would hide.
            Err(error) if config.fallback_to_memory && error.is_transient() => {
                tracing::warn!(
                    error = %error,
                    "Redis is unreachable at start-up; using an in-memory cache instead \
                     (cache.fallback_to_memory = true): data is per process and lost on restart"
                );
                memory(&config.memory, &config.compression)
            }
            Err(error) => Err(error),
        },
        BackendKind::Memory => memory(&config.memory, &config.compression),
    }
}

/// `backend` behind [`Compressed`] when compression is on, with the
/// backend's own value limit as the cap on decompressed values.
fn compressed(
    backend: Arc<dyn Cache>,
    config: &CompressionConfig,
    max_value_bytes: usize,
) -> Result<Arc<dyn Cache>> {
    if !config.enabled {
        return Ok(backend);
    }
    let compression = Compression::new(max_value_bytes)
        .threshold(config.threshold)
        .level(config.level);
    Ok(Arc::new(Compressed::new(backend, compression)))
}

/// Boxed: the connect future is deeply nested, and inlined into a caller's
/// `main` it overflows the compiler's query depth limit.
#[cfg(feature = "redis")]
async fn connect_redis(section: &impl HasRedis) -> Result<Arc<dyn Cache>> {
    let config: &RedisConfig = section.redis();
    let connecting: BoxFuture<'_, Result<RedisCache>> = Box::pin(RedisCache::connect(config));
    Ok(Arc::new(connecting.await?))
}

/// Without the `redis` feature validation refuses `type: redis`; a config
/// that skipped validation gets the same answer here.
#[cfg(not(feature = "redis"))]
async fn connect_redis(_section: &impl HasRedis) -> Result<Arc<dyn Cache>> {
    Err(ConfigError::new(
        "cache.type",
        "is `redis`, but this build leaves the Redis backend out (cache-manager's `redis` feature is off)",
    )
    .into())
}

/// A section that may carry a Redis backend: the root or a tenant override.
trait HasRedis {
    #[cfg(feature = "redis")]
    fn redis(&self) -> &RedisConfig;

    /// The Redis backend's value limit (the cap on decompressed values).
    fn redis_max_value_bytes(&self) -> usize {
        #[cfg(feature = "redis")]
        {
            self.redis().max_value_bytes
        }
        #[cfg(not(feature = "redis"))]
        {
            usize::MAX
        }
    }
}

impl HasRedis for CacheConfig {
    #[cfg(feature = "redis")]
    fn redis(&self) -> &RedisConfig {
        &self.redis
    }
}

impl HasRedis for TenantOverride {
    #[cfg(feature = "redis")]
    fn redis(&self) -> &RedisConfig {
        &self.redis
    }
}

fn memory(config: &MemoryConfig, compression: &CompressionConfig) -> Result<Arc<dyn Cache>> {
    let backend = Arc::new(MemoryCache::from_config(config)?);
    compressed(backend, compression, config.max_value_bytes)
}

/// A tenant override's backend, compressed as the root's `cache.compression` says.
async fn connect(
    section: &TenantOverride,
    compression: &CompressionConfig,
) -> Result<Arc<dyn Cache>> {
    match section.backend {
        BackendKind::Redis => {
            let redis = connect_redis(section).await?;
            compressed(redis, compression, section.redis_max_value_bytes())
        }
        BackendKind::Memory => memory(&section.memory, compression),
    }
}

/// The overrides with their ids checked as tenant ids (field-named errors).
fn parse_overrides(config: &CacheConfig) -> Result<Vec<(TenantId, TenantOverride)>> {
    config
        .tenants
        .overrides
        .iter()
        .map(|(id, tenant_override)| {
            let tenant = TenantId::new(id).map_err(|e| {
                ConfigError::new(format!("cache.tenants.overrides[{id:?}]"), e.to_string())
            })?;
            Ok((tenant, tenant_override.clone()))
        })
        .collect()
}

/// A tenant with a backend of its own, connected on first use and owned by the
/// tenant's cache (closing the tenant closes it).
struct OwnBackendResolver {
    backend: TenantOverride,
    compression: CompressionConfig,
    prefix: String,
    template: NamespaceTemplate,
}

impl fmt::Debug for OwnBackendResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnBackendResolver")
            .field("backend", &self.backend.backend)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TenantResolver for OwnBackendResolver {
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>> {
        let backend = connect(&self.backend, &self.compression).await?;
        let namespace = format!("{}{}", self.prefix, self.template.render(tenant));
        Ok(Arc::new(Namespaced::owning(backend, namespace)))
    }
}
