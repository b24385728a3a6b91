//! `cachectl`: the operator's command line for the cache framework.
//!
//! It reads the same YAML as the services (`--config`, or the `CACHE_*`
//! environment), and with no configuration at all it runs on the embedded
//! in-memory backend, so `cachectl demo` works on a fresh machine with no
//! server. `--tenant` scopes a command to one tenant's namespace.
//!
//! Exit codes: 0 success, 1 an operation or configuration failed, 2 bad
//! usage, 3 the key was not found (`get`), 4 the backend is unhealthy (`health`).
#![forbid(unsafe_code)]

mod bench;
mod bignum;
mod cbor;
mod connect;
mod demo;
mod json;
mod keys;
mod render;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use cache_core::config::duration;
use cache_core::{CacheError, TypedCacheExt};

/// Everything a command can fail with.
#[derive(Debug)]
enum CliError {
    /// The cache, its configuration or the backend failed.
    Cache(CacheError),
    /// `get` found a value it cannot show in the asked format.
    Render {
        /// The key that was read.
        key: String,
        /// Why.
        source: render::RenderError,
    },
    /// `set` was given a value it will not store.
    Value(json::JsonError),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Cache(e) => e.fmt(f),
            CliError::Render { key, .. } => write!(f, "cannot show the value of {key:?}"),
            CliError::Value(e) if e.kind.is_syntax() => write!(
                f,
                "invalid value: not JSON ({e}); pass --raw to store the text as it is"
            ),
            CliError::Value(e) => write!(f, "invalid value: {e}; nothing was stored"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the cache error's own causes follow its message.
            CliError::Cache(e) => e.source(),
            CliError::Render { source, .. } => Some(source),
            CliError::Value(_) => None,
        }
    }
}

impl From<CacheError> for CliError {
    fn from(e: CacheError) -> Self {
        CliError::Cache(e)
    }
}

/// The operator's tool for the cache framework.
#[derive(Debug, Parser)]
#[command(name = "cachectl", version, about, long_about = None)]
struct Cli {
    /// YAML configuration (the services' file). Without it: the `CACHE_*`
    /// environment, else the embedded in-memory backend.
    #[arg(long, short, global = true, env = "CACHECTL_CONFIG")]
    config: Option<PathBuf>,

    /// Scope the command to this tenant's namespace.
    #[arg(long, short, global = true)]
    tenant: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through the framework on the configured backend: typed values,
    /// de-duplication, a lock, tenant isolation, cache-aside, rate limits, stats.
    Demo,
    /// Print a value (CBOR is shown as JSON, counters and text as text, other bytes as hex).
    ///
    /// CBOR is shown as it is stored, in CBOR diagnostic notation (RFC 8949
    /// §8) laid out like pretty JSON. A value made only of maps with text keys,
    /// arrays, text, numbers, booleans and null is plain JSON, as before. Other
    /// items use the notation's extensions: byte strings as `h'0a0b'` (an array
    /// of integers stays `[10, 11]`), tags as `1(1700000000)`, `undefined`,
    /// `simple(16)`, `NaN`, `Infinity`, non-text map keys as `{1: "x"}`.
    /// Bignums (tags 2 and 3) show as their decimal value (in tag form past
    /// 1 KiB). Floats show at full precision: the shortest decimal that reads
    /// back as the same number, positional from 1e-4 to 1e16 and with an
    /// exponent outside (`0.1`, `100.0`, `6.103515625e-05`, `1e+16`); a half or
    /// single float shows as the exact number it holds (a single 0.1 is
    /// `0.10000000149011612`).
    ///
    /// A map with the same key twice is refused (exit 1): CBOR does not allow
    /// it, and showing one entry would hide the other; `--format hex` shows
    /// the bytes. With `--format cbor`, `json` or `diag` a value that is not
    /// CBOR fails (exit 1); `auto` shows it as text or as hex, and when it
    /// shows hex it says on stderr why the value is not CBOR.
    ///
    /// Changes from earlier versions: floats were rounded, byte strings shown
    /// as arrays of integers, tags as `{"@@TAGGED@@": [tag, value]}`, repeated
    /// keys shown twice, and `--format cbor` printed `<not CBOR: …>` with exit 0.
    Get {
        /// The key.
        key: String,
        /// How to show the value.
        #[arg(long, value_enum, default_value_t = render::Format::Auto)]
        format: render::Format,
    },
    /// Store a value.
    ///
    /// The value is JSON, stored as CBOR (what the typed helpers read), unless
    /// `--raw`. Nothing is rounded or dropped: integers within -2^64 ..= 2^64-1
    /// are CBOR integers, larger ones bignums (tags 2 and 3); a number with a
    /// fraction or an exponent is the nearest 64-bit float, stored in the
    /// narrowest CBOR float (half, single, double) that holds it exactly; the
    /// order of object keys is kept. Refused with exit 1, storing nothing: text
    /// that is not JSON, an object with the same key twice, a number too
    /// large for a 64-bit float (`1e400`) or one that would become 0 (`1e-400`).
    /// A negative number needs no `--`: `cachectl set k -5`.
    #[command(allow_negative_numbers = true)]
    Set {
        /// The key.
        key: String,
        /// The value: JSON (stored as CBOR, what the typed helpers read) unless `--raw`.
        value: String,
        /// Time to live, e.g. `30s`, `5m`, `24h`.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        ttl: Duration,
        /// Store the value's bytes as they are instead of JSON → CBOR.
        #[arg(long)]
        raw: bool,
    },
    /// Delete keys.
    Del {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// List keys page by page (SCAN, across every cluster primary).
    Keys {
        /// Glob pattern (`*`, `?`, `[abc]`, `\` quotes).
        #[arg(long, short, default_value = "*")]
        pattern: String,
        /// Continue from the cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Keys per page (a hint to the server).
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Follow the cursor to the end instead of printing one page.
        #[arg(long)]
        all: bool,
    },
    /// Delete every key that matches a pattern: counts first, asks before deleting.
    Invalidate {
        /// Glob pattern.
        pattern: String,
        /// Delete without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// Print the backend's counters.
    ///
    /// `--prometheus` and `--watch` show the framework's metrics as this
    /// process records them (a Prometheus recorder installed before
    /// connecting) while it reads the backend through bounded, read-only
    /// probes: a `health` and `--probes` GETs of keys from one SCAN page.
    /// `--prometheus` prints the exposition text once; `--watch` refreshes a
    /// view every `--interval`: ops/s, hit ratio, p99 and errors by kind, with
    /// a chart of p99 over the last minute.
    Stats {
        /// As JSON.
        #[arg(long, conflicts_with_all = ["prometheus", "watch"])]
        json: bool,
        /// Print the metrics in the Prometheus text exposition format.
        #[arg(long, conflicts_with = "watch")]
        prometheus: bool,
        /// A live view, refreshed every `--interval` until interrupted (or `--count` refreshes).
        #[arg(long)]
        watch: bool,
        /// Time between refreshes of `--watch`.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// GETs per probe round.
        #[arg(long, default_value_t = 10)]
        probes: usize,
        /// Stop `--watch` after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Check that the backend answers.
    Health,
    /// A load generator: ops/s and p50/p99/p999 against the configured backend.
    ///
    /// It pre-fills `--keys` keys (a failure there is a warning: reads of
    /// keys that were not stored count as misses), then runs `--concurrency`
    /// tasks until `--ops` calls have been issued or `--duration` has passed,
    /// whichever comes first; calls in flight at that moment finish and count.
    ///
    /// The table, per operation: `count` and `ops/s` are successful calls (a
    /// GET that finds nothing is a successful miss); `p50`/`p99`/`p999` are
    /// over every call, failed ones included, so that a stall shows in the
    /// latency even when it ends in a timeout; `failed` counts failed calls.
    /// Then the totals (`total N ops in Ts = R ops/s, E errors`: N successes,
    /// E failures), `GET misses: N` when reads missed, `stopped: …` naming
    /// the limit that ended the run, one `failed: N × Kind, e.g. <message>`
    /// line per error kind, and with `--timeline` one row per second of the
    /// run (by the time calls finished): successes, failures and p99 of that
    /// second. The exit code is 0 whether or not calls failed.
    ///
    /// Changes from earlier versions: failed calls were left out of the
    /// latencies, and the `failed` column, the `stopped:`, `failed:` and
    /// `GET misses:` lines and `--timeline` are new.
    Bench(bench::BenchArgs),
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", render::error_chain(&err));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    // Before connecting: a cache reports to the recorder current when it is built.
    let metrics = match &cli.command {
        Command::Stats {
            prometheus, watch, ..
        } if *prometheus || *watch => Some(watch::install()?),
        _ => None,
    };
    let target = connect::Target::open(cli.config.as_deref(), cli.tenant.as_deref()).await?;
    let result = execute(&target, cli.command, metrics).await;
    target.close().await;
    result
}

async fn execute(
    target: &connect::Target,
    command: Command,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<ExitCode, CliError> {
    let cache = target.cache.clone();
    let code = match command {
        Command::Demo => {
            demo::run(target).await?;
            ExitCode::SUCCESS
        }
        Command::Get { key, format } => match cache.get(&key).await? {
            Some(value) => {
                let shown = render::value(&value, format)
                    .map_err(|source| CliError::Render { key, source })?;
                if let Some(note) = shown.note {
                    eprintln!("note: {note}");
                }
                println!("{}", shown.text);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("not found: {key:?}");
                ExitCode::from(3)
            }
        },
        Command::Set {
            key,
            value,
            ttl,
            raw,
        } => {
            if raw {
                cache.set(&key, value.as_bytes(), ttl).await?;
            } else {
                let value = json::parse(&value).map_err(CliError::Value)?;
                cache.set_as(&key, &value, ttl).await?;
            }
            println!("stored {key:?} for {}", duration::format(ttl));
            ExitCode::SUCCESS
        }
        Command::Del { keys } => {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let n = cache.delete_many(&refs).await?;
            println!("deleted {n} of {} keys", keys.len());
            ExitCode::SUCCESS
        }
        Command::Keys {
            pattern,
            cursor,
            count,
            all,
        } => {
            keys::list(cache.as_ref(), &pattern, cursor, count, all).await?;
            ExitCode::SUCCESS
        }
        Command::Invalidate { pattern, yes } => {
            keys::invalidate(cache.as_ref(), &pattern, yes).await?;
            ExitCode::SUCCESS
        }
        Command::Stats {
            json,
            prometheus,
            watch,
            interval,
            probes,
            count,
        } => {
            match (&metrics, watch, prometheus) {
                (Some(handle), true, _) => {
                    let options = watch::WatchOptions {
                        interval,
                        probes,
                        count,
                    };
                    watch::watch(handle, cache, &target.description, options).await;
                }
                (Some(handle), false, true) => watch::prometheus(handle, cache, probes).await,
                _ => render::stats(target, json),
            }
            ExitCode::SUCCESS
        }
        Command::Health => match cache.health().await {
            Ok(()) => {
                println!("healthy: {}", target.description);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "unhealthy: {}: {}",
                    target.description,
                    render::error_chain(&e)
                );
                ExitCode::from(4)
            }
        },
        Command::Bench(args) => {
            bench::run(cache.clone(), &target.description, args).await?;
            ExitCode::SUCCESS
        }
    };
    Ok(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
