//! Lock acquire + release round trips per second against a local Redis
//! started for the run (never the one on 6379), for a bounded time.
//!
//! Scenarios, each for `PATTERNS_BENCH_SECS` seconds (default 3):
//! - `uncontended`: N tasks, each on its own key (`try_acquire` + `release`:
//!   two round trips per cycle);
//! - `uncontended_fenced`: the same with fencing tokens (four round trips);
//! - `contended`: N tasks on one key, waiting with backoff (`with_lock`).
//!
//! ```text
//! cargo bench -p workspace-tests --bench patterns_lock_redis
//! PATTERNS_BENCH_SECS=5 cargo bench -p workspace-tests --bench patterns_lock_redis
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Cache, TypedCacheExt};
use cache_patterns::lock::{Backoff, DistributedLock};
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::RedisServer;

const TTL: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
enum Scenario {
    Uncontended,
    UncontendedFenced,
    Contended,
}

async fn run(cache: Arc<dyn Cache>, scenario: Scenario, tasks: usize, secs: u64) -> f64 {
    let mut locks = DistributedLock::new(cache)
        .wait(Duration::from_secs(30))
        .backoff(Backoff::new(
            Duration::from_micros(100),
            Duration::from_millis(2),
        ));
    if matches!(scenario, Scenario::UncontendedFenced) {
        locks = locks.fencing(true);
    }
    let cycles = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (locks, cycles) = (locks.clone(), cycles.clone());
        handles.push(tokio::spawn(async move {
            let own_key = format!("bench:{task}");
            while Instant::now() < until {
                match scenario {
                    Scenario::Uncontended | Scenario::UncontendedFenced => {
                        let guard = locks.try_acquire(&own_key, TTL).await.unwrap().unwrap();
                        assert!(guard.release().await.unwrap());
                    }
                    Scenario::Contended => {
                        locks
                            .with_lock("bench:shared", TTL, |_| async {})
                            .await
                            .unwrap();
                    }
                }
                cycles.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    cycles.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: a
    // timed run does not belong in the test suite.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("patterns_lock_redis: measurement skipped (run it with `cargo bench`)");
        return;
    }
    let secs: u64 = std::env::var("PATTERNS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = RedisConfig::default();
        config.addrs = vec![server.addr()];
        let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(&config).await.unwrap());
        // Warm the connections and the scripts.
        cache.set_as("bench:warm", &1u8, TTL).await.unwrap();
        let _ = run(cache.clone(), Scenario::Uncontended, 1, 1).await;
        println!(
            "lock acquire+release cycles per second, {secs} s each, redis at {}",
            server.addr()
        );
        println!("| scenario | tasks | cycles/s |");
        println!("| --- | --- | --- |");
        for scenario in [
            Scenario::Uncontended,
            Scenario::UncontendedFenced,
            Scenario::Contended,
        ] {
            for tasks in [1, 16] {
                let rate = run(cache.clone(), scenario, tasks, secs).await;
                println!("| {scenario:?} | {tasks} | {rate:.0} |");
            }
        }
    });
}
