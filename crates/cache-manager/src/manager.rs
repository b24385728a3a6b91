//! [`TenantManager`]: one cache per tenant, created on first use, bounded by an
//! LRU, closed when idle.
//!
//! # Design
//! - **Hot path.** `get` for a live tenant takes a shared read lock on the
//!   tenant map for a hash lookup and an `Arc` clone, and records the use on
//!   a logical clock (two relaxed loads; a store only when the tenant was not
//!   among the most recent, see `recency.rs`). No write lock, no allocation,
//!   no clock read.
//! - **Creation.** A missing tenant is created through the
//!   [`TenantResolver`] inside a [`Singleflight`]: concurrent first calls share
//!   one creation and all get its result, success or error; a failure is not
//!   remembered.
//! - **Bound.** At most `max_tenants` tenants live in the map; inserting one
//!   more evicts the least recently used (smallest recency stamp, found by a
//!   scan of the map under the write lock: creation is rare, lookups are not).
//!   The order is exact below 16 tenants and approximate among the most
//!   recent `max_tenants / 16` above.
//! - **Leases.** Evicted, removed or idle tenants leave the map at once but
//!   their cache is closed only when the last [`TenantCache`] lease is released
//!   (see [`crate::lease`]).
//! - **Idle sweep.** A background task (on tokio time, so paused-time tests
//!   drive it) closes tenants unused for `idle_ttl` that nobody holds. It
//!   stops on [`TenantManager::close`] and when the manager is dropped.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::metrics::TenantMetrics;
use cache_core::singleflight::Singleflight;
use cache_core::{CacheError, ConfigError, Operation, Result};
use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::lease::{Slot, SlotContext, TenantCache};
use crate::recency::{Recency, RecencyClock};
use crate::resolver::TenantResolver;
use crate::tenant::{TenantId, validate_tenant_id};

/// The longest pause between two idle sweeps.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A snapshot of a [`TenantManager`]'s state and counters since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Tenants with a live cache in the manager.
    pub open: usize,
    /// Tenant caches being created right now.
    pub creating: usize,
    /// Caches the manager let go of that are still leased (closed on release).
    pub draining: u64,
    /// Tenant caches created.
    pub created: u64,
    /// Creations that failed (each failure counted once, however many waited).
    pub creation_failures: u64,
    /// Tenants evicted to stay within `max_tenants`.
    pub evicted: u64,
    /// Tenants closed by the idle sweep.
    pub idle_closed: u64,
    /// Tenants removed with [`TenantManager::remove`].
    pub removed: u64,
    /// Tenant caches closed, for any reason.
    pub closed: u64,
    /// Closes that failed (the cache was dropped all the same).
    pub close_failures: u64,
    /// The bound on `open`.
    pub max_tenants: usize,
    /// Whether the background idle sweep is running.
    pub sweeper_running: bool,
}

/// Builds a [`TenantManager`]; from [`TenantManager::builder`].
#[derive(Debug)]
#[must_use]
pub struct TenantManagerBuilder {
    resolver: Arc<dyn TenantResolver>,
    max_tenants: usize,
    idle_ttl: Duration,
    sweep_interval: Option<Duration>,
    tenant_labels: usize,
}

impl TenantManagerBuilder {
    cache_core::setters! {
        /// At most `max` tenants live at once (≥ 1). Default 1,000.
        max_tenants: usize;

        /// Tenants unused this long (and not leased) are closed. Default 30 minutes.
        idle_ttl: Duration;

        /// How often the idle sweep runs. Default a quarter of `idle_ttl`, at most
        /// a minute. A sweep sees the uses made since the one before, so an idle
        /// tenant is closed no sooner than `idle_ttl` and no later than `idle_ttl`
        /// plus two intervals after its last use.
        sweep_interval: Duration => Some;
    }

    /// Labels `cache.tenants.created` and `cache.tenants.evicted` with the
    /// tenant id, for the first `cap` tenants seen (later ones are `other`).
    /// Off (0) by default: a label per tenant is a series per tenant.
    pub fn metrics_tenant_labels(mut self, cap: usize) -> Self {
        self.tenant_labels = cap;
        self
    }

    /// `max_tenants` and `idle_ttl` from the `cache.tenants` section.
    pub fn config(self, tenants: &crate::config::TenantsConfig) -> Self {
        self.max_tenants(tenants.max_tenants)
            .idle_ttl(tenants.idle_ttl)
    }

    /// The manager, with its idle sweep running on the current Tokio runtime.
    ///
    /// # Errors
    /// A zero `max_tenants`, `idle_ttl` or sweep interval is a config error
    /// naming the field; outside a Tokio runtime, [`ErrorKind::Unsupported`](cache_core::ErrorKind::Unsupported).
    pub fn build(self) -> Result<TenantManager> {
        if self.max_tenants == 0 {
            return Err(ConfigError::new("cache.tenants.max_tenants", "must be at least 1").into());
        }
        if self.idle_ttl.is_zero() {
            return Err(ConfigError::new("cache.tenants.idle_ttl", "must be positive").into());
        }
        let sweep_interval = self
            .sweep_interval
            .unwrap_or_else(|| (self.idle_ttl / 4).min(MAX_SWEEP_INTERVAL));
        if sweep_interval.is_zero() {
            return Err(ConfigError::new("sweep_interval", "must be positive").into());
        }
        let runtime = Handle::try_current().map_err(|_| {
            CacheError::unsupported(
                Operation::Connect,
                "a TenantManager must be built inside a Tokio runtime",
            )
        })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(ManagerInner {
            tenants: RwLock::new(HashMap::new()),
            tickets: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(0),
            creations: Singleflight::new(),
            max_tenants: self.max_tenants,
            idle_ttl: self.idle_ttl,
            recency: RecencyClock::new(self.max_tenants),
            epoch: Instant::now(),
            closed: AtomicBool::new(false),
            shutdown,
            sweeper: Mutex::new(None),
            context: Arc::new(SlotContext::new(runtime.clone(), self.resolver)),
            metrics: TenantMetrics::new(self.tenant_labels),
        });
        let sweeper = runtime.spawn(sweep_loop(
            Arc::downgrade(&inner),
            shutdown_rx,
            sweep_interval,
        ));
        *inner.sweeper.lock() = Some(sweeper);
        Ok(TenantManager { inner })
    }
}

/// One cache per tenant. Cheap to clone (clones share the tenants).
///
/// ```
/// use std::sync::Arc;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
/// use cache_manager::{NamespaceResolver, NamespaceTemplate, TenantManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
/// let resolver = NamespaceResolver::new(shared.clone(), NamespaceTemplate::default());
/// let manager = TenantManager::builder(Arc::new(resolver)).max_tenants(100).build()?;
///
/// let acme = manager.get("acme").await?;
/// acme.set("greeting", b"hi", std::time::Duration::from_secs(60)).await?;
/// assert_eq!(shared.get("tenant:{acme}:greeting").await?.as_deref(), Some(&b"hi"[..]));
/// assert!(manager.get("globex").await?.get("greeting").await.unwrap().is_none());
/// manager.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    tenants: RwLock<HashMap<TenantId, Arc<Slot>>>,
    /// Creations in flight, by tenant: `remove` withdraws the ticket so the
    /// creation, when it completes, knows not to insert. Lock order: `tenants`
    /// before `tickets`.
    tickets: Mutex<HashMap<TenantId, u64>>,
    next_ticket: AtomicU64,
    creations: Singleflight<TenantId, Arc<Slot>>,
    max_tenants: usize,
    idle_ttl: Duration,
    /// Recency stamps (LRU order and use detection for the sweep).
    recency: RecencyClock,
    /// Zero of the sweep's times; tokio time, so tests can pause it.
    epoch: Instant,
    closed: AtomicBool,
    /// `true` once closed; dropped with the manager. Either stops the sweeper.
    shutdown: watch::Sender<bool>,
    sweeper: Mutex<Option<JoinHandle<()>>>,
    context: Arc<SlotContext>,
    metrics: TenantMetrics,
}

impl TenantManager {
    /// A builder for a manager that gets tenant caches from `resolver`.
    pub fn builder(resolver: Arc<dyn TenantResolver>) -> TenantManagerBuilder {
        let defaults = crate::config::TenantsConfig::default();
        TenantManagerBuilder {
            resolver,
            max_tenants: defaults.max_tenants,
            idle_ttl: defaults.idle_ttl,
            sweep_interval: None,
            tenant_labels: 0,
        }
    }

    /// The cache of `tenant`, created through the resolver on first use.
    ///
    /// Concurrent first calls for one tenant share one creation; if it fails
    /// every one of them gets the error and the next call tries again.
    ///
    /// # Errors
    /// An empty or over-long tenant id is an
    /// [`ErrorKind::InvalidTenantId`](cache_core::ErrorKind::InvalidTenantId) (see
    /// [`crate::tenant`]); after [`TenantManager::close`],
    /// [`ErrorKind::Closed`](cache_core::ErrorKind::Closed);
    /// otherwise whatever the resolver reports.
    pub async fn get(&self, tenant: &str) -> Result<TenantCache> {
        let inner = &self.inner;
        inner.check_open()?;
        validate_tenant_id(tenant)?;
        if let Some(slot) = inner.lookup(tenant) {
            return Ok(TenantCache::new(slot));
        }
        // Boxed: the creation future is large and rare; the future of a
        // `get` that finds its tenant stays small.
        let tenant = TenantId::new(tenant)?;
        let creation: BoxFuture<'_, Result<Arc<Slot>>> =
            Box::pin(inner.creations.run(tenant.clone(), || inner.create(tenant)));
        Ok(TenantCache::new(creation.await?))
    }

    /// Lets go of `tenant`'s cache: it leaves the manager now and is closed as
    /// soon as nobody holds it (at once if nobody does). A creation in flight
    /// for the tenant is not inserted when it completes, and its cache is
    /// closed when its waiters release it. Returns whether there was a cache or
    /// a creation to remove.
    pub async fn remove(&self, tenant: &str) -> bool {
        let Ok(()) = validate_tenant_id(tenant) else {
            return false;
        };
        let (slot, had_creation) = {
            let mut tenants = self.inner.tenants.write();
            let slot = tenants.remove(tenant);
            let had_creation = self.inner.tickets.lock().remove(tenant).is_some();
            (slot, had_creation)
        };
        let removed = slot.is_some() || had_creation;
        self.inner.metrics.live(usize::from(slot.is_some()), false);
        if removed {
            self.inner
                .context
                .counters
                .removed
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(tenant = ?tenant, "removed tenant cache");
        }
        if let Some(slot) = slot {
            retire(slot).await;
        }
        removed
    }

    /// Runs an idle sweep now: closes the tenants nobody holds that no sweep
    /// has seen used for `idle_ttl`, and returns how many. The background
    /// sweep calls this every sweep interval.
    pub async fn close_idle(&self) -> usize {
        self.inner.close_idle().await
    }

    /// Whether `tenant` has a live cache in the manager.
    pub fn contains(&self, tenant: &str) -> bool {
        self.inner
            .tenants
            .read()
            .get(tenant)
            .is_some_and(|slot| !slot.is_closed())
    }

    /// The tenants with a live cache, in no particular order.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.inner.tenants.read().keys().cloned().collect()
    }

    /// A snapshot of the manager's state and counters.
    pub fn stats(&self) -> ManagerStats {
        let inner = &self.inner;
        let c = &inner.context.counters;
        let open = inner.tenants.read().len();
        let alive = c.alive.load(Ordering::Relaxed);
        ManagerStats {
            open,
            creating: inner.creations.in_flight(),
            draining: alive.saturating_sub(open as u64),
            created: c.created.load(Ordering::Relaxed),
            creation_failures: c.creation_failures.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            idle_closed: c.idle_closed.load(Ordering::Relaxed),
            removed: c.removed.load(Ordering::Relaxed),
            closed: c.closed.load(Ordering::Relaxed),
            close_failures: c.close_failures.load(Ordering::Relaxed),
            max_tenants: inner.max_tenants,
            sweeper_running: inner
                .sweeper
                .lock()
                .as_ref()
                .is_some_and(|task| !task.is_finished()),
        }
    }

    /// Whether [`TenantManager::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes every tenant cache (leased or not: this is shutdown) and the
    /// resolver, and stops the idle sweep. Later `get` calls fail with
    /// [`ErrorKind::Closed`](cache_core::ErrorKind::Closed). Every cache is closed even when some fail; the
    /// first failure is returned. Closing twice is fine.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        inner.shutdown.send_replace(true);
        let sweeper = inner.sweeper.lock().take();
        if let Some(sweeper) = sweeper {
            // A sweep in progress finishes first; the loop then sees the shutdown.
            let _ = sweeper.await;
        }
        let slots: Vec<Arc<Slot>> = {
            let mut tenants = inner.tenants.write();
            inner.tickets.lock().clear();
            tenants.drain().map(|(_, slot)| slot).collect()
        };
        inner.metrics.live(slots.len(), false);
        let results = futures::future::join_all(slots.iter().map(|slot| slot.close_now())).await;
        let mut first_error = results.into_iter().find_map(Result::err);
        if let Err(error) = inner.context.close_resolver().await {
            first_error.get_or_insert(error);
        }
        tracing::debug!(tenants = slots.len(), "tenant manager closed");
        first_error.map_or(Ok(()), Err)
    }
}

impl fmt::Debug for TenantManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantManager")
            .field("stats", &self.stats())
            .field("resolver", &self.inner.context.resolver)
            .finish()
    }
}

impl ManagerInner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CacheError::closed(Operation::Connect));
        }
        Ok(())
    }

    /// Nanoseconds since the epoch, on tokio's clock.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The live slot of `tenant`, stamped as used.
    fn lookup(&self, tenant: &str) -> Option<Arc<Slot>> {
        let tenants = self.tenants.read();
        let slot = tenants.get(tenant)?;
        if slot.is_closed() {
            // Closed through a lease: replaced by the next creation.
            return None;
        }
        slot.recency().touch(&self.recency);
        Some(slot.clone())
    }

    /// The singleflight leader's work: build the tenant's cache and insert it.
    async fn create(&self, tenant: TenantId) -> Result<Arc<Slot>> {
        // A creation that finished between our lookup and joining the flight
        // has inserted its slot already.
        if let Some(slot) = self.lookup(tenant.as_str()) {
            return Ok(slot);
        }
        let ticket = CreationTicket::issue(self, &tenant);
        let cache = match self.context.resolver.resolve(&tenant).await {
            Ok(cache) => cache,
            Err(error) => {
                self.context
                    .counters
                    .creation_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %tenant, error = %error, "creating a tenant cache failed");
                return Err(error);
            }
        };
        // From here on a drop of the slot (cancellation included) closes the cache.
        let recency = Recency::new(&self.recency, self.now());
        let slot = Arc::new(Slot::new(tenant, cache, recency, self.context.clone()));
        self.install(slot, ticket)
    }

    fn install(&self, slot: Arc<Slot>, ticket: CreationTicket<'_>) -> Result<Arc<Slot>> {
        let counters = &self.context.counters;
        let evicted = {
            let mut tenants = self.tenants.write();
            if self.closed.load(Ordering::Acquire) {
                drop(tenants);
                // Dropping the only reference closes the new cache.
                drop(slot);
                return Err(CacheError::closed(Operation::Connect));
            }
            counters.created.fetch_add(1, Ordering::Relaxed);
            self.metrics.created(slot.tenant().as_str());
            if !ticket.redeem() {
                // Removed while it was being created: the waiters get it, the
                // map does not, and the last of them to release it closes it.
                tracing::debug!(tenant = %slot.tenant(), "tenant removed during creation; not kept");
                return Ok(slot);
            }
            let mut evicted = Vec::new();
            // A slot closed through a lease is replaced, not counted.
            if let Some(old) = tenants.remove(slot.tenant()) {
                evicted.push((old, false));
            }
            while tenants.len() >= self.max_tenants {
                let Some(oldest) = tenants
                    .iter()
                    .min_by_key(|(_, s)| s.recency().stamp())
                    .map(|(t, _)| t.clone())
                else {
                    break;
                };
                if let Some(old) = tenants.remove(&oldest) {
                    evicted.push((old, true));
                }
            }
            tenants.insert(slot.tenant().clone(), slot.clone());
            self.metrics.live(1, true);
            self.metrics.live(evicted.len(), false);
            evicted
        };
        tracing::debug!(tenant = %slot.tenant(), "created tenant cache");
        for (old, lru) in evicted {
            if lru {
                counters.evicted.fetch_add(1, Ordering::Relaxed);
                self.metrics.evicted(old.tenant().as_str(), "lru");
                tracing::debug!(tenant = %old.tenant(), "evicted least recently used tenant cache");
            }
            // Closed by its `Drop` once the last lease goes (now, if none).
            drop(old);
        }
        Ok(slot)
    }

    async fn close_idle(&self) -> usize {
        let now = self.now();
        let idle_nanos = u64::try_from(self.idle_ttl.as_nanos()).unwrap_or(u64::MAX);
        let idle: Vec<Arc<Slot>> = {
            let mut tenants = self.tenants.write();
            // Every use after this point changes the stamp it is made on.
            self.recency.age_all();
            // Under the write lock nobody can take a new lease, so a strong
            // count of one (the map's) means nobody holds the tenant.
            tenants
                .extract_if(|_, slot| {
                    let unused_for = slot.recency().unused_for(now);
                    slot.is_closed() || (Arc::strong_count(slot) == 1 && unused_for >= idle_nanos)
                })
                .map(|(_, slot)| slot)
                .collect()
        };
        self.metrics.live(idle.len(), false);
        let mut closed = 0;
        for slot in &idle {
            if !slot.is_closed() {
                closed += 1;
                self.context
                    .counters
                    .idle_closed
                    .fetch_add(1, Ordering::Relaxed);
                self.metrics.evicted(slot.tenant().as_str(), "idle");
                tracing::debug!(tenant = %slot.tenant(), "closing idle tenant cache");
            }
        }
        futures::future::join_all(idle.iter().map(|slot| slot.close_now())).await;
        closed
    }
}

/// Closes `slot` now if nobody else holds it; otherwise its last holder does.
async fn retire(slot: Arc<Slot>) {
    if Arc::strong_count(&slot) == 1 {
        let _ = slot.close_now().await;
    }
    // Dropped here: if a holder remains, the last one's drop closes the cache.
}

/// A creation's claim to insert its tenant; [`TenantManager::remove`]
/// withdraws it. Withdrawn on drop too, so a cancelled creation leaves nothing.
struct CreationTicket<'a> {
    inner: &'a ManagerInner,
    tenant: TenantId,
    id: u64,
}

impl<'a> CreationTicket<'a> {
    fn issue(inner: &'a ManagerInner, tenant: &TenantId) -> Self {
        let id = inner.next_ticket.fetch_add(1, Ordering::Relaxed);
        inner.tickets.lock().insert(tenant.clone(), id);
        CreationTicket {
            inner,
            tenant: tenant.clone(),
            id,
        }
    }

    /// Whether the ticket is still valid; uses it up. Call with `tenants` locked.
    fn redeem(self) -> bool {
        // `Drop` withdraws a valid ticket: what is left tells whether it was.
        let tickets = &self.inner.tickets;
        let tenant = self.tenant.clone();
        let id = self.id;
        let valid = tickets.lock().get(&tenant) == Some(&id);
        drop(self);
        valid
    }
}

impl Drop for CreationTicket<'_> {
    fn drop(&mut self) {
        let mut tickets = self.inner.tickets.lock();
        if tickets.get(&self.tenant) == Some(&self.id) {
            tickets.remove(&self.tenant);
        }
    }
}

async fn sweep_loop(
    manager: Weak<ManagerInner>,
    mut shutdown: watch::Receiver<bool>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            // Closed (value changed) or dropped (sender gone): stop either way.
            _ = shutdown.changed() => return,
        }
        let Some(manager) = manager.upgrade() else {
            return;
        };
        let closed = manager.close_idle().await;
        if closed > 0 {
            tracing::debug!(closed, "idle sweep closed tenant caches");
        }
    }
}
