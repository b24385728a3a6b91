//! Tenant isolation on real Redis: a standalone server and a Redis Cluster
//! (3 primaries), each started by `cache-testing` on free loopback ports and
//! shared by the tests of this binary (see `support/isolation.rs`).

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cache_core::Cache;
use cache_redis::RedisCache;
use cache_redis::{RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, RedisServer};
use support::isolation::*;

/// A key prefix per test, so tests sharing a server stay apart.
fn run_prefix() -> String {
    static RUN: AtomicU32 = AtomicU32::new(0);
    format!(
        "iso{}-{}:",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    )
}

/// The deployment the running tests share: started by the first, stopped when
/// the last drops it (a plain `static` would leak the server processes).
fn shared<T>(slot: &'static Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(running) = slot.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *slot = Arc::downgrade(&started);
    started
}

fn config(addrs: Vec<String>, mode: RedisMode) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = addrs;
    config.mode = mode;
    config.connect_timeout = Duration::from_secs(5);
    config.command_timeout = Duration::from_secs(5);
    config
}

mod standalone {
    use super::*;

    static SERVER: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

    async fn backend() -> (Arc<RedisServer>, Arc<dyn Cache>) {
        let server = shared(&SERVER, RedisServer::start);
        let cache = RedisCache::connect(&config(vec![server.addr()], RedisMode::Standalone))
            .await
            .expect("connect to the test server");
        (server, Arc::new(cache))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scan_never_lists_another_tenants_keys() {
        let (_server, backend) = backend().await;
        check_scan_never_lists_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_pattern_never_deletes_another_tenants_keys() {
        let (_server, backend) = backend().await;
        check_delete_pattern_never_deletes_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_never_reads_another_tenants_keys() {
        let (_server, backend) = backend().await;
        check_get_never_reads_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locks_of_one_tenant_never_block_another() {
        let (_server, backend) = backend().await;
        check_locks_of_one_tenant_never_block_another(backend, &run_prefix()).await;
    }
}

mod cluster {
    use super::*;

    static CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());

    async fn backend() -> (Arc<RedisCluster>, Arc<dyn Cache>) {
        let cluster = shared(&CLUSTER, || {
            RedisCluster::builder()
                .primaries(3)
                .replicas_per_primary(0)
                .start()
        });
        let cache = RedisCache::connect(&config(cluster.seed_addrs(), RedisMode::Cluster))
            .await
            .expect("connect to the test cluster");
        (cluster, Arc::new(cache))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scan_never_lists_another_tenants_keys() {
        let (_cluster, backend) = backend().await;
        check_scan_never_lists_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_pattern_never_deletes_another_tenants_keys() {
        let (_cluster, backend) = backend().await;
        check_delete_pattern_never_deletes_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_never_reads_another_tenants_keys() {
        let (_cluster, backend) = backend().await;
        check_get_never_reads_another_tenants_keys(backend, &run_prefix()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locks_of_one_tenant_never_block_another() {
        let (_cluster, backend) = backend().await;
        check_locks_of_one_tenant_never_block_another(backend, &run_prefix()).await;
    }

    /// The default namespace's hash tag keeps all of a tenant's keys in one
    /// slot, so multi-key calls work for a tenant in cluster mode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenants_batch_calls_work_across_keys_in_cluster_mode() {
        let (_cluster, backend) = backend().await;
        let manager = manager_over(backend, "");
        let tenant = manager
            .get(&format!("batch-{}", run_prefix()))
            .await
            .unwrap();
        let keys: Vec<String> = (0..20).map(|i| format!("key:{i}")).collect();
        let entries: Vec<(&str, &[u8])> =
            keys.iter().map(|k| (k.as_str(), b"v".as_slice())).collect();
        tenant
            .set_many(&entries, Duration::from_secs(60))
            .await
            .unwrap();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert!(
            tenant
                .get_many(&refs)
                .await
                .unwrap()
                .iter()
                .all(Option::is_some)
        );
        assert_eq!(tenant.delete_many(&refs).await.unwrap(), 20);
        manager.close().await.unwrap();
    }
}
