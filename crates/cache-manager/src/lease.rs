//! Leases: how the manager knows when nobody uses a tenant's cache any more.
//!
//! The manager keeps each tenant's cache in a reference-counted slot; every
//! [`TenantCache`] handed out (and every `Arc<dyn Cache>` made from one) is a
//! clone of that `Arc`. When the manager lets go of a slot (LRU eviction,
//! `remove`, idle sweep, a creation that lost a race with `remove`), the cache
//! stays fully usable for whoever still holds a lease, and is closed when the
//! last lease is released: dropping the last `Arc` runs the slot's `Drop`,
//! which closes the cache on the manager's runtime. A cache in use is never
//! closed under its user's feet, except by [`TenantManager::close`](crate::TenantManager::close).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cache_core::{Cache, CacheLayer, Result};
use tokio::runtime::Handle;

use crate::recency::Recency;
use crate::resolver::TenantResolver;
use crate::tenant::TenantId;

/// Counters shared by the manager and its slots (slots count their own close).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) created: AtomicU64,
    pub(crate) creation_failures: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) close_failures: AtomicU64,
    /// Slots whose cache is not closed yet (in the manager or draining).
    pub(crate) alive: AtomicU64,
}

/// What the manager and every slot of it share. Outlives the manager while
/// any lease is out, so that whatever the resolver owns (a shared backend) is
/// closed only when both the manager and the last lease are gone.
#[derive(Debug)]
pub(crate) struct SlotContext {
    pub(crate) counters: Counters,
    /// Where a slot dropped outside any task (or on a dying task) closes its cache.
    pub(crate) runtime: Handle,
    pub(crate) resolver: Arc<dyn TenantResolver>,
    resolver_closed: AtomicBool,
}

impl SlotContext {
    pub(crate) fn new(runtime: Handle, resolver: Arc<dyn TenantResolver>) -> Self {
        SlotContext {
            counters: Counters::default(),
            runtime,
            resolver,
            resolver_closed: AtomicBool::new(false),
        }
    }

    /// Closes the resolver (once): the manager's explicit shutdown.
    pub(crate) async fn close_resolver(&self) -> Result<()> {
        if self.resolver_closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.resolver.close().await;
        if let Err(error) = &result {
            tracing::warn!(error = %error, "closing the tenant resolver failed");
        }
        result
    }
}

impl Drop for SlotContext {
    fn drop(&mut self) {
        // The manager was dropped without `close` and no lease is left.
        if !self.resolver_closed.swap(true, Ordering::AcqRel) {
            let resolver = self.resolver.clone();
            self.runtime.spawn(async move {
                if let Err(error) = resolver.close().await {
                    tracing::warn!(error = %error, "closing the tenant resolver failed");
                }
            });
        }
    }
}

/// One tenant's cache, shared by the manager's map and every lease.
pub(crate) struct Slot {
    tenant: TenantId,
    cache: Arc<dyn Cache>,
    recency: Recency,
    /// Set once a close has started (by the manager, by a lease holder, or on drop).
    closed: AtomicBool,
    context: Arc<SlotContext>,
}

impl Slot {
    pub(crate) fn new(
        tenant: TenantId,
        cache: Arc<dyn Cache>,
        recency: Recency,
        context: Arc<SlotContext>,
    ) -> Self {
        context.counters.alive.fetch_add(1, Ordering::Relaxed);
        Slot {
            tenant,
            cache,
            recency,
            closed: AtomicBool::new(false),
            context,
        }
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub(crate) fn recency(&self) -> &Recency {
        &self.recency
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the cache now, once; later calls return `Ok`. A failure is
    /// logged and counted and the slot counts as closed all the same.
    pub(crate) async fn close_now(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        close_and_count(&self.tenant, &self.cache, &self.context).await
    }
}

async fn close_and_count(
    tenant: &TenantId,
    cache: &Arc<dyn Cache>,
    context: &SlotContext,
) -> Result<()> {
    let counters = &context.counters;
    counters.alive.fetch_sub(1, Ordering::Relaxed);
    let result = cache.close().await;
    counters.closed.fetch_add(1, Ordering::Relaxed);
    match &result {
        Ok(()) => tracing::debug!(tenant = %tenant, "closed tenant cache"),
        Err(error) => {
            counters.close_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant = %tenant, error = %error, "closing a tenant cache failed; it is dropped anyway");
        }
    }
    result
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // The last lease is gone and the manager no longer holds the slot.
        let (tenant, cache, context) = (
            self.tenant.clone(),
            self.cache.clone(),
            self.context.clone(),
        );
        let runtime = context.runtime.clone();
        // A runtime that is shutting down drops the task: the cache is then
        // dropped without a graceful close, which is all that is left to do.
        runtime.spawn(async move {
            let _ = close_and_count(&tenant, &cache, &context).await;
        });
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantCache")
            .field("tenant", &self.tenant)
            .field("closed", &self.is_closed())
            .field("cache", &self.cache)
            .finish()
    }
}

/// Every call goes straight to the tenant's cache; `close` marks the slot
/// closed so the manager replaces it on the next `get`.
impl CacheLayer for Slot {
    type Inner = dyn Cache;

    fn inner(&self) -> &Self::Inner {
        &*self.cache
    }

    async fn close(this: &Self) -> Result<()> {
        this.close_now().await
    }
}

/// A lease on one tenant's cache, from [`TenantManager::get`](crate::TenantManager::get).
///
/// Derefs to [`dyn Cache`](Cache), so every cache call (and
/// [`TypedCacheExt`](cache_core::TypedCacheExt)) works on it directly. Cheap to
/// clone. While any clone (or any `Arc<dyn Cache>` made with
/// [`TenantCache::into_shared`]) is alive the cache stays open, even if the
/// manager evicts the tenant meanwhile; the last one released closes it.
///
/// Hold a lease for a request, not for the life of the process: a tenant
/// evicted while leased keeps its connections until the lease goes.
///
/// Calling [`Cache::close`] through a lease closes the tenant's cache for every
/// holder; the manager then builds a fresh one on the next `get`.
#[derive(Clone)]
pub struct TenantCache {
    slot: Arc<Slot>,
}

impl TenantCache {
    pub(crate) fn new(slot: Arc<Slot>) -> Self {
        TenantCache { slot }
    }

    /// The tenant this cache belongs to.
    pub fn tenant(&self) -> &TenantId {
        self.slot.tenant()
    }

    /// The lease as a plain `Arc<dyn Cache>`, which keeps the lease alive as
    /// long as it lives (for APIs that take `Arc<dyn Cache>`).
    pub fn into_shared(self) -> Arc<dyn Cache> {
        self.slot
    }

    /// Whether two leases are on the same cache instance.
    pub fn same_cache(&self, other: &TenantCache) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
    }
}

impl Deref for TenantCache {
    type Target = dyn Cache;

    fn deref(&self) -> &Self::Target {
        &*self.slot
    }
}

impl From<TenantCache> for Arc<dyn Cache> {
    fn from(lease: TenantCache) -> Self {
        lease.into_shared()
    }
}

impl fmt::Debug for TenantCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.slot, f)
    }
}
