//! How the manager reaches a tenant's cache: the [`TenantResolver`] trait and
//! the built-in resolvers.
//!
//! | resolver | a tenant's cache is |
//! | --- | --- |
//! | [`NamespaceResolver`] | a [`Namespaced`] view of one shared backend |
//! | [`OverrideResolver`] | its own resolver if it has one, else a fallback resolver |
//! | [`FnResolver`] (via [`resolver_fn`]) | whatever a closure builds |
//!
//! [`crate::CacheSetup`] wires them from the `cache.tenants` config section.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use cache_core::{Cache, Result};
use cache_patterns::Namespaced;

use crate::tenant::{NamespaceTemplate, TenantId};

/// Turns a tenant id into that tenant's cache. Called once per tenant cache
/// creation (the manager coalesces concurrent calls for a tenant), never on
/// the hot path.
///
/// The manager closes each cache it got from `resolve` when it is done with
/// it; a resolver that hands out views of a backend it owns closes that
/// backend in [`TenantResolver::close`], which the manager calls when it closes.
#[async_trait]
pub trait TenantResolver: Send + Sync + fmt::Debug {
    /// The cache for `tenant`, or why it cannot be had (reported to every
    /// caller waiting for it, and tried again on the next call).
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>>;

    /// Releases what the resolver owns (shared backends). Default: nothing.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Every tenant in its own namespace of one shared backend: the tenant's cache
/// is a [`Namespaced`] view under `prefix` + the rendered [`NamespaceTemplate`].
///
/// The views never close the backend; [`TenantResolver::close`] does.
pub struct NamespaceResolver {
    backend: Arc<dyn Cache>,
    prefix: String,
    template: NamespaceTemplate,
}

impl NamespaceResolver {
    /// Tenants of `backend` under `template`.
    pub fn new(backend: Arc<dyn Cache>, template: NamespaceTemplate) -> Self {
        Self::with_prefix(backend, "", template)
    }

    /// Tenants of `backend` under `prefix` followed by `template` (the
    /// application's `key_prefix` goes outside the tenant namespace).
    pub fn with_prefix(
        backend: Arc<dyn Cache>,
        prefix: impl Into<String>,
        template: NamespaceTemplate,
    ) -> Self {
        NamespaceResolver {
            backend,
            prefix: prefix.into(),
            template,
        }
    }

    /// The full key prefix of `tenant`.
    pub fn namespace_of(&self, tenant: &TenantId) -> String {
        format!("{}{}", self.prefix, self.template.render(tenant))
    }

    /// The shared backend.
    pub fn backend(&self) -> &Arc<dyn Cache> {
        &self.backend
    }
}

impl fmt::Debug for NamespaceResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceResolver")
            .field("prefix", &self.prefix)
            .field("template", &self.template.to_string())
            .field("backend", &self.backend)
            .finish()
    }
}

#[async_trait]
impl TenantResolver for NamespaceResolver {
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>> {
        Ok(Arc::new(Namespaced::new(
            self.backend.clone(),
            self.namespace_of(tenant),
        )))
    }

    async fn close(&self) -> Result<()> {
        self.backend.close().await
    }
}

/// Some tenants with a resolver of their own (their own server, database or
/// credentials), everyone else through a fallback.
#[derive(Debug)]
pub struct OverrideResolver {
    overrides: HashMap<TenantId, Arc<dyn TenantResolver>>,
    fallback: Arc<dyn TenantResolver>,
}

impl OverrideResolver {
    /// Everyone through `fallback` until overrides are added.
    pub fn new(fallback: Arc<dyn TenantResolver>) -> Self {
        OverrideResolver {
            overrides: HashMap::new(),
            fallback,
        }
    }

    /// `tenant` goes through `resolver` instead of the fallback.
    pub fn with_override(mut self, tenant: TenantId, resolver: Arc<dyn TenantResolver>) -> Self {
        self.overrides.insert(tenant, resolver);
        self
    }

    /// Whether `tenant` has an override.
    pub fn has_override(&self, tenant: &str) -> bool {
        self.overrides.contains_key(tenant)
    }
}

#[async_trait]
impl TenantResolver for OverrideResolver {
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>> {
        match self.overrides.get(tenant) {
            Some(own) => own.resolve(tenant).await,
            None => self.fallback.resolve(tenant).await,
        }
    }

    /// Closes every resolver, the fallback last; reports the first failure.
    async fn close(&self) -> Result<()> {
        let mut first_error = None;
        for resolver in self.overrides.values().chain([&self.fallback]) {
            if let Err(error) = resolver.close().await {
                tracing::warn!(error = %error, "closing a tenant resolver failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A resolver made of a closure; see [`resolver_fn`].
pub struct FnResolver<F> {
    make: F,
}

/// A resolver that calls `make(tenant)`: the escape hatch for tenant lookups
/// the built-in resolvers do not cover (a tenant registry, secrets per tenant).
///
/// ```
/// use std::sync::Arc;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
/// use cache_manager::{resolver_fn, TenantManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let resolver = resolver_fn(|_tenant| async {
///     Ok(Arc::new(MemoryCache::new()) as Arc<dyn Cache>)
/// });
/// let manager = TenantManager::builder(Arc::new(resolver)).build()?;
/// let acme = manager.get("acme").await?;
/// acme.health().await?;
/// # manager.close().await
/// # }
/// ```
pub fn resolver_fn<F, Fut>(make: F) -> FnResolver<F>
where
    F: Fn(TenantId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<dyn Cache>>> + Send + 'static,
{
    FnResolver { make }
}

impl<F> fmt::Debug for FnResolver<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnResolver")
    }
}

#[async_trait]
impl<F, Fut> TenantResolver for FnResolver<F>
where
    F: Fn(TenantId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<dyn Cache>>> + Send + 'static,
{
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>> {
        (self.make)(tenant.clone()).await
    }
}
