//! [`RedisConfig`]: the serde configuration of a [`RedisCache`](crate::RedisCache)
//! (the `cache.redis:` section of a config file). Its one validator is
//! [`RedisConfig::validate`]; [`RedisCache::connect`](crate::RedisCache::connect)
//! runs the same code, so a config that validates connects (or fails at I/O).

use std::path::PathBuf;
use std::time::Duration;

use cache_core::config::{Secret, duration, null_as_default};
use serde::{Deserialize, Serialize};

/// How the Redis servers are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RedisMode {
    /// One server (or an ElastiCache serverless / single-node endpoint).
    #[default]
    Standalone,
    /// Redis/Valkey Cluster: `addrs` are seed nodes.
    Cluster,
    /// A master found through Sentinel: `addrs` are the sentinels.
    Sentinel,
}

/// The configuration of a [`RedisCache`](crate::RedisCache): the
/// `cache.redis:` section. Rejects unknown keys by name; every field but
/// `addrs` has a safe default. Services that build one in code use
/// [`RedisCache::builder`](crate::RedisCache::builder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Standalone, cluster or sentinel.
    pub mode: RedisMode,
    /// `host:port` addresses: the server, the cluster seed nodes, or the sentinels.
    pub addrs: Vec<String>,
    /// Sentinel mode: the monitored master's name. Default `mymaster`.
    pub sentinel_master: String,
    /// ACL user name (Redis 6+). Empty for password-only AUTH.
    pub username: Option<String>,
    /// Password (ACL or `requirepass`). Never printed.
    pub password: Option<Secret>,
    /// Database index (standalone and sentinel only; cluster has only 0).
    pub database: i64,
    /// TLS.
    #[serde(deserialize_with = "null_as_default")]
    pub tls: TlsConfig,
    /// Multiplexed connections kept open per node. Default 1: one multiplexed
    /// connection pipelines concurrent commands best (ADR 0005 has the numbers).
    pub pool_size: usize,
    /// How long to wait for a connection (TCP + TLS + AUTH). Default 5 s.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// How long to wait for a command's reply. Default 2 s.
    #[serde(with = "duration")]
    pub command_timeout: Duration,
    /// Retries of an operation that is safe to retry, after the first try,
    /// when a connection failed or broke. Default 3. A server between roles
    /// (`LOADING`, `CLUSTERDOWN`, ...) is retried until `command_timeout`
    /// whatever this says; in a cluster this is also redis-rs's own resend
    /// count for idempotent calls.
    pub max_retries: u32,
    /// The first retry's backoff; doubles each retry, with jitter. Default 50 ms.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// The longest backoff between retries. Default 2 s.
    #[serde(with = "duration")]
    pub max_retry_backoff: Duration,
    /// The largest value accepted, in bytes. Default 4 MiB (ElastiCache advises values under 1 MB).
    pub max_value_bytes: usize,
    /// Coalesce concurrent `get`s: while a `GET` is in flight, the `get`s
    /// that arrive queue and go out together as one `MGET` (per slot in a
    /// cluster), same keys once. A `get` with nothing in flight waits for
    /// nothing; a miss in a batch costs a second round trip (a `GET` that
    /// tells a miss from a key of another type). Default on: 1.35-1.5× the
    /// `GET` throughput of raw redis-rs at 16 and 64 tasks, with a lower
    /// p99 and less CPU per `GET` on both ends (docs/BENCHMARKS.md).
    pub coalesce_gets: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            mode: RedisMode::Standalone,
            addrs: Vec::new(),
            sentinel_master: "mymaster".to_owned(),
            username: None,
            password: None,
            database: 0,
            tls: TlsConfig::default(),
            pool_size: 1,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_backoff: Duration::from_millis(50),
            max_retry_backoff: Duration::from_secs(2),
            max_value_bytes: 4 * 1024 * 1024,
            coalesce_gets: true,
        }
    }
}

/// TLS of a [`RedisConfig`]: the `cache.redis.tls:` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Connect over TLS. Default `false`.
    pub enabled: bool,
    /// A PEM CA bundle, base64-encoded (ElastiCache style). Never printed.
    pub ca_cert_base64: Option<Secret>,
    /// A PEM CA bundle on disk. At most one of the two CA fields.
    pub ca_cert_path: Option<PathBuf>,
    /// The name the server certificate must carry. The Redis backend verifies the
    /// certificate against the host written in `addrs` (redis-rs has no separate
    /// server-name setting), so a value that differs from that host is refused at
    /// start-up: write the certificate's name in `addrs` instead.
    pub server_name: Option<String>,
}
