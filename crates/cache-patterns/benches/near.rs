//! The near cache's L1 against what it saves: a typed L1 hit
//! (`NearCache::get_arc`, the decoded `Arc<T>`) against a raw moka get of an
//! `Arc<T>` (target: at most 1.5×), a byte-level L1 hit (`Cache::get` plus a
//! decode, what a typed read cost before), and an L2 round trip to a local
//! redis-server started by `cache_testing::server` on a free port (target:
//! at least 100× an L1 hit).
//!
//! Every case runs in turn, many short rounds (the machine is shared and
//! noisy), and the medians of the rounds are compared. The L1 hits never
//! wait, so they are polled once without a runtime; the L2 round trip runs
//! on a current-thread Tokio runtime. The last line is
//! `near: typed L1 hit× A vs moka get, L2 round trip× B vs typed L1 hit`.
//!
//! ```text
//! cargo bench -p cache-patterns --bench near
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

mod support;

use cache_core::{Cache, TypedCacheExt, codec};
use cache_memory::MemoryCache;
use cache_patterns::invalidation::NearCache;
use support::{Case, Profile, interleaved, local_redis, profile, ready, rounds};

const TTL: Duration = Duration::from_secs(3600);
const KEY: &str = "user:42";

fn main() {
    let rounds = rounds(100);
    let (runtime, _server, shared) = local_redis();
    let near = runtime.block_on(async {
        shared.set_as(KEY, &profile(), TTL).await.unwrap();
        let near = NearCache::start(
            Arc::new(MemoryCache::new()),
            shared.clone(),
            "bench:",
            Duration::from_secs(600),
        )
        .await
        .unwrap();
        // Fills L1 (bytes and decoded).
        near.get_arc::<Profile>(KEY).await.unwrap().unwrap();
        near
    });
    let moka: moka::sync::Cache<String, Arc<Profile>> = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(600))
        .build();
    moka.insert(KEY.to_owned(), Arc::new(profile()));
    assert_eq!(
        *ready(near.get_arc::<Profile>(KEY)).unwrap().unwrap(),
        profile()
    );

    let mut cases: Vec<Case<'_>> = vec![
        (
            "moka get (Arc<T>)",
            1000,
            Box::new(|| drop(black_box(moka.get(black_box(KEY))))),
        ),
        (
            "typed L1 hit (get_arc)",
            1000,
            Box::new(|| drop(black_box(ready(near.get_arc::<Profile>(black_box(KEY)))))),
        ),
        (
            "byte L1 hit + decode (get + codec)",
            1000,
            Box::new(|| {
                let bytes = ready(Cache::get(&near, black_box(KEY))).unwrap().unwrap();
                drop(black_box(codec::from_slice::<Profile>(&bytes)))
            }),
        ),
        (
            "L2 round trip (RedisCache get)",
            20,
            Box::new(|| drop(black_box(runtime.block_on(shared.get(black_box(KEY)))))),
        ),
    ];
    let medians = interleaved(&mut cases, rounds);
    let (moka_get, typed, bytes, l2) = (medians[0], medians[1], medians[2], medians[3]);
    eprintln!("byte L1 hit + decode× {:.2} vs typed L1 hit", bytes / typed);
    println!(
        "near: typed L1 hit× {:.2} vs moka get, L2 round trip× {:.0} vs typed L1 hit",
        typed / moka_get,
        l2 / typed
    );
}
