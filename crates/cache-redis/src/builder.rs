//! [`RedisCacheBuilder`]: a [`RedisCache`] built in code, for services that do
//! not read a config file. It fills a [`RedisConfig`] and connects through the
//! same validator as [`RedisCache::connect`], so the two never disagree.

use std::path::PathBuf;
use std::time::Duration;

use cache_core::config::Secret;
use cache_core::{CacheError, ConfigError, Result};

use crate::cache::ConnectOptions;
use crate::settings::Settings;
use crate::{RedisCache, RedisConfig, RedisMode};

/// Builds a [`RedisCache`]; start with [`RedisCache::builder`]. Unset values
/// are the defaults of [`RedisConfig`]; errors name the builder method's
/// field (`addrs`, `pool_size`, `tls.ca_cert_path`...).
///
/// ```no_run
/// use std::time::Duration;
/// use cache_redis::RedisCache;
///
/// # async fn run() -> cache_core::Result<()> {
/// let cache = RedisCache::builder()
///     .addr("cache.internal:6379")
///     .username("app")
///     .password(std::env::var("CACHE_PASSWORD").unwrap_or_default())
///     .tls(true)
///     .command_timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
/// # drop(cache);
/// # Ok(())
/// # }
/// ```
///
/// A cluster, or a master found through sentinels:
///
/// ```
/// use cache_redis::{RedisCache, RedisMode};
/// let config = RedisCache::builder()
///     .cluster(["10.0.0.1:6379", "10.0.0.2:6379"])
///     .build_config()?;
/// assert_eq!(config.mode, RedisMode::Cluster);
///
/// let err = RedisCache::builder().sentinel("", ["10.0.0.9:26379"]).build_config().unwrap_err();
/// assert_eq!(err.field, "sentinel_master");
/// # Ok::<(), cache_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RedisCacheBuilder {
    config: RedisConfig,
    /// Not part of [`RedisConfig`]: a limit for code, not for operators.
    max_per_call: Option<usize>,
}

impl RedisCacheBuilder {
    /// Starts from an existing config (e.g. one read from a file) to adjust it in code.
    pub fn from_config(config: RedisConfig) -> Self {
        RedisCacheBuilder {
            config,
            max_per_call: None,
        }
    }

    /// Adds a `host:port` address: the server, a cluster seed node or a sentinel.
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.config.addrs.push(addr.into());
        self
    }

    /// Replaces the addresses.
    pub fn addrs<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.addrs = addrs.into_iter().map(Into::into).collect();
        self
    }

    /// A Redis/Valkey Cluster reached through these seed nodes.
    pub fn cluster<I, S>(self, seeds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mode(RedisMode::Cluster).addrs(seeds)
    }

    /// The master named `master` by these sentinels.
    pub fn sentinel<I, S>(mut self, master: impl Into<String>, sentinels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.sentinel_master = master.into();
        self.mode(RedisMode::Sentinel).addrs(sentinels)
    }

    /// Standalone (the default), cluster or sentinel.
    pub fn mode(mut self, mode: RedisMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// The ACL user (Redis 6+); leave unset for password-only AUTH.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.config.username = Some(username.into());
        self
    }

    /// The password (ACL or `requirepass`). Kept as a [`Secret`]: never printed.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.config.password = Some(Secret::new(password));
        self
    }

    /// The database index (standalone and sentinel; a cluster has only 0).
    pub fn database(mut self, database: i64) -> Self {
        self.config.database = database;
        self
    }

    /// Connect over TLS, verifying the server against the system roots unless
    /// a CA is given.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.config.tls.enabled = enabled;
        self
    }

    /// Verify the server against this PEM CA bundle, base64-encoded (turns TLS on).
    pub fn ca_cert_base64(mut self, encoded: impl Into<String>) -> Self {
        self.config.tls.enabled = true;
        self.config.tls.ca_cert_base64 = Some(Secret::new(encoded));
        self
    }

    /// Verify the server against the PEM CA bundle in this file (turns TLS on).
    pub fn ca_cert_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.enabled = true;
        self.config.tls.ca_cert_path = Some(path.into());
        self
    }

    /// Multiplexed connections per node (default 1, which measures best).
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.config.pool_size = pool_size;
        self
    }

    /// How long a connection attempt (TCP, TLS, AUTH) may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a call may take, retries included.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.config.command_timeout = timeout;
        self
    }

    /// Retries of a call that is safe to retry, and the backoff between them.
    pub fn retries(mut self, max_retries: u32, first: Duration, max: Duration) -> Self {
        self.config.max_retries = max_retries;
        self.config.retry_backoff = first;
        self.config.max_retry_backoff = max;
        self
    }

    /// The largest value accepted, in bytes.
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.config.max_value_bytes = max;
        self
    }

    /// Coalesce concurrent `get`s into `MGET`s while one is in flight (see
    /// [`RedisConfig::coalesce_gets`]).
    pub fn coalesce_gets(mut self, enabled: bool) -> Self {
        self.config.coalesce_gets = enabled;
        self
    }

    /// The most members or fields one call on a set or hash may name (at
    /// least 1; default [`DEFAULT_MAX_PER_CALL`](cache_core::collections::DEFAULT_MAX_PER_CALL));
    /// past it the call fails with
    /// [`ErrorKind::ValueTooLarge`](cache_core::ErrorKind::ValueTooLarge).
    pub fn max_per_call(mut self, limit: usize) -> Self {
        self.max_per_call = Some(limit);
        self
    }

    /// The validated config, without connecting (for logging it, or for
    /// handing it to code that takes a [`RedisConfig`]).
    pub fn build_config(self) -> std::result::Result<RedisConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// Validates, connects, and checks that the server answers (see
    /// [`RedisCache::connect`]).
    pub async fn connect(self) -> Result<RedisCache> {
        let mut settings = Settings::from_config(&self.config).map_err(CacheError::from)?;
        if let Some(limit) = self.max_per_call {
            if limit == 0 {
                return Err(ConfigError::new("max_per_call", "must be at least 1").into());
            }
            settings.max_per_call = limit;
        }
        RedisCache::connect_settings(settings, ConnectOptions::default()).await
    }
}
