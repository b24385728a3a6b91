//! [`RedisCache`]: connecting, the call runner (deadline, retries, stats,
//! error mapping) and closing. The operations themselves are in `ops.rs`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{RedisConfig, RedisMode};
use cache_core::{CacheError, Operation, Result};
use futures::FutureExt as _;
use parking_lot::RwLock;
use redis::RedisResult;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::coalesce::Coalescer;
use crate::errors::{map_connect_error, map_error};
use crate::metrics::RedisMetrics;
use crate::pubsub::{PubSubHub, PubSubTimings};
use crate::retry::Idempotency;
use crate::server_info::{DeleteIfEqual, ServerInfo};
use crate::settings::Settings;
use crate::topology::{Conn, Topology};
use cache_core::StatsShards;
use cache_core::metrics::Answer;

/// The [`Cache`](cache_core::Cache) contract on Redis or Valkey: standalone,
/// sentinel or cluster. See the [crate docs](crate) for behaviour, retries and
/// examples.
///
/// Cheap to clone (all clones share the connections); `Debug` never shows a
/// credential.
#[derive(Clone)]
pub struct RedisCache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// `None` once closed: dropping it releases the connections.
    topology: RwLock<Option<Arc<Topology>>>,
    pub(crate) settings: Settings,
    pub(crate) stats: StatsShards,
    pub(crate) metrics: crate::metrics::RedisMetrics,
    pub(crate) set_nx_get: bool,
    /// `compare_and_set` with an expected value uses `SET … IFEQ`.
    pub(crate) set_ifeq: bool,
    /// The native `compare_and_delete`, `None` for the Lua script.
    pub(crate) delete_if_equal: Option<DeleteIfEqual>,
    /// Hash fields can expire (`HPEXPIRE`...).
    pub(crate) field_ttl: bool,
    server: Option<ServerInfo>,
    pub(crate) pubsub: PubSubHub,
    description: String,
    /// `Some` when `coalesce_gets` is on.
    pub(crate) coalescer: Option<Coalescer>,
}

/// Options for [`RedisCache::connect_with`] that are not configuration: they
/// exist for tests of this crate and of the framework.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    force_lua_get_or_set: bool,
    force_lua_conditionals: bool,
    assume_field_ttl: bool,
}

impl ConnectOptions {
    cache_core::setters! {
        /// Use the Lua `get_or_set` even when the server accepts `SET NX GET`
        /// (so that both paths can be tested against one server).
        #[doc(hidden)]
        force_lua_get_or_set: bool;
        /// Use the Lua `compare_and_set` and `compare_and_delete` even when
        /// the server has `SET … IFEQ`, `DELIFEQ` or `DELEX` (so that both
        /// paths can be tested and measured against one server).
        #[doc(hidden)]
        force_lua_conditionals: bool;
        /// Report hash field TTLs as supported whatever the server is (so
        /// that a test can show the conformance suite catching a backend
        /// that claims them and fails).
        #[doc(hidden)]
        assume_field_ttl: bool;
    }
}

/// The keys of a batch that go in one command to one node: their positions
/// in the batch, and in a cluster their slot.
pub(crate) struct KeyGroup {
    /// The hash slot of every key of the group (cluster only).
    pub(crate) slot: Option<u16>,
    /// Positions in the batch, in order.
    pub(crate) indices: Vec<usize>,
}

/// The least time left before a deadline that is worth another try: one
/// round trip on a slow network.
const MIN_TRY: Duration = Duration::from_millis(2);

impl RedisCache {
    /// Validates `config`, connects, and checks that the server answers.
    ///
    /// Fails fast: an invalid config is a [`ErrorKind::Config`](cache_core::ErrorKind::Config) naming the
    /// field, an unreachable server or a refused login is a
    /// [`ErrorKind::Connection`](cache_core::ErrorKind::Connection) naming the address (never the password).
    pub async fn connect(config: &RedisConfig) -> Result<RedisCache> {
        Self::connect_with(config, ConnectOptions::default()).await
    }

    /// A builder, for services that set the connection up in code rather
    /// than from a config file.
    pub fn builder() -> crate::RedisCacheBuilder {
        crate::RedisCacheBuilder::default()
    }

    /// [`RedisCache::connect`] with test options.
    #[doc(hidden)]
    pub async fn connect_with(config: &RedisConfig, options: ConnectOptions) -> Result<RedisCache> {
        let settings =
            Settings::from_config(config).map_err(|e| CacheError::from(e.within("cache.redis")))?;
        Self::connect_settings(settings, options).await
    }

    /// Connects with settings that [`Settings::from_config`] validated (the
    /// config is parsed once: the CA file is read once).
    pub(crate) async fn connect_settings(
        settings: Settings,
        options: ConnectOptions,
    ) -> Result<RedisCache> {
        let description = settings.describe();
        let span =
            tracing::info_span!("redis_connect", endpoint = %description, mode = ?settings.mode);
        async move {
            let topology = Arc::new(Topology::connect(&settings).await?);
            // A server that wants a password accepts the connection and refuses
            // commands: find out now, not at the first call.
            let ping = redis::cmd("PING");
            crate::topology::within(settings.command_timeout, topology.query_each_primary(&ping))
                .await
                .map_err(|e| map_connect_error(&description, e))?;
            let server = detect_server(&topology, settings.command_timeout).await;
            let set_nx_get = !options.force_lua_get_or_set
                && server.as_ref().is_some_and(ServerInfo::supports_set_nx_get);
            let native = server.as_ref().filter(|_| !options.force_lua_conditionals);
            let set_ifeq = native.is_some_and(ServerInfo::supports_set_ifeq);
            let delete_if_equal = native.and_then(ServerInfo::delete_if_equal);
            let field_ttl = options.assume_field_ttl
                || server.as_ref().is_some_and(ServerInfo::supports_field_ttl);
            tracing::info!(
                engine = server.as_ref().map(|s| s.engine),
                version = server.as_ref().map(|s| s.version.to_string()),
                get_or_set = if set_nx_get { "SET NX GET" } else { "Lua" },
                compare_and_set = compare_and_set_command(set_ifeq),
                compare_and_delete = compare_and_delete_command(delete_if_equal),
                field_ttl,
                "connected"
            );
            let metrics = RedisMetrics::new(&settings, server.as_ref(), topology.endpoint());
            let pubsub = PubSubHub::new(PubSubTimings {
                connect_timeout: settings.connect_timeout,
                command_timeout: settings.command_timeout,
                retry: settings.retry,
                system: metrics.system(),
            });
            let coalescer = settings.coalesce_gets.then(Coalescer::default);
            Ok(RedisCache {
                inner: Arc::new(Inner {
                    topology: RwLock::new(Some(topology)),
                    settings,
                    stats: StatsShards::new(),
                    metrics,
                    set_nx_get,
                    set_ifeq,
                    delete_if_equal,
                    field_ttl,
                    server,
                    pubsub,
                    description,
                    coalescer,
                }),
            })
        }
        .instrument(span)
        .await
    }

    /// Whether `get_or_set` uses `SET key value NX GET PX` (one command, Redis
    /// 7.0+ and Valkey) rather than the Lua script for older servers.
    pub fn uses_set_nx_get(&self) -> bool {
        self.inner.set_nx_get
    }

    /// What `compare_and_set` with an expected value sends: `"SET IFEQ"`
    /// (Valkey 8.1+) or `"Lua"` (a script, every other server). Chosen at
    /// connect from `INFO server`.
    pub fn compare_and_set_command(&self) -> &'static str {
        compare_and_set_command(self.inner.set_ifeq)
    }

    /// What `compare_and_delete` sends: `"DELIFEQ"` (Valkey 9.0+), `"DELEX"`
    /// (Redis 8.4+) or `"Lua"` (a script, every other server). Chosen at
    /// connect from `INFO server`.
    pub fn compare_and_delete_command(&self) -> &'static str {
        compare_and_delete_command(self.inner.delete_if_equal)
    }

    /// The server's engine and version as reported at connect time, e.g.
    /// `("valkey", "8.0.1")`; `None` when `INFO` was not allowed.
    pub fn server_version(&self) -> Option<(&'static str, String)> {
        self.inner
            .server
            .as_ref()
            .map(|s| (s.engine, s.version.to_string()))
    }

    /// The deployment mode.
    pub fn mode(&self) -> RedisMode {
        self.inner.settings.mode
    }

    /// The largest value accepted, in bytes.
    pub fn max_value_bytes(&self) -> usize {
        self.inner.settings.max_value_bytes
    }

    /// The live topology, or a closed error.
    pub(crate) fn topology(&self, op: Operation) -> Result<Arc<Topology>> {
        self.inner
            .topology
            .read()
            .clone()
            .ok_or_else(|| CacheError::closed(op))
    }

    /// Closes: drops the topology (the connections go when in-flight calls
    /// finish) and stops the pub/sub driver. Returns whether it was open.
    pub(crate) fn shut(&self) -> bool {
        let was_open = self.inner.topology.write().take().is_some();
        self.inner.pubsub.close();
        was_open
    }

    /// Counts one call of `op` and its outcome (validation failures included).
    /// Not an `async fn`, for the reason given at [`RedisMetrics::observe`].
    pub(crate) fn counted<T: Answer>(
        &self,
        op: Operation,
        call: impl Future<Output = Result<T>>,
    ) -> impl Future<Output = Result<T>> {
        self.inner.stats.local().op(op);
        let stats = &self.inner.stats;
        self.inner
            .metrics
            .observe(op, call)
            .inspect(move |result| stats.local().outcome(result))
    }

    /// Runs one round trip of a call: bounds it by the command timeout
    /// (retries included), retries what is safe to retry, and maps the failure.
    ///
    /// `attempt` is called once per try with a connection handle, the same
    /// connection for every try.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        op: Operation,
        key: Option<&str>,
        idempotency: Idempotency,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let topology = self.topology(op)?;
        let deadline = Instant::now() + self.inner.settings.command_timeout;
        let slot = topology.next_slot();
        // Awaited where it is made: a future bound to a local first would be
        // kept twice in this one (the local and the awaited copy). The debug
        // events of a retry or a failure are in the call's `cache.redis` span
        // (`RedisMetrics::observe`).
        self.attempts(&topology, op, key, idempotency, deadline, || {
            attempt(topology.conn_at(slot, idempotency))
        })
        .await
    }

    /// Runs a batch as one round trip per group of keys (see
    /// [`KeyGroup`]; `attempt` gets the group's position in `groups`), all
    /// within one deadline, each group with its own
    /// retries: a group that succeeded is not sent again, a group whose
    /// shard is between roles is retried until it answers or the deadline
    /// passes. A group that still fails fails the call, naming the node that
    /// served its slot.
    pub(crate) async fn run_groups<T, F, Fut>(
        &self,
        op: Operation,
        groups: &[KeyGroup],
        attempt: F,
    ) -> Result<Vec<T>>
    where
        F: Fn(Conn, usize) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let topology = self.topology(op)?;
        let deadline = Instant::now() + self.inner.settings.command_timeout;
        let slot = topology.next_slot();
        let (topo, attempt) = (&topology, &attempt);
        // The groups' retries are ours alone: on the connection redis-rs never
        // resends on. With its resends on top, the ~150 concurrent group
        // requests of a few cross-slot batches left its cluster connection
        // answering nothing but timeouts after a master was killed (redis
        // 1.8.1, the cluster drill); without them it follows the failover.
        let calls = groups.iter().enumerate().map(|(i, group)| async move {
            self.attempts(topo, op, None, Idempotency::Idempotent, deadline, || {
                attempt(topo.conn_at(slot, Idempotency::NotIdempotent), i)
            })
            .await
            .map_err(|e| match group.slot {
                Some(s) if e.is_transient() => match topo.node_of_slot(s) {
                    Some(node) => e.with_addr(format!("{node} (slot {s})")),
                    None => e.with_addr(format!("{} (slot {s})", topo.endpoint())),
                },
                _ => e,
            })
        });
        futures::future::try_join_all(calls).await
    }

    /// Like [`RedisCache::run`] for a step of a longer call (a SCAN page, a
    /// batch of UNLINKs) that needs the topology itself: bounded by its own
    /// deadline, idempotent.
    pub(crate) async fn step<T, F, Fut>(
        &self,
        topology: &Arc<Topology>,
        op: Operation,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.on_topology(topology, op, None, Idempotency::Idempotent, attempt)
            .await
    }

    /// Like [`RedisCache::run`] for a round trip that needs the topology itself.
    pub(crate) async fn on_topology<T, F, Fut>(
        &self,
        topology: &Arc<Topology>,
        op: Operation,
        key: Option<&str>,
        idempotency: Idempotency,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let deadline = Instant::now() + self.inner.settings.command_timeout;
        self.attempts(topology, op, key, idempotency, deadline, attempt)
            .await
    }

    async fn attempts<T, F, Fut>(
        &self,
        topology: &Arc<Topology>,
        op: Operation,
        key: Option<&str>,
        idempotency: Idempotency,
        deadline: Instant,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let settings = &self.inner.settings;
        let timeout = || CacheError::timeout(op, key, settings.command_timeout);
        let mut retry = 0u32;
        loop {
            let err = match tokio::time::timeout_at(deadline, attempt()).await {
                Err(_) => {
                    topology.after_timeout();
                    return Err(timeout());
                }
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => err,
            };
            if err.is_timeout() {
                topology.after_timeout();
            }
            let mut wait = settings.retry.backoff(retry);
            let left = deadline.saturating_duration_since(Instant::now());
            if crate::retry::is_transient_state(&err) {
                // Retried until the deadline: a wait that would pass it is
                // cut so that the last tries come close to it.
                wait = wait.min(left / 2);
            }
            if settings.retry.should_retry(retry, idempotency, &err)
                && wait < left
                && left > MIN_TRY
            {
                tracing::debug!(error = %err, retry = retry + 1, ?wait, "retrying");
                self.inner.metrics.retry(op);
                // Boxed, like the `after_error` below: learning from a failure
                // may mean asking the sentinels and connecting to a new master,
                // a future of kilobytes. Inline, it would size the future of
                // every call, which is copied each time it is moved (between
                // the nested calls, into the `async_trait` box); boxed, it
                // costs an allocation only when a call fails.
                let _ = Box::pin(tokio::time::timeout_at(deadline, async {
                    topology.after_error(&err, true).await;
                    tokio::time::sleep(wait).await;
                }))
                .await;
                retry += 1;
                continue;
            }
            Box::pin(topology.after_error(&err, false)).await;
            let mapped = map_error(op, key, &topology.endpoint(), settings.command_timeout, err);
            tracing::debug!(error = %mapped, "failed");
            return Err(mapped);
        }
    }

    /// The command timeout (the bound of every call).
    pub(crate) fn command_timeout(&self) -> Duration {
        self.inner.settings.command_timeout
    }
}

fn compare_and_set_command(set_ifeq: bool) -> &'static str {
    if set_ifeq { "SET IFEQ" } else { "Lua" }
}

fn compare_and_delete_command(native: Option<DeleteIfEqual>) -> &'static str {
    match native {
        Some(DeleteIfEqual::Delifeq) => "DELIFEQ",
        Some(DeleteIfEqual::Delex) => "DELEX",
        None => "Lua",
    }
}

/// Reads `INFO server`; `None` when the ACL user may not, or it times out
/// (then `get_or_set` and the conditional calls take the Lua paths, which
/// work everywhere).
async fn detect_server(topology: &Topology, timeout: Duration) -> Option<ServerInfo> {
    let mut conn = topology.conn();
    let info = crate::topology::within(timeout, async {
        redis::cmd("INFO")
            .arg("server")
            .query_async::<String>(&mut conn)
            .await
    })
    .await;
    match info {
        Ok(text) => ServerInfo::parse(&text),
        Err(e) => {
            tracing::warn!(error = %e, "INFO server failed; using the Lua get_or_set");
            None
        }
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RedisCache")
            .field("mode", &inner.settings.mode)
            .field("endpoint", &inner.description)
            .field("username", &inner.settings.username)
            .field("password", &inner.settings.password.as_ref().map(|_| "***"))
            .field("database", &inner.settings.database)
            .field("tls", &inner.settings.tls.is_some())
            .field("pool_size", &inner.settings.pool_size)
            .field("set_nx_get", &inner.set_nx_get)
            .field("coalesce_gets", &inner.coalescer.is_some())
            .field("closed", &inner.topology.read().is_none())
            .finish()
    }
}
