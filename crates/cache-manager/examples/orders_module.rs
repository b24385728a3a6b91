//! A framework module that caches through the dependency-injection closure,
//! with the typed (CBOR) layer, for two tenants.
//!
//! ```text
//! cargo run -p cache-manager --example orders_module
//! ```
//!
//! The application builds everything from configuration in one call
//! ([`CacheSetup`]) and hands the module its [`ModuleDeps`]; the module only
//! ever sees `deps.get_cache`, so its tests inject a fake through the same
//! closure (`ModuleDeps::with_cache(Arc::new(MemoryCache::new()))`, on a
//! manual clock from `cache_testing::fake_cache()` where time matters).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{CacheError, TypedCacheExt};
use cache_manager::config::Config;
use cache_manager::{CacheSetup, ModuleDeps, RequestContext};
use serde::{Deserialize, Serialize};

/// What the module caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    total_cents: u64,
}

/// The module: reads orders through the cache, de-duplicates submissions.
struct OrdersModule {
    deps: ModuleDeps,
    /// Stands in for the database: counts the loads the cache did not save.
    database_loads: AtomicU64,
}

impl OrdersModule {
    const ORDER_TTL: Duration = Duration::from_secs(300);
    /// The idempotency window of the seed documents: 300 s.
    const IDEMPOTENCY_TTL: Duration = Duration::from_secs(300);

    fn new(deps: ModuleDeps) -> Self {
        OrdersModule {
            deps,
            database_loads: AtomicU64::new(0),
        }
    }

    /// Cache-aside read of one order of the request's tenant.
    async fn order(&self, ctx: &RequestContext, id: u64) -> Result<Order, CacheError> {
        let cache = (self.deps.get_cache)(ctx).await?;
        let key = format!("order:{id}");
        if let Some(order) = cache.get_as::<Order>(&key).await? {
            return Ok(order);
        }
        let order = self.load_from_database(ctx, id);
        cache.set_as(&key, &order, Self::ORDER_TTL).await?;
        Ok(order)
    }

    /// Records a submission once per idempotency key; returns the order that
    /// was first submitted under it and whether this call was the first.
    async fn submit(
        &self,
        ctx: &RequestContext,
        idempotency_key: &str,
        order: &Order,
    ) -> Result<(Order, bool), CacheError> {
        let cache = (self.deps.get_cache)(ctx).await?;
        cache
            .get_or_set_as(
                &format!("idempotency:{idempotency_key}"),
                order,
                Self::IDEMPOTENCY_TTL,
            )
            .await
    }

    fn load_from_database(&self, ctx: &RequestContext, id: u64) -> Order {
        self.database_loads.fetch_add(1, Ordering::Relaxed);
        Order {
            id,
            customer: format!("{} customer", ctx.tenant().unwrap_or("unknown")),
            total_cents: 1_250 * id,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), CacheError> {
    // In a service: `CacheSetup::load(Some(Path::new("config/cache.yaml"))).await?`,
    // which also reads the `CACHE_*` environment variables.
    let config = Config::from_yaml_str(
        "cache:\n  type: memory\n  key_prefix: \"orders:\"\n  tenants:\n    max_tenants: 100\n    idle_ttl: 10m\n",
    )?;
    let setup = CacheSetup::from_config(&config).await?;
    let module = OrdersModule::new(setup.module_deps());

    let acme = RequestContext::for_tenant("acme");
    let globex = RequestContext::builder().tenant("globex").build();

    for ctx in [&acme, &globex, &acme, &globex] {
        let order = module.order(ctx, 42).await?;
        println!("{:>7}: {order:?}", ctx.tenant().unwrap_or("-"));
    }
    // Two tenants, one miss each: the repeated reads came from the cache.
    assert_eq!(module.database_loads.load(Ordering::Relaxed), 2);

    let draft = Order {
        id: 7,
        customer: "Ada".into(),
        total_cents: 990,
    };
    let (_, first) = module.submit(&acme, "req-1", &draft).await?;
    let (_, replay) = module.submit(&acme, "req-1", &draft).await?;
    let (_, other_tenant) = module.submit(&globex, "req-1", &draft).await?;
    println!(
        "submit req-1: acme first={first}, acme replay first={replay}, globex first={other_tenant}"
    );
    assert!(
        first && !replay && other_tenant,
        "idempotency keys are per tenant"
    );

    let stats = setup.manager().expect("caching is enabled").stats();
    println!("tenants open: {}, created: {}", stats.open, stats.created);
    setup.close().await
}
