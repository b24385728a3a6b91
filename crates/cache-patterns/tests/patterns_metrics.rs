//! The scripted scenarios, counted exactly by a debugging recorder
//! local to each test, on the in-memory backend and on a real `redis-server`:
//! a hit, a miss, a stale serve and a coalesced load (cache-aside), a
//! contended lock, a denied rate limit, idempotent replays, and a
//! write-behind flush with its queue-depth gauge.

mod patterns_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::metrics::names;
use cache_core::{Cache, RateLimitRule};
use cache_memory::MemoryCache;
use cache_patterns::idempotency::Claim;
use cache_patterns::write::{StoreError, WriteBehind, WriteStore};
use cache_patterns::{CacheAside, DistributedLock, Idempotency, RateLimiter};
use cache_testing::metrics::{MetricsCapture, MetricsSnapshot};
use cache_testing::server::RedisServer;
use parking_lot::Mutex;
use patterns_support::{ManualClock, eventually};

const TTL: Duration = Duration::from_secs(60);

type LoadResult<T> = Result<T, std::io::Error>;

/// Runs every scenario on `cache` (built inside the recorder by `connect`)
/// and returns what was recorded.
fn run_scenarios<F, Fut>(connect: F) -> MetricsSnapshot
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Arc<dyn Cache>>,
{
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = connect().await;
        aside_scenario(&cache).await;
        lock_scenario(&cache).await;
        rate_limit_scenario(&cache).await;
        idempotency_scenario(&cache).await;
        write_behind_scenario(&cache).await;
    });
    capture.snapshot()
}

async fn aside_scenario(cache: &Arc<dyn Cache>) {
    let clock = ManualClock::new();
    let aside = CacheAside::new(Arc::clone(cache))
        .soft_ttl(Duration::from_secs(10))
        .clock(clock.clock());
    // A miss that loads, then a hit.
    let v: u32 = aside
        .get_or_load("m:a", TTL, || async { LoadResult::Ok(1) })
        .await
        .unwrap();
    let again: u32 = aside
        .get_or_load("m:a", TTL, || async { LoadResult::Ok(2) })
        .await
        .unwrap();
    assert_eq!((v, again), (1, 1));
    // Past the soft TTL with a failing loader: the stale value is served.
    clock.advance(Duration::from_secs(11));
    let stale: u32 = aside
        .get_or_load("m:a", TTL, || async {
            LoadResult::Err(std::io::Error::other("db down"))
        })
        .await
        .unwrap();
    assert_eq!(stale, 1);
    // Two callers miss together: one loads (whichever reaches the flight
    // first), the other joins its load.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let gated = || {
        let gate = Arc::clone(&gate);
        move || async move {
            let _permit = gate.acquire().await.unwrap();
            LoadResult::Ok(7u32)
        }
    };
    let leader = aside.get_or_load("m:b", TTL, gated());
    let follower = aside.get_or_load("m:b", TTL, gated());
    let opener = async {
        eventually("both callers missed", || async {
            aside.stats().misses == 4
        })
        .await;
        gate.add_permits(2);
    };
    let (a, b, ()) = tokio::join!(leader, follower, opener);
    assert_eq!((a.unwrap(), b.unwrap()), (7, 7));
}

async fn lock_scenario(cache: &Arc<dyn Cache>) {
    let locks = DistributedLock::new(Arc::clone(cache));
    let held = locks
        .try_acquire("m:job", TTL)
        .await
        .unwrap()
        .expect("free");
    assert!(locks.try_acquire("m:job", TTL).await.unwrap().is_none());
    assert!(held.release().await.unwrap());
}

async fn rate_limit_scenario(cache: &Arc<dyn Cache>) {
    let limiter = RateLimiter::new(Arc::clone(cache), RateLimitRule::fixed(1, TTL));
    assert!(limiter.check("m:caller").await.unwrap().allowed);
    assert!(!limiter.check("m:caller").await.unwrap().allowed);
}

async fn idempotency_scenario(cache: &Arc<dyn Cache>) {
    let requests = Idempotency::new(Arc::clone(cache));
    let Claim::First(ticket) = requests.claim::<String>("m:req", None).await.unwrap() else {
        panic!("the first claim is first");
    };
    assert_eq!(
        requests.claim::<String>("m:req", None).await.unwrap(),
        Claim::InProgress
    );
    assert!(requests.complete(ticket, "done").await.unwrap());
    assert_eq!(
        requests.claim::<String>("m:req", None).await.unwrap(),
        Claim::Completed("done".to_owned())
    );
}

#[derive(Default)]
struct Rows(Mutex<HashMap<String, u64>>);

#[async_trait]
impl WriteStore<u64> for Rows {
    async fn write(&self, key: &str, value: &u64) -> Result<(), StoreError> {
        self.0.lock().insert(key.to_owned(), *value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().remove(key);
        Ok(())
    }
}

async fn write_behind_scenario(cache: &Arc<dyn Cache>) {
    let rows = Arc::new(Rows::default());
    let behind = WriteBehind::builder(Arc::clone(cache), rows.clone(), TTL)
        .flush_interval(Duration::from_secs(3600))
        .start();
    for (i, key) in ["m:w1", "m:w2", "m:w3"].into_iter().enumerate() {
        behind.write(key, i as u64).await.unwrap();
    }
    behind.write("m:w1", 10).await.unwrap(); // replaces the pending change
    assert_eq!(behind.queue_depth(), 3);
    behind.flush().await.unwrap();
    assert_eq!(rows.0.lock().len(), 3);
    behind.shutdown().await.unwrap();
}

fn assert_scenario_counts(snap: &MetricsSnapshot) {
    let aside = |outcome| {
        let labels = [("strategy", "cache_aside"), ("outcome", outcome)];
        snap.counter(names::ASIDE_REQUESTS, &labels)
    };
    let all = snap.describe();
    assert_eq!(aside("hit"), 1, "{all}");
    assert_eq!(aside("miss"), 4, "{all}");
    assert_eq!(aside("stale"), 1, "{all}");
    assert_eq!(aside("loaded"), 3, "{all}");
    assert_eq!(aside("load_error"), 1, "{all}");
    assert_eq!(aside("coalesced"), 1, "{all}");

    let acquired = [("outcome", "acquired")];
    assert_eq!(
        snap.counter(names::LOCK_ACQUISITIONS, &acquired),
        1,
        "{all}"
    );
    assert_eq!(snap.counter(names::LOCK_CONTENTION, &[]), 1, "{all}");

    let decision = |outcome| snap.counter(names::RATE_LIMIT_DECISIONS, &[("outcome", outcome)]);
    assert_eq!((decision("allowed"), decision("denied")), (1, 1), "{all}");

    let claim = |outcome| snap.counter(names::IDEMPOTENCY_REQUESTS, &[("outcome", outcome)]);
    assert_eq!(
        (claim("first"), claim("conflict"), claim("replay")),
        (1, 1, 1),
        "{all}"
    );

    let write = [("strategy", "write_behind"), ("outcome", "ok")];
    assert_eq!(snap.counter(names::WRITE_REQUESTS, &write), 4, "{all}");
    assert_eq!(snap.counter(names::WRITE_BEHIND_FLUSHED, &[]), 3, "{all}");
    assert_eq!(
        snap.gauge(names::WRITE_BEHIND_QUEUE_DEPTH, &[]),
        Some(0.0),
        "{all}"
    );
    assert_eq!(snap.counter(names::WRITE_BEHIND_DROPPED, &[]), 0, "{all}");

    // No key of the scenarios in any label.
    let labels = snap.label_values();
    assert!(labels.iter().all(|v| !v.starts_with("m:")), "{labels:?}");
}

#[test]
fn scenarios_are_counted_exactly_on_memory() {
    let snap = run_scenarios(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
    assert_scenario_counts(&snap);
    assert!(snap.counter(names::OPERATIONS, &[("db.system.name", "memory")]) > 0);
}

#[test]
fn scenarios_are_counted_exactly_on_redis() {
    let server = RedisServer::start();
    let snap = run_scenarios(|| async {
        let mut config = cache_redis::RedisConfig::default();
        config.addrs = vec![server.addr()];
        Arc::new(cache_redis::RedisCache::connect(&config).await.unwrap()) as Arc<dyn Cache>
    });
    assert_scenario_counts(&snap);
    assert!(snap.counter(names::OPERATIONS, &[("db.system.name", "redis")]) > 0);
}

#[test]
fn a_full_write_behind_queue_counts_a_dropped_write() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let behind = WriteBehind::builder(cache, Arc::new(Rows::default()), TTL)
            .capacity(1)
            .flush_interval(Duration::from_secs(3600))
            .when_full(cache_patterns::write::WhenFull::Reject)
            .start();
        behind.write("m:1", 1).await.unwrap();
        behind.write("m:2", 2).await.unwrap_err();
        behind.shutdown().await.unwrap();
    });
    let snap = capture.snapshot();
    assert_eq!(
        snap.counter(names::WRITE_BEHIND_DROPPED, &[("cause", "full")]),
        1
    );
    let error = [("strategy", "write_behind"), ("outcome", "error")];
    assert_eq!(snap.counter(names::WRITE_REQUESTS, &error), 1);
}
