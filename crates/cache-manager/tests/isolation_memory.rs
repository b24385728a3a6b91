//! Tenant isolation on the in-memory backend (see `support/isolation.rs`).

mod support;

use std::sync::Arc;

use cache_core::Cache;
use cache_memory::MemoryCache;
use support::isolation::*;

fn backend() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new())
}

isolation_tests! {
    #[tokio::test]
    backend: ((), backend()),
}

/// The checks have teeth: with ids put into the namespace unescaped, the
/// forged key of tenant `a` lands on tenant `a}:x`'s key.
#[tokio::test]
async fn unescaped_ids_would_let_a_tenant_read_another() {
    use cache_patterns::Namespaced;
    let shared = backend();
    let victim = Namespaced::new(shared.clone(), "tenant:{a}:x}:");
    let attacker = Namespaced::new(shared.clone(), "tenant:{a}:");
    victim
        .set("k", b"victim's", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        &attacker.get("x}:k").await.unwrap().unwrap()[..],
        b"victim's"
    );
}

/// The same for sets: through unescaped namespaces the forged key reaches
/// the victim's set, which the collections check would catch.
#[tokio::test]
async fn unescaped_ids_would_let_a_tenant_read_another_tenants_set() {
    use cache_patterns::Namespaced;
    let shared = backend();
    let victim = Namespaced::new(shared.clone(), "tenant:{a}:x}:");
    let attacker = Namespaced::new(shared.clone(), "tenant:{a}:");
    let ttl = std::time::Duration::from_secs(60);
    let (v, a) = (
        victim.collections().unwrap(),
        attacker.collections().unwrap(),
    );
    v.set_add("followers", &[b"ada"], ttl).await.unwrap();
    assert!(a.set_contains("x}:followers", b"ada").await.unwrap());
}
