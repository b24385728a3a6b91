//! `RedisCache` through Sentinel (a master, one replica and three sentinels,
//! see `cache_testing::server::RedisSentinel`): the whole conformance suite,
//! and recovery on the new master after a failover.
//!
//! The conformance checks share one deployment (`RedisSentinel::shared`,
//! killed when the binary exits); the failover test kills the master, so it
//! has a deployment of its own. Runs against Valkey too:
//! `CACHE_TEST_REDIS_SERVER=valkey-server CACHE_TEST_REDIS_CLI=valkey-cli`.

mod harness_support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheError};
use cache_redis::RedisCache;
use cache_redis::{RedisConfig, RedisMode};
use cache_testing::server::{RedisSentinel, RespValue};
use harness_support::{RECOVERY_DEADLINE, chain, eventually, namespace};

const TTL: Duration = Duration::from_secs(120);

fn sentinel_config(deployment: &RedisSentinel) -> RedisConfig {
    let mut config = harness_support::config(deployment.sentinel_addrs());
    config.mode = RedisMode::Sentinel;
    config.sentinel_master = deployment.master_name().to_owned();
    config
}

async fn connect(deployment: &RedisSentinel) -> RedisCache {
    RedisCache::connect(&sentinel_config(deployment))
        .await
        .unwrap_or_else(|e| panic!("connect through the sentinels: {}", chain(&e)))
}

/// A fresh `RedisCache` per check, all on the binary's shared deployment.
async fn make_cache() -> Arc<dyn Cache> {
    let deployment = tokio::task::block_in_place(RedisSentinel::shared);
    Arc::new(connect(deployment).await)
}

mod conformance {
    cache_testing::conformance_tests!(super::make_cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_to_the_master_the_sentinels_name() {
    let deployment = tokio::task::block_in_place(RedisSentinel::shared);
    let cache = connect(deployment).await;
    let key = format!("{}k", namespace("master"));
    cache.set(&key, b"on the master", TTL).await.unwrap();

    let master = deployment.data_node(&deployment.master_addr());
    assert_eq!(
        master.command(&["GET", &key]),
        RespValue::Bulk(Some(b"on the master".to_vec()))
    );
    cache.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_recover_on_the_promoted_replica_after_the_master_dies() {
    let mut deployment = tokio::task::block_in_place(RedisSentinel::start);
    let config = sentinel_config(&deployment);
    let cache = connect(&deployment).await;
    let key = format!("{}k", namespace("failover"));
    let [first_master, replica] = <[String; 2]>::try_from(deployment.data_addrs()).unwrap();
    cache.set(&key, b"before", TTL).await.unwrap();

    let killed = tokio::task::block_in_place(|| deployment.kill_master());
    let killed_at = tokio::time::Instant::now();
    assert_eq!(killed, first_master);

    // Calls fail (transiently, never hanging) until the sentinels have
    // promoted the replica and the cache has moved to it by itself.
    let bound = config.command_timeout * 3;
    let value = eventually(
        "a write and read after the failover",
        RECOVERY_DEADLINE,
        bound,
        || async {
            match cache.set(&key, b"after", TTL).await {
                Err(e) if !e.is_transient() => {
                    panic!("a non-transient error during failover: {}", chain(&e))
                }
                other => other?,
            }
            cache.get(&key).await
        },
    )
    .await;
    eprintln!(
        "sentinel failover: calls worked again {:?} after the kill",
        killed_at.elapsed()
    );
    assert_eq!(value.as_deref(), Some(&b"after"[..]));

    let promoted = tokio::task::block_in_place(|| deployment.wait_for_failover(&killed));
    assert_eq!(promoted, replica);
    let stored = deployment.data_node(&replica).command(&["GET", &key]);
    assert_eq!(stored, RespValue::Bulk(Some(b"after".to_vec())));
    let health = tokio::time::timeout(bound, cache.health()).await;
    assert!(
        matches!(health, Ok(Ok(()))),
        "health after failover: {:?}",
        health.map(|r| r.map_err(|e: CacheError| chain(&e)))
    );
}
