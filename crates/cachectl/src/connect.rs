//! Turning `--config` and `--tenant` into a cache.

use std::path::Path;
use std::sync::Arc;

use cache_core::{Cache, CacheError};
use cache_manager::config::RedisMode;
use cache_manager::config::{BackendKind, Config};
use cache_manager::{CacheSetup, build_cache};

/// The cache a command works on.
pub(crate) struct Target {
    /// The configuration it was built from (file + environment).
    pub(crate) config: Config,
    /// The cache: the tenant's namespace with `--tenant`, else the whole backend under `key_prefix`.
    pub(crate) cache: Arc<dyn Cache>,
    /// What it is, for people: never contains credentials.
    pub(crate) description: String,
    setup: Option<CacheSetup>,
}

impl Target {
    /// Loads the configuration (the embedded in-memory backend when there is
    /// none) and connects.
    pub(crate) async fn open(
        path: Option<&Path>,
        tenant: Option<&str>,
    ) -> Result<Target, CacheError> {
        let config = Config::load(path)?;
        if !config.cache.enabled {
            return Err(CacheError::disabled());
        }
        let mut description = describe(&config);
        let (cache, setup) = match tenant {
            None => (build_cache(&config.cache).await?, None),
            Some(tenant) => {
                let setup = CacheSetup::from_config(&config).await?;
                let manager = setup.manager().ok_or_else(CacheError::disabled)?;
                let cache = manager.get(tenant).await?.into_shared();
                description.push_str(&format!(", tenant {tenant:?}"));
                (cache, Some(setup))
            }
        };
        Ok(Target {
            config,
            cache,
            description,
            setup,
        })
    }

    /// Closes what was opened; failures to close are reported, not fatal.
    pub(crate) async fn close(self) {
        if let Err(e) = self.cache.close().await {
            eprintln!("warning: closing the cache: {e}");
        }
        if let Some(setup) = self.setup
            && let Err(e) = setup.close().await
        {
            eprintln!("warning: closing the tenant manager: {e}");
        }
    }
}

fn describe(config: &Config) -> String {
    let cache = &config.cache;
    let mut text = match cache.backend {
        BackendKind::Memory => "in-memory (embedded)".to_owned(),
        _ => {
            let redis = &cache.redis;
            let mode = match redis.mode {
                RedisMode::Standalone => "standalone",
                RedisMode::Cluster => "cluster",
                RedisMode::Sentinel => "sentinel",
                _ => "redis",
            };
            format!(
                "redis {mode} {}{}",
                redis.addrs.join(","),
                if redis.tls.enabled { " (TLS)" } else { "" }
            )
        }
    };
    if !cache.key_prefix.is_empty() {
        text.push_str(&format!(", key prefix {:?}", cache.key_prefix));
    }
    text
}
