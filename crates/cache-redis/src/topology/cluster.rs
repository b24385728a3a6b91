//! A Redis/Valkey Cluster through redis-rs's async cluster connection, which
//! routes each command by slot, follows MOVED/ASK and refreshes the topology.
//! What it does not do, this adds: the list of primaries (for a keyspace-wide
//! SCAN), sending a command to one chosen primary, and a second connection
//! that never resends, for the calls that are not idempotent.
//!
//! redis-rs resends a command after a dropped connection to a node, a
//! timeout of the node or a `TRYAGAIN`, up to its own retry count: right for
//! a `GET`, a double apply for an `INCRBY`. So the cluster is opened twice:
//! [`ClusterTopology::conn`] with our `max_retries`, `retry_backoff` and
//! `max_retry_backoff` (redis-rs's own defaults, 16 retries at least 1.28 s
//! apart, would outlast a failover by seconds), and
//! [`ClusterTopology::conn_once`] with no resends at all, so that the crate's
//! policy alone decides (it retries only what proves the command never ran).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cache_core::{CacheError, Result};
use parking_lot::{Mutex, RwLock};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ConnectionInfo, ErrorKind, RedisError, RedisResult, Value};

use crate::errors::map_connect_error;
use crate::retry::{Idempotency, RetryPolicy};
use crate::settings::{Endpoint, Settings, tcp_settings};

/// How long a looked-up pub/sub home node is trusted.
const HOME_FRESHNESS: Duration = Duration::from_secs(5);

/// A connected cluster.
pub(crate) struct ClusterTopology {
    /// The two connections, renewed when they only time out.
    handles: Arc<Handles>,
    description: String,
    settings: Settings,
    /// One client per seed node, for dedicated connections (pub/sub).
    seeds: Vec<(String, redis::Client)>,
    /// The pub/sub home node and when it was looked up.
    home: Mutex<Option<(Instant, Endpoint)>>,
    /// The slot ranges and their primaries, as last seen in `CLUSTER SLOTS`:
    /// to name the node of a slot in an error.
    slots: Mutex<Vec<SlotRange>>,
}

/// Slots `start..=end` and the primary that serves them.
type SlotRange = (u16, u16, Endpoint);

/// The cluster connections and the clients that open them again.
///
/// redis-rs's cluster connection can end up answering nothing but timeouts
/// after a node failure with many requests in flight (seen in the cluster
/// drill on Redis 7.0 and Valkey 9.1 with redis 1.8.1: every call on it timed
/// out for as long as the drill ran, while a fresh connection worked). So a
/// timeout renews the connections in the background: at most once per
/// `command_timeout`, and only the calls after the swap use the new ones.
struct Handles {
    /// `(resends within our retry settings, no resends)`: idempotent calls
    /// and calls that are not.
    current: RwLock<(ClusterConnection, ClusterConnection)>,
    clients: (ClusterClient, ClusterClient),
    connect_timeout: Duration,
    /// The least time between two renewals.
    gap: Duration,
    renewing: AtomicBool,
    renewed: Mutex<Option<Instant>>,
}

impl Handles {
    /// Renews both connections in the background, unless a renewal runs or
    /// one finished less than `gap` ago. A failed renewal keeps the current
    /// connections (the next timeout tries again).
    fn renew(self: &Arc<Self>) {
        if self
            .renewed
            .lock()
            .is_some_and(|at| at.elapsed() < self.gap)
            || self.renewing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let handles = self.clone();
        tokio::spawn(async move {
            let open = futures::future::try_join(
                handles.clients.0.get_async_connection(),
                handles.clients.1.get_async_connection(),
            );
            match tokio::time::timeout(handles.connect_timeout, open).await {
                Ok(Ok(fresh)) => {
                    *handles.current.write() = fresh;
                    tracing::info!("renewed the cluster connections after a timeout");
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "renewing the cluster connections failed")
                }
                Err(_) => tracing::debug!("renewing the cluster connections timed out"),
            }
            *handles.renewed.lock() = Some(Instant::now());
            handles.renewing.store(false, Ordering::Release);
        });
    }
}

/// The cluster client, with redis-rs's own resends bounded by `retries` and
/// spaced like [`RetryPolicy::backoff`].
fn cluster_client(
    settings: &Settings,
    seeds: Vec<ConnectionInfo>,
    retries: u32,
) -> RedisResult<ClusterClient> {
    let (min, factor, max) = retry_waits(&settings.retry);
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut builder = ClusterClientBuilder::new(seeds)
        .connection_timeout(settings.connect_timeout)
        .response_timeout(settings.command_timeout)
        .overall_response_timeout(Some(settings.command_timeout))
        .retries(retries)
        .min_retry_wait(min)
        .max_retry_wait(max)
        .retry_wait_formula(factor, 2)
        .tcp_settings(tcp_settings());
    #[cfg(feature = "tls")]
    if let Some(certs) = settings.certificates() {
        builder = builder.certs(certs);
    }
    builder.build()
}

/// redis-rs's retry waits in milliseconds, `(min, factor, max)`, for our
/// policy. It waits `rand(min .. clamp(factor · 2^n, min + 1, max))` before
/// its retry `n` (from 1); with `min = factor = retry_backoff / 2` that is
/// our [`Backoff`](cache_core::backoff::Backoff): the first wait in
/// `[base/2, base]`, doubling up to `max_retry_backoff`.
fn retry_waits(policy: &RetryPolicy) -> (u64, u64, u64) {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let half = millis(policy.backoff.base()) / 2;
    (half, half, millis(policy.backoff.max()).max(half + 1))
}

impl ClusterTopology {
    /// Connects through the seed nodes and loads the slot map.
    pub(crate) async fn connect(settings: &Settings) -> Result<ClusterTopology> {
        let description = settings.describe();
        let seeds = settings
            .endpoints
            .iter()
            .map(|e| settings.connection_info(e))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| map_connect_error(&description, e))?;
        let open = |retries: u32| {
            let client = cluster_client(settings, seeds.clone(), retries);
            let description = description.as_str();
            async move {
                let client = client.map_err(|e| map_connect_error(description, e))?;
                match tokio::time::timeout(settings.connect_timeout, client.get_async_connection())
                    .await
                {
                    Ok(Ok(conn)) => Ok((client, conn)),
                    Ok(Err(e)) => Err(map_connect_error(description, e)),
                    Err(_) => Err(CacheError::connection(
                        description,
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "no seed node answered within the connect timeout of {:?}",
                                settings.connect_timeout
                            ),
                        ),
                    )),
                }
            }
        };
        let ((client, conn), (client_once, once)) =
            futures::future::try_join(open(settings.retry.max_retries), open(0)).await?;
        let handles = Arc::new(Handles {
            current: RwLock::new((conn, once)),
            clients: (client, client_once),
            connect_timeout: settings.connect_timeout,
            gap: settings.command_timeout,
            renewing: AtomicBool::new(false),
            renewed: Mutex::new(None),
        });
        let seeds = settings
            .endpoints
            .iter()
            .map(|e| Ok((e.to_string(), settings.client(e)?)))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| map_connect_error(&description, e))?;
        Ok(ClusterTopology {
            handles,
            description,
            settings: settings.clone(),
            seeds,
            home: Mutex::new(None),
            slots: Mutex::new(Vec::new()),
        })
    }

    /// A handle (a cheap clone) for the next idempotent command: redis-rs
    /// follows redirects and resends it after a node failure.
    pub(crate) fn conn(&self) -> ClusterConnection {
        self.handles.current.read().0.clone()
    }

    /// A handle for the next command that is not idempotent: redis-rs sends
    /// it once and reports any failure, redirects included, so that the
    /// crate's policy alone decides whether to try again.
    pub(crate) fn conn_once(&self) -> ClusterConnection {
        self.handles.current.read().1.clone()
    }

    /// A call timed out: renews the connections in the background (see
    /// [`Handles`]).
    pub(crate) fn after_timeout(&self) {
        self.handles.renew();
    }

    /// The handle for a command of this `idempotency`.
    pub(crate) fn conn_for(&self, idempotency: Idempotency) -> ClusterConnection {
        match idempotency {
            Idempotency::Idempotent => self.conn(),
            Idempotency::NotIdempotent => self.conn_once(),
        }
    }

    /// The primary that served `slot` when the slot map was last read, as
    /// `host:port`.
    pub(crate) fn node_of_slot(&self, slot: u16) -> Option<String> {
        self.slots
            .lock()
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .map(|(_, _, node)| node.to_string())
    }

    /// The pub/sub home node: the first primary in address order. Every
    /// process that uses the same cluster picks the same node, so a PUBLISH
    /// sent there counts every subscriber (messages reach all nodes anyway).
    /// Looked up at most once per [`HOME_FRESHNESS`].
    pub(crate) async fn home(&self) -> RedisResult<Endpoint> {
        if let Some((at, home)) = self.home.lock().as_ref()
            && at.elapsed() < HOME_FRESHNESS
        {
            return Ok(home.clone());
        }
        let home = self.primaries().await?.into_iter().next().ok_or_else(|| {
            RedisError::from((
                ErrorKind::ClusterConnectionNotFound,
                "the cluster has no primary",
            ))
        })?;
        *self.home.lock() = Some((Instant::now(), home.clone()));
        Ok(home)
    }

    /// Drops the cached home node.
    pub(crate) fn forget_home(&self) {
        *self.home.lock() = None;
    }

    /// Clients to try for the pub/sub connection: the primaries in address
    /// order (the home node first), then the seeds.
    pub(crate) async fn pubsub_clients(&self) -> Vec<(String, redis::Client)> {
        let primaries = self.primaries().await.unwrap_or_default();
        primaries
            .iter()
            .filter_map(|e| Some((e.to_string(), self.settings.client(e).ok()?)))
            .chain(self.seeds.iter().cloned())
            .collect()
    }

    /// The seed nodes, in words.
    pub(crate) fn describe(&self) -> &str {
        &self.description
    }

    /// The primaries from `CLUSTER SLOTS`, sorted by address and deduplicated.
    pub(crate) async fn primaries(&self) -> RedisResult<Vec<Endpoint>> {
        let reply = self
            .conn()
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?
            .extract_error()?;
        let ranges = parse_slot_ranges(reply)?;
        let mut primaries: Vec<Endpoint> = ranges.iter().map(|(_, _, p)| p.clone()).collect();
        *self.slots.lock() = ranges;
        primaries.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        primaries.dedup();
        Ok(primaries)
    }

    /// Sends `cmd` to `node` (idempotent: redis-rs may resend it).
    pub(crate) async fn query_node(&self, node: &Endpoint, cmd: Cmd) -> RedisResult<Value> {
        self.query_node_with(Idempotency::Idempotent, node, cmd)
            .await
    }

    /// Sends `cmd` to `node` on the handle for its `idempotency`.
    pub(crate) async fn query_node_with(
        &self,
        idempotency: Idempotency,
        node: &Endpoint,
        cmd: Cmd,
    ) -> RedisResult<Value> {
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: node.host.clone(),
            port: node.port,
        });
        self.conn_for(idempotency)
            .route_command(cmd, routing)
            .await?
            .extract_error()
    }
}

/// The hash slot of `key`, as the cluster computes it: CRC16 (XMODEM) of the
/// key, or of its hash tag (the text between the first `{` and the next `}`,
/// when not empty), modulo 16384.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let len = rest.iter().position(|&b| b == b'}')?;
        (len > 0).then(|| &rest[..len])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % 16384
}

/// The primary of every slot range, in reply order.
#[cfg(test)]
fn parse_cluster_slots(reply: Value) -> RedisResult<Vec<Endpoint>> {
    Ok(parse_slot_ranges(reply)?
        .into_iter()
        .map(|(_, _, primary)| primary)
        .collect())
}

/// Every slot range and its primary: each entry of the reply is
/// `[start, end, [host, port, id, ...], replicas...]`.
fn parse_slot_ranges(reply: Value) -> RedisResult<Vec<SlotRange>> {
    let unexpected = || {
        RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "CLUSTER SLOTS returned an unexpected shape",
        ))
    };
    let Value::Array(ranges) = reply else {
        return Err(unexpected());
    };
    let mut primaries = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(unexpected());
        };
        let slot = |i: usize| match fields.get(i) {
            Some(Value::Int(n)) => u16::try_from(*n).map_err(|_| unexpected()),
            _ => Err(unexpected()),
        };
        let (start, end) = (slot(0)?, slot(1)?);
        let Some(Value::Array(primary)) = fields.get(2) else {
            return Err(unexpected());
        };
        let host = match primary.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => return Err(unexpected()),
        };
        let port = match primary.get(1) {
            Some(Value::Int(p)) => u16::try_from(*p).map_err(|_| unexpected())?,
            _ => return Err(unexpected()),
        };
        primaries.push((start, end, Endpoint { host, port }));
    }
    Ok(primaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn cluster_slots_yield_the_primary_of_each_range() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
                node("10.0.0.4", 7003),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("10.0.0.2", 7001),
            ]),
        ]);
        let primaries = parse_cluster_slots(reply).unwrap();
        assert_eq!(
            primaries,
            vec![
                Endpoint {
                    host: "10.0.0.1".into(),
                    port: 7000
                },
                Endpoint {
                    host: "10.0.0.2".into(),
                    port: 7001
                }
            ]
        );
    }

    #[test]
    fn key_slots_are_the_cluster_s() {
        assert_eq!(key_slot(b"foo"), 12182);
        // The CRC16/XMODEM check value.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_ne!(key_slot(b"{}a"), key_slot(b"a"));
        for key in ["a", "user:1", "{t}:k", "x{}", "{a"] {
            let route = redis::cluster_routing::Route::with_key(
                key,
                redis::cluster_routing::SlotAddr::Master,
            );
            let ours = redis::cluster_routing::Route::new(
                key_slot(key.as_bytes()),
                redis::cluster_routing::SlotAddr::Master,
            );
            assert_eq!(route, ours, "{key}");
        }
    }

    #[test]
    fn retry_waits_follow_the_policy() {
        let policy = RetryPolicy::new(3, Duration::from_millis(50), Duration::from_secs(2));
        assert_eq!(retry_waits(&policy), (25, 25, 2000));
        let none = RetryPolicy::new(0, Duration::ZERO, Duration::ZERO);
        assert_eq!(retry_waits(&none), (0, 0, 1));
    }

    #[test]
    fn a_malformed_reply_is_an_error() {
        assert!(parse_cluster_slots(Value::Int(3)).is_err());
        assert!(parse_cluster_slots(Value::Array(vec![Value::Int(3)])).is_err());
    }
}
