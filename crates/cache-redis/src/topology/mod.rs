//! How commands reach the servers: one standalone server, the master that the
//! sentinels name, or every shard of a cluster.
//!
//! Every topology hands out [`Conn`] handles, cheap clones of multiplexed
//! connections that reconnect by themselves, and learns from the failures the
//! caller saw ([`Topology::after_error`]), which is how a sentinel topology
//! notices a failover.

use std::time::Duration;

#[cfg(any(feature = "cluster", feature = "sentinel"))]
use crate::RedisMode;
use cache_core::Result;
use redis::aio::{ConnectionLike, ConnectionManager};
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, RedisFuture, RedisResult, Value};

use crate::retry::Idempotency;
use crate::settings::{Endpoint, Settings};

#[cfg(feature = "cluster")]
mod cluster;
mod pool;
#[cfg(feature = "sentinel")]
mod sentinel;

#[cfg(feature = "cluster")]
pub(crate) use cluster::{ClusterTopology, key_slot};
pub(crate) use pool::ManagerPool;
#[cfg(feature = "sentinel")]
pub(crate) use sentinel::SentinelTopology;

/// One handle to send commands through.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A standalone server or a sentinel-resolved master.
    Manager(ConnectionManager),
    /// A cluster: redis-rs routes each command by slot and follows MOVED/ASK.
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The servers behind a cache.
pub(crate) enum Topology {
    /// One server (or an endpoint that behaves as one: a replication group's primary endpoint).
    Standalone(Box<ManagerPool>),
    /// The master named by sentinels, followed across failovers.
    #[cfg(feature = "sentinel")]
    Sentinel(SentinelTopology),
    /// A Redis/Valkey Cluster.
    #[cfg(feature = "cluster")]
    Cluster(Box<ClusterTopology>),
}

impl Topology {
    /// Opens the connections `settings` describe; fails fast, naming the endpoint.
    pub(crate) async fn connect(settings: &Settings) -> Result<Topology> {
        match settings.mode {
            #[cfg(feature = "cluster")]
            RedisMode::Cluster => ClusterTopology::connect(settings)
                .await
                .map(|cluster| Topology::Cluster(Box::new(cluster))),
            #[cfg(feature = "sentinel")]
            RedisMode::Sentinel => SentinelTopology::connect(settings)
                .await
                .map(Topology::Sentinel),
            _ => {
                let endpoint = &settings.endpoints[0];
                let client = settings
                    .client(endpoint)
                    .map_err(|e| crate::errors::map_connect_error(&endpoint.to_string(), e))?;
                ManagerPool::connect(client, endpoint.to_string(), settings)
                    .await
                    .map(|pool| Topology::Standalone(Box::new(pool)))
            }
        }
    }

    /// A handle for the next command.
    pub(crate) fn conn(&self) -> Conn {
        self.conn_at(self.next_slot(), Idempotency::Idempotent)
    }

    /// A slot for [`Topology::conn_at`], round-robin over the pool.
    pub(crate) fn next_slot(&self) -> usize {
        match self {
            Topology::Standalone(pool) => pool.next_slot(),
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => s.current().next_slot(),
            #[cfg(feature = "cluster")]
            Topology::Cluster(_) => 0,
        }
    }

    /// The handle for `slot`: the same connection for every try of one call
    /// (of the master's current pool, with sentinels). In a cluster, a call
    /// that is not idempotent gets the connection redis-rs never resends on.
    pub(crate) fn conn_at(&self, slot: usize, idempotency: Idempotency) -> Conn {
        #[cfg(not(feature = "cluster"))]
        let _ = idempotency;
        match self {
            Topology::Standalone(pool) => Conn::Manager(pool.at(slot)),
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => Conn::Manager(s.current().at(slot)),
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => Conn::Cluster(c.conn_for(idempotency)),
        }
    }

    /// The primary that serves `slot` as last seen, for errors (cluster only).
    pub(crate) fn node_of_slot(&self, slot: u16) -> Option<String> {
        match self {
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => c.node_of_slot(slot),
            _ => {
                let _ = slot;
                None
            }
        }
    }

    /// Where commands go, in words (for errors).
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Topology::Standalone(pool) => pool.endpoint().to_owned(),
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => s.current().endpoint().to_owned(),
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => c.describe().to_owned(),
        }
    }

    /// Learns from a failure: a sentinel topology re-resolves the master when
    /// the failure suggests a failover. With `wait`, returns once that is done
    /// (the caller is about to retry); otherwise it happens in the background.
    pub(crate) async fn after_error(&self, err: &RedisError, wait: bool) {
        #[cfg(feature = "sentinel")]
        if let Topology::Sentinel(s) = self {
            s.after_error(err, wait).await;
        }
        #[cfg(not(feature = "sentinel"))]
        let _ = (err, wait);
    }

    /// Learns from a call that timed out (redis-rs's timeout or the call's
    /// deadline): a cluster renews its connections in the background.
    pub(crate) fn after_timeout(&self) {
        #[cfg(feature = "cluster")]
        if let Topology::Cluster(c) = self {
            c.after_timeout();
        }
    }

    /// The primaries, in a stable order (sorted by address): the nodes a
    /// keyspace-wide SCAN must visit.
    pub(crate) async fn primaries(&self) -> RedisResult<Vec<Endpoint>> {
        match self {
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => c.primaries().await,
            // One keyspace: the node is implied, its name is not used for routing.
            _ => Ok(vec![Endpoint {
                host: String::new(),
                port: 0,
            }]),
        }
    }

    /// Sends `cmd` to the primary `node` (one of [`Topology::primaries`]).
    pub(crate) async fn query_node(&self, node: &Endpoint, cmd: Cmd) -> RedisResult<Value> {
        match self {
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => c.query_node(node, cmd).await,
            _ => {
                let _ = node; // one keyspace: the only node
                let mut conn = self.conn();
                cmd.query_async(&mut conn).await
            }
        }
    }

    /// Sends `cmd` to every primary (cluster) or the one server, each reply in
    /// primary order.
    pub(crate) async fn query_each_primary(&self, cmd: &Cmd) -> RedisResult<Vec<Value>> {
        let nodes = self.primaries().await?;
        let replies = nodes.iter().map(|node| self.query_node(node, cmd.clone()));
        futures::future::try_join_all(replies).await
    }

    /// Clients for the dedicated pub/sub connection, `(host:port, client)`,
    /// in the order to try them: the server, the current master, or in a
    /// cluster the pub/sub home node first (see [`ClusterTopology::home`])
    /// and then the other primaries and the seeds.
    pub(crate) async fn pubsub_clients(&self) -> Vec<(String, redis::Client)> {
        match self {
            Topology::Standalone(pool) => {
                vec![(pool.endpoint().to_owned(), pool.client().clone())]
            }
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => {
                let pool = s.current();
                vec![(pool.endpoint().to_owned(), pool.client().clone())]
            }
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => c.pubsub_clients().await,
        }
    }

    /// `PUBLISH`, returning the receivers the server counted. In a cluster it
    /// goes to the pub/sub home node, where every `RedisCache` with the same
    /// cluster subscribes, so the count covers them all; redis-rs never
    /// resends it (a message published twice is delivered twice).
    pub(crate) async fn publish(&self, cmd: &Cmd) -> RedisResult<u64> {
        let reply = match self {
            #[cfg(feature = "cluster")]
            Topology::Cluster(c) => match c.home().await {
                Ok(home) => c
                    .query_node_with(Idempotency::NotIdempotent, &home, cmd.clone())
                    .await
                    .inspect_err(|_| {
                        // The home may have failed over: look it up again next time.
                        c.forget_home();
                    })?,
                Err(_) => cmd.query_async(&mut c.conn_once()).await?,
            },
            _ => cmd.query_async(&mut self.conn()).await?,
        };
        Ok(redis::from_redis_value(reply)?)
    }
}

/// Runs `fut` for at most `limit`, turning the deadline into an I/O timeout
/// error so that it maps like redis-rs's own timeouts.
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {limit:?}"),
        )
        .into()),
    }
}
