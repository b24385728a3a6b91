//! The configuration model, read from YAML with environment overrides and
//! validated fail-fast with errors that name the field.
//!
//! Applications make one call, [`Config::load`]: the defaults, then the YAML
//! file if one is given, then the environment, then [`Config::validate`].
//!
//! ```
//! use std::collections::HashMap;
//! use cache_redis::RedisMode;
//! use cache_manager::{config::{BackendKind, Config}};
//!
//! let yaml = "
//! cache:
//!   type: redis
//!   key_prefix: 'orders:'
//!   redis:
//!     mode: cluster
//!     addrs: ['10.0.0.1:6379', '10.0.0.2:6379']
//!     password: ${CACHE_REDIS_PASSWORD}
//!     command_timeout: 500ms
//! ";
//! // Tests inject the environment; `Config::from_yaml_str` and `Config::load` read the real one.
//! let env = HashMap::from([("CACHE_REDIS_PASSWORD", "s3cret"), ("CACHE_REDIS_POOL_SIZE", "8")]);
//! let env = |name: &str| env.get(name).map(|v| v.to_string());
//!
//! let mut config = Config::from_yaml_str_with_env(yaml, &env)?;
//! config.apply_env(&env)?;
//! config.validate()?;
//! assert_eq!(config.cache.redis.mode, RedisMode::Cluster);
//! assert_eq!(config.cache.redis.pool_size, 8);
//! assert!(!format!("{config:?}").contains("s3cret"));
//!
//! // Unknown keys are refused by name, with the section they appeared in.
//! let err = Config::from_yaml_str_with_env("cache:\n  redis:\n    adrs: []\n", &env).unwrap_err();
//! assert_eq!(err.field, "cache.redis");
//! assert!(err.reason.contains("unknown field `adrs`"));
//! # Ok::<(), cache_core::ConfigError>(())
//! ```
//!
//! Every field, every environment variable and the precedence are listed in
//! `docs/config-reference.md`.

mod env;
mod load;
mod model;
mod validate;

pub use env::{EnvVar, EnvVarKind, env_vars};
pub use load::process_env;
pub use model::*;
pub use validate::MAX_KEY_PREFIX_BYTES;

// The sections the root composes, re-exported so that an application finds
// its whole configuration here; each is defined and validated by its backend.
pub use cache_core::config::{Secret, duration};
pub use cache_memory::MemoryConfig;
#[cfg(feature = "redis")]
pub use cache_redis::{RedisConfig, RedisMode, TlsConfig};
