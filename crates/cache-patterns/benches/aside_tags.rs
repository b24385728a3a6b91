//! What cache-aside's tags cost, per read and per write, against an
//! untagged value in the same interleaved rounds:
//!
//! - a `get_or_load` hit on `MemoryCache` and on a `NearCache` L1 (no round
//!   trip: the value and its tags' stamps are local), untagged, with 1 tag
//!   and with 3 tags;
//! - the same hit on a local redis-server (started by `cache_testing::server`
//!   on a free port): one `GET`, plus one `MGET` of the stamps when tagged;
//! - a `set` on that server: one `SET`, plus one `MGET` of the stamps when
//!   tagged (the stamps exist; making an absent one is one `SET NX GET` more);
//! - the bytes stored: the value's envelope, and `MEMORY USAGE` of one tag key;
//! - the cache operations per hit and per `set`, counted by `MemoryCache`'s
//!   stats (what the timings on a loaded machine blur: round trips).
//!
//! ```text
//! cargo bench -p cache-patterns --bench aside_tags
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

mod support;

use cache_core::{Cache, Operation};
use cache_memory::MemoryCache;
use cache_patterns::aside::{CacheAside, EntryOptions, TAG_KEY_PREFIX};
use cache_patterns::invalidation::NearCache;
use cache_testing::server::RespConnection;
use support::{Case, Profile, interleaved, local_redis, profile, ready, rounds};

const TTL: Duration = Duration::from_secs(3600);
const WARM_UP: &str = "redis warm-up (not reported)";

type LoadResult = Result<Profile, std::io::Error>;

/// The keys and their tags: untagged, one tag, three tags.
const VARIANTS: [(&str, &[&str]); 3] = [
    ("plain", &[]),
    ("one", &["user:42"]),
    ("three", &["user:42", "org:7", "plan:pro"]),
];

fn options(tags: &[&str]) -> EntryOptions {
    EntryOptions::new(TTL).tags(tags.iter().copied())
}

fn main() {
    let rounds = rounds(100);
    let (runtime, server, redis) = local_redis();
    let (memory, near, redis) = runtime.block_on(async {
        let near: Arc<dyn Cache> = Arc::new(
            NearCache::start(
                Arc::new(MemoryCache::new()),
                redis.clone(),
                "bench:",
                Duration::from_secs(600),
            )
            .await
            .unwrap(),
        );
        let asides = (
            CacheAside::new(Arc::new(MemoryCache::new())),
            CacheAside::new(near),
            CacheAside::new(redis),
        );
        for aside in [&asides.0, &asides.1, &asides.2] {
            for (key, tags) in VARIANTS {
                aside.set(key, &profile(), &options(tags)).await.unwrap();
                // Fills the near cache's L1 with the value and the stamps.
                hit(aside, key).await;
            }
        }
        asides
    });

    let mut cases: Vec<Case<'_>> = Vec::new();
    for (level, aside) in [("memory", &memory), ("near L1", &near)] {
        for (key, tags) in VARIANTS {
            let name = leak(format!("{level} hit, {} tags", tags.len()));
            cases.push((
                name,
                1000,
                Box::new(move || drop(black_box(ready(hit(aside, black_box(key)))))),
            ));
        }
    }
    let runtime = &runtime;
    // The server idles through the local cases: its first requests of a
    // round are slower (seen: 3× the median), so a round of them goes first.
    let warm = &redis;
    cases.push((
        WARM_UP,
        20,
        Box::new(move || drop(runtime.block_on(hit(warm, "plain")))),
    ));
    for (key, tags) in VARIANTS {
        let name = leak(format!("redis hit, {} tags", tags.len()));
        let redis = &redis;
        cases.push((
            name,
            20,
            Box::new(move || drop(black_box(runtime.block_on(hit(redis, black_box(key)))))),
        ));
    }
    for (key, tags) in VARIANTS {
        let name = leak(format!("redis set, {} tags", tags.len()));
        let (redis, options) = (&redis, options(tags));
        cases.push((
            name,
            20,
            Box::new(move || {
                runtime
                    .block_on(redis.set(key, &profile(), &options))
                    .unwrap();
            }),
        ));
    }
    let medians = interleaved(&mut cases, rounds);
    println!("aside tags: median ns per call, ratio against untagged in the same rounds");
    let (cases, medians): (Vec<_>, Vec<_>) = cases
        .iter()
        .zip(medians)
        .filter(|((name, _, _), _)| *name != WARM_UP)
        .unzip();
    for (row, chunk) in cases.chunks(3).zip(medians.chunks(3)) {
        for ((name, _, _), median) in row.iter().copied().zip(chunk) {
            println!("  {name:<22} {median:>9.0}  {:.3}", median / chunk[0]);
        }
    }

    let raw = runtime.block_on(redis.cache().get_many(&["plain", "one", "three"]));
    let sizes: Vec<usize> = raw
        .unwrap()
        .into_iter()
        .map(|v| v.expect("stored").len())
        .collect();
    let mut conn = RespConnection::connect(&server.addr(), Duration::from_secs(5)).unwrap();
    let tag_key = format!("{TAG_KEY_PREFIX}user:42");
    let usage = conn
        .command(&["MEMORY", "USAGE", &tag_key])
        .unwrap()
        .as_integer();
    println!(
        "  stored bytes: untagged {}, 1 tag {}, 3 tags {}; MEMORY USAGE of {tag_key}: {usage:?}",
        sizes[0], sizes[1], sizes[2]
    );
    for (key, tags) in VARIANTS {
        let counted = Arc::new(MemoryCache::new());
        let aside = CacheAside::new(counted.clone());
        let options = options(tags);
        let set = runtime.block_on(async {
            aside.set(key, &profile(), &options).await.unwrap(); // makes the stamps
            let before = operations(&counted);
            aside.set(key, &profile(), &options).await.unwrap();
            operations(&counted) - before
        });
        let before = operations(&counted);
        ready(hit(&aside, key));
        let read = operations(&counted) - before;
        println!(
            "  {} tags: cache operations per hit {read}, per set {set}",
            tags.len()
        );
    }
}

/// The backend operations a `MemoryCache` counted so far.
fn operations(cache: &MemoryCache) -> u64 {
    let stats = cache.stats();
    [
        Operation::Get,
        Operation::GetMany,
        Operation::Set,
        Operation::GetOrSet,
    ]
    .into_iter()
    .map(|op| stats.ops(op))
    .sum()
}

/// A hit of `key` (the loader must not run).
async fn hit(aside: &CacheAside, key: &str) -> Profile {
    aside
        .get_or_load(key, TTL, || async {
            LoadResult::Err(std::io::Error::other("a hit was expected"))
        })
        .await
        .unwrap()
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}
