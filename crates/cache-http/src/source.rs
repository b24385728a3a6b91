//! Where a layer finds the cache of a request: one shared cache, or the cache
//! of the request's tenant through a closure (`ModuleDeps::get_cache` fits).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use cache_core::{Cache, Result};
use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::Mutex;

/// The per-tenant lookup: the cache for a tenant id (`None`: the request has
/// no tenant). The future owns what it needs.
pub type TenantLookup =
    Arc<dyn Fn(Option<&str>) -> BoxFuture<'static, Result<Arc<dyn Cache>>> + Send + Sync>;

/// Where the layers, the admin API and the health check get a cache from.
/// Cheap to clone.
///
/// With [`CacheSource::per_tenant`], a service hands over its tenant
/// resolution, e.g. cache-manager's `ModuleDeps`:
///
/// ```
/// use std::sync::Arc;
/// use cache_http::CacheSource;
/// use cache_manager::{ModuleDeps, RequestContext};
///
/// let deps = ModuleDeps::with_cache(Arc::new(cache_memory::MemoryCache::new()));
/// let source = CacheSource::per_tenant(move |tenant| {
///     let ctx = tenant.map(RequestContext::for_tenant).unwrap_or_default();
///     deps.cache(&ctx)
/// });
/// assert!(source.is_per_tenant());
/// ```
#[derive(Clone)]
pub struct CacheSource {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Fixed(Arc<dyn Cache>),
    PerTenant(TenantLookup),
}

impl fmt::Debug for CacheSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Fixed(cache) => f.debug_tuple("CacheSource::Fixed").field(cache).finish(),
            Kind::PerTenant(_) => f.write_str("CacheSource::PerTenant"),
        }
    }
}

impl CacheSource {
    /// Every request uses `cache` (tenants, if any, are told apart in the keys).
    pub fn fixed(cache: Arc<dyn Cache>) -> Self {
        CacheSource {
            kind: Kind::Fixed(cache),
        }
    }

    /// Each request uses the cache `lookup` gives for its tenant.
    pub fn per_tenant<F>(lookup: F) -> Self
    where
        F: Fn(Option<&str>) -> BoxFuture<'static, Result<Arc<dyn Cache>>> + Send + Sync + 'static,
    {
        CacheSource {
            kind: Kind::PerTenant(Arc::new(lookup)),
        }
    }

    /// Whether each tenant has a cache of its own (so keys need not name it).
    pub fn is_per_tenant(&self) -> bool {
        matches!(self.kind, Kind::PerTenant(_))
    }

    /// The one cache of a [`CacheSource::fixed`] source, `None` for a
    /// per-tenant source.
    pub fn fixed_cache(&self) -> Option<&Arc<dyn Cache>> {
        match &self.kind {
            Kind::Fixed(cache) => Some(cache),
            Kind::PerTenant(_) => None,
        }
    }

    /// The cache for `tenant`.
    pub fn cache(&self, tenant: Option<&str>) -> BoxFuture<'static, Result<Arc<dyn Cache>>> {
        match &self.kind {
            Kind::Fixed(cache) => futures::future::ready(Ok(Arc::clone(cache))).boxed(),
            Kind::PerTenant(lookup) => lookup(tenant),
        }
    }
}

impl From<Arc<dyn Cache>> for CacheSource {
    fn from(cache: Arc<dyn Cache>) -> Self {
        CacheSource::fixed(cache)
    }
}

/// Pattern objects that must be shared per cache (cache-aside's flights, the
/// lock factory's local waiters), built once for each cache a source hands
/// out and rebuilt when a tenant's cache is replaced. Bounded: past `MAX`
/// entries the map starts over (the objects are cheap to rebuild; only the
/// in-process coalescing of that moment is lost).
///
/// For a fixed source the object is built once, on the first request, and
/// read without a lock or a lookup afterwards.
pub(crate) struct PerCache<T> {
    fixed: OnceLock<T>,
    entries: Mutex<HashMap<Option<String>, Held<T>>>,
}

/// The cache an object was built for, and the object.
type Held<T> = (Arc<dyn Cache>, T);

impl<T: Clone> PerCache<T> {
    const MAX: usize = 10_000;

    pub(crate) fn new() -> Self {
        PerCache {
            fixed: OnceLock::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The object for the cache `source` gives `tenant`, built by `build`
    /// when there is none yet. A fixed source is answered without the boxed
    /// lookup future, the lock and the map.
    pub(crate) async fn resolve(
        &self,
        source: &CacheSource,
        tenant: Option<&str>,
        build: impl FnOnce(Arc<dyn Cache>) -> T,
    ) -> Result<T> {
        if let Some(cache) = source.fixed_cache() {
            return Ok(self.fixed.get_or_init(|| build(Arc::clone(cache))).clone());
        }
        let cache = source.cache(tenant).await?;
        Ok(self.get(tenant, &cache, build))
    }

    fn get(
        &self,
        tenant: Option<&str>,
        cache: &Arc<dyn Cache>,
        build: impl FnOnce(Arc<dyn Cache>) -> T,
    ) -> T {
        let mut entries = self.entries.lock();
        let key = tenant.map(str::to_owned);
        if let Some((held, value)) = entries.get(&key)
            && Arc::ptr_eq(held, cache)
        {
            return value.clone();
        }
        if entries.len() >= Self::MAX {
            entries.clear();
        }
        let value = build(Arc::clone(cache));
        entries.insert(key, (Arc::clone(cache), value.clone()));
        value
    }
}
