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

/// The hits measured: each variant read with its tags named
/// (`get_or_load_with`: value and stamps in one `get_many`), and the
/// three-tag value read without naming them (`get_or_load`: the stamps in a
/// second `get_many`).
const READS: [(&str, &[&str], bool); 4] = [
    (VARIANTS[0].0, VARIANTS[0].1, true),
    (VARIANTS[1].0, VARIANTS[1].1, true),
    (VARIANTS[2].0, VARIANTS[2].1, true),
    (VARIANTS[2].0, VARIANTS[2].1, false),
];

fn read_name(level: &str, tags: &[&str], named: bool) -> &'static str {
    let unnamed = if named { "" } else { " unnamed" };
    leak(format!("{level} hit, {} tags{unnamed}", tags.len()))
}

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
                hit(aside, key, &options(tags), true).await;
            }
        }
        asides
    });

    let mut cases: Vec<Case<'_>> = Vec::new();
    for (level, aside) in [("memory", &memory), ("near L1", &near)] {
        for (key, tags, named) in READS {
            let options = options(tags);
            cases.push((
                read_name(level, tags, named),
                1000,
                Box::new(move || {
                    drop(black_box(ready(hit(
                        aside,
                        black_box(key),
                        &options,
                        named,
                    ))));
                }),
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
        Box::new(move || drop(runtime.block_on(hit(warm, "plain", &options(&[]), true)))),
    ));
    for (key, tags, named) in READS {
        let (redis, options) = (&redis, options(tags));
        cases.push((
            read_name("redis", tags, named),
            20,
            Box::new(move || {
                let hit = hit(redis, black_box(key), &options, named);
                drop(black_box(runtime.block_on(hit)));
            }),
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
    let by_name: Vec<(&str, f64)> = cases
        .iter()
        .map(|(name, _, _)| *name)
        .zip(medians)
        .filter(|(name, _)| *name != WARM_UP)
        .collect();
    for (name, median) in &by_name {
        // Against "<level> <call>, 0 tags".
        let base = format!("{}, 0 tags", name.split(',').next().unwrap_or_default());
        let base = by_name
            .iter()
            .find(|(n, _)| *n == base)
            .map_or(f64::NAN, |b| b.1);
        println!("  {name:<30} {median:>9.0}  {:.3}", median / base);
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
    for (key, tags, named) in READS {
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
        ready(hit(&aside, key, &options, named));
        let read = operations(&counted) - before;
        println!(
            "  {}: cache operations per hit {read}, per set {set}",
            read_name("memory", tags, named)
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

/// A hit of `key` (the loader must not run), naming its tags or not.
async fn hit(aside: &CacheAside, key: &str, options: &EntryOptions, named: bool) -> Profile {
    let loader = || async { LoadResult::Err(std::io::Error::other("a hit was expected")) };
    match named {
        true => aside.get_or_load_with(key, options, loader).await,
        false => aside.get_or_load(key, TTL, loader).await,
    }
    .unwrap()
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}
