//! `bench`: a bounded load generator against the configured backend.
//!
//! Every call is timed, failed ones included: a call that fails after a
//! two-second stall is two seconds of latency, and leaving it out would hide
//! exactly what a load test is for. Failed calls are not throughput, though:
//! `count` and `ops/s` count successful calls, failures are counted apart,
//! by error kind.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::config::duration;
use cache_core::pattern::escape;
use cache_core::{Cache, CacheError, ConfigError, ErrorKind};
use indicatif::{ProgressBar, ProgressStyle};

use crate::render::error_chain;

/// Options of `cachectl bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Concurrent tasks.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this long (or at `--ops`, whichever comes first).
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    duration: Duration,
    /// Stop after this many calls in all, failed ones included (or at
    /// `--duration`, whichever comes first).
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
    /// After the table, print one line per second of the run: calls that
    /// succeeded and failed in that second, and their p99 latency.
    #[arg(long)]
    timeline: bool,
}

const PREFIX: &str = "cachectl:bench:";

/// The operations bench issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
}

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Succeeded (for GET: found the key).
    Ok,
    /// A GET that found nothing: a successful call.
    Miss,
    /// Failed with an error of this kind.
    Failed(ErrorKind),
}

/// One timed call.
#[derive(Debug, Clone, Copy)]
struct Call {
    op: Op,
    outcome: Outcome,
    /// Latency in microseconds (saturating).
    micros: u32,
    /// The second of the run (from 0) in which the call finished.
    second: u32,
}

/// Which limit ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Ops,
    Duration,
}

impl StopReason {
    const NONE: u8 = 0;

    fn code(self) -> u8 {
        match self {
            StopReason::Ops => 1,
            StopReason::Duration => 2,
        }
    }

    fn from_code(code: u8) -> Option<StopReason> {
        match code {
            1 => Some(StopReason::Ops),
            2 => Some(StopReason::Duration),
            _ => None,
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct Samples {
    calls: Vec<Call>,
    /// The first error of each kind, for the report.
    examples: HashMap<ErrorKind, String>,
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
    // Pre-fill so that reads hit. A failure here is reported, not fatal: the
    // run then measures a backend that refuses writes, which is worth knowing.
    let keys: Arc<Vec<String>> = Arc::new((0..args.keys).map(|i| format!("{PREFIX}{i}")).collect());
    let mut prefill_failed = 0usize;
    let mut prefill_error = None;
    for chunk in keys.chunks(500) {
        let entries: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &value[..])).collect();
        if let Err(e) = cache.set_many(&entries, ttl).await {
            prefill_failed += chunk.len();
            prefill_error.get_or_insert(e);
        }
    }
    if let Some(e) = prefill_error {
        eprintln!(
            "warning: pre-filling {prefill_failed} of {} keys failed ({}); reads of them count as misses",
            keys.len(),
            error_chain(&e)
        );
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
    let claimed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reason = Arc::new(AtomicU8::new(StopReason::NONE));
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let (cache, keys, claimed, stop, reason, value) = (
            cache.clone(),
            keys.clone(),
            claimed.clone(),
            stop.clone(),
            reason.clone(),
            value.clone(),
        );
        let (max_ops, read_ratio) = (args.ops, args.read_ratio);
        tasks.push(tokio::spawn(async move {
            let halt = |why: StopReason| {
                let _ = reason.compare_exchange(
                    StopReason::NONE,
                    why.code(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                stop.store(true, Ordering::Relaxed);
            };
            let mut rng =
                0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            let mut s = Samples::default();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    halt(StopReason::Duration);
                    break;
                }
                if claimed.fetch_add(1, Ordering::Relaxed) >= max_ops {
                    halt(StopReason::Ops);
                    break;
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = &keys[(rng % keys.len() as u64) as usize];
                let read = ((rng >> 11) as f64 / (1u64 << 53) as f64) < read_ratio;
                let t = Instant::now();
                let (op, result) = if read {
                    let found = cache.get(key).await;
                    (Op::Get, found.map(|v| v.is_some()))
                } else {
                    (Op::Set, cache.set(key, &value, ttl).await.map(|()| true))
                };
                let micros = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                let second = started.elapsed().as_secs().min(u64::from(u32::MAX)) as u32;
                let outcome = match result {
                    Ok(true) => Outcome::Ok,
                    Ok(false) => Outcome::Miss,
                    Err(e) => {
                        s.examples
                            .entry(e.kind())
                            .or_insert_with(|| error_chain(&e));
                        Outcome::Failed(e.kind())
                    }
                };
                s.calls.push(Call {
                    op,
                    outcome,
                    micros,
                    second,
                });
            }
            s
        }));
    }
    let ticker = {
        let (bar, claimed, stop) = (bar.clone(), claimed.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                bar.set_position(
                    claimed
                        .load(Ordering::Relaxed)
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
        all.calls.extend(s.calls);
        for (kind, example) in s.examples {
            all.examples.entry(kind).or_insert(example);
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    bar.finish_and_clear();

    let stopped_by = StopReason::from_code(reason.load(Ordering::Relaxed));
    let report = Report::new(&all, elapsed);
    for line in report.table() {
        println!("{line}");
    }
    println!("{}", stop_line(stopped_by, &args));
    for line in report.failures() {
        println!("{line}");
    }
    if args.timeline {
        for line in report.timeline() {
            println!("{line}");
        }
    }
    let removed = cache
        .delete_pattern(&format!("{}*", escape(PREFIX)))
        .await?;
    println!("removed {removed} bench keys");
    Ok(())
}

fn stop_line(reason: Option<StopReason>, args: &BenchArgs) -> String {
    match reason {
        Some(StopReason::Ops) => format!("stopped: --ops limit of {} calls reached", args.ops),
        Some(StopReason::Duration) => format!(
            "stopped: --duration of {} elapsed",
            duration::format(args.duration)
        ),
        None => "stopped: every task ended".to_owned(),
    }
}

/// The figures of one operation.
#[derive(Debug, Default)]
struct OpFigures {
    /// Latencies of every call, failed ones included, sorted.
    latencies: Vec<u32>,
    succeeded: usize,
    misses: usize,
    failed: usize,
}

impl OpFigures {
    fn add(&mut self, call: &Call) {
        self.latencies.push(call.micros);
        match call.outcome {
            Outcome::Ok => self.succeeded += 1,
            Outcome::Miss => {
                self.succeeded += 1;
                self.misses += 1;
            }
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// The figures of one second of the run.
#[derive(Debug, Default)]
struct SecondFigures {
    latencies: Vec<u32>,
    succeeded: usize,
    failed: usize,
}

/// The results of a run, ready to print.
#[derive(Debug)]
struct Report {
    gets: OpFigures,
    sets: OpFigures,
    /// Failures by kind, most frequent first, with an example message.
    failures: Vec<(ErrorKind, usize, String)>,
    /// Index `i`: the calls that finished in second `i` of the run.
    seconds: Vec<SecondFigures>,
    elapsed: Duration,
}

impl Report {
    fn new(samples: &Samples, elapsed: Duration) -> Report {
        let (mut gets, mut sets) = (OpFigures::default(), OpFigures::default());
        let mut by_kind: HashMap<ErrorKind, usize> = HashMap::new();
        let mut seconds: Vec<SecondFigures> = Vec::new();
        for call in &samples.calls {
            match call.op {
                Op::Get => gets.add(call),
                Op::Set => sets.add(call),
            }
            let second = call.second as usize;
            if seconds.len() <= second {
                seconds.resize_with(second + 1, SecondFigures::default);
            }
            let s = &mut seconds[second];
            s.latencies.push(call.micros);
            match call.outcome {
                Outcome::Failed(kind) => {
                    s.failed += 1;
                    *by_kind.entry(kind).or_default() += 1;
                }
                Outcome::Ok | Outcome::Miss => s.succeeded += 1,
            }
        }
        gets.latencies.sort_unstable();
        sets.latencies.sort_unstable();
        for s in &mut seconds {
            s.latencies.sort_unstable();
        }
        let mut failures: Vec<(ErrorKind, usize, String)> = by_kind
            .into_iter()
            .map(|(kind, n)| {
                let example = samples.examples.get(&kind).cloned().unwrap_or_default();
                (kind, n, example)
            })
            .collect();
        failures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(&b.2)));
        Report {
            gets,
            sets,
            failures,
            seconds,
            elapsed,
        }
    }

    fn per_second(&self, n: usize) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }

    /// The latency table and the totals line.
    fn table(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{:<6} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "op", "count", "ops/s", "p50 µs", "p99 µs", "p999 µs", "failed"
        )];
        for (name, f) in [("GET", &self.gets), ("SET", &self.sets)] {
            if f.latencies.is_empty() {
                continue;
            }
            lines.push(format!(
                "{:<6} {:>10} {:>12.0} {:>10} {:>10} {:>10} {:>10}",
                name,
                f.succeeded,
                self.per_second(f.succeeded),
                percentile(&f.latencies, 0.50),
                percentile(&f.latencies, 0.99),
                percentile(&f.latencies, 0.999),
                f.failed
            ));
        }
        let total = self.gets.succeeded + self.sets.succeeded;
        let failed = self.gets.failed + self.sets.failed;
        lines.push(format!(
            "total  {total} ops in {:.2}s = {:.0} ops/s, {failed} errors",
            self.elapsed.as_secs_f64(),
            self.per_second(total),
        ));
        if self.gets.misses > 0 {
            lines.push(format!(
                "GET misses: {} (successful calls that found no value)",
                self.gets.misses
            ));
        }
        lines
    }

    /// One line per error kind, when calls failed.
    fn failures(&self) -> Vec<String> {
        self.failures
            .iter()
            .map(|(kind, n, example)| format!("failed: {n} × {kind:?}, e.g. {example}"))
            .collect()
    }

    /// One line per second of the run, seconds without calls included.
    fn timeline(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{:>6} {:>10} {:>10} {:>10}",
            "second", "ops", "failed", "p99 µs"
        )];
        for (i, s) in self.seconds.iter().enumerate() {
            let p99 = if s.latencies.is_empty() {
                "-".to_owned()
            } else {
                percentile(&s.latencies, 0.99).to_string()
            };
            lines.push(format!(
                "{:>6} {:>10} {:>10} {:>10}",
                i + 1,
                s.succeeded,
                s.failed,
                p99
            ));
        }
        lines
    }
}

/// The `q` quantile of `sorted` (nearest rank); `sorted` must not be empty.
fn percentile(sorted: &[u32], q: f64) -> u32 {
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 501);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&[7], 0.99), 7);
    }

    fn call(op: Op, outcome: Outcome, micros: u32, second: u32) -> Call {
        Call {
            op,
            outcome,
            micros,
            second,
        }
    }

    /// 990 fast GETs, then a server stall: 10 GETs time out after 2 s.
    fn stalled_run() -> Samples {
        let mut calls: Vec<Call> = (0..990)
            .map(|i| call(Op::Get, Outcome::Ok, 100 + i % 7, 0))
            .collect();
        calls.extend(
            (0..10).map(|_| call(Op::Get, Outcome::Failed(ErrorKind::Timeout), 2_000_000, 2)),
        );
        calls.push(call(Op::Set, Outcome::Failed(ErrorKind::Connection), 50, 2));
        let mut examples = HashMap::new();
        examples.insert(ErrorKind::Timeout, "get timed out after 2s".to_owned());
        examples.insert(
            ErrorKind::Connection,
            "cannot connect to 127.0.0.1:1".to_owned(),
        );
        Samples { calls, examples }
    }

    #[test]
    fn failed_calls_count_in_latency_but_not_in_throughput() {
        let report = Report::new(&stalled_run(), Duration::from_secs(3));
        let table = report.table();
        let get: Vec<&str> = table[1].split_whitespace().collect();
        // op, count, ops/s, p50, p99, p999, failed
        assert_eq!(get[0], "GET");
        assert_eq!(get[1], "990", "count is successful calls");
        assert_eq!(get[2], "330", "ops/s is successful calls per second");
        assert_eq!(get[5], "2000000", "the stall shows in p999: {}", table[1]);
        assert_eq!(get[6], "10");
        let set: Vec<&str> = table[2].split_whitespace().collect();
        assert_eq!((set[0], set[1], set[6]), ("SET", "0", "1"));
        assert_eq!(table[3], "total  990 ops in 3.00s = 330 ops/s, 11 errors");
    }

    #[test]
    fn failures_are_reported_by_kind() {
        let report = Report::new(&stalled_run(), Duration::from_secs(3));
        assert_eq!(
            report.failures(),
            vec![
                "failed: 10 × Timeout, e.g. get timed out after 2s".to_owned(),
                "failed: 1 × Connection, e.g. cannot connect to 127.0.0.1:1".to_owned(),
            ]
        );
        let clean = Samples {
            calls: vec![call(Op::Get, Outcome::Miss, 5, 0)],
            examples: HashMap::new(),
        };
        let report = Report::new(&clean, Duration::from_secs(1));
        assert!(report.failures().is_empty());
        assert!(
            report
                .table()
                .iter()
                .any(|l| l.starts_with("GET misses: 1 "))
        );
    }

    #[test]
    fn the_timeline_shows_the_stall_second_by_second() {
        let report = Report::new(&stalled_run(), Duration::from_secs(3));
        let timeline = report.timeline();
        let rows: Vec<Vec<&str>> = timeline[1..]
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], ["1", "990", "0", "106"]);
        assert_eq!(
            rows[1],
            ["2", "0", "0", "-"],
            "a second without calls is shown"
        );
        assert_eq!(rows[2], ["3", "0", "11", "2000000"]);
    }

    #[test]
    fn the_stop_line_names_the_limit() {
        let args = BenchArgs {
            concurrency: 1,
            duration: Duration::from_secs(2),
            ops: 300,
            value_size: 1,
            keys: 1,
            read_ratio: 1.0,
            quiet: true,
            timeline: false,
        };
        assert_eq!(
            stop_line(Some(StopReason::Ops), &args),
            "stopped: --ops limit of 300 calls reached"
        );
        assert_eq!(
            stop_line(Some(StopReason::Duration), &args),
            "stopped: --duration of 2s elapsed"
        );
    }
}
