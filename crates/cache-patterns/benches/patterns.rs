//! What the patterns cost on top of the plain calls, on `MemoryCache`:
//! `CacheAside::get_or_load` on a hit against a plain typed `get_as` of the
//! same value (target: at most 1.1×), with and without the soft-TTL
//! envelope; and a lock acquire + release round trip.
//!
//! The in-memory backend never waits, so each call is polled once (no
//! runtime in the measurement), as in the `memory` bench.
//!
//! ```text
//! cargo bench -p cache-core --bench patterns -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use cache_core::{Cache, TypedCacheExt};
use cache_memory::MemoryCache;
use cache_patterns::aside::CacheAside;
use cache_patterns::lock::DistributedLock;
use criterion::{Criterion, criterion_group};
use support::{Profile, profile, ready};

const TTL: Duration = Duration::from_secs(3600);

type LoadResult = Result<Profile, std::io::Error>;

fn get_or_load_hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("hit");
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());

    ready(cache.set_as("user:42", &profile(), TTL)).unwrap();
    group.bench_function("get_as", |b| {
        b.iter(|| ready(cache.get_as::<Profile>(black_box("user:42"))).unwrap())
    });

    let aside = CacheAside::new(Arc::clone(&cache));
    group.bench_function("get_or_load", |b| {
        b.iter(|| {
            ready(aside.get_or_load(black_box("user:42"), TTL, || async {
                LoadResult::Ok(profile())
            }))
            .unwrap()
        })
    });

    let enveloped = CacheAside::new(Arc::clone(&cache)).soft_ttl(Duration::from_secs(1800));
    ready(enveloped.invalidate("user:43")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(enveloped.get_or_load("user:43", TTL, || async { LoadResult::Ok(profile()) }))
        .unwrap();
    group.bench_function("get_or_load_soft_ttl", |b| {
        b.iter(|| {
            ready(enveloped.get_or_load(black_box("user:43"), TTL, || async {
                LoadResult::Ok(profile())
            }))
            .unwrap()
        })
    });
    group.finish();
}

fn lock_round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let locks = DistributedLock::new(Arc::new(MemoryCache::new()));
    let fenced = locks.clone().fencing(true);
    let mut group = c.benchmark_group("lock");
    group.bench_function("acquire_release", |b| {
        b.iter(|| {
            rt.block_on(async {
                let guard = locks.try_acquire("job", TTL).await.unwrap().unwrap();
                guard.release().await.unwrap()
            })
        })
    });
    group.bench_function("acquire_release_fenced", |b| {
        b.iter(|| {
            rt.block_on(async {
                let guard = fenced.try_acquire("job", TTL).await.unwrap().unwrap();
                guard.release().await.unwrap()
            })
        })
    });
    group.finish();
}

/// `get_or_load` (plain and with the soft-TTL envelope) over `get_as`,
/// measured in alternating blocks so that all see the same machine load
/// (criterion measures one after the other, which on a shared machine can
/// differ by more than the 10% being checked).
fn interleaved_hit_ratio() {
    const BLOCK: u32 = 100;
    const ROUNDS: usize = 3_000;
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    ready(cache.set_as("user:42", &profile(), TTL)).unwrap();
    let aside = CacheAside::new(Arc::clone(&cache));
    let enveloped = CacheAside::new(Arc::clone(&cache)).soft_ttl(Duration::from_secs(1800));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(enveloped.get_or_load("user:43", TTL, || async { LoadResult::Ok(profile()) }))
        .unwrap();
    let time_block = |f: &dyn Fn()| {
        let started = Instant::now();
        for _ in 0..BLOCK {
            f();
        }
        started.elapsed() / BLOCK
    };
    let plain = || {
        black_box(ready(cache.get_as::<Profile>(black_box("user:42"))).unwrap());
    };
    let hit = |aside: &CacheAside, key: &'static str| {
        black_box(
            ready(aside.get_or_load(black_box(key), TTL, || async { LoadResult::Ok(profile()) }))
                .unwrap(),
        );
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(time_block(&plain));
        b.push(time_block(&|| hit(&aside, "user:42")));
        c.push(time_block(&|| hit(&enveloped, "user:43")));
    }
    for samples in [&mut a, &mut b, &mut c] {
        samples.sort();
    }
    // The fastest blocks are the ones no other process interrupted.
    let ratio = |x: Duration, y: Duration| y.as_secs_f64() / x.as_secs_f64();
    let (p1, p50) = (ROUNDS / 100, ROUNDS / 2);
    println!(
        "hit, interleaved blocks (1st percentile / median per call):\n\
         \x20 get_as               {:?} / {:?}\n\
         \x20 get_or_load          {:?} / {:?}  ratio {:.3} / {:.3} (target <= 1.1)\n\
         \x20 get_or_load soft TTL {:?} / {:?}  ratio {:.3} / {:.3}",
        a[p1],
        a[p50],
        b[p1],
        b[p50],
        ratio(a[p1], b[p1]),
        ratio(a[p50], b[p50]),
        c[p1],
        c[p50],
        ratio(a[p1], c[p1]),
        ratio(a[p50], c[p50]),
    );
}

criterion_group!(benches, get_or_load_hit, lock_round_trip);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // only checks that the benches run.
    if std::env::args().any(|arg| arg == "--bench") {
        interleaved_hit_ratio();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
