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
