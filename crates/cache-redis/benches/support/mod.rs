//! What the interleaved benches of this crate share: running a fixed amount
//! of work over concurrent tasks, and quantiles of the rounds.

use std::future::Future;
use std::time::Instant;

/// Runs `ops` calls of `op` split over `tasks` tasks (`op` gets the task's
/// index); returns calls per second.
pub(crate) async fn per_second<F, Fut>(tasks: usize, ops: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let per_task = ops.div_ceil(tasks);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op(task).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a benchmark task panicked");
    }
    (per_task * tasks) as f64 / started.elapsed().as_secs_f64()
}

/// The `q` quantile of `sorted`, interpolated.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// Measures every (variant, task count) pair once per round, in a fresh
/// random order each round, after one warm-up pass at a quarter of the work:
/// `sample(variant index, tasks, work)` returns calls per second. The answer
/// is `[variant][task count index]`, one figure per round.
pub(crate) async fn interleaved_rounds<F, Fut>(
    variants: usize,
    tasks: &[usize],
    work: &[usize],
    rounds: usize,
    sample: F,
) -> Vec<Vec<Vec<f64>>>
where
    F: Fn(usize, usize, usize) -> Fut,
    Fut: Future<Output = f64>,
{
    use rand::seq::SliceRandom;
    let mut pairs: Vec<(usize, usize)> = (0..variants)
        .flat_map(|v| (0..tasks.len()).map(move |t| (v, t)))
        .collect();
    let mut results = vec![vec![Vec::with_capacity(rounds); tasks.len()]; variants];
    for &(v, t) in &pairs {
        sample(v, tasks[t], work[t] / 4).await;
    }
    for round in 0..rounds {
        pairs.shuffle(&mut rand::rng());
        for &(v, t) in &pairs {
            results[v][t].push(sample(v, tasks[t], work[t]).await);
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    results
}

/// The rounds to run: the first numeric argument, or `default`.
pub(crate) fn rounds_arg(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(default)
}

/// The runtime every bench of this crate measures on: two workers, as the
/// machine has two cores.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Sorted samples as `median [p25 .. p75]`.
pub(crate) fn quartiles_cell(sorted: &[f64]) -> String {
    format!(
        "{:>8.0} [{:>7.0} .. {:>7.0}]",
        quantile(sorted, 0.5),
        quantile(sorted, 0.25),
        quantile(sorted, 0.75)
    )
}
