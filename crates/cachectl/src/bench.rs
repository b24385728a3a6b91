//! `bench`: a bounded load generator against the configured backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::config::duration;
use cache_core::pattern::escape;
use cache_core::{Cache, CacheError, ConfigError};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `cachectl bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Concurrent tasks.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this long.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    duration: Duration,
    /// Stop after this many operations in all.
    #[arg(long, default_value_t = 1_000_000)]
    ops: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Share of reads (GET); the rest are SETs.
    #[arg(long, default_value_t = 0.8)]
    read_ratio: f64,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

const PREFIX: &str = "cachectl:bench:";

#[derive(Default)]
struct Samples {
    gets: Vec<u32>,
    sets: Vec<u32>,
    errors: u64,
}

/// Runs the load and prints the table.
pub(crate) async fn run(
    cache: Arc<dyn Cache>,
    description: &str,
    args: BenchArgs,
) -> Result<(), CacheError> {
    if args.concurrency == 0 || args.keys == 0 || !(0.0..=1.0).contains(&args.read_ratio) {
        return Err(ConfigError::new(
            "bench",
            "--concurrency and --keys must be ≥ 1 and --read-ratio within 0..=1",
        )
        .into());
    }
    let ttl = Duration::from_secs(300);
    let value = vec![b'x'; args.value_size];
    // Pre-fill so that reads hit.
    let keys: Arc<Vec<String>> = Arc::new((0..args.keys).map(|i| format!("{PREFIX}{i}")).collect());
    for chunk in keys.chunks(500) {
        let entries: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &value[..])).collect();
        cache.set_many(&entries, ttl).await?;
    }

    println!(
        "bench: {description}, {} tasks, {} B values, {} keys, {:.0}% reads, up to {} or {} ops",
        args.concurrency,
        args.value_size,
        args.keys,
        args.read_ratio * 100.0,
        duration::format(args.duration),
        args.ops
    );
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(args.ops);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} ops {per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let (cache, keys, done, stop, value) = (
            cache.clone(),
            keys.clone(),
            done.clone(),
            stop.clone(),
            value.clone(),
        );
        let (max_ops, read_ratio) = (args.ops, args.read_ratio);
        tasks.push(tokio::spawn(async move {
            let mut rng =
                0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            let mut s = Samples::default();
            while !stop.load(Ordering::Relaxed) {
                if done.fetch_add(1, Ordering::Relaxed) >= max_ops || Instant::now() >= deadline {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = &keys[(rng % keys.len() as u64) as usize];
                let read = ((rng >> 11) as f64 / (1u64 << 53) as f64) < read_ratio;
                let t = Instant::now();
                let ok = if read {
                    cache.get(key).await.map(drop)
                } else {
                    cache.set(key, &value, ttl).await
                };
                let micros = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match ok {
                    Ok(()) if read => s.gets.push(micros),
                    Ok(()) => s.sets.push(micros),
                    Err(_) => s.errors += 1,
                }
            }
            s
        }));
    }
    let ticker = {
        let (bar, done, stop) = (bar.clone(), done.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                bar.set_position(
                    done.load(Ordering::Relaxed)
                        .min(bar.length().unwrap_or(u64::MAX)),
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut all = Samples::default();
    for t in tasks {
        let s = t
            .await
            .map_err(|e| CacheError::operation(cache_core::Operation::Get, None, e))?;
        all.gets.extend(s.gets);
        all.sets.extend(s.sets);
        all.errors += s.errors;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    bar.finish_and_clear();

    println!(
        "{:<6} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "op", "count", "ops/s", "p50 µs", "p99 µs", "p999 µs"
    );
    for (name, samples) in [("GET", &mut all.gets), ("SET", &mut all.sets)] {
        if samples.is_empty() {
            continue;
        }
        samples.sort_unstable();
        println!(
            "{:<6} {:>10} {:>12.0} {:>10} {:>10} {:>10}",
            name,
            samples.len(),
            samples.len() as f64 / elapsed.as_secs_f64(),
            percentile(samples, 0.50),
            percentile(samples, 0.99),
            percentile(samples, 0.999)
        );
    }
    let total = all.gets.len() + all.sets.len();
    println!(
        "total  {total} ops in {:.2}s = {:.0} ops/s, {} errors",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        all.errors
    );
    let removed = cache
        .delete_pattern(&format!("{}*", escape(PREFIX)))
        .await?;
    println!("removed {removed} bench keys");
    Ok(())
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_of_a_known_set() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 501);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}
