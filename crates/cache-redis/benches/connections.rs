//! How many connections per server, and whether a checkout pool helps: `GET`
//! of a 100-byte value at 1, 16 and 64 concurrent tasks, through
//!
//! - `RedisCache` with `pool_size` 1 and 4 (multiplexed `ConnectionManager`s,
//!   round-robin: what the crate ships);
//! - one bare redis-rs `ConnectionManager` (the floor: the cost of this
//!   crate's layer is the difference);
//! - deadpool-redis, a checkout per operation (`pool.get()` then `GET`), 64
//!   connections at most.
//!
//! Each sample runs `iters` GETs split over the tasks and reports the time per
//! GET, so throughput is tasks-independent: `ops/s = 1 / median`. Client and
//! server share the machine; compare figures of one run only.
//!
//! ```text
//! cargo bench -p cache-redis --bench connections -- --warm-up-time 1 --measurement-time 3
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_core::config::RedisConfig;
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redis::AsyncCommands as _;

const KEY: &str = "bench:connections:value";
const VALUE: [u8; 100] = [7; 100];
const TASKS: [u64; 3] = [1, 16, 64];

/// Runs `iters` calls of `op` split over `tasks` tasks and returns the elapsed time.
async fn spread<F, Fut>(iters: u64, tasks: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = iters.div_ceil(tasks);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a benchmark task panicked");
    }
    // Scale back to exactly `iters` operations.
    started.elapsed().mul_f64(iters as f64 / (per_task * tasks) as f64)
}

fn connections(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = RedisServer::start();
    let addr = server.addr();
    server.command(&["SET", KEY, std::str::from_utf8(&VALUE).expect("ASCII")]);

    let cache = |pool_size: usize| {
        let mut config = RedisConfig::default();
        config.addrs = vec![addr.clone()];
        config.pool_size = pool_size;
        let cache = runtime
            .block_on(RedisCache::connect(&config))
            .expect("connect");
        Arc::new(cache)
    };
    let cache_1 = cache(1);
    let cache_4 = cache(4);
    let manager = runtime
        .block_on(async {
            redis::Client::open(format!("redis://{addr}"))?
                .get_connection_manager()
                .await
        })
        .expect("a connection manager");
    let deadpool = {
        let mut config = deadpool_redis::Config::from_url(format!("redis://{addr}"));
        config.pool = Some(deadpool_redis::PoolConfig::new(64));
        config
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("a deadpool pool")
    };

    let mut group = c.benchmark_group("get_100b");
    group.throughput(Throughput::Elements(1));
    for tasks in TASKS {
        for (name, cache) in [("redis_cache_pool_1", &cache_1), ("redis_cache_pool_4", &cache_4)] {
            group.bench_with_input(BenchmarkId::new(name, tasks), &tasks, |b, &tasks| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let cache = Arc::clone(cache);
                    spread(iters, tasks, move || {
                        let cache = Arc::clone(&cache);
                        async move {
                            cache.get(KEY).await.expect("get");
                        }
                    })
                });
            });
        }
        group.bench_with_input(
            BenchmarkId::new("connection_manager_1", tasks),
            &tasks,
            |b, &tasks| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let manager = manager.clone();
                    spread(iters, tasks, move || {
                        let mut manager = manager.clone();
                        async move {
                            let _: Vec<u8> = manager.get(KEY).await.expect("get");
                        }
                    })
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("deadpool_get_per_op", tasks),
            &tasks,
            |b, &tasks| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let pool = deadpool.clone();
                    spread(iters, tasks, move || {
                        let pool = pool.clone();
                        async move {
                            let mut conn = pool.get().await.expect("a pooled connection");
                            let _: Vec<u8> = conn.get(KEY).await.expect("get");
                        }
                    })
                });
            },
        );
    }
    group.finish();
    drop(server);
}

criterion_group!(benches, connections);
criterion_main!(benches);
