//! What the FusionCache-grade additions to cache-aside cost, on
//! `MemoryCache`, in interleaved blocks (all variants see the same machine
//! load; medians and ratios against a baseline in the same run):
//!
//! - 100 hits by one `get_many_or_load` against 100 `get_or_load` calls;
//! - a `get_or_load` hit on a `clearable` aside (generation cached for a
//!   second, and re-read on every call) against a plain one;
//! - a hit with eager refresh on (the 8-byte larger envelope).
//!
//! ```text
//! cargo bench -p cache-patterns --bench aside_batch
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_patterns::aside::CacheAside;
use support::{Profile, profile, ready};

const TTL: Duration = Duration::from_secs(3600);
const KEYS: usize = 100;

type LoadResult<T> = Result<T, std::io::Error>;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let rounds = if quick { 3 } else { 400 };
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let plain = CacheAside::new(Arc::clone(&cache));
    let cached_gen = CacheAside::new(Arc::clone(&cache)).clearable(Duration::from_secs(1));
    let reread_gen = CacheAside::new(Arc::clone(&cache)).clearable(Duration::ZERO);
    let eager = CacheAside::new(Arc::clone(&cache)).eager_refresh_threshold(0.9);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for key in &refs {
        rt.block_on(plain.get_or_load(key, TTL, || async { LoadResult::Ok(profile()) }))
            .unwrap();
    }
    rt.block_on(eager.get_or_load("eager", TTL, || async { LoadResult::Ok(profile()) }))
        .unwrap();

    let one_by_one = || {
        for key in &refs {
            black_box(
                ready(plain.get_or_load(key, TTL, || async { LoadResult::Ok(profile()) })).unwrap(),
            );
        }
    };
    let batched = || {
        let got: HashMap<String, Profile> =
            ready(plain.get_many_or_load(&refs, TTL, |_| async { LoadResult::Ok(HashMap::new()) }))
                .unwrap();
        assert_eq!(got.len(), KEYS);
    };
    let hit = |aside: &CacheAside, key: &str| {
        for _ in 0..KEYS {
            black_box(
                ready(aside.get_or_load(key, TTL, || async { LoadResult::Ok(profile()) })).unwrap(),
            );
        }
    };
    let time = |f: &dyn Fn()| {
        let started = Instant::now();
        f();
        started.elapsed()
    };
    let mut samples: [Vec<Duration>; 6] = Default::default();
    for _ in 0..rounds {
        samples[0].push(time(&one_by_one));
        samples[1].push(time(&batched));
        samples[2].push(time(&|| hit(&plain, "user:1")));
        samples[3].push(time(&|| hit(&cached_gen, "user:1")));
        samples[4].push(time(&|| hit(&reread_gen, "user:1")));
        samples[5].push(time(&|| hit(&eager, "eager")));
    }
    let [many, batch, base, cached, reread, eager_hit] = samples.map(median);
    let ratio = |x: Duration, y: Duration| y.as_secs_f64() / x.as_secs_f64();
    let per = |d: Duration| d / KEYS as u32;
    println!(
        "aside additions, medians per key over {rounds} interleaved rounds of {KEYS}:\n\
         \x20 get_or_load hit x{KEYS}          {:?}\n\
         \x20 get_many_or_load of {KEYS} hits   {:?}  ratio {:.3}\n\
         \x20 hit, clearable (cached 1 s)   {:?}  ratio {:.3}\n\
         \x20 hit, clearable (reread 0)     {:?}  ratio {:.3}\n\
         \x20 hit, eager refresh envelope   {:?}  ratio {:.3}",
        per(many),
        per(batch),
        ratio(many, batch),
        per(cached),
        ratio(base, cached),
        per(reread),
        ratio(base, reread),
        per(eager_hit),
        ratio(base, eager_hit),
    );
}
