//! `coalesce_gets` against real servers: concurrent `get`s queued behind one
//! in flight go out as one `MGET` (per slot in a cluster), same keys once,
//! with the semantics of `GET` (wrong type, errors, timeouts, cancellation).
//!
//! A queue is made deterministic by freezing the server (SIGSTOP) while the
//! first `get` is in flight, and waiting until the cache has counted every
//! queued call (a `get` is counted and queued in the same poll) before it
//! resumes. Counts of commands come from the server's `INFO commandstats`.

mod harness_support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Cache, CacheError, ErrorKind, Operation};
use cache_redis::{RedisCache, RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, RedisServer, key_slot};
use harness_support::chain;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(120);

/// Bound of every wait of these tests: far above any healthy figure.
const BOUND: Duration = Duration::from_secs(20);

fn coalescing(addrs: Vec<String>) -> RedisConfig {
    let mut config = harness_support::config(addrs);
    config.command_timeout = BOUND;
    config.coalesce_gets = true;
    config
}

async fn connect(config: &RedisConfig) -> RedisCache {
    RedisCache::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect: {}", chain(&e)))
}

fn signal(server: &RedisServer, signal: &str) {
    let pid = server.pid().expect("running").to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Waits until `cache` has counted `n` `get`s.
async fn counted_gets(cache: &RedisCache, n: u64) {
    let until = Instant::now() + BOUND;
    while cache.stats().ops(Operation::Get) < n {
        assert!(
            Instant::now() < until,
            "{n} gets not counted within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn spawn_get(cache: &RedisCache, key: &str) -> JoinHandle<cache_core::Result<Option<Bytes>>> {
    let (cache, key) = (cache.clone(), key.to_owned());
    tokio::spawn(async move { cache.get(&key).await })
}

/// Freezes `server`, sends `lead` (it occupies the lane), queues `queued`
/// behind it, and resumes: the queued calls' handles, in order.
async fn queue_behind_a_frozen_get(
    cache: &RedisCache,
    server: &RedisServer,
    lead: &str,
    queued: &[&str],
) -> (
    JoinHandle<cache_core::Result<Option<Bytes>>>,
    Vec<JoinHandle<cache_core::Result<Option<Bytes>>>>,
) {
    let before = cache.stats().ops(Operation::Get);
    signal(server, "-STOP");
    let lead = spawn_get(cache, lead);
    counted_gets(cache, before + 1).await;
    let queued: Vec<_> = queued.iter().map(|k| spawn_get(cache, k)).collect();
    counted_gets(cache, before + 1 + queued.len() as u64).await;
    signal(server, "-CONT");
    (lead, queued)
}

async fn outcome(
    handle: JoinHandle<cache_core::Result<Option<Bytes>>>,
) -> cache_core::Result<Option<Bytes>> {
    tokio::time::timeout(BOUND, handle)
        .await
        .expect("a get finished in time")
        .expect("a get task panicked")
}

/// `calls` of `command` on `server` since its last `CONFIG RESETSTAT`.
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info = server
        .command(&["INFO", "commandstats"])
        .as_text()
        .expect("INFO is text");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| {
            rest.split(',').next().unwrap().parse().expect("a count")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_gets_go_out_as_one_mget_and_same_keys_share_it() {
    let server = RedisServer::start();
    let cache = connect(&coalescing(vec![server.addr()])).await;
    for i in 0..6 {
        cache
            .set(&format!("k{i}"), format!("v{i}").as_bytes(), TTL)
            .await
            .unwrap();
    }
    server.command(&["CONFIG", "RESETSTAT"]);

    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k0", "k0", "absent"];
    let (lead, queued) = queue_behind_a_frozen_get(&cache, &server, "k5", &keys).await;

    assert_eq!(outcome(lead).await.unwrap().as_deref(), Some(&b"v5"[..]));
    for (key, handle) in keys.iter().zip(queued) {
        let expected = key.strip_prefix('k').map(|i| format!("v{i}").into_bytes());
        assert_eq!(
            outcome(handle).await.unwrap().map(|v| v.to_vec()),
            expected,
            "{key}"
        );
    }
    // The lead's GET, one MGET of the 7 distinct queued keys, and one GET
    // asking whether the nil of `absent` is a miss or another type.
    assert_eq!(calls(&server, "mget"), 1);
    assert_eq!(calls(&server, "get"), 2);
    let stats = cache.stats();
    // Each caller counts its own hit or miss: the lead and 8 queued hits.
    assert_eq!((stats.hits, stats.misses), (9, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_with_nothing_in_flight_is_one_get() {
    let server = RedisServer::start();
    let cache = connect(&coalescing(vec![server.addr()])).await;
    cache.set("k", b"v", TTL).await.unwrap();
    server.command(&["CONFIG", "RESETSTAT"]);

    for _ in 0..3 {
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }
    assert_eq!(cache.get("none").await.unwrap(), None);

    assert_eq!((calls(&server, "get"), calls(&server, "mget")), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_key_of_another_type_fails_as_get_does() {
    let server = RedisServer::start();
    let cache = connect(&coalescing(vec![server.addr()])).await;
    cache.set("text", b"v", TTL).await.unwrap();
    server.command(&["RPUSH", "list", "a"]);
    let mut plain = coalescing(vec![server.addr()]);
    plain.coalesce_gets = false;
    let plain = connect(&plain).await;
    let expected = plain.get("list").await.unwrap_err();
    assert_eq!(
        expected.kind(),
        ErrorKind::WrongType,
        "{}",
        chain(&expected)
    );

    let (lead, queued) =
        queue_behind_a_frozen_get(&cache, &server, "text", &["list", "text", "list"]).await;

    assert!(outcome(lead).await.unwrap().is_some());
    let mut queued = queued.into_iter();
    for key in ["list", "text", "list"] {
        let result = outcome(queued.next().unwrap()).await;
        if key == "list" {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), expected.kind(), "{}", chain(&err));
            assert_eq!(err.to_string(), expected.to_string());
        } else {
            assert_eq!(result.unwrap().as_deref(), Some(&b"v"[..]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_answers_each_caller_as_its_own_get_would() {
    let server = RedisServer::start();
    // A user confined to `app:*`: a batch with another key is refused as a
    // whole, a GET inside the prefix is not.
    server.command(&["ACL", "SETUSER", "app", "on", ">pw", "~app:*", "+@all"]);
    let mut config = coalescing(vec![server.addr()]);
    config.username = Some("app".to_owned());
    config.password = Some(cache_core::config::Secret::new("pw"));
    let cache = connect(&config).await;
    cache.set("app:a", b"1", TTL).await.unwrap();
    cache.set("app:b", b"2", TTL).await.unwrap();

    let (lead, queued) =
        queue_behind_a_frozen_get(&cache, &server, "app:a", &["app:b", "other:c"]).await;

    assert_eq!(outcome(lead).await.unwrap().as_deref(), Some(&b"1"[..]));
    let mut queued = queued.into_iter();
    let permitted = outcome(queued.next().unwrap()).await;
    assert_eq!(permitted.unwrap().as_deref(), Some(&b"2"[..]));
    let err = outcome(queued.next().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{}", chain(&err));
    assert!(err.to_string().contains("\"other:c\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_fails_every_queued_caller() {
    let mut server = RedisServer::start();
    let mut config = coalescing(vec![server.addr()]);
    config.command_timeout = Duration::from_secs(2);
    let cache = connect(&config).await;

    signal(&server, "-STOP");
    let lead = spawn_get(&cache, "a");
    counted_gets(&cache, 1).await;
    let queued: Vec<_> = ["b", "c"].iter().map(|k| spawn_get(&cache, k)).collect();
    counted_gets(&cache, 3).await;
    tokio::task::block_in_place(|| server.stop());

    for (key, handle) in ["a", "b", "c"]
        .into_iter()
        .zip(std::iter::once(lead).chain(queued))
    {
        // A connection error names the endpoint, as a lone GET's does.
        let err = outcome(handle).await.unwrap_err();
        assert!(err.is_transient(), "{key}: {}", chain(&err));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_callers_time_out_on_their_own_deadline_and_the_lane_recovers() {
    let server = RedisServer::start();
    let mut config = coalescing(vec![server.addr()]);
    config.command_timeout = Duration::from_millis(300);
    let cache = connect(&config).await;
    cache.set("a", b"1", TTL).await.unwrap();

    signal(&server, "-STOP");
    let lead = spawn_get(&cache, "a");
    counted_gets(&cache, 1).await;
    let queued: Vec<_> = ["b", "a"].iter().map(|k| spawn_get(&cache, k)).collect();
    for (key, handle) in ["a", "b", "a"]
        .into_iter()
        .zip(std::iter::once(lead).chain(queued))
    {
        let err = outcome(handle).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{key}: {}", chain(&err));
        assert!(err.to_string().contains(&format!("\"{key}\"")), "{err}");
    }
    signal(&server, "-CONT");

    let value = harness_support::eventually("a get after the resume", BOUND, BOUND, || {
        let cache = cache.clone();
        async move { cache.get("a").await }
    })
    .await;
    assert_eq!(value.as_deref(), Some(&b"1"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_first_get_does_not_strand_the_queue_behind_it() {
    let server = RedisServer::start();
    let cache = connect(&coalescing(vec![server.addr()])).await;
    cache.set("b", b"2", TTL).await.unwrap();

    signal(&server, "-STOP");
    let lead = spawn_get(&cache, "a");
    counted_gets(&cache, 1).await;
    let queued = spawn_get(&cache, "b");
    counted_gets(&cache, 2).await;
    lead.abort();
    signal(&server, "-CONT");

    assert_eq!(outcome(queued).await.unwrap().as_deref(), Some(&b"2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_gets_each_get_their_own_value() {
    let server = RedisServer::start();
    let cache = connect(&coalescing(vec![server.addr()])).await;
    let keys: Vec<String> = (0..200).map(|i| format!("many:{i}")).collect();
    for key in keys.iter().step_by(2) {
        cache.set(key, key.as_bytes(), TTL).await.unwrap();
    }
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (cache, keys) = (cache.clone(), keys.clone());
            tokio::spawn(async move {
                for round in 0..20 {
                    let i = (t * 7 + round * 13) % keys.len();
                    let value = cache.get(&keys[i]).await?;
                    let expected = (i % 2 == 0).then(|| keys[i].as_bytes().to_vec());
                    assert_eq!(value.map(|v| v.to_vec()), expected, "{}", keys[i]);
                }
                Ok::<_, CacheError>(())
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(BOUND, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// A dedicated cluster whose node timeout outlasts the freezes (no failover).
fn cluster() -> RedisCluster {
    tokio::task::block_in_place(|| {
        RedisCluster::builder()
            .node_timeout(Duration::from_secs(60))
            .start()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_gets_queue_per_slot_and_other_slots_do_not_wait() {
    let cluster = cluster();
    let mut config = coalescing(cluster.seed_addrs());
    config.mode = RedisMode::Cluster;
    let cache = Arc::new(connect(&config).await);
    let (frozen, free) = ("{a}k", "{b}k");
    let frozen_node = cluster.primary_of(key_slot(frozen));
    // A key of another slot on another primary.
    let other = (0..)
        .map(|i| format!("{free}{i}"))
        .find(|k| cluster.primary_of(key_slot(k)) != frozen_node)
        .unwrap();
    for key in ["{a}k1", "{a}k2", "{a}list", other.as_str()] {
        if key.ends_with("list") {
            cluster.node(&frozen_node).command(&["RPUSH", key, "x"]);
        } else {
            cache.set(key, key.as_bytes(), TTL).await.unwrap();
        }
    }
    let node = cluster.node(&frozen_node);
    node.command(&["CONFIG", "RESETSTAT"]);

    let before = cache.stats().ops(Operation::Get);
    signal(node, "-STOP");
    let lead = spawn_get(&cache, "{a}k1");
    counted_gets(&cache, before + 1).await;
    let queued: Vec<_> = ["{a}k1", "{a}k2", "{a}list", "{a}none"]
        .iter()
        .map(|k| spawn_get(&cache, k))
        .collect();
    counted_gets(&cache, before + 5).await;
    // Another slot has nothing in flight: it answers while {a} is frozen.
    assert_eq!(
        outcome(spawn_get(&cache, &other)).await.unwrap().as_deref(),
        Some(other.as_bytes())
    );
    signal(node, "-CONT");

    assert_eq!(outcome(lead).await.unwrap().as_deref(), Some(&b"{a}k1"[..]));
    let mut queued = queued.into_iter();
    for key in ["{a}k1", "{a}k2"] {
        let value = outcome(queued.next().unwrap()).await.unwrap();
        assert_eq!(value.as_deref(), Some(key.as_bytes()));
    }
    let err = outcome(queued.next().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType, "{}", chain(&err));
    assert_eq!(outcome(queued.next().unwrap()).await.unwrap(), None);
    // The lead's GET, one MGET of the four queued keys, and a GET for each
    // of the two nils.
    assert_eq!(calls(node, "mget"), 1);
    assert_eq!(calls(node, "get"), 3);
}

/// The whole contract with coalescing on, on one shared server.
mod conformance {
    use std::sync::Arc;

    use async_trait::async_trait;
    use cache_core::Cache;
    use cache_testing::conformance::CacheFactory;
    use cache_testing::server::RedisServer;

    use super::harness_support::shared_server;

    struct Coalescing {
        server: Arc<RedisServer>,
    }

    #[async_trait]
    impl CacheFactory for Coalescing {
        async fn make(&self) -> Arc<dyn Cache> {
            Arc::new(super::connect(&super::coalescing(vec![self.server.addr()])).await)
        }
    }

    cache_testing::conformance_tests!(Coalescing {
        server: shared_server()
    });
}
