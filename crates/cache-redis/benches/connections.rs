//! How many connections per server, and whether a checkout pool helps: `GET`
//! of a 100-byte value at 1, 16 and 64 concurrent tasks, through
//!
//! - `redis_cache_pool_1` / `redis_cache_pool_4`: `RedisCache` with
//!   `pool_size` 1 and 4 (multiplexed `ConnectionManager`s, round-robin);
//! - `connection_manager_1`: one bare redis-rs `ConnectionManager`, the floor
//!   (the cost of this crate's layer is the difference);
//! - `deadpool_get_per_op`: deadpool-redis with a checkout per operation
//!   (`pool.get()` then `GET`), at most 64 connections.
//!
//! Client and server share a small machine with whatever else runs on it, so
//! the variants are **interleaved**: every round runs each (variant, tasks)
//! pair once, for a fixed number of GETs, in a shuffled order, and the table
//! shows the median and the quartiles of the rounds' throughputs. Load that
//! comes and goes then hits every variant alike instead of whichever ran at
//! the time. Not a criterion bench for that reason: criterion measures one
//! benchmark after another.
//!
//! ```text
//! cargo bench -p cache-redis --bench connections            # 15 rounds
//! cargo bench -p cache-redis --bench connections -- 30      # 30 rounds
//! ```

mod support;

use std::sync::Arc;

use cache_core::Cache;
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::RedisServer;
use redis::AsyncCommands as _;

const KEY: &str = "bench:connections:value";
const VALUE: [u8; 100] = [b'v'; 100];
const TASKS: [usize; 3] = [1, 16, 64];
/// GETs per sample, per task count: enough for ~50-200 ms per sample.
const OPS_PER_SAMPLE: [usize; 3] = [2_000, 10_000, 20_000];
const DEFAULT_ROUNDS: usize = 15;

/// The clients under test.
#[derive(Clone)]
enum Client {
    Cache(Arc<RedisCache>),
    Manager(redis::aio::ConnectionManager),
    Deadpool(deadpool_redis::Pool),
}

impl Client {
    async fn get(&self) {
        match self {
            Client::Cache(cache) => {
                cache.get(KEY).await.expect("get");
            }
            Client::Manager(manager) => {
                let _: Vec<u8> = manager.clone().get(KEY).await.expect("get");
            }
            Client::Deadpool(pool) => {
                let mut conn = pool.get().await.expect("a pooled connection");
                let _: Vec<u8> = conn.get(KEY).await.expect("get");
            }
        }
    }
}

/// Runs `ops` GETs split over `tasks` tasks; returns GETs per second.
async fn sample(client: &Client, tasks: usize, ops: usize) -> f64 {
    let client = client.clone();
    support::per_second(tasks, ops, move |_| {
        let client = client.clone();
        async move { client.get().await }
    })
    .await
}

fn main() {
    let rounds = support::rounds_arg(DEFAULT_ROUNDS);
    let runtime = support::runtime();
    let server = RedisServer::start();
    let addr = server.addr();
    server.command(&["SET", KEY, std::str::from_utf8(&VALUE).expect("ASCII")]);

    let clients: Vec<(&str, Client)> = runtime.block_on(async {
        let cache = |pool_size: usize| {
            let mut config = RedisConfig::default();
            config.addrs = vec![addr.clone()];
            config.pool_size = pool_size;
            async move { Arc::new(RedisCache::connect(&config).await.expect("connect")) }
        };
        let manager = redis::Client::open(format!("redis://{addr}"))
            .expect("a client")
            .get_connection_manager()
            .await
            .expect("a connection manager");
        let mut deadpool = deadpool_redis::Config::from_url(format!("redis://{addr}"));
        deadpool.pool = Some(deadpool_redis::PoolConfig::new(64));
        let deadpool = deadpool
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("a deadpool pool");
        vec![
            ("redis_cache_pool_1", Client::Cache(cache(1).await)),
            ("redis_cache_pool_4", Client::Cache(cache(4).await)),
            ("connection_manager_1", Client::Manager(manager)),
            ("deadpool_get_per_op", Client::Deadpool(deadpool)),
        ]
    });

    let mut results = runtime.block_on(support::interleaved_rounds(
        clients.len(),
        &TASKS,
        &OPS_PER_SAMPLE,
        rounds,
        |v, tasks, work| sample(&clients[v].1, tasks, work),
    ));

    println!("GET 100 B, {rounds} interleaved rounds, ops/s: median [p25 .. p75]");
    println!(
        "{:<22} {:>28} {:>28} {:>28}",
        "client", "1 task", "16 tasks", "64 tasks"
    );
    for (c, (name, _)) in clients.iter().enumerate() {
        let cells: Vec<String> = results[c]
            .iter_mut()
            .map(|samples| {
                samples.sort_by(f64::total_cmp);
                support::quartiles_cell(samples)
            })
            .collect();
        println!(
            "{name:<22} {:>28} {:>28} {:>28}",
            cells[0], cells[1], cells[2]
        );
    }
    drop(server);
}
