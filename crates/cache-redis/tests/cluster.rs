//! `RedisCache` against a real Redis Cluster (3 primaries, 3 replicas, see
//! `cache_testing::server::RedisCluster`): the whole conformance suite,
//! operations that must visit every shard, and recovery from a failover.
//!
//! The conformance checks and the shard tests share one cluster
//! (`RedisCluster::shared`, killed when the binary exits) (each works
//! in its own random namespace); the failover test kills a primary, so it has
//! a cluster of its own. Runs against Valkey too:
//! `CACHE_TEST_REDIS_SERVER=valkey-server CACHE_TEST_REDIS_CLI=valkey-cli`.

mod harness_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{Cache, ScanCursor};
use cache_redis::RedisCache;
use cache_redis::{RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, key_slot};
use harness_support::{RECOVERY_DEADLINE, chain, eventually, namespace};

const TTL: Duration = Duration::from_secs(120);

fn cluster_config(cluster: &RedisCluster) -> RedisConfig {
    let mut config = harness_support::config(cluster.seed_addrs());
    config.mode = RedisMode::Cluster;
    config
}

async fn connect(cluster: &RedisCluster) -> RedisCache {
    RedisCache::connect(&cluster_config(cluster))
        .await
        .unwrap_or_else(|e| panic!("connect to the cluster: {}", chain(&e)))
}

/// A fresh `RedisCache` per check, all on the binary's shared cluster.
async fn make_cache() -> Arc<dyn Cache> {
    let cluster = tokio::task::block_in_place(RedisCluster::shared);
    Arc::new(connect(cluster).await)
}

mod conformance {
    cache_testing::conformance_tests!(super::make_cache);
}

/// The shared cluster, started off the async workers (the harness blocks).
fn shared_cluster() -> &'static RedisCluster {
    tokio::task::block_in_place(RedisCluster::shared)
}

/// `count` keys under `prefix` that together fall on every primary.
fn keys_on_every_shard(cluster: &RedisCluster, prefix: &str, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let shards: BTreeSet<String> = keys
        .iter()
        .map(|k| cluster.primary_of(key_slot(k)))
        .collect();
    assert_eq!(
        shards.len(),
        cluster.primaries().len(),
        "{count} keys should cover every shard"
    );
    keys
}

/// A client of the shared cluster, a fresh namespace for `test`, and `count`
/// keys under it spread over every shard.
async fn keys_across_shards(test: &str, count: usize) -> (RedisCache, String, Vec<String>) {
    let cluster = shared_cluster();
    let ns = namespace(test);
    let keys = keys_on_every_shard(cluster, &ns, count);
    (connect(cluster).await, ns, keys)
}

/// The keys matching `pattern` on each primary, by primary.
fn keys_by_primary(cluster: &RedisCluster, pattern: &str) -> BTreeMap<String, Vec<String>> {
    cluster
        .primaries()
        .into_iter()
        .map(|p| {
            let keys = cluster.keys_on(&p, pattern);
            (p, keys)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pattern_removes_matching_keys_from_every_shard_and_nothing_else() {
    let cluster = shared_cluster();
    let cache = connect(cluster).await;
    let ns = namespace("pattern");
    let doomed = keys_on_every_shard(cluster, &format!("{ns}doomed:"), 300);
    let kept = keys_on_every_shard(cluster, &format!("{ns}kept:"), 300);
    for key in doomed.iter().chain(&kept) {
        cache.set(key, b"v", TTL).await.unwrap();
    }
    let before = keys_by_primary(cluster, &format!("{ns}doomed:*"));
    assert!(
        before.values().all(|keys| !keys.is_empty()),
        "every shard holds doomed keys: {before:?}"
    );

    let deleted = cache
        .delete_pattern(&format!("{ns}doomed:*"))
        .await
        .unwrap();

    assert_eq!(deleted, 300);
    let after = keys_by_primary(cluster, &format!("{ns}doomed:*"));
    assert!(
        after.values().all(Vec::is_empty),
        "doomed keys left: {after:?}"
    );
    let survivors: BTreeSet<String> = keys_by_primary(cluster, &format!("{ns}kept:*"))
        .into_values()
        .flatten()
        .collect();
    assert_eq!(survivors, kept.iter().cloned().collect::<BTreeSet<_>>());
    cache.delete_pattern(&format!("{ns}*")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_keys_pages_through_every_shard_returning_each_key_once() {
    let (cache, ns, keys) = keys_across_shards("scan", 500).await;
    let pairs: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
    cache.set_many(&pairs, TTL).await.unwrap();

    let mut listed = Vec::new();
    let mut cursor = ScanCursor::start();
    let mut pages = 0;
    loop {
        let page = cache
            .scan_keys(&format!("{ns}*"), &cursor, 50)
            .await
            .unwrap();
        pages += 1;
        assert!(pages < 10_000, "the iteration does not end");
        listed.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }

    assert!(
        pages > 3,
        "500 keys in pages of about 50 took {pages} page(s)"
    );
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a key was listed twice");
    assert_eq!(
        unique,
        keys.iter().collect::<BTreeSet<_>>(),
        "listed keys differ from the written ones"
    );
    cache.delete_pattern(&format!("{ns}*")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_calls_span_slots_and_keep_the_callers_order() {
    let (cache, _, keys) = keys_across_shards("batch", 200).await;
    let written: Vec<(&str, Vec<u8>)> = keys
        .iter()
        .step_by(2)
        .map(|k| (k.as_str(), k.as_bytes().to_vec()))
        .collect();
    let pairs: Vec<(&str, &[u8])> = written.iter().map(|(k, v)| (*k, v.as_slice())).collect();

    cache.set_many(&pairs, TTL).await.unwrap();
    let asked: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = cache.get_many(&asked).await.unwrap();

    for (i, (key, value)) in keys.iter().zip(&values).enumerate() {
        let expected = (i % 2 == 0).then_some(key.as_bytes());
        assert_eq!(value.as_deref(), expected, "value of {key} at position {i}");
    }
    assert_eq!(cache.delete_many(&asked).await.unwrap(), 100);
    let after = cache.get_many(&asked).await.unwrap();
    assert_eq!(after, vec![None; asked.len()], "every key is deleted");
}

/// Counts of a load loop's outcomes.
#[derive(Default)]
struct LoadCounts {
    ok: AtomicU64,
    transient: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_recover_after_a_primary_is_killed_and_its_replica_takes_over() {
    // The harness is blocking: run it off the async workers' hot path.
    let mut cluster = tokio::task::block_in_place(RedisCluster::start);
    let config = cluster_config(&cluster);
    let cache = Arc::new(connect(&cluster).await);
    let ns = namespace("failover");
    let victim_key = format!("{ns}victim");
    let victim = cluster.primary_of(key_slot(&victim_key));
    let [replica] = <[String; 1]>::try_from(cluster.replicas_of(&victim)).unwrap();
    cache.set(&victim_key, b"before", TTL).await.unwrap();

    // Traffic on every shard while the primary dies. A call may fail while its
    // slot has no primary, but only with a transient error, and never hang.
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(LoadCounts::default());
    let bound = config.command_timeout * 3;
    let load = {
        let (cache, stop, counts, ns) = (cache.clone(), stop.clone(), counts.clone(), ns.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("{ns}load:{}", i % 64);
                i += 1;
                let call = async {
                    cache.set(&key, b"x", TTL).await?;
                    cache.get(&key).await.map(|_| ())
                };
                match tokio::time::timeout(bound, call).await {
                    Ok(Ok(())) => counts.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(e)) if e.is_transient() => {
                        counts.transient.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok(Err(e)) => panic!("a non-transient error during failover: {}", chain(&e)),
                    Err(_) => panic!("a call hung for {bound:?} during failover"),
                };
            }
        })
    };
    let progress = |counts: Arc<LoadCounts>, above: u64| async move {
        let done = counts.ok.load(Ordering::Relaxed);
        if done > above {
            Ok(done)
        } else {
            Err(format!(
                "{done} successful calls, waiting for more than {above}"
            ))
        }
    };
    eventually("load before the crash", RECOVERY_DEADLINE, bound, || {
        progress(counts.clone(), 10)
    })
    .await;

    tokio::task::block_in_place(|| cluster.kill_node(&victim));
    let killed_at = tokio::time::Instant::now();
    let ok_at_kill = counts.ok.load(Ordering::Relaxed);

    let value = eventually(
        "a write and read in the killed primary's slot",
        RECOVERY_DEADLINE,
        bound,
        || async {
            cache.set(&victim_key, b"after", TTL).await?;
            cache.get(&victim_key).await
        },
    )
    .await;
    let recovered_after = killed_at.elapsed();
    assert_eq!(value.as_deref(), Some(&b"after"[..]));
    let successor = tokio::task::block_in_place(|| cluster.wait_for_failover(&victim));
    assert_eq!(successor, replica, "the killed primary's replica took over");
    assert_eq!(cluster.primary_of(key_slot(&victim_key)), replica);
    eventually("load after recovery", RECOVERY_DEADLINE, bound, || {
        progress(counts.clone(), ok_at_kill + 50)
    })
    .await;

    stop.store(true, Ordering::Relaxed);
    load.await.expect("the load loop ends without panicking");
    let transient = counts.transient.load(Ordering::Relaxed);
    eprintln!(
        "cluster failover: the slot answered again {recovered_after:?} after the kill; \
         {transient} transient failures in the load loop"
    );
}
