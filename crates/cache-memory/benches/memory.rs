//! `MemoryCache` against a raw `moka::sync::Cache<String, Bytes>` (the store
//! it was built on until ADR 0011), configured the same way (capacity,
//! weigher, LRU, per-entry expiry), in the same run: get (hit) and set, on 1
//! and 2 threads.
//!
//! `MemoryCache` is called through the `Cache` trait (as services do, boxed
//! futures included) and polled once: it never waits. On 2 threads both
//! threads run the operation and the figure is throughput (elements/s).
//! Times are per-thread CPU times where Linux reports them (see `on_threads`).
//! After each criterion group, an interleaved cross-check prints the ratio
//! of the two stores measured in alternating rounds (see `cross_check`).
//!
//! ```text
//! cargo bench -p cache-memory --bench memory -- --warm-up-time 1 --measurement-time 3
//! ```

use futures::FutureExt;
use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_memory::MemoryConfig;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use moka::Expiry;
use moka::policy::EvictionPolicy;

/// Keys in the working set (all fit: well under the default bounds).
const KEYS: usize = 10_000;
const VALUE: [u8; 100] = [7; 100];
const TTL: Duration = Duration::from_secs(3600);

/// Polls a future that never waits.
fn ready<F: Future>(future: F) -> F::Output {
    future.now_or_never().expect("MemoryCache never waits")
}

/// The raw store's expiry: the same fixed TTL for every entry.
struct FixedTtl;

impl Expiry<String, Bytes> for FixedTtl {
    fn expire_after_create(&self, _: &String, _: &Bytes, _: Instant) -> Option<Duration> {
        Some(TTL)
    }

    fn expire_after_update(
        &self,
        _: &String,
        _: &Bytes,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(TTL)
    }
}

/// The raw moka cache with `MemoryCache`'s default configuration.
fn raw_store() -> moka::sync::Cache<String, Bytes> {
    let config = MemoryConfig::default();
    let max_bytes = config.max_bytes.unwrap_or(u64::MAX);
    let per_entry = max_bytes.div_ceil(config.max_entries);
    moka::sync::Cache::builder()
        .eviction_policy(EvictionPolicy::lru())
        .expire_after(FixedTtl)
        .max_capacity(max_bytes)
        .weigher(move |k: &String, v: &Bytes| {
            u32::try_from(k.len() as u64 + v.len() as u64 + per_entry).unwrap_or(u32::MAX)
        })
        .build()
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i:08}")).collect()
}

/// The CPU time this thread has run, from the kernel's scheduler statistics
/// (`/proc/thread-self/schedstat`, nanoseconds), or `None` where it is not
/// available. The kernel refreshes that figure at ticks and scheduling
/// points; yielding first makes the reading current to the microsecond.
fn thread_cpu_time() -> Option<Duration> {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Runs `op` on `threads` threads, `iters` times each, and returns the
/// longest time a thread took.
///
/// The time is the thread's CPU time where the kernel reports it: on a shared
/// machine (builds running beside the benchmark) wall time mostly measures
/// how long the thread waited for a core. Reading the clock costs a few
/// microseconds; criterion's linear sampling fits time against iterations,
/// so that constant lands in the intercept, not in the per-iteration slope.
/// Caveat: with 2 threads, CPU time still counts contention stalls, but on a
/// loaded machine the two threads overlap less than on an idle one.
fn on_threads(threads: usize, iters: u64, op: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                scope.spawn(move || {
                    start_line.wait();
                    let cpu_started = thread_cpu_time();
                    let started = Instant::now();
                    for i in 0..iters {
                        op(t, i);
                    }
                    match (cpu_started, thread_cpu_time()) {
                        (Some(from), Some(to)) => to.saturating_sub(from),
                        _ => started.elapsed(),
                    }
                })
            })
            .collect();
        start_line.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// Registers the same operation for both stores at 1 or 2 threads.
fn compare(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    threads: usize,
    memory_op: &(dyn Fn(usize, u64) + Sync),
    raw_op: &(dyn Fn(usize, u64) + Sync),
) {
    group.throughput(Throughput::Elements(threads as u64));
    // Linear sampling: the per-iteration time is the slope of a fit, which
    // cancels the constant cost of reading the clock (see `on_threads`).
    group.sampling_mode(SamplingMode::Linear);
    for (name, op) in [("memory_cache", memory_op), ("raw_moka", raw_op)] {
        group.bench_function(format!("{name}/{threads}_thread"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, op));
        });
    }
}

/// Rounds and operations per round of the interleaved cross-check.
const ROUNDS: usize = 60;
const OPS_PER_ROUND: u64 = 20_000;

/// Runs both stores in turn, round after round, and prints the median time
/// per operation of each and their ratio. Load on a shared machine changes
/// between criterion's back-to-back benchmarks; alternating rounds exposes
/// both stores to the same conditions, so the ratio is the stable figure.
fn cross_check(
    name: &str,
    memory_op: &(dyn Fn(usize, u64) + Sync),
    raw_op: &(dyn Fn(usize, u64) + Sync),
) {
    for threads in [1, 2] {
        let per_op = |op: &(dyn Fn(usize, u64) + Sync)| {
            on_threads(threads, OPS_PER_ROUND, op).as_nanos() as f64 / OPS_PER_ROUND as f64
        };
        let (mut memory, mut raw): (Vec<f64>, Vec<f64>) = (0..ROUNDS)
            .map(|_| (per_op(memory_op), per_op(raw_op)))
            .unzip();
        let (memory, raw) = (median(&mut memory), median(&mut raw));
        println!(
            "cross-check {name}/{threads}_thread: memory_cache {memory:.0} ns, raw_moka {raw:.0} ns \
             per op per thread, ratio {:.2}",
            memory / raw
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Thread `t`'s `i`-th key: threads walk the key set from different offsets.
fn key_index(t: usize, i: u64) -> usize {
    (i as usize).wrapping_mul(7919).wrapping_add(t * (KEYS / 2)) % KEYS
}

fn get_hit(c: &mut Criterion) {
    let keys = keys();
    let memory = MemoryCache::new();
    let raw = raw_store();
    // One store after the other, so that neither gets its entries scattered
    // between the other's in memory (interleaving costs ~20% on a hit).
    for key in &keys {
        ready(memory.set(key, &VALUE, TTL)).expect("set");
    }
    for key in &keys {
        raw.insert(key.clone(), Bytes::copy_from_slice(&VALUE));
    }
    let memory_op = |t: usize, i: u64| {
        let value = ready(memory.get(&keys[key_index(t, i)])).expect("hit");
        black_box(value);
    };
    let raw_op = |t: usize, i: u64| {
        let value = raw.get(keys[key_index(t, i)].as_str()).expect("hit");
        black_box(value);
    };
    let mut group = c.benchmark_group("get_hit");
    for threads in [1, 2] {
        compare(&mut group, threads, &memory_op, &raw_op);
    }
    group.finish();
    cross_check("get_hit", &memory_op, &raw_op);
}

fn set(c: &mut Criterion) {
    let keys = keys();
    let memory = MemoryCache::new();
    let raw = raw_store();
    // Both stores allocate the owned key and the value bytes on every set.
    let memory_op = |t: usize, i: u64| {
        ready(memory.set(&keys[key_index(t, i)], &VALUE, TTL)).expect("set");
    };
    let raw_op = |t: usize, i: u64| {
        let key = &keys[key_index(t, i)];
        raw.insert(key.to_owned(), Bytes::copy_from_slice(&VALUE));
    };
    let mut group = c.benchmark_group("set");
    for threads in [1, 2] {
        compare(&mut group, threads, &memory_op, &raw_op);
    }
    group.finish();
    cross_check("set", &memory_op, &raw_op);
}

criterion_group!(benches, get_hit, set);
criterion_main!(benches);
