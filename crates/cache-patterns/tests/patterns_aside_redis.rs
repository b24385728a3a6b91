//! Cache-aside's batch load and clear on real servers: a standalone
//! redis-server and a 3-primary cluster started by `cache_testing::server`
//! on free loopback ports.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::Cache;
use cache_patterns::aside::CacheAside;
use cache_redis::{RedisCache, RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, RedisServer, key_slot};

const TTL: Duration = Duration::from_secs(120);

type Loaded = HashMap<String, u64>;

/// Loads `count` keys under `prefix` through `aside` twice: the first call
/// loads them all in one loader call, the second finds them all cached.
async fn batch_of(aside: &CacheAside, prefix: &str, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let got = aside
        .get_many_or_load(&refs, TTL, move |missing: Vec<String>| async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(
                missing
                    .into_iter()
                    .map(|k| {
                        let n = k.rsplit(':').next().unwrap().parse::<u64>().unwrap();
                        (k, n * 2)
                    })
                    .collect::<Loaded>(),
            )
        })
        .await
        .unwrap();
    assert_eq!(got.len(), count);
    assert!(got.iter().all(|(k, v)| format!("{prefix}{}", v / 2) == *k));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one loader call for every miss"
    );
    let again = aside
        .get_many_or_load(&refs, TTL, |_: Vec<String>| async {
            Err::<Loaded, _>(std::io::Error::other("everything is cached"))
        })
        .await
        .unwrap();
    assert_eq!(again, got);
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_or_load_of_1000_keys_spread_over_a_clusters_slots() {
    let cluster = tokio::task::block_in_place(RedisCluster::shared);
    let mut config = RedisConfig::default();
    config.addrs = cluster.seed_addrs();
    config.mode = RedisMode::Cluster;
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(&config).await.unwrap());
    let aside = CacheAside::new(cache.clone());
    let keys = batch_of(&aside, "aside:batch:", 1000).await;
    let slots: HashSet<u16> = keys.iter().map(|k| key_slot(k)).collect();
    assert!(
        slots.len() > 900,
        "the keys cover many slots: {}",
        slots.len()
    );
    assert!(
        cache.get(&keys[999]).await.unwrap().is_some(),
        "stored in the cluster"
    );
    // A clear on the cluster: the generation key lives in one slot, the
    // values anywhere.
    let clearable = CacheAside::new(cache).clearable(Duration::ZERO);
    batch_of(&clearable, "aside:cleared:", 50).await;
    clearable.clear().await.unwrap();
    batch_of(&clearable, "aside:cleared:", 50).await; // loads again, one call
}

#[tokio::test]
async fn get_many_or_load_on_a_standalone_server() {
    let server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(&config).await.unwrap());
    let aside = CacheAside::new(cache)
        .soft_ttl(Duration::from_secs(60))
        .eager_refresh_threshold(0.5);
    batch_of(&aside, "aside:batch:", 200).await;
}
