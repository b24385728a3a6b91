//! What the `metrics` feature costs on the hottest call there is, a
//! `MemoryCache` get hit, measured in one run as ratios (ADR 0010):
//!
//! - `no_recorder`: the cache built with no recorder installed (the feature
//!   is on; what every application that exports nothing pays);
//! - `prometheus`: the same cache built under a `metrics-exporter-prometheus`
//!   recorder (every get counted and timed);
//! - `instrumentation_only/*`: the instrumentation alone (start + finish of
//!   one call, no cache), with and without a recorder, so the no-recorder
//!   overhead can be stated against a get without building twice.
//!
//! After the criterion groups, an interleaved cross-check times the
//! variants in alternating rounds, in thread CPU time, and prints medians
//! and ratios: the median of the per-round ratios (each round's pair is
//! measured back to back, in alternating order) is the headline, as it keeps
//! the drift of a shared machine out.
//!
//! ```text
//! cargo bench -p cache-memory --bench metrics_cost -- --warm-up-time 1 --measurement-time 3
//! ```
//! (A feature-off build cannot be had in the same run, and not even from this
//! crate's benches: the dev-dependencies turn the feature back on.)

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use cache_core::metrics::OpMetrics;
use cache_core::{Cache, Operation, Result};
use cache_memory::MemoryCache;
use criterion::{Criterion, criterion_group, criterion_main};
use metrics_exporter_prometheus::PrometheusBuilder;

const KEYS: usize = 10_000;
const VALUE: [u8; 100] = [7; 100];
const TTL: Duration = Duration::from_secs(3600);
const ROUNDS: usize = 41;
const OPS_PER_ROUND: usize = 50_000;

/// Polls a future that never waits.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("MemoryCache never waits"),
    }
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i:05}")).collect()
}

fn filled(cache: MemoryCache, keys: &[String]) -> MemoryCache {
    for key in keys {
        ready(cache.set(key, &VALUE, TTL)).expect("set");
    }
    cache
}

struct Variants {
    keys: Vec<String>,
    plain: MemoryCache,
    recorded: MemoryCache,
    idle_ops: OpMetrics,
    recorded_ops: OpMetrics,
    /// As `MemoryCache` instruments: one call in 16 timed.
    sampled_ops: OpMetrics,
    /// Kept so its storage outlives the handles (and to show it filled up).
    handle: metrics_exporter_prometheus::PrometheusHandle,
}

fn variants() -> Variants {
    let keys = keys();
    assert!(
        !cache_core::metrics::recording(),
        "the bench must start without a recorder"
    );
    let plain = filled(MemoryCache::new(), &keys);
    let idle_ops = OpMetrics::new("memory");
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // Caches bind their metrics when built: build under the recorder, use anywhere.
    let (recorded, recorded_ops, sampled_ops) = metrics::with_local_recorder(&recorder, || {
        (
            filled(MemoryCache::new(), &keys),
            OpMetrics::new("memory"),
            OpMetrics::new("memory").sampled(cache_memory::DEFAULT_DURATION_SAMPLING),
        )
    });
    assert!(recorded_ops.is_recording() && !idle_ops.is_recording());
    Variants {
        keys,
        plain,
        recorded,
        idle_ops,
        recorded_ops,
        sampled_ops,
        handle,
    }
}

fn get(cache: &MemoryCache, keys: &[String], i: usize) {
    let key = &keys[i.wrapping_mul(7919) % KEYS];
    black_box(ready(cache.get(black_box(key))).expect("get"));
}

fn instrumentation(ops: &OpMetrics) {
    let result: Result<Option<u8>> = Ok(Some(1));
    let timer = ops.start();
    ops.finish(Operation::Get, timer, black_box(&result));
}

fn bench(c: &mut Criterion) {
    let v = variants();
    let mut group = c.benchmark_group("get_hit");
    let mut i = 0usize;
    group.bench_function("no_recorder", |b| {
        b.iter(|| {
            i += 1;
            get(&v.plain, &v.keys, i)
        })
    });
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            i += 1;
            get(&v.recorded, &v.keys, i)
        })
    });
    group.finish();
    let mut group = c.benchmark_group("instrumentation_only");
    group.bench_function("no_recorder", |b| b.iter(|| instrumentation(&v.idle_ops)));
    group.bench_function("prometheus", |b| {
        b.iter(|| instrumentation(&v.recorded_ops))
    });
    group.finish();
    cross_check(&v);
}

/// This thread's CPU time (`/proc/thread-self/schedstat`), or `None`
/// where the kernel does not say: on a shared machine wall time mostly
/// measures waiting for a core.
fn thread_cpu_time() -> Option<Duration> {
    // A yield makes the kernel bring the thread's run time up to date.
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn per_op(op: &dyn Fn(usize)) -> f64 {
    let cpu_started = thread_cpu_time();
    let started = Instant::now();
    for i in 0..OPS_PER_ROUND {
        op(i);
    }
    let took = match (cpu_started, thread_cpu_time()) {
        (Some(from), Some(to)) => to.saturating_sub(from),
        _ => started.elapsed(),
    };
    took.as_nanos() as f64 / OPS_PER_ROUND as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn cross_check(v: &Variants) {
    let ops: [(&str, &dyn Fn(usize)); 5] = [
        ("get_no_recorder", &|i| get(&v.plain, &v.keys, i)),
        ("get_prometheus", &|i| get(&v.recorded, &v.keys, i)),
        ("instr_no_recorder", &|_| instrumentation(&v.idle_ops)),
        ("instr_prometheus", &|_| instrumentation(&v.recorded_ops)),
        ("instr_prometheus_sampled", &|_| {
            instrumentation(&v.sampled_ops)
        }),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut get_ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // The two gets back to back, in alternating order.
        let (plain, recorded) = if round % 2 == 0 {
            let plain = per_op(ops[0].1);
            (plain, per_op(ops[1].1))
        } else {
            let recorded = per_op(ops[1].1);
            (per_op(ops[0].1), recorded)
        };
        samples[0].push(plain);
        samples[1].push(recorded);
        get_ratios.push(recorded / plain);
        for (slot, (_, op)) in samples.iter_mut().zip(ops.iter()).skip(2) {
            slot.push(per_op(*op));
        }
    }
    let m: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    for ((name, _), median) in ops.iter().zip(&m) {
        println!(
            "cross-check {name}: median {median:.1} ns per op over {ROUNDS} alternating rounds"
        );
    }
    let (get_plain, get_prom, instr_idle, instr_sampled) = (m[0], m[1], m[2], m[4]);
    println!(
        "cross-check ratios: prometheus / no_recorder = {:.3} (median of per-round ratios; \
         ratio of medians {:.3}); no-recorder instrumentation / uninstrumented get = {:.4} \
         ({instr_idle:.1} ns of {get_plain:.0} ns)",
        median(&mut get_ratios),
        get_prom / get_plain,
        instr_idle / (get_plain - instr_idle)
    );
    println!(
        "cross-check: the instrumentation a get pays under Prometheus (1 in 16 timed) alone: \
         {instr_sampled:.1} ns, {:.3} of the uninstrumented get",
        instr_sampled / (get_plain - instr_idle)
    );
    let rendered = v.handle.render();
    assert!(
        rendered.contains("outcome=\"hit\""),
        "the recorder saw the hits"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
