//! What the manager's tests share: a resolver that records what it builds,
//! and polling a condition with a deadline.
#![allow(dead_code, unreachable_pub)]

#[allow(unused_imports)]
pub use cache_testing::wait::eventually;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{Cache, CacheError, Result};
use cache_manager::{TenantId, TenantManager, TenantResolver};
use cache_memory::MemoryCache;
use parking_lot::Mutex;

/// How long a condition may take to become true. Generous: the machine is
/// loaded, and under paused time this is virtual time anyway.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Whether `cache` has been closed (every call then fails with `Closed`).
pub async fn is_closed(cache: &dyn Cache) -> bool {
    cache.health().await.is_err_and(|e| e.is_closed())
}

/// A resolver that builds a fresh `MemoryCache` per creation and remembers
/// each, so tests can see which backends exist and whether they are closed.
/// Optionally slow (`delay`, on tokio time) or failing (`fail_next`).
#[derive(Debug, Default)]
pub struct RecordingResolver {
    calls: AtomicUsize,
    built: Mutex<Vec<(String, Arc<MemoryCache>)>>,
    delay: Option<Duration>,
    failures_left: AtomicUsize,
}

impl RecordingResolver {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every creation first sleeps `delay` (tokio time).
    pub fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(RecordingResolver {
            delay: Some(delay),
            ..Self::default()
        })
    }

    /// The first `n` creations fail with a connection error (after `delay`).
    pub fn failing(n: usize, delay: Option<Duration>) -> Arc<Self> {
        Arc::new(RecordingResolver {
            delay,
            failures_left: AtomicUsize::new(n),
            ..Self::default()
        })
    }

    /// How many times `resolve` was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The backends built for `tenant`, oldest first.
    pub fn built_for(&self, tenant: &str) -> Vec<Arc<MemoryCache>> {
        self.built
            .lock()
            .iter()
            .filter(|(t, _)| t == tenant)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The one backend built for `tenant`.
    pub fn only(&self, tenant: &str) -> Arc<MemoryCache> {
        let built = self.built_for(tenant);
        assert_eq!(built.len(), 1, "backends built for {tenant:?}");
        built[0].clone()
    }
}

#[async_trait]
impl TenantResolver for RecordingResolver {
    async fn resolve(&self, tenant: &TenantId) -> Result<Arc<dyn Cache>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let fail = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(CacheError::connection(
                "tenant-backend:6379",
                std::io::Error::other("connection refused"),
            ));
        }
        let cache = Arc::new(MemoryCache::new());
        self.built
            .lock()
            .push((tenant.as_str().to_owned(), cache.clone()));
        Ok(cache)
    }
}

/// A fresh [`RecordingResolver`] and a manager over it (see [`manager`]).
pub fn recording_manager(
    max_tenants: usize,
    idle_ttl: Duration,
) -> (Arc<RecordingResolver>, TenantManager) {
    let resolver = RecordingResolver::new();
    let m = manager(resolver.clone(), max_tenants, idle_ttl);
    (resolver, m)
}

/// A manager over `resolver` with `max_tenants` and `idle_ttl`.
pub fn manager(
    resolver: Arc<RecordingResolver>,
    max_tenants: usize,
    idle_ttl: Duration,
) -> TenantManager {
    TenantManager::builder(resolver)
        .max_tenants(max_tenants)
        .idle_ttl(idle_ttl)
        .build()
        .expect("a valid manager")
}

pub mod isolation;
