//! # cache-manager
//!
//! Per-tenant caches for multi-tenant services, built from configuration, and
//! handed to framework modules through a dependency-injection closure.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//! use cache_manager::{NamespaceResolver, NamespaceTemplate, TenantManager};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
//! let resolver = NamespaceResolver::new(shared, NamespaceTemplate::default());
//! let manager = TenantManager::builder(Arc::new(resolver)).build()?;
//!
//! let acme = manager.get("acme").await?;
//! acme.set("plan", b"gold", Duration::from_secs(60)).await?;
//! let globex = manager.get("globex").await?;
//! assert!(globex.get("plan").await.unwrap().is_none()); // tenants are isolated
//! manager.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Modules
//! | module | what |
//! | --- | --- |
//! | [`manager`] | [`TenantManager`]: LRU-bounded tenant caches, singleflight creation, idle sweep |
//! | [`lease`] | [`TenantCache`]: a lease that keeps a tenant's cache open while used |
//! | [`resolver`] | [`TenantResolver`] and the built-in resolvers |
//! | [`tenant`] | tenant ids, their escaping, and namespace templates |
//! | [`setup`] | [`CacheSetup`]: everything from YAML + environment in one call; [`build_cache`] |
//! | [`deps`] | [`ModuleDeps`], [`RequestContext`], the [`GetCache`] closure |
//! | [`config`] | the root [`Config`](config::Config): YAML + environment, composing the backends' sections |
//! | [`prelude`] | the traits and types an application uses, from every crate of the framework |
//!
//! ## One dependency for an application
//! An application depends on `cache-manager` alone: [`config`] re-exports every
//! section of the configuration and [`prelude`] the contract, both backends and
//! the patterns. Libraries that only speak the contract depend on `cache-core`.
//!
//! ```
//! use cache_manager::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), CacheError> {
//! let cache = MemoryCache::new();
//! cache.set_as("n", &7u32, std::time::Duration::from_secs(5)).await?;
//! assert_eq!(cache.get_as::<u32>("n").await?, Some(7));
//! # Ok(())
//! # }
//! ```
//!
//! Tenant isolation on a shared backend rests on [`cache_patterns::Namespaced`]
//! and the escaping in [`tenant`]; see the ADR `docs/adr/0006-tenant-manager.md`.
#![forbid(unsafe_code)]

pub mod config;
pub mod deps;
pub mod lease;
pub mod manager;
mod metrics;
mod recency;
pub mod resolver;
pub mod setup;
pub mod tenant;

/// The traits and types an application uses, from every crate of the framework.
pub mod prelude {
    pub use cache_core::{
        Bytes, Cache, CacheError, Collections, ErrorKind, RateLimitRule, ScanCursor, TypedCacheExt,
        TypedCollectionsExt,
    };
    pub use cache_memory::MemoryCache;
    pub use cache_patterns::{
        CacheAside, Counter, DistributedLock, Idempotency, InvalidationBus, Namespaced, NearCache,
        RateLimiter, ReadThrough,
    };
    #[cfg(feature = "redis")]
    pub use cache_redis::RedisCache;

    pub use crate::config::Config;
    pub use crate::{CacheSetup, ModuleDeps, RequestContext, TenantCache, TenantManager};
}

pub use deps::{GetCache, ModuleDeps, RequestContext, RequestContextBuilder};
pub use lease::TenantCache;
pub use manager::{ManagerStats, TenantManager, TenantManagerBuilder};
pub use resolver::{FnResolver, NamespaceResolver, OverrideResolver, TenantResolver, resolver_fn};
pub use setup::{CacheSetup, build_cache};
pub use tenant::{MAX_TENANT_ID_BYTES, NamespaceTemplate, TenantId};
