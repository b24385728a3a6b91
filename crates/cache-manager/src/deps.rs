//! Dependency injection for framework modules: a module receives
//! [`ModuleDeps`] and asks its `get_cache` closure for the cache of the request
//! it is serving. Modules that use no cache ignore the field.
//!
//! The closure is the seam tests use: [`ModuleDeps::with_cache`] injects one
//! fake for every tenant, [`ModuleDeps::new`] any closure at all.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//! use cache_manager::{ModuleDeps, RequestContext};
//!
//! async fn remember_visit(deps: &ModuleDeps, ctx: &RequestContext) -> cache_core::Result<i64> {
//!     let cache = deps.cache(ctx).await?;
//!     cache.incr_by("visits", 1, Duration::from_secs(3600)).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let deps = ModuleDeps::with_cache(Arc::new(MemoryCache::new()));
//! assert_eq!(remember_visit(&deps, &RequestContext::for_tenant("acme")).await?, 1);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheError, Result};
use futures::FutureExt;
use futures::future::BoxFuture;

use cache_patterns::CacheAside;

use crate::manager::TenantManager;

/// The cache lookup handed to modules: the cache of the request's tenant.
/// Cheap to clone; the future owns everything it needs (`'static`), so it can
/// be awaited anywhere, spawned tasks included.
pub type GetCache =
    Arc<dyn Fn(&RequestContext) -> BoxFuture<'static, Result<Arc<dyn Cache>>> + Send + Sync>;

/// What a module knows about the request it serves. Grows over time (hence
/// `#[non_exhaustive]` and the [builder](RequestContext::builder)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext {
    tenant: Option<String>,
}

impl RequestContext {
    /// A context for a request of `tenant`.
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        RequestContext {
            tenant: Some(tenant.into()),
        }
    }

    /// A builder, for contexts with more than a tenant.
    pub fn builder() -> RequestContextBuilder {
        RequestContextBuilder::default()
    }

    /// The request's tenant id, if it has one.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
}

/// Builds a [`RequestContext`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RequestContextBuilder {
    tenant: Option<String>,
}

impl RequestContextBuilder {
    /// The request's tenant id.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The context.
    pub fn build(self) -> RequestContext {
        RequestContext {
            tenant: self.tenant,
        }
    }
}

/// What a framework module gets from the application: for now, the cache.
#[derive(Clone)]
#[non_exhaustive]
pub struct ModuleDeps {
    /// The cache of a request's tenant. Modules without a cache ignore it.
    pub get_cache: GetCache,
    /// The TTL a module uses when it has none of its own.
    default_ttl: Duration,
}

impl ModuleDeps {
    /// Dependencies with this cache lookup, and the default TTL of
    /// [`MemoryConfig`](cache_memory::MemoryConfig) (5 minutes).
    pub fn new(get_cache: GetCache) -> Self {
        ModuleDeps {
            get_cache,
            default_ttl: cache_memory::MemoryConfig::default().default_ttl,
        }
    }

    /// The same dependencies with another default TTL ([`CacheSetup`](crate::CacheSetup)
    /// sets `cache.memory.default_ttl`).
    pub fn with_default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The TTL a module uses when it has none of its own: `cache.memory.default_ttl`.
    pub fn default_ttl(&self) -> Duration {
        self.default_ttl
    }

    /// Cache-aside on the cache for `ctx`, with [`ModuleDeps::default_ttl`]
    /// as its default TTL (the one [`ReadThrough`](cache_patterns::ReadThrough) uses).
    pub async fn aside(&self, ctx: &RequestContext) -> Result<CacheAside> {
        Ok(CacheAside::new(self.cache(ctx).await?).ttl(self.default_ttl))
    }

    /// Every request gets `cache`, whatever its tenant: for tests (a fake from
    /// `cache-testing`) and single-tenant applications.
    pub fn with_cache(cache: Arc<dyn Cache>) -> Self {
        Self::new(fixed(cache))
    }

    /// Each request gets its tenant's cache from `manager`.
    pub fn from_manager(manager: TenantManager) -> Self {
        Self::new(from_manager(manager))
    }

    /// Caching is off: every lookup fails with [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled).
    pub fn disabled() -> Self {
        Self::new(disabled())
    }

    /// The cache for `ctx`; shorthand for calling `get_cache`.
    pub fn cache(&self, ctx: &RequestContext) -> BoxFuture<'static, Result<Arc<dyn Cache>>> {
        (self.get_cache)(ctx)
    }
}

impl fmt::Debug for ModuleDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleDeps").finish_non_exhaustive()
    }
}

/// A lookup that returns `cache` for every request.
pub fn fixed(cache: Arc<dyn Cache>) -> GetCache {
    Arc::new(move |_ctx: &RequestContext| {
        let cache = cache.clone();
        async move { Ok(cache) }.boxed()
    })
}

/// A lookup that asks `manager` for the request's tenant. A context without a
/// tenant is an [`ErrorKind::InvalidTenantId`](cache_core::ErrorKind::InvalidTenantId).
pub fn from_manager(manager: TenantManager) -> GetCache {
    Arc::new(move |ctx: &RequestContext| {
        let manager = manager.clone();
        let tenant = ctx.tenant().map(str::to_owned);
        async move {
            let Some(tenant) = tenant else {
                return Err(CacheError::invalid_tenant_id(
                    "",
                    "the request context carries no tenant id",
                ));
            };
            Ok(manager.get(&tenant).await?.into_shared())
        }
        .boxed()
    })
}

/// A lookup that always fails with [`ErrorKind::Disabled`](cache_core::ErrorKind::Disabled): the explicit
/// answer when `cache.enabled` is `false`.
pub fn disabled() -> GetCache {
    Arc::new(|_ctx: &RequestContext| async { Err(CacheError::disabled()) }.boxed())
}
