//! Sets and hashes on Redis against plain `get`/`set`, at 1 and 16 tasks:
//! the reads are one command (`SISMEMBER`, `HMGET`), the writes that may
//! create a key one Lua script (`SADD`/`HSET`/`HINCRBY` then `PEXPIRE` when
//! the key has none), so the question is what the script costs over a plain
//! `SET … PX`. Each task works on a set and a hash of its own, of 1,000
//! members/fields. Variants are interleaved (every round runs each pair
//! once, shuffled); the table shows the median and quartiles of the rounds'
//! calls per second and the ratio to the plain call of the same kind.
//!
//! ```text
//! cargo bench -p cache-redis --bench collections -- 15
//! ```

mod support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use cache_redis::{RedisCache, RedisConfig};
use cache_testing::server::RedisServer;

const TASKS: [usize; 2] = [1, 16];
/// Calls per sample, per task count.
const CALLS_PER_SAMPLE: [usize; 2] = [2_000, 8_000];
const DEFAULT_ROUNDS: usize = 15;
const TTL: Duration = Duration::from_secs(300);
const MEMBERS: usize = 1_000;

/// The calls measured; the first of each kind is its baseline.
#[derive(Debug, Clone, Copy)]
enum Call {
    Get,
    SetContains,
    HashGet,
    Set,
    SetAdd,
    HashSet,
    HashIncrBy,
}

const CALLS: [Call; 7] = [
    Call::Get,
    Call::SetContains,
    Call::HashGet,
    Call::Set,
    Call::SetAdd,
    Call::HashSet,
    Call::HashIncrBy,
];

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Get => "get (GET)",
            Call::SetContains => "set_contains (SISMEMBER)",
            Call::HashGet => "hash_get, 1 field (HMGET)",
            Call::Set => "set (SET PX)",
            Call::SetAdd => "set_add, 1 member (Lua)",
            Call::HashSet => "hash_set, 1 field (Lua)",
            Call::HashIncrBy => "hash_incr_by (Lua)",
        }
    }

    /// The index in [`CALLS`] of the plain call this one compares with.
    fn baseline(self) -> usize {
        match self {
            Call::Get | Call::SetContains | Call::HashGet => 0,
            _ => 3,
        }
    }

    async fn run(self, cache: &RedisCache, task: usize, i: usize) {
        let s = cache.collections().expect("RedisCache has collections");
        let member = format!("m{}", i % MEMBERS);
        let (plain, set, hash) = keys(task);
        match self {
            Call::Get => drop(cache.get(&plain).await.expect("get")),
            Call::SetContains => drop(
                s.set_contains(&set, member.as_bytes())
                    .await
                    .expect("sismember"),
            ),
            Call::HashGet => drop(s.hash_get(&hash, &[&member]).await.expect("hmget")),
            Call::Set => cache.set(&plain, b"value", TTL).await.expect("set"),
            Call::SetAdd => drop(
                s.set_add(&set, &[member.as_bytes()], TTL)
                    .await
                    .expect("set_add"),
            ),
            Call::HashSet => drop(
                s.hash_set(&hash, &[(&member, b"value")], TTL)
                    .await
                    .expect("hash_set"),
            ),
            Call::HashIncrBy => drop(s.hash_incr_by(&hash, "n", 1, TTL).await.expect("hincrby")),
        }
    }
}

/// A task's plain key, set and hash.
fn keys(task: usize) -> (String, String, String) {
    (
        format!("bench:coll:{task}:plain"),
        format!("bench:coll:{task}:set"),
        format!("bench:coll:{task}:hash"),
    )
}

async fn sample(cache: &Arc<RedisCache>, call: Call, tasks: usize, calls: usize) -> f64 {
    let cache = Arc::clone(cache);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    support::per_second(tasks, calls, move |task| {
        let (cache, counter) = (Arc::clone(&cache), Arc::clone(&counter));
        async move {
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            call.run(&cache, task, i).await;
        }
    })
    .await
}

fn main() {
    let rounds = support::rounds_arg(DEFAULT_ROUNDS);
    let runtime = support::runtime();
    let server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    let cache = runtime.block_on(async {
        let cache = Arc::new(RedisCache::connect(&config).await.expect("connect"));
        let s = cache.collections().unwrap();
        let members: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
        let refs: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        let fields: Vec<(&str, &[u8])> = members
            .iter()
            .map(|m| (m.as_str(), &b"value"[..]))
            .collect();
        for task in 0..TASKS[TASKS.len() - 1] {
            let (plain, set, hash) = keys(task);
            cache.set(&plain, b"value", TTL).await.expect("set");
            s.set_add(&set, &refs, TTL).await.expect("fill the set");
            s.hash_set(&hash, &fields, TTL)
                .await
                .expect("fill the hash");
        }
        let (engine, version) = cache.server_version().unwrap_or(("?", "?".into()));
        println!("{engine} {version}");
        cache
    });

    let mut results = runtime.block_on(support::interleaved_rounds(
        CALLS.len(),
        &TASKS,
        &CALLS_PER_SAMPLE,
        rounds,
        |v, tasks, work| sample(&cache, CALLS[v], tasks, work),
    ));

    println!(
        "sets and hashes, {rounds} interleaved rounds, calls/s: median [p25 .. p75], ratio to the plain call"
    );
    println!("{:<28} {:>36} {:>36}", "call", "1 task", "16 tasks");
    for results in results.iter_mut().flatten() {
        results.sort_by(f64::total_cmp);
    }
    for (v, call) in CALLS.iter().enumerate() {
        let cells: Vec<String> = (0..TASKS.len())
            .map(|t| {
                let samples = &results[v][t];
                let median = support::quantile(samples, 0.5);
                let base = support::quantile(&results[call.baseline()][t], 0.5);
                format!(
                    "{} {:>5.2}",
                    support::quartiles_cell(samples),
                    median / base
                )
            })
            .collect();
        println!("{:<28} {:>36} {:>36}", call.name(), cells[0], cells[1]);
    }
    drop(server);
}
