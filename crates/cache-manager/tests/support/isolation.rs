//! Tenant isolation checks, run against every backend (in-memory, Redis
//! standalone, Redis Cluster): no tenant can read, list, pattern-delete or
//! lock another tenant's keys, whatever its id or keys contain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_core::{Cache, ScanCursor};
use cache_manager::tenant::{DEFAULT_NAMESPACE, MAX_TENANT_ID_BYTES};
use cache_manager::{NamespaceResolver, NamespaceTemplate, TenantCache, TenantManager};
use cache_patterns::lock::DistributedLock;

const TTL: Duration = Duration::from_secs(120);

/// The victim's keys: plain, with separators, and glob characters.
const VICTIM_KEYS: [&str; 4] = ["k", "b:1", "secret", "lock:job*"];

/// (victim, attacker) pairs whose ids are lookalikes: one is a prefix of the
/// other, or they differ by a glob metacharacter, a separator, a hash-tag
/// brace, a backslash, a control character or a percent-escape.
pub fn pairs() -> Vec<(String, String)> {
    let long = "t".repeat(MAX_TENANT_ID_BYTES);
    let shorter = "t".repeat(MAX_TENANT_ID_BYTES - 1);
    let ids: &[(&str, &str)] = &[
        ("a", "a*"),
        ("a*", "a"),
        ("a:b", "a"),
        ("a", "a:b"),
        ("a}:x", "a"),
        ("x", "{x}"),
        ("{x}", "x"),
        ("a?", "a"),
        ("ab", "a?"),
        ("a[b]", "a"),
        ("ab", "a[b]"),
        ("a]", "a"),
        ("a\\*", "a"),
        ("a\n", "a"),
        ("a\0", "a"),
        ("a*", "a%2A"),
        ("a%2A", "a*"),
        ("*", "?"),
    ];
    let mut pairs: Vec<(String, String)> = ids
        .iter()
        .map(|(v, a)| ((*v).to_owned(), (*a).to_owned()))
        .collect();
    pairs.push((long.clone(), shorter.clone()));
    pairs.push((shorter, long));
    pairs
}

/// Keys an attacker could try in order to land on the victim's key `key` if
/// ids were put into the namespace unescaped: the part of the victim's naive
/// full key after the attacker's naive namespace, where it is one.
fn forged_keys(victim: &str, attacker: &str, key: &str) -> Vec<String> {
    let naive = |t: &str| DEFAULT_NAMESPACE.replace("<tenant>", t);
    let mut keys = vec![key.to_owned()];
    if let Some(rest) = format!("{}{key}", naive(victim)).strip_prefix(&naive(attacker))
        && !rest.is_empty()
    {
        keys.push(rest.to_owned());
    }
    keys
}

/// A manager over `backend`, every tenant under `run_prefix` (so runs that
/// share a server stay apart) and the default namespace.
pub fn manager_over(backend: Arc<dyn Cache>, run_prefix: &str) -> TenantManager {
    let resolver =
        NamespaceResolver::with_prefix(backend, run_prefix, NamespaceTemplate::default());
    TenantManager::builder(Arc::new(resolver))
        .max_tenants(1000)
        .build()
        .unwrap()
}

async fn tenants(
    manager: &TenantManager,
    victim: &str,
    attacker: &str,
) -> (TenantCache, TenantCache) {
    let v = manager.get(victim).await.unwrap();
    let a = manager.get(attacker).await.unwrap();
    for key in VICTIM_KEYS {
        v.set(key, b"victim's", TTL).await.unwrap();
    }
    a.set("own", b"attacker's", TTL).await.unwrap();
    (v, a)
}

async fn assert_victim_intact(victim: &TenantCache, what: &str) {
    for key in VICTIM_KEYS {
        let value = victim
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("{what}: victim lost {key:?}: {e}"))
            .unwrap_or_else(|| panic!("{what}: victim lost {key:?}"));
        assert_eq!(&value[..], b"victim's", "{what}: {key:?}");
    }
}

async fn scan_all(cache: &dyn Cache, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = ScanCursor::start();
    loop {
        let page = cache.scan_keys(pattern, &cursor, 500).await.unwrap();
        keys.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => return keys,
        }
    }
}

/// Patterns an attacker might scan or delete with.
fn hostile_patterns(victim: &str, attacker: &str) -> Vec<String> {
    let mut patterns = vec![
        "*".to_owned(),
        "*k*".to_owned(),
        "\\".to_owned(),
        "[".to_owned(),
    ];
    for forged in forged_keys(victim, attacker, "") {
        patterns.push(format!("{forged}*"));
    }
    patterns
}

pub async fn check_scan_never_lists_another_tenants_keys(backend: Arc<dyn Cache>, run: &str) {
    let manager = manager_over(backend, run);
    for (victim, attacker) in pairs() {
        let (_v, a) = tenants(&manager, &victim, &attacker).await;
        for pattern in hostile_patterns(&victim, &attacker) {
            let keys = scan_all(&*a, &pattern).await;
            assert!(
                keys.iter().all(|k| k == "own"),
                "attacker {attacker:?} scanning {pattern:?} saw {keys:?} (victim {victim:?})"
            );
        }
        cleanup(&manager, &victim, &attacker).await;
    }
    manager.close().await.unwrap();
}

pub async fn check_delete_pattern_never_deletes_another_tenants_keys(
    backend: Arc<dyn Cache>,
    run: &str,
) {
    let manager = manager_over(backend, run);
    for (victim, attacker) in pairs() {
        let (v, a) = tenants(&manager, &victim, &attacker).await;
        for pattern in hostile_patterns(&victim, &attacker) {
            a.delete_pattern(&pattern).await.unwrap();
        }
        assert_victim_intact(&v, &format!("attacker {attacker:?} pattern-deleting")).await;
        cleanup(&manager, &victim, &attacker).await;
    }
    manager.close().await.unwrap();
}

pub async fn check_get_never_reads_another_tenants_keys(backend: Arc<dyn Cache>, run: &str) {
    let manager = manager_over(backend, run);
    for (victim, attacker) in pairs() {
        let (_v, a) = tenants(&manager, &victim, &attacker).await;
        for key in VICTIM_KEYS {
            for forged in forged_keys(&victim, &attacker, key) {
                let read = a.get(&forged).await;
                assert!(
                    read.as_ref().is_ok_and(|v| v.is_none()),
                    "attacker {attacker:?} read {forged:?} of victim {victim:?}: {read:?}"
                );
                let many = a.get_many(&[forged.as_str()]).await.unwrap();
                assert_eq!(many, vec![None], "get_many {forged:?}");
            }
        }
        cleanup(&manager, &victim, &attacker).await;
    }
    manager.close().await.unwrap();
}

pub async fn check_locks_of_one_tenant_never_block_another(backend: Arc<dyn Cache>, run: &str) {
    let manager = manager_over(backend, run);
    for (victim, attacker) in pairs() {
        let v = manager.get(&victim).await.unwrap();
        let a = manager.get(&attacker).await.unwrap();
        // No lock prefix: the forged keys are whole cache keys.
        let victim_locks = DistributedLock::new(v.clone().into_shared()).prefix("");
        let attacker_locks = DistributedLock::new(a.clone().into_shared()).prefix("");
        let held = victim_locks
            .try_acquire("lock:job", TTL)
            .await
            .unwrap()
            .expect("victim takes its lock");
        for forged in forged_keys(&victim, &attacker, held.key()) {
            let taken = attacker_locks.try_acquire(&forged, TTL).await.unwrap();
            assert!(
                taken.is_some(),
                "attacker {attacker:?} blocked on {forged:?} by victim {victim:?}"
            );
            taken.unwrap().release().await.unwrap();
        }
        assert!(
            victim_locks
                .try_acquire("lock:job", TTL)
                .await
                .unwrap()
                .is_none(),
            "victim {victim:?}'s lock was released by attacker {attacker:?}"
        );
        assert!(held.release().await.unwrap());
        cleanup(&manager, &victim, &attacker).await;
    }
    manager.close().await.unwrap();
}

/// The victim's set and hash, under names the attacker may forge.
const VICTIM_SET: &str = "followers";
const VICTIM_HASH: &str = "prefs";

pub async fn check_collections_never_reach_another_tenants_sets_or_hashes(
    backend: Arc<dyn Cache>,
    run: &str,
) {
    let manager = manager_over(backend, run);
    for (victim, attacker) in pairs() {
        let v = manager.get(&victim).await.unwrap();
        let a = manager.get(&attacker).await.unwrap();
        let (vs, at) = (
            v.collections().expect("a tenant's cache has collections"),
            a.collections().expect("a tenant's cache has collections"),
        );
        vs.set_add(VICTIM_SET, &[b"ada"], TTL).await.unwrap();
        vs.hash_set(VICTIM_HASH, &[("theme", b"dark")], TTL)
            .await
            .unwrap();
        let what = format!("attacker {attacker:?}, victim {victim:?}");
        for forged in forged_keys(&victim, &attacker, VICTIM_SET) {
            assert!(
                !at.set_contains(&forged, b"ada").await.unwrap(),
                "{what}: {forged:?}"
            );
            assert_eq!(
                at.set_count(&forged).await.unwrap(),
                0,
                "{what}: {forged:?}"
            );
            let page = at
                .set_members(&forged, &ScanCursor::start(), 100)
                .await
                .unwrap();
            assert!(page.members.is_empty(), "{what}: {forged:?}");
            at.set_remove(&forged, &[b"ada"]).await.unwrap();
            at.set_add(&forged, &[b"mallory"], TTL).await.unwrap();
        }
        for forged in forged_keys(&victim, &attacker, VICTIM_HASH) {
            assert_eq!(
                at.hash_get(&forged, &["theme"]).await.unwrap(),
                vec![None],
                "{what}"
            );
            assert!(
                at.hash_get_all(&forged).await.unwrap().is_empty(),
                "{what}: {forged:?}"
            );
            at.hash_delete(&forged, &["theme"]).await.unwrap();
            at.hash_set(&forged, &[("theme", b"mallory's")], TTL)
                .await
                .unwrap();
        }
        assert_eq!(vs.set_count(VICTIM_SET).await.unwrap(), 1, "{what}");
        assert!(vs.set_contains(VICTIM_SET, b"ada").await.unwrap(), "{what}");
        let theme = vs.hash_get(VICTIM_HASH, &["theme"]).await.unwrap();
        assert_eq!(theme[0].as_deref(), Some(&b"dark"[..]), "{what}");
        cleanup(&manager, &victim, &attacker).await;
    }
    manager.close().await.unwrap();
}

async fn cleanup(manager: &TenantManager, victim: &str, attacker: &str) {
    for tenant in [victim, attacker] {
        manager
            .get(tenant)
            .await
            .unwrap()
            .delete_pattern("*")
            .await
            .unwrap();
    }
}

/// A key prefix per test, so tests sharing a server stay apart.
pub fn run_prefix() -> String {
    static RUN: AtomicU32 = AtomicU32::new(0);
    format!(
        "iso{}-{}:",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    )
}

/// Declares the isolation tests of one backend, each a `#[$test]` async fn
/// running one check of this module under its own [`run_prefix`].
/// `$backend` (pasted into each test, so it may `.await`) gives the
/// deployment to keep alive for the test and the cache over it.
#[allow(unused_macros)]
macro_rules! isolation_tests {
    (#[$test:meta] backend: $backend:expr $(,)?) => {
        isolation_tests!(@each #[$test] $backend;
            scan_never_lists_another_tenants_keys
                => check_scan_never_lists_another_tenants_keys,
            delete_pattern_never_deletes_another_tenants_keys
                => check_delete_pattern_never_deletes_another_tenants_keys,
            get_never_reads_another_tenants_keys => check_get_never_reads_another_tenants_keys,
            locks_of_one_tenant_never_block_another
                => check_locks_of_one_tenant_never_block_another,
            collections_never_reach_another_tenants_sets_or_hashes
                => check_collections_never_reach_another_tenants_sets_or_hashes,
        );
    };
    (@each #[$test:meta] $backend:expr; $($name:ident => $check:ident,)*) => {
        $(
            #[$test]
            async fn $name() {
                let (_deployment, backend) = $backend;
                let prefix = $crate::support::isolation::run_prefix();
                $crate::support::isolation::$check(backend, &prefix).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use isolation_tests;
