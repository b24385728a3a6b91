//! The lock cycle on the server's native conditional commands against the Lua
//! scripts: acquire (`compare_and_set(key, None, ..)`, `SET NX PX` on both
//! paths), renew (`compare_and_set(key, Some(token), ..)`: `SET … IFEQ` or
//! a script) and release (`compare_and_delete`: `DELIFEQ`/`DELEX` or a
//! script), at 1 and 16 concurrent tasks, each on a lock of its own.
//!
//! The native path needs Valkey 8.1+/9.0+ (or Redis 8.4+ for the release):
//! point the harness at one, as `scripts/test-valkey.sh` does. On an older
//! server only the Lua rows run. Variants are interleaved (every round runs
//! each pair once, shuffled) and the table shows the median and quartiles of
//! the rounds' cycles per second, and the ratio of the medians.
//!
//! ```text
//! CACHE_TEST_REDIS_SERVER=$(scripts/install-valkey.sh) \
//!     cargo bench -p cache-redis --bench lock_cycle -- 15
//! ```

mod support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use cache_redis::{ConnectOptions, RedisCache, RedisConfig};
use cache_testing::server::RedisServer;

const TASKS: [usize; 2] = [1, 16];
/// Lock cycles per sample, per task count.
const CYCLES_PER_SAMPLE: [usize; 2] = [1_000, 4_000];
const DEFAULT_ROUNDS: usize = 15;
const TTL: Duration = Duration::from_secs(30);

/// One acquire, renew, release cycle on `key`.
async fn cycle(cache: &RedisCache, key: &str) {
    let token = b"holder-token-0123456789abcdef";
    let renewed = b"holder-token-0123456789abcdeg";
    assert!(
        cache
            .compare_and_set(key, None, token, TTL)
            .await
            .expect("acquire")
    );
    assert!(
        cache
            .compare_and_set(key, Some(token), renewed, TTL)
            .await
            .expect("renew")
    );
    assert!(
        cache
            .compare_and_delete(key, renewed)
            .await
            .expect("release")
    );
}

/// Runs `cycles` lock cycles split over `tasks` tasks, each on a lock of its
/// own; returns cycles per second.
async fn sample(cache: &Arc<RedisCache>, tasks: usize, cycles: usize) -> f64 {
    let cache = Arc::clone(cache);
    support::per_second(tasks, cycles, move |task| {
        let cache = Arc::clone(&cache);
        async move { cycle(&cache, &format!("bench:lock:{task}")).await }
    })
    .await
}

fn main() {
    let rounds = support::rounds_arg(DEFAULT_ROUNDS);
    let runtime = support::runtime();
    let server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];

    let variants: Vec<(String, Arc<RedisCache>)> = runtime.block_on(async {
        let native = RedisCache::connect(&config).await.expect("connect");
        let lua = RedisCache::connect_with(
            &config,
            ConnectOptions::default().force_lua_conditionals(true),
        )
        .await
        .expect("connect");
        let (engine, version) = native.server_version().unwrap_or(("?", "?".into()));
        println!(
            "{engine} {version}: renew by {}, release by {}",
            native.compare_and_set_command(),
            native.compare_and_delete_command()
        );
        let mut variants = vec![("lua".to_owned(), Arc::new(lua))];
        if (
            native.compare_and_set_command(),
            native.compare_and_delete_command(),
        ) != ("Lua", "Lua")
        {
            let name = format!(
                "native ({} + {})",
                native.compare_and_set_command(),
                native.compare_and_delete_command()
            );
            variants.insert(0, (name, Arc::new(native)));
        }
        variants
    });

    let mut results = runtime.block_on(support::interleaved_rounds(
        variants.len(),
        &TASKS,
        &CYCLES_PER_SAMPLE,
        rounds,
        |v, tasks, work| sample(&variants[v].1, tasks, work),
    ));

    println!(
        "lock cycle (acquire, renew, release), {rounds} interleaved rounds, cycles/s: median [p25 .. p75]"
    );
    println!("{:<32} {:>28} {:>28}", "path", "1 task", "16 tasks");
    let mut medians = Vec::new();
    for (v, (name, _)) in variants.iter().enumerate() {
        let cells: Vec<String> = results[v]
            .iter_mut()
            .map(|samples| {
                samples.sort_by(f64::total_cmp);
                support::quartiles_cell(samples)
            })
            .collect();
        medians.push(
            results[v]
                .iter()
                .map(|s| support::quantile(s, 0.5))
                .collect::<Vec<_>>(),
        );
        println!("{name:<32} {:>28} {:>28}", cells[0], cells[1]);
    }
    if medians.len() == 2 {
        println!(
            "{:<32} {:>28.2} {:>28.2}",
            "native / lua (medians)",
            medians[0][0] / medians[1][0],
            medians[0][1] / medians[1][1]
        );
    }
    drop(server);
}
