//! Tenant isolation on real Redis: a standalone server and a Redis Cluster
//! (3 primaries), each started by `cache-testing` on free loopback ports and
//! shared by the tests of this binary (see `support/isolation.rs`).

mod support;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cache_core::Cache;
use cache_redis::RedisCache;
use cache_redis::{RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, RedisServer};
use support::isolation::*;

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

/// A cache over the deployment at `addrs`, with generous timeouts.
async fn connect(addrs: Vec<String>, mode: RedisMode) -> Arc<dyn Cache> {
    let mut config = RedisConfig::default();
    config.addrs = addrs;
    config.mode = mode;
    config.connect_timeout = Duration::from_secs(5);
    config.command_timeout = Duration::from_secs(5);
    let cache = RedisCache::connect(&config).await;
    Arc::new(cache.expect("connect to the test deployment"))
}

mod standalone {
    use super::*;

    static SERVER: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

    async fn backend() -> (Arc<RedisServer>, Arc<dyn Cache>) {
        let server = shared(&SERVER, RedisServer::start);
        let cache = connect(vec![server.addr()], RedisMode::Standalone).await;
        (server, cache)
    }

    isolation_tests! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        backend: backend().await,
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
        let cache = connect(cluster.seed_addrs(), RedisMode::Cluster).await;
        (cluster, cache)
    }

    isolation_tests! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        backend: backend().await,
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
        let values = tenant.get_many(&refs).await.unwrap();
        let every_value = vec![Some(bytes::Bytes::from_static(b"v")); refs.len()];
        assert_eq!(values, every_value, "every key reads back its value");
        assert_eq!(tenant.delete_many(&refs).await.unwrap(), 20);
        manager.close().await.unwrap();
    }
}
