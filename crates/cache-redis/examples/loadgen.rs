//! Load generator: what `RedisCache` costs over a bare redis-rs connection.
//!
//! In one run it measures `GET` and `SET` (100-byte values) at 1, 16 and 64
//! concurrent tasks through
//!
//! - (a) `RedisCache` with every call its own command (`coalesce_gets` off,
//!   otherwise the default config);
//! - (b) one raw redis-rs `MultiplexedConnection` sending the same commands
//!   (`GET k`, `SET k v PX ttl`): the floor, so (a)/(b) is this crate's cost;
//! - (c) `redis-benchmark -c N -d 100 -t get,set`: the server's ceiling with
//!   a C client,
//!
//! - (d) for `GET`, `RedisCache` with `coalesce_gets` on (concurrent `get`s
//!   queued behind one in flight share an `MGET`),
//!
//! and prints throughput, p50/p99 latency, this process's CPU per operation
//! and the server's CPU per operation (from `INFO cpu`), with the ratios
//! cache/raw against the targets (throughput ≥ 0.95×, p99 ≤ 1.10×, CPU ≤
//! 1.10×; coalesced `GET` ≥ 1.3× at 64 tasks with p99 ≤ 1.0×, ≥ 0.95× at
//! 1 task). The clients run in interleaved rounds (the order rotates each
//! round); figures are medians over rounds, ratios the median of the
//! per-round ratios (each round's measurements ran back to back under the
//! same background load). The last line reads
//! `summary: min thr× X, max p99× Y, max cpu× Z, coalesced GET×64 W`: X, Y, Z
//! over `GET` and `SET` of (a) at every task count, W the coalesced `GET`
//! throughput over raw at 64 tasks. `--profile <target>` runs one client
//! alone, for `valgrind --tool=callgrind` instruction counts (see
//! docs/BENCHMARKS.md). `--pools` adds the
//! connection-strategy comparison behind ADR 0005 (`GET` through one or four
//! managers, a bare `ConnectionManager`, and deadpool-redis with a checkout
//! per operation). `--recorder prometheus` adds the plain cache built under a
//! `metrics-exporter-prometheus` recorder (rows `GETp`/`SETp`; its line
//! `metrics:` gives its CPU per op over the same cache built with no
//! recorder, and what the instrumentation alone costs with none, issue 10).
//! `--raw-nodelay` adds raw redis-rs with `TCP_NODELAY`, the cache's socket
//! setting (rows `GETn`/`SETn`; its line `layer:` gives the plain cache over
//! it), to tell the layer's cost from the setting's.
//!
//! ```text
//! cargo run --release -p cache-redis --example loadgen
//! cargo run --release -p cache-redis --example loadgen -- --pools --rounds 3
//! cargo run --release -p cache-redis --example loadgen -- --addr 127.0.0.1:7000
//! ```
//!
//! Without `--addr` it starts its own `redis-server` (or `$CACHE_TEST_REDIS_SERVER`)
//! on a free loopback port. It only ever talks to loopback addresses, and
//! every measurement is bounded in operations (`--ops`) and time
//! (`--max-secs`). Client and server share the machine: compare figures of one
//! run, not across machines.

use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::RedisServer;
use clap::Parser;
use redis::aio::{ConnectionManager, MultiplexedConnection};

/// The benchmark binary: `$CACHE_TEST_REDIS_BENCHMARK`, or `redis-benchmark`.
const BENCHMARK_ENV: &str = "CACHE_TEST_REDIS_BENCHMARK";

/// The TTL of every `SET`.
const TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
#[command(about = "GET/SET throughput and latency: RedisCache vs raw redis-rs vs redis-benchmark")]
struct Args {
    /// A running server on a loopback address (default: start one).
    #[arg(long)]
    addr: Option<String>,
    /// Operations per measurement.
    #[arg(long, default_value_t = 30_000)]
    ops: usize,
    /// Upper bound of one measurement, in seconds (it stops early past it).
    #[arg(long, default_value_t = 10)]
    max_secs: u64,
    /// Concurrent tasks, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    tasks: Vec<usize>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Distinct keys the operations cycle through.
    #[arg(long, default_value_t = 1_000)]
    keys: usize,
    /// Rounds of each measurement (interleaved a/b); the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Skip redis-benchmark.
    #[arg(long)]
    no_benchmark: bool,
    /// Also compare connection strategies (for ADR 0005).
    #[arg(long)]
    pools: bool,
    /// Only compare connection strategies (implies `--pools`).
    #[arg(long)]
    pools_only: bool,
    /// Only run `--ops` operations of one client and operation,
    /// `<cache|coalesced|raw|prometheus>:<get|set>`, at the first `--tasks`,
    /// no warm-up, and print nothing else: for instruction counts under
    /// callgrind (`prometheus` is the plain cache built under the recorder
    /// of `--recorder prometheus`).
    #[arg(long)]
    profile: Option<String>,
    /// Also measure the plain cache built under a metrics recorder
    /// (`prometheus`: `metrics-exporter-prometheus` installed as the global
    /// recorder, upkeep every 5 s as its exporters do) against the same
    /// cache built before it, with no recorder, in the same rounds (issue 10).
    #[arg(long, value_enum, default_value_t = Recorder::None)]
    recorder: Recorder,
    /// Also measure raw redis-rs with `TCP_NODELAY` on, the socket setting
    /// of `RedisCache` (raw uses redis-rs's default, Nagle): it tells the
    /// cost of the layer from the cost of the setting.
    #[arg(long)]
    raw_nodelay: bool,
}

/// The metrics recorder of `--recorder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Recorder {
    /// No recorder: only the caches without one are measured.
    None,
    /// A `metrics-exporter-prometheus` recorder.
    Prometheus,
}

/// The `RedisCache` clients (beside raw redis-rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// `coalesce_gets` off, no recorder: the issue 12 §1 figures.
    Plain,
    /// `coalesce_gets` on (`GET` only).
    Coalesced,
    /// As `Plain`, built under the `--recorder`.
    Recorded,
    /// Not a cache: raw redis-rs with `TCP_NODELAY` (`--raw-nodelay`).
    RawNodelay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Set => "SET",
        }
    }
}

/// A client under measurement.
enum Target {
    Cache(RedisCache),
    Multiplexed(MultiplexedConnection),
    Managers(Vec<ConnectionManager>, AtomicUsize),
    Deadpool(deadpool_redis::Pool),
}

impl Target {
    async fn run(&self, op: Op, key: &str, value: &[u8]) -> Result<(), String> {
        match self {
            Target::Cache(cache) => match op {
                Op::Get => cache.get(key).await.map(drop),
                Op::Set => cache.set(key, value, TTL).await,
            }
            .map_err(|e| e.to_string()),
            Target::Multiplexed(conn) => raw(conn.clone(), op, key, value).await,
            Target::Managers(managers, next) => {
                let i = next.fetch_add(1, Ordering::Relaxed) % managers.len();
                raw(managers[i].clone(), op, key, value).await
            }
            Target::Deadpool(pool) => {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                command(op, key, value)
                    .query_async::<redis::Value>(&mut *conn)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

fn command(op: Op, key: &str, value: &[u8]) -> redis::Cmd {
    match op {
        Op::Get => {
            let mut cmd = redis::cmd("GET");
            cmd.arg(key);
            cmd
        }
        Op::Set => {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key)
                .arg(value)
                .arg("PX")
                .arg(TTL.as_millis() as u64);
            cmd
        }
    }
}

async fn raw<C: redis::aio::ConnectionLike>(
    mut conn: C,
    op: Op,
    key: &str,
    value: &[u8],
) -> Result<(), String> {
    command(op, key, value)
        .query_async::<redis::Value>(&mut conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// One measurement's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time this process spent per operation (all threads), when known:
    /// steadier than throughput when other processes load the machine.
    cpu_per_op: Option<Duration>,
    /// CPU time the server spent per operation (`INFO cpu`, user + system),
    /// when known.
    server_cpu_per_op: Option<Duration>,
    errors: usize,
}

/// CPU time all threads of this process have run, from
/// `/proc/self/task/*/schedstat` (Linux; nanoseconds), or `None` elsewhere.
fn process_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The server's CPU time so far (`used_cpu_user` + `used_cpu_sys` of `INFO
/// cpu`), asked on a connection of its own.
async fn server_cpu_time(info: &MultiplexedConnection) -> Option<Duration> {
    let text: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut info.clone())
        .await
        .ok()?;
    let field = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .trim()
            .parse()
            .ok()
    };
    Some(Duration::from_secs_f64(
        field("used_cpu_user")? + field("used_cpu_sys")?,
    ))
}

/// Runs `ops` operations split over `tasks` tasks (stopping at `max`) and
/// returns throughput and latency percentiles.
#[allow(clippy::too_many_arguments)]
async fn measure(
    target: &Arc<Target>,
    op: Op,
    tasks: usize,
    ops: usize,
    keys: &Arc<Vec<String>>,
    value: &Arc<Vec<u8>>,
    max: Duration,
    info: Option<&MultiplexedConnection>,
) -> Sample {
    let per_task = ops.div_ceil(tasks);
    let server_before = match info {
        Some(info) => server_cpu_time(info).await,
        None => None,
    };
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let deadline = started + max;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (target, keys, value) = (target.clone(), keys.clone(), value.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                let mut errors = 0;
                for i in 0..per_task {
                    let key = &keys[(t * per_task + i) % keys.len()];
                    let begun = Instant::now();
                    if target.run(op, key, &value).await.is_err() {
                        errors += 1;
                    }
                    let now = Instant::now();
                    latencies.push(now - begun);
                    if now >= deadline {
                        break;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ops);
    let mut errors = 0;
    for handle in handles {
        let (mut l, e) = handle.await.expect("a load task panicked");
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let done = latencies.len().max(1) as u32;
    let cpu_per_op = cpu_before
        .zip(process_cpu_time())
        .map(|(before, after)| (after.saturating_sub(before)) / done);
    let server_after = match info {
        Some(info) => server_cpu_time(info).await,
        None => None,
    };
    let server_cpu_per_op = server_before
        .zip(server_after)
        .map(|(before, after)| (after.saturating_sub(before)) / done);
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Sample {
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_per_op,
        server_cpu_per_op,
        errors,
    }
}

/// The median of each figure over rounds.
fn median(samples: &mut [Sample]) -> Sample {
    let mid = samples.len() / 2;
    let mut pick = |key: fn(&Sample) -> f64| {
        samples.sort_by(|a, b| key(a).total_cmp(&key(b)));
        samples[mid]
    };
    Sample {
        ops_per_sec: pick(|s| s.ops_per_sec).ops_per_sec,
        p50: pick(|s| s.p50.as_secs_f64()).p50,
        p99: pick(|s| s.p99.as_secs_f64()).p99,
        cpu_per_op: pick(|s| s.cpu_per_op.map_or(0.0, |d| d.as_secs_f64())).cpu_per_op,
        server_cpu_per_op: pick(|s| s.server_cpu_per_op.map_or(0.0, |d| d.as_secs_f64()))
            .server_cpu_per_op,
        errors: samples.iter().map(|s| s.errors).sum(),
    }
}

/// `redis-benchmark` figures for GET and SET at `tasks` connections.
fn redis_benchmark(
    host: &str,
    port: u16,
    tasks: usize,
    args: &Args,
) -> Result<[Sample; 2], String> {
    let binary = std::env::var(BENCHMARK_ENV).unwrap_or_else(|_| "redis-benchmark".to_owned());
    let out = Command::new(&binary)
        .args(["-h", host, "-p", &port.to_string()])
        .args(["-c", &tasks.to_string(), "-n", &args.ops.to_string()])
        .args(["-d", &args.value_size.to_string()])
        .args(["-r", &args.keys.to_string(), "-t", "set,get", "--csv"])
        .output()
        .map_err(|e| format!("cannot run {binary}: {e} (set {BENCHMARK_ENV})"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| -> Result<Sample, String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("\"{name}\"")))
            .ok_or_else(|| format!("no {name} row in redis-benchmark output: {text}"))?;
        let fields: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        // "test","rps","avg","min","p50","p95","p99","max" (latencies in ms)
        let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
        match fields.as_slice() {
            [rps, _avg, _min, p50, _p95, p99, ..] => Ok(Sample {
                ops_per_sec: *rps,
                p50: ms(*p50),
                p99: ms(*p99),
                cpu_per_op: None,
                server_cpu_per_op: None,
                errors: 0,
            }),
            _ => Err(format!("cannot parse redis-benchmark row: {line}")),
        }
    };
    Ok([row("GET")?, row("SET")?])
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn cpu(s: &Sample) -> String {
    s.cpu_per_op.map_or_else(|| "-".to_owned(), us)
}

fn server_cpu(s: &Sample) -> String {
    s.server_cpu_per_op.map_or_else(|| "-".to_owned(), us)
}

fn kops(s: &Sample) -> String {
    format!("{:.1}k", s.ops_per_sec / 1000.0)
}

/// Refuses anything but a loopback address: this tool sends load.
fn loopback_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("`{addr}` is not host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("bad port in `{addr}`"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "`{addr}` is not a loopback address; loadgen only loads loopback servers"
        ));
    }
    Ok((host.to_owned(), port))
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.tasks.contains(&0) || args.rounds == 0 || args.ops == 0 || args.keys == 0 {
        return Err("--tasks, --rounds, --ops and --keys must be at least 1".to_owned());
    }
    let server = match &args.addr {
        Some(_) => None,
        None => Some(RedisServer::start()),
    };
    let addr = match (&args.addr, &server) {
        (Some(addr), _) => addr.clone(),
        (None, Some(server)) => server.addr(),
        (None, None) => unreachable!("a server was started"),
    };
    let (host, port) = loopback_host_port(&addr)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(&args, &addr, &host, port))
}

async fn run(args: &Args, addr: &str, host: &str, port: u16) -> Result<(), String> {
    let keys: Arc<Vec<String>> = Arc::new((0..args.keys).map(|i| format!("loadgen:{i}")).collect());
    let value = Arc::new(vec![b'x'; args.value_size]);
    let max = Duration::from_secs(args.max_secs);
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;

    let connect = |pool_size: usize, coalesce: bool| {
        let mut config = RedisConfig::default();
        config.addrs = vec![addr.to_owned()];
        config.pool_size = pool_size;
        config.coalesce_gets = coalesce;
        async move {
            RedisCache::connect(&config)
                .await
                .map(|c| Arc::new(Target::Cache(c)))
                .map_err(|e| e.to_string())
        }
    };
    let cache_with = |pool_size: usize| connect(pool_size, RedisConfig::default().coalesce_gets);
    // Section 1's figure is the plain path: every call its own command.
    let cache = connect(RedisConfig::default().pool_size, false).await?;
    let coalesced = connect(RedisConfig::default().pool_size, true).await?;
    // Measured before any recorder exists, like the caches above.
    let instrumentation = instrumentation_per_call();
    let profiles_recorder = args
        .profile
        .as_deref()
        .is_some_and(|p| p.starts_with("prometheus:"));
    let recorded = if args.recorder == Recorder::Prometheus || profiles_recorder {
        install_prometheus()?;
        Some(connect(RedisConfig::default().pool_size, false).await?)
    } else {
        None
    };
    let multiplexed = Arc::new(Target::Multiplexed(
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?,
    ));
    let raw_nodelay = if args.raw_nodelay {
        let info = redis::IntoConnectionInfo::into_connection_info(format!("redis://{addr}"))
            .map_err(|e| e.to_string())?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let conn = redis::Client::open(info)
            .map_err(|e| e.to_string())?
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        Some(Arc::new(Target::Multiplexed(conn)))
    } else {
        None
    };
    // `INFO cpu` goes on a connection of its own.
    let info = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    // Every GET hits: fill the keys first.
    for key in keys.iter() {
        multiplexed.run(Op::Set, key, &value).await?;
    }

    if let Some(name) = &args.profile {
        let (target, op) = match name.split_once(':') {
            Some(("cache", op)) => (&cache, op),
            Some(("coalesced", op)) => (&coalesced, op),
            Some(("raw", op)) => (&multiplexed, op),
            Some(("prometheus", op)) => (recorded.as_ref().expect("built for the profile"), op),
            _ => {
                return Err(format!(
                    "--profile takes <cache|coalesced|raw|prometheus>:<get|set>, not {name}"
                ));
            }
        };
        let op = match op {
            "get" => Op::Get,
            "set" => Op::Set,
            other => return Err(format!("--profile: no operation {other}")),
        };
        let s = measure(
            target,
            op,
            args.tasks[0],
            args.ops,
            &keys,
            &value,
            max,
            None,
        )
        .await;
        if s.errors > 0 {
            return Err(format!("{} errors", s.errors));
        }
        return Ok(());
    }

    println!(
        "loadgen: server {addr}, {} ops per measurement (max {}s), {}-byte values, {} keys, \
         median of {} round(s), {} tokio workers",
        args.ops, args.max_secs, args.value_size, args.keys, args.rounds, args.workers
    );
    if args.pools_only {
        return compare_pools(args, addr, &client, &keys, &value, max, &cache_with).await;
    }
    println!(
        "\n{:<4} {:>5} | {:>8} {:>7} {:>7} {:>6} {:>6} | {:>8} {:>7} {:>7} {:>6} {:>6} | {:>5} {:>5} {:>5} {:>6} | {:>8} {:>7} {:>7}",
        "op",
        "tasks",
        "cache/s",
        "p50µs",
        "p99µs",
        "cpuµs",
        "srvµs",
        "raw/s",
        "p50µs",
        "p99µs",
        "cpuµs",
        "srvµs",
        "thr×",
        "p99×",
        "cpu×",
        "target",
        "bench/s",
        "p50µs",
        "p99µs"
    );
    let mut all_met = true;
    let mut summary = Summary::default();
    // (op, tasks, CPU per op ×, throughput ×) of the recorded cache over the plain one.
    let mut recorder_rows: Vec<(Op, usize, f64, f64)> = Vec::new();
    // The plain cache over raw with TCP_NODELAY, by op and tasks.
    let mut layer_rows: Vec<String> = Vec::new();
    // The plain cache's GET CPU per op, by tasks.
    let mut plain_get_cpu: Vec<(usize, Option<Duration>)> = Vec::new();
    for &tasks in &args.tasks {
        let bench = if args.no_benchmark {
            None
        } else {
            match redis_benchmark(host, port, tasks, args) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("redis-benchmark skipped: {e}");
                    None
                }
            }
        };
        for op in [Op::Get, Op::Set] {
            // raw first: every ratio is over it. Coalescing only changes GET.
            let mut targets = vec![&multiplexed, &cache];
            let mut clients = vec![Client::Plain];
            if op == Op::Get {
                targets.push(&coalesced);
                clients.push(Client::Coalesced);
            }
            if let Some(recorded) = &recorded {
                targets.push(recorded);
                clients.push(Client::Recorded);
            }
            if let Some(raw_nodelay) = &raw_nodelay {
                targets.push(raw_nodelay);
                clients.push(Client::RawNodelay);
            }
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
            // Warm up each, then interleave rounds, rotating the order, so
            // that drift hits each alike.
            let warm = (args.ops / 10).max(tasks);
            for target in &targets {
                measure(target, op, tasks, warm, &keys, &value, max, None).await;
            }
            for round in 0..args.rounds {
                for i in 0..targets.len() {
                    let t = (round + i) % targets.len();
                    let sample = measure(
                        targets[t],
                        op,
                        tasks,
                        args.ops,
                        &keys,
                        &value,
                        max,
                        Some(&info),
                    )
                    .await;
                    samples[t].push(sample);
                }
            }
            let errors: usize = samples.iter().flatten().map(|s| s.errors).sum();
            if errors > 0 {
                return Err(format!("{errors} errors at {} {tasks} tasks", op.name()));
            }
            let raw = median(&mut samples[0].clone());
            let bench = bench.map(|b| if op == Op::Get { b[0] } else { b[1] });
            for (t, rounds) in samples.iter().enumerate().skip(1) {
                let client = clients[t - 1];
                let ratios = Ratios::of(rounds, &samples[0]);
                let met = match client {
                    Client::Coalesced => match tasks {
                        1 => ratios.thr >= 0.95,
                        64 => ratios.thr >= 1.3 && ratios.p99 <= 1.0,
                        _ => true,
                    },
                    Client::Plain => {
                        summary.add(&ratios);
                        ratios.thr >= 0.95 && ratios.p99 <= 1.1 && ratios.cpu <= 1.1
                    }
                    // Its target is over the plain cache, not raw.
                    Client::Recorded => {
                        let over_plain = Ratios::of(rounds, &samples[1]);
                        recorder_rows.push((op, tasks, over_plain.cpu, over_plain.thr));
                        over_plain.cpu <= 1.1
                    }
                    // No target: the plain cache over it is the layer's cost.
                    Client::RawNodelay => {
                        let layer = Ratios::of(&samples[1], rounds);
                        layer_rows.push(format!(
                            "{}×{tasks} thr {:.2} p99 {:.2} cpu {:.2}",
                            op.name(),
                            layer.thr,
                            layer.p99,
                            layer.cpu
                        ));
                        true
                    }
                };
                if client == Client::Coalesced && tasks == 64 {
                    summary.coalesced_get_64 = Some(ratios.thr);
                }
                if client == Client::Plain && op == Op::Get {
                    plain_get_cpu.push((tasks, median(&mut rounds.clone()).cpu_per_op));
                }
                all_met &= met;
                let s = median(&mut rounds.clone());
                let (bt, bp50, bp99) = match (&bench, t) {
                    (Some(b), 1) => (kops(b), us(b.p50), us(b.p99)),
                    _ => ("-".into(), "-".into(), "-".into()),
                };
                println!(
                    "{:<4} {:>5} | {:>8} {:>7} {:>7} {:>6} {:>6} | {:>8} {:>7} {:>7} {:>6} {:>6} | {:>5.2} {:>5.2} {:>5.2} {:>6} | {:>8} {:>7} {:>7}",
                    match (client, op) {
                        (Client::Plain, _) => op.name(),
                        (Client::Coalesced, _) => "GETc",
                        (Client::Recorded, Op::Get) => "GETp",
                        (Client::Recorded, Op::Set) => "SETp",
                        (Client::RawNodelay, Op::Get) => "GETn",
                        (Client::RawNodelay, Op::Set) => "SETn",
                    },
                    tasks,
                    kops(&s),
                    us(s.p50),
                    us(s.p99),
                    cpu(&s),
                    server_cpu(&s),
                    kops(&raw),
                    us(raw.p50),
                    us(raw.p99),
                    cpu(&raw),
                    server_cpu(&raw),
                    ratios.thr,
                    ratios.p99,
                    ratios.cpu,
                    if met { "met" } else { "MISSED" },
                    bt,
                    bp50,
                    bp99
                );
            }
        }
    }
    println!(
        "\ncache = RedisCache (pool_size {}, coalesce_gets off: each call its own command); \
         GETc = RedisCache with coalesce_gets on (the default: {}); raw = one redis-rs \
         MultiplexedConnection, same commands (redis-rs's default socket: Nagle); GETp/SETp = \
         the plain cache built under the --recorder; GETn/SETn = raw with TCP_NODELAY (as the \
         cache); bench = redis-benchmark -c <tasks> -d {} (C \
         client, no pipelining); cpuµs = this process's CPU time per operation (all threads, \
         so client only); srvµs = the server's CPU per operation (INFO cpu). Targets: thr× ≥ \
         0.95, p99× ≤ 1.10, cpu× ≤ 1.10; GETc thr× ≥ 1.3 with p99× ≤ 1.0 at 64 tasks, ≥ 0.95 \
         at 1 — {}",
        RedisConfig::default().pool_size,
        RedisConfig::default().coalesce_gets,
        args.value_size,
        if all_met { "all met" } else { "some missed" }
    );

    if args.pools {
        compare_pools(args, addr, &client, &keys, &value, max, &cache_with).await?;
    }
    if !layer_rows.is_empty() {
        println!(
            "layer: the plain cache ÷ raw with TCP_NODELAY (the cache's socket setting): {}",
            layer_rows.join(", ")
        );
    }
    println!(
        "{}",
        metrics_line(instrumentation, &plain_get_cpu, &recorder_rows)
    );
    println!("{summary}");
    Ok(())
}

/// The issue 10 line: what the instrumentation costs with no recorder, as a
/// share of the plain cache's CPU per `GET` (a build without it cannot be
/// had here: the test kit turns the `metrics` feature on), and with
/// `--recorder prometheus` the recorded cache's CPU per op over the plain one.
fn metrics_line(
    instrumentation: Duration,
    plain_get_cpu: &[(usize, Option<Duration>)],
    recorder_rows: &[(Op, usize, f64, f64)],
) -> String {
    let share = plain_get_cpu
        .iter()
        .filter_map(|(tasks, cpu)| {
            let cpu = cpu.filter(|c| !c.is_zero())?;
            Some(format!(
                "{:.2}% at {tasks}",
                100.0 * instrumentation.as_secs_f64() / cpu.as_secs_f64()
            ))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut line = format!(
        "metrics: no recorder, the instrumentation of a call alone {:.1} ns = {share} task(s) \
         of the plain GET's CPU per op (target ≤ 3%)",
        instrumentation.as_secs_f64() * 1e9
    );
    if !recorder_rows.is_empty() {
        let rows: Vec<String> = recorder_rows
            .iter()
            .map(|(op, tasks, cpu, _)| format!("{}×{tasks} {cpu:.2}", op.name()))
            .collect();
        let max_cpu = recorder_rows.iter().map(|r| r.2).fold(0.0, f64::max);
        let min_thr = recorder_rows
            .iter()
            .map(|r| r.3)
            .fold(f64::INFINITY, f64::min);
        line.push_str(&format!(
            "; Prometheus recorder ÷ no recorder, client CPU per op: {}; max cpu× {max_cpu:.2} \
             (target ≤ 1.10), min thr× {min_thr:.2}",
            rows.join(", ")
        ));
    }
    line
}

/// Nanoseconds per call of what `RedisCache` runs around every call for its
/// metrics and span with no recorder installed (the operation timer, the
/// span's enabled check, the count and the node-health check), averaged over a
/// million calls. Call it before any recorder is installed.
fn instrumentation_per_call() -> Duration {
    use cache_core::metrics::OpMetrics;
    const CALLS: u32 = 1_000_000;
    let metrics = OpMetrics::new("redis");
    let broken = std::sync::atomic::AtomicBool::new(false);
    let answer: cache_core::Result<Option<bytes::Bytes>> = Ok(None);
    let started = Instant::now();
    for _ in 0..CALLS {
        let timer = metrics.start();
        let span = tracing::debug_span!(
            "cache.redis",
            otel.name = "get",
            otel.kind = "client",
            db.system.name = "redis",
            db.operation.name = "get",
            server.address = "127.0.0.1",
            server.port = 6379u16,
            db.namespace = 0i64,
            error.type = tracing::field::Empty,
        );
        std::hint::black_box(span.is_disabled());
        let answer = std::hint::black_box(&answer);
        metrics.finish(cache_core::Operation::Get, timer, answer);
        std::hint::black_box(broken.load(Ordering::Relaxed));
    }
    started.elapsed() / CALLS
}

/// Installs a `metrics-exporter-prometheus` recorder as the global one, with
/// its upkeep (draining histogram buckets) every 5 s on a thread of its own,
/// as its exporters run it.
fn install_prometheus() -> Result<(), String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(5));
            handle.run_upkeep();
        }
    });
    Ok(())
}

/// Ratios of one client over raw: the median of the per-round ratios (each
/// round's measurements ran back to back under the same background load:
/// steadier than the ratio of the medians on a shared machine).
struct Ratios {
    thr: f64,
    p99: f64,
    cpu: f64,
}

impl Ratios {
    fn of(rounds: &[Sample], raw: &[Sample]) -> Ratios {
        let ratio = |num: fn(&Sample) -> f64| {
            let mut r: Vec<f64> = rounds
                .iter()
                .zip(raw)
                .map(|(x, y)| num(x) / num(y))
                .collect();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        Ratios {
            thr: ratio(|s| s.ops_per_sec),
            p99: ratio(|s| s.p99.as_secs_f64()),
            cpu: ratio(|s| s.cpu_per_op.map_or(f64::NAN, |d| d.as_secs_f64())),
        }
    }
}

/// The last line: the worst ratios of the shipped cache over GET and SET at
/// every task count, and the coalesced GET at 64 tasks.
struct Summary {
    min_thr: f64,
    max_p99: f64,
    max_cpu: f64,
    coalesced_get_64: Option<f64>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            min_thr: f64::INFINITY,
            max_p99: 0.0,
            max_cpu: 0.0,
            coalesced_get_64: None,
        }
    }
}

impl Summary {
    fn add(&mut self, r: &Ratios) {
        self.min_thr = self.min_thr.min(r.thr);
        self.max_p99 = self.max_p99.max(r.p99);
        self.max_cpu = self.max_cpu.max(r.cpu);
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self
            .coalesced_get_64
            .map_or_else(|| "-".to_owned(), |w| format!("{w:.2}"));
        write!(
            f,
            "summary: min thr× {:.2}, max p99× {:.2}, max cpu× {:.2}, coalesced GET×64 {w}",
            self.min_thr, self.max_p99, self.max_cpu
        )
    }
}

/// GET through each connection strategy, for ADR 0005.
async fn compare_pools<F, Fut>(
    args: &Args,
    addr: &str,
    client: &redis::Client,
    keys: &Arc<Vec<String>>,
    value: &Arc<Vec<u8>>,
    max: Duration,
    cache_with: &F,
) -> Result<(), String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Arc<Target>, String>>,
{
    let manager = || async {
        client
            .get_connection_manager()
            .await
            .map_err(|e| e.to_string())
    };
    let mut managers = Vec::new();
    for _ in 0..4 {
        managers.push(manager().await?);
    }
    let mut pool_config = deadpool_redis::Config::from_url(format!("redis://{addr}"));
    pool_config.pool = Some(deadpool_redis::PoolConfig::new(64));
    let pool = pool_config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| e.to_string())?;
    let strategies: Vec<(&str, Arc<Target>)> = vec![
        ("RedisCache pool_size 1", cache_with(1).await?),
        ("RedisCache pool_size 4", cache_with(4).await?),
        (
            "raw MultiplexedConnection",
            Arc::new(Target::Multiplexed(
                client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| e.to_string())?,
            )),
        ),
        (
            "raw 1 ConnectionManager",
            Arc::new(Target::Managers(
                vec![manager().await?],
                AtomicUsize::new(0),
            )),
        ),
        (
            "raw 4 ConnectionManagers",
            Arc::new(Target::Managers(managers, AtomicUsize::new(0))),
        ),
        (
            "deadpool-redis get() per op",
            Arc::new(Target::Deadpool(pool)),
        ),
    ];
    println!("\nGET by connection strategy: throughput (ops/s), p99 (µs), client CPU per op (µs):");
    print!("{:<30}", "strategy");
    for tasks in &args.tasks {
        print!(
            " | {:>8} {:>7} {:>5}",
            format!("{tasks} task"),
            "p99",
            "cpu"
        );
    }
    println!();
    for (name, target) in &strategies {
        print!("{name:<30}");
        for &tasks in &args.tasks {
            let warm = (args.ops / 10).max(tasks);
            measure(target, Op::Get, tasks, warm, keys, value, max, None).await;
            let mut rounds = Vec::new();
            for _ in 0..args.rounds {
                rounds
                    .push(measure(target, Op::Get, tasks, args.ops, keys, value, max, None).await);
            }
            let s = median(&mut rounds);
            if s.errors > 0 {
                return Err(format!("{name}: {} errors at {tasks} tasks", s.errors));
            }
            print!(" | {:>8} {:>7} {:>5}", kops(&s), us(s.p99), cpu(&s));
        }
        println!();
    }
    Ok(())
}
