//! The conformance suite through a `Namespaced` view and through a tenant
//! lease, on the in-memory backend.
//!
//! One check is left out on purpose: `empty_and_oversized_keys_are_invalid`
//! stores a key of exactly `MAX_KEY_BYTES`, which a view refuses because its
//! prefix counts against the limit (tested in `namespace.rs`).

use std::sync::Arc;

use cache_core::Cache;
use cache_manager::{NamespaceResolver, NamespaceTemplate, TenantManager};
use cache_memory::MemoryCache;
use cache_patterns::Namespaced;
use cache_testing::conformance::run_checks;

/// The one check a prefixed view cannot pass by design.
const NEEDS_THE_WHOLE_KEY_LENGTH: &str = "empty_and_oversized_keys_are_invalid";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namespaced_view_with_glob_characters_in_its_prefix_passes_the_suite() {
    let factory = || async {
        let backend: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        Arc::new(Namespaced::owning(backend, "ns*?[a-z]{t}\\:")) as Arc<dyn Cache>
    };
    run_checks(&factory, |name| name != NEEDS_THE_WHOLE_KEY_LENGTH)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_lease_passes_the_suite() {
    let factory = || async {
        let backend: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let resolver = NamespaceResolver::new(backend, NamespaceTemplate::default());
        let manager = TenantManager::builder(Arc::new(resolver)).build().unwrap();
        // The manager may go: the lease keeps the tenant's cache and backend open.
        manager.get("t*{x}:").await.unwrap().into_shared()
    };
    run_checks(&factory, |name| name != NEEDS_THE_WHOLE_KEY_LENGTH)
        .await
        .assert_ok();
}
