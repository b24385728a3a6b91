//! `TenantManager::get` for a live tenant: the per-request hot path.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p cache-manager --bench manager -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The multi-threaded figures are wall time divided by the total number of
//! calls made by all threads (or tasks) together: the cost per call of the
//! machine as a whole, contention included.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_manager::{NamespaceResolver, NamespaceTemplate, TenantManager};
use cache_memory::MemoryCache;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;

const THREADS: u64 = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A manager with 100 live tenants, `tenant-0` to `tenant-99`.
fn manager(rt: &tokio::runtime::Runtime) -> TenantManager {
    rt.block_on(async {
        let backend: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let resolver = NamespaceResolver::new(backend, NamespaceTemplate::default());
        let manager = TenantManager::builder(Arc::new(resolver))
            .max_tenants(1000)
            .build()
            .unwrap();
        for i in 0..100 {
            manager.get(&format!("tenant-{i}")).await.unwrap();
        }
        manager
    })
}

/// A live tenant's `get` never suspends: poll it once, no executor needed.
fn get_now(manager: &TenantManager, tenant: &str) {
    let lease = manager
        .get(tenant)
        .now_or_never()
        .expect("a live tenant is returned without suspending")
        .unwrap();
    black_box(lease);
}

/// `iters` calls spread over [`THREADS`] OS threads started together.
fn on_threads(
    manager: &TenantManager,
    iters: u64,
    tenant_of: impl Fn(u64) -> String + Sync,
) -> Duration {
    let per_thread = iters.div_ceil(THREADS);
    let barrier = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (barrier, tenant) = (&barrier, tenant_of(t));
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    get_now(manager, &tenant);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed()
}

fn bench_get(c: &mut Criterion) {
    let rt = runtime();
    let manager = manager(&rt);
    let mut group = c.benchmark_group("manager_get_live_tenant");

    group.bench_function("1_thread", |b| b.iter(|| get_now(&manager, "tenant-7")));

    group.bench_function("16_threads_same_tenant", |b| {
        b.iter_custom(|iters| on_threads(&manager, iters, |_| "tenant-7".to_owned()))
    });

    group.bench_function("16_threads_distinct_tenants", |b| {
        b.iter_custom(|iters| on_threads(&manager, iters, |t| format!("tenant-{t}")))
    });

    group.bench_function("16_tasks_same_tenant", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(THREADS);
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..THREADS)
                    .map(|_| {
                        let manager = manager.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                black_box(manager.get("tenant-7").await.unwrap());
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_get);
criterion_main!(benches);
