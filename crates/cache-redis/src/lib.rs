//! # cache-redis
//!
//! The [`Cache`](cache_core::Cache) contract on Redis and Valkey, including
//! AWS ElastiCache (a single node, the serverless endpoint, or a cluster of
//! shards): [`RedisCache`].
//!
//! ```no_run
//! use std::time::Duration;
//! use cache_core::Cache;
//! use cache_redis::RedisConfig;
//! use cache_redis::RedisCache;
//!
//! # async fn run() -> cache_core::Result<()> {
//! let mut config = RedisConfig::default();
//! config.addrs = vec!["127.0.0.1:6379".to_owned()];
//! let cache = RedisCache::connect(&config).await?;
//!
//! cache.set("user:42", b"Ada", Duration::from_secs(300)).await?;
//! assert_eq!(cache.get("user:42").await?.as_deref(), Some(&b"Ada"[..]));
//!
//! // Idempotency: the first caller stores its value, later ones get it back.
//! let (stored, mine) = cache
//!     .get_or_set("idem:req-7", b"response", Duration::from_secs(300))
//!     .await?;
//! # let _ = (stored, mine);
//! cache.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## What it does
//! | feature | how |
//! | --- | --- |
//! | standalone | `pool_size` redis-rs `ConnectionManager`s (multiplexed, reconnect in the background), round-robin |
//! | sentinel | asks the sentinels for the master; after a connection error, `READONLY` or `MASTERDOWN` asks again and moves to the new master |
//! | cluster | redis-rs's async cluster connection (slot routing, MOVED/ASK, topology refresh); batch calls split by slot; `scan_keys` / `delete_pattern` visit every primary |
//! | auth | ACL username + password, or password only (`requirepass`); database index (standalone, sentinel) |
//! | TLS | rustls with the system roots, or a CA bundle given as base64 PEM or a file |
//! | timeouts | `connect_timeout` per connection attempt; `command_timeout` bounds every call, retries included |
//! | `get_or_set` | `SET key value NX GET PX ttl` on Redis ≥ 7.0 and Valkey (version read at connect time from `INFO server`), a Lua script otherwise |
//! | `compare_and_set`, `compare_and_delete`, `incr_by`, `rate_limit` | Lua scripts (EVALSHA, reloaded on `NOSCRIPT`), on the server's clock; `compare_and_set` expecting absence is `SET NX PX` |
//! | sets and hashes | [`Collections`](cache_core::Collections) (`cache.collections()`): one command on one key (one slot), writes that may create the key as Lua (`SADD`/`HSET`/`HINCRBY`, then `PEXPIRE` when it has no TTL); `set_members` is `SSCAN`; field TTLs are `HPEXPIRE`/`HPTTL`/`HPERSIST` on Redis ≥ 7.4 and Valkey ≥ 9.0 (from `INFO server`), `Unsupported` elsewhere; at most [`RedisCache::max_per_call`] members or fields per call (builder: `max_per_call`) |
//! | batches | pipelined in chunks of 1,000; per slot in a cluster, so keys may live anywhere |
//! | `get` coalescing | `coalesce_gets` (default on): while a `GET` is in flight, concurrent `get`s queue and go out as one `MGET` (per slot in a cluster), same keys once; an idle `get` waits for nothing; a nil in a batch is asked again with `GET`, so a key of another type fails as with `GET` |
//! | pub/sub | one dedicated connection; resubscribes after a reconnect, then delivers `Reconnected` |
//! | metrics | feature `metrics` (default): `cache.operations` and `db.client.operation.duration`, retries, connection errors, reconnects and pub/sub reconnects per node, and a `cache.redis` span per call with OpenTelemetry's attributes (`cache_core::metrics`, docs/metrics.md) |
//!
//! Keys, values (`max_value_bytes`) and TTLs are validated before any I/O, so
//! a bad call costs no round trip and writes nothing.
//!
//! ## Timeouts and retries
//! Every call (each page of `scan_keys`, each SCAN/UNLINK step of
//! `delete_pattern`) finishes within `command_timeout`: a server that stops
//! answering gives [`ErrorKind::Timeout`](cache_core::ErrorKind::Timeout), an
//! unreachable one [`ErrorKind::Connection`](cache_core::ErrorKind::Connection),
//! and neither ever hangs or panics. (A first `subscribe` also opens the
//! pub/sub connection, so it may take `connect_timeout + command_timeout`.)
//! After a restart or failover the next calls reconnect by themselves.
//!
//! Within that deadline a failed call is retried after `retry_backoff · 2^n`
//! (capped at `max_retry_backoff`, with jitter), but only when running it
//! twice cannot do harm. The same settings reach every topology: in a
//! cluster they are also redis-rs's own (its retries, `min_retry_wait` and
//! `max_retry_wait`), instead of its defaults of 16 retries at least 1.28 s
//! apart, which outlast a failover by seconds.
//!
//! | operation | retried, up to `max_retries` times, when | retried until the deadline when | never retried when |
//! | --- | --- | --- | --- |
//! | `get`, `set`, `delete`, `get_many`, `set_many`, `delete_many`, `scan_keys`, `delete_pattern` (per step), `health`; of sets and hashes `set_remove`, `set_contains`, `set_count`, `set_members`, `hash_get`, `hash_get_all`, `hash_delete` and the field-TTL calls | the connection could not be made (`Connection`) or broke (`ConnectionLost`) | the server or cluster is between roles: `LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY`, `BUSY`, a redirect, no node for the slot yet (`Unavailable`) | a refusal or a command error |
//! | `get_or_set`, `compare_and_set`, `compare_and_delete`, `incr_by`, `rate_limit`, `publish`; `set_add`, `hash_set`, `hash_incr_by` (scripts) | the connection could not be made: the command was never sent (`Connection`) | the server or cluster is between roles, as above: the command did not run | the connection broke with the command in flight (`ConnectionLost`) or no reply came in time (`Timeout`): it may have run; a refusal or a command error |
//!
//! Refusals and command errors are `NOPERM`, `NOAUTH`, `WRONGPASS`,
//! `WRONGTYPE`, a script error, an overflow. A timeout is never retried: it
//! is the deadline itself.
//!
//! **At most once.** A non-idempotent call that failed with
//! [`ErrorKind::ConnectionLost`](cache_core::ErrorKind::ConnectionLost) or
//! [`ErrorKind::Timeout`](cache_core::ErrorKind::Timeout)
//! ([`CacheError::may_have_run`](cache_core::CacheError::may_have_run)) is
//! reported, not retried: it may or may not have run, and only the caller
//! knows whether to try again (read the counter, the lock). Every other
//! error of such a call means it did not run. In a cluster these calls go
//! through a second connection on which redis-rs never resends (its retries
//! are 0; it still refreshes the slot map on `MOVED`, and this crate's
//! policy retries), because redis-rs resends a command after a dropped node
//! connection or a timeout on its own. The cluster drill (`tests/drills.rs`)
//! kills a master under `incr_by` and compare-and-set load and checks that
//! no counter ends above its acknowledged calls plus those that may have run.
//!
//! **Batches in a cluster.** `get_many`, `set_many` and `delete_many` send
//! one command per hash slot (in chunks of 1,000), all within one deadline,
//! and retry each group on its own: a group that succeeded is not sent
//! again (so `delete_many`'s count is not lost to a retry), a group whose
//! shard is between roles is retried until it answers or the deadline
//! passes, and a group that still fails fails the call with an error naming
//! the node of its slot (`get_many on 10.0.0.7:6379 (slot 5688) ...`). No
//! batch fails because one shard was failing over, once that shard answers
//! within the deadline.
//!
//! **Renewed cluster connections.** redis-rs's cluster connection can stay
//! answering nothing but timeouts after a node failure with many requests in
//! flight (seen in the drill on Redis 7.0 and Valkey 9.1). A timeout in
//! cluster mode therefore reopens both cluster connections in the
//! background, at most once per `command_timeout`; calls after the swap use
//! the new ones.
//!
//! ## Errors
//! Each failure gets the [`ErrorKind`](cache_core::ErrorKind) that says what
//! happened, and only a failure that may pass by itself is transient:
//!
//! | failure | kind | transient |
//! | --- | --- | --- |
//! | refused, unreachable, no node for the slot, no master from the sentinels: the command was never sent | `Connection`, naming the endpoint (never a credential) | yes |
//! | reset, broken pipe, closed, another I/O failure of an established connection: the command was in flight and may have run | `ConnectionLost`, naming the endpoint | yes |
//! | the deadline passed (a command that was sent may have run) | `Timeout` | yes |
//! | `LOADING`, `TRYAGAIN`, `READONLY`, `MASTERDOWN`, `CLUSTERDOWN`, `BUSY`, `MOVED`/`ASK` past the retries (the command did not run) | `Unavailable` | yes |
//! | `NOPERM` (also inside a script) | `PermissionDenied`, with a cause that says what to grant | no |
//! | `NOAUTH`, `WRONGPASS` (at start-up too) | `Unauthenticated`, naming the endpoint, with a cause that says what to set | no |
//! | `WRONGTYPE`, "not an integer" | `WrongType` | no |
//! | `incr_by` past the `i64` range | `Overflow` | no |
//! | a Lua error | `Script` | no |
//! | anything else | `Operation`, with the redis error as its cause | no |
//!
//! So a fail-open caller (cache-aside, a rate limiter) degrades through an
//! outage or a failover but never bypasses an ACL refusal. An invalid
//! `scan_keys` cursor is an `Operation` error of `scan_keys`.
//!
//! ## ElastiCache (Valkey or Redis OSS)
//! - **Node-based cluster, cluster mode disabled** (one shard): `mode: standalone`,
//!   `addrs: [<primary endpoint>:6379]`.
//! - **Cluster mode enabled**: `mode: cluster`, `addrs: [<configuration endpoint>:6379]`.
//! - **Serverless**: `mode: cluster`, `addrs: [<endpoint>:6379]`, TLS on (it is
//!   required). The endpoint speaks the cluster protocol (one endpoint owns
//!   every slot) and refuses multi-key commands across slots, which cluster
//!   mode splits per slot for you.
//! - **In-transit encryption**: `tls.enabled: true`. Amazon's certificates chain
//!   to public roots, so the system roots suffice; pass `ca_cert_base64` only
//!   for a private CA. Use the endpoint's DNS name in `addrs` (not an IP):
//!   the certificate is checked against it.
//! - **RBAC (ACL) user**: `username` + `password` (an AUTH token alone is
//!   password-only AUTH). The user needs at least
//!   `on ~* &* +@read +@write +@keyspace +@scripting +@pubsub +@connection +info`
//!   (`+info` only tells `get_or_set` that it may use `SET NX GET`).
//!
//! - **Failovers.** A shard's failover takes the servers a few seconds (the
//!   replica must see the primary fail, then win an election). Calls on that
//!   shard fail or wait meanwhile; within `command_timeout` the idempotent
//!   ones wait through `CLUSTERDOWN`/`TRYAGAIN`/`LOADING`, so a
//!   `command_timeout` above the failover time rides it out at the price of
//!   slow calls, a shorter one fails fast. Non-idempotent calls that were in
//!   flight when the primary died fail with `ConnectionLost`/`Timeout` and
//!   are not retried. Whether the parameter group lets you change
//!   `cluster-require-full-coverage` depends on the service; what it does is
//!   under *Self-hosted clusters* below.
//!
//! ```yaml
//! cache:
//!   type: redis
//!   redis:
//!     mode: cluster
//!     addrs: ["clustercfg.my-cache.abc123.use1.cache.amazonaws.com:6379"]
//!     username: app
//!     password: ${CACHE_PASSWORD}
//!     tls: { enabled: true }
//!     connect_timeout: 5s
//!     command_timeout: 2s
//! ```
//!
//! ## Self-hosted clusters
//! - `cluster-require-full-coverage` (default `yes`): while any slot has no
//!   serving primary, **every** node answers `CLUSTERDOWN`, so healthy shards
//!   stop serving too, for about `cluster-node-timeout` during a failover
//!   (in the drill, calls on the healthy shards waited up to 0.9–1.4 s on
//!   Redis 7.0; about 0.1 s on Valkey 9.1). This crate retries `CLUSTERDOWN` until the call's deadline, so
//!   idempotent calls mostly wait rather than fail; set it to `no` when the
//!   other shards should keep serving while one fails over (and when a shard
//!   without replicas may be lost: its keys fail, the rest work).
//! - `cluster-node-timeout` sets how fast a failed primary is noticed, hence
//!   most of the failover time: with 1000 ms the drill measured promotions
//!   1.4–3.0 s after a `kill -9`, and the client following 20–65 ms later.
//! - Give every primary a replica; a `kill -9` of a primary without one
//!   loses its slots until it returns.
//! - Replication is asynchronous: a write acknowledged by a primary that dies
//!   before passing it on is lost in the failover (AOF on the primary does
//!   not help; `WAIT` would, per call, and this crate does not send it).
//!
//! ## Limitations
//! - `tls.server_name`: redis-rs checks the certificate against the host it
//!   connects to and offers no override for a `ConnectionManager`, so a
//!   `server_name` different from the host in `addrs` is refused at start-up.
//!   Put the certificate's name in `addrs` instead (resolvable through DNS or
//!   `/etc/hosts`).
//! - Sentinels are reached without credentials (the config has none for them);
//!   the master and replicas use `username` / `password`.
//! - In a cluster, `publish` returns the subscribers of the node that received
//!   it (messages still reach every node's subscribers).
//! - Keys that are not UTF-8 (written by other clients) are not listed by
//!   `scan_keys`; `delete_pattern` removes them.
//!
//! ## Connections per node
//! One multiplexed connection already carries many concurrent commands, and
//! it batches them: concurrent calls share writes and reads. `pool_size`
//! opens that many `ConnectionManager`s and spreads calls over them
//! round-robin; measured, more than one does not help, so **use
//! `pool_size: 1`** unless a measurement on your own machines says otherwise.
//! `GET` of 100 bytes, median ops/s of 20 interleaved rounds on 2 cores shared
//! with the server and a busy build (`cargo bench -p cache-redis --bench
//! connections -- 20`):
//!
//! | client | 1 task | 16 tasks | 64 tasks |
//! | --- | --- | --- | --- |
//! | `RedisCache`, `pool_size: 1` | 33k | 85k | 120k |
//! | `RedisCache`, `pool_size: 4` | 31k | 57k | 60k |
//! | bare redis-rs `ConnectionManager` | 33k | 119k | 195k |
//! | deadpool-redis, checkout per call | 13k | 14k | 15k |
//!
//! Spreading the same load over four sockets halves the batching on both
//! ends; a checkout pool pays a round trip (`UNWATCH` + `PING`) per checkout.
//! `pool_size` applies to a standalone server and to the sentinel-named
//! master; a cluster keeps one multiplexed connection per node.
#![forbid(unsafe_code)]
// The nested futures of a call (trait method, runner, retry loop, redis-rs
// connection) are deeper than the default limit lets rustc lay out.
#![recursion_limit = "256"]

mod builder;
mod cache;
mod coalesce;
mod collections;
mod config;
mod errors;
mod metrics;
mod ops;
mod pubsub;
mod retry;
mod scan;
mod scripts;
mod server_info;
mod settings;
mod topology;

pub use builder::RedisCacheBuilder;
pub use cache::{ConnectOptions, RedisCache};
pub use config::{RedisConfig, RedisMode, TlsConfig};
pub use settings::{MAX_POOL_SIZE, MAX_RETRIES_LIMIT, MAX_VALUE_BYTES_LIMIT};
