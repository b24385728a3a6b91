//! Dependency injection: `ModuleDeps`, `RequestContext` and the `GetCache`
//! closure, with cache-testing fakes injected through the same closure.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind, TypedCacheExt};
use cache_manager::{
    ModuleDeps, NamespaceResolver, NamespaceTemplate, RequestContext, TenantManager,
};
use cache_memory::MemoryCache;
use cache_testing::FaultyCache;
use serde::{Deserialize, Serialize};

const TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    total_cents: u64,
}

/// A module's read path: the order from the cache, else from its "database".
async fn load_order(deps: &ModuleDeps, ctx: &RequestContext, id: u64) -> cache_core::Result<Order> {
    let cache = deps.cache(ctx).await?;
    let key = format!("order:{id}");
    if let Some(order) = cache.get_as::<Order>(&key).await? {
        return Ok(order);
    }
    let order = Order {
        id,
        total_cents: 1_000 * id,
    };
    cache.set_as(&key, &order, TTL).await?;
    Ok(order)
}

fn manager_over(backend: Arc<dyn Cache>) -> TenantManager {
    let resolver = NamespaceResolver::new(backend, NamespaceTemplate::default());
    TenantManager::builder(Arc::new(resolver)).build().unwrap()
}

#[tokio::test]
async fn with_cache_gives_every_request_the_injected_fake() {
    let fake = Arc::new(MemoryCache::new());
    let deps = ModuleDeps::with_cache(fake.clone());
    for tenant in ["acme", "globex"] {
        let cache = deps
            .cache(&RequestContext::for_tenant(tenant))
            .await
            .unwrap();
        cache.set(tenant, b"seen", TTL).await.unwrap();
    }
    assert_eq!(fake.keys(), ["acme", "globex"]);
}

#[tokio::test]
async fn a_module_caches_through_the_closure_with_the_typed_layer() {
    let fake = Arc::new(MemoryCache::new());
    let deps = ModuleDeps::with_cache(fake.clone());
    let ctx = RequestContext::for_tenant("acme");
    let order = load_order(&deps, &ctx, 7).await.unwrap();
    assert_eq!(
        order,
        Order {
            id: 7,
            total_cents: 7_000
        }
    );
    assert_eq!(
        fake.get_as::<Order>("order:7").await.unwrap().unwrap(),
        order
    );
}

#[tokio::test]
async fn a_failing_cache_reaches_the_module_as_a_typed_error() {
    let faulty = Arc::new(FaultyCache::new(
        Arc::new(MemoryCache::new()) as Arc<dyn Cache>
    ));
    faulty.fail_next(u64::MAX);
    let deps = ModuleDeps::with_cache(faulty);
    let error = load_order(&deps, &RequestContext::for_tenant("acme"), 1)
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn from_manager_gives_each_tenant_its_own_cache() {
    let deps = ModuleDeps::from_manager(manager_over(Arc::new(MemoryCache::new())));
    let acme = deps
        .cache(&RequestContext::for_tenant("acme"))
        .await
        .unwrap();
    let globex = deps
        .cache(&RequestContext::for_tenant("globex"))
        .await
        .unwrap();
    acme.set("plan", b"gold", TTL).await.unwrap();
    assert!(globex.get("plan").await.unwrap().is_none());
}

#[tokio::test]
async fn a_context_without_a_tenant_is_an_invalid_tenant_id_for_the_manager() {
    let deps = ModuleDeps::from_manager(manager_over(Arc::new(MemoryCache::new())));
    let error = deps
        .cache(&RequestContext::builder().build())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidTenantId);
    assert!(
        error.to_string().contains("carries no tenant id"),
        "{error}"
    );
}

#[tokio::test]
async fn disabled_deps_answer_disabled() {
    let deps = ModuleDeps::disabled();
    let error = deps
        .cache(&RequestContext::for_tenant("acme"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disabled);
}

#[tokio::test]
async fn the_closures_future_can_be_spawned() {
    let deps = ModuleDeps::with_cache(Arc::new(MemoryCache::new()));
    let lookup = deps.cache(&RequestContext::for_tenant("acme"));
    let cache = tokio::spawn(lookup).await.unwrap().unwrap();
    cache.health().await.unwrap();
}

#[tokio::test]
async fn modules_that_use_no_cache_can_ignore_the_closure() {
    // A module only stores its deps; cloning them is cheap and needs no cache.
    struct AuditModule {
        _deps: ModuleDeps,
    }
    let deps = ModuleDeps::disabled();
    let _module = AuditModule {
        _deps: deps.clone(),
    };
}

#[test]
fn the_builder_sets_the_tenant() {
    let ctx = RequestContext::builder().tenant("acme").build();
    assert_eq!(ctx.tenant(), Some("acme"));
    assert_eq!(ctx, RequestContext::for_tenant("acme"));
}
