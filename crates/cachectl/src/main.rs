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
mod connect;
mod demo;
mod keys;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use cache_core::config::duration;
use cache_core::{CacheError, TypedCacheExt};

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
    Get {
        /// The key.
        key: String,
        /// How to show the value.
        #[arg(long, value_enum, default_value_t = render::Format::Auto)]
        format: render::Format,
    },
    /// Store a value.
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
    Stats {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that the backend answers.
    Health,
    /// A load generator: ops/s and p50/p99/p999 against the configured backend.
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

async fn run(cli: Cli) -> Result<ExitCode, CacheError> {
    let target = connect::Target::open(cli.config.as_deref(), cli.tenant.as_deref()).await?;
    let cache = target.cache.clone();
    let code = match cli.command {
        Command::Demo => {
            demo::run(&target).await?;
            ExitCode::SUCCESS
        }
        Command::Get { key, format } => match cache.get(&key).await? {
            Some(value) => {
                println!("{}", render::value(&value, format));
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
                let json: serde_json::Value = serde_json::from_str(&value).map_err(|e| {
                    CacheError::Config(cache_core::ConfigError::new(
                        "VALUE",
                        format!("not JSON ({e}); pass --raw to store the text as it is"),
                    ))
                })?;
                cache.set_as(&key, &json, ttl).await?;
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
        Command::Stats { json } => {
            render::stats(&target, json);
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
    target.close().await;
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
