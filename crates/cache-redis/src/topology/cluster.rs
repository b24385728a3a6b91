//! A Redis/Valkey Cluster through redis-rs's async cluster connection, which
//! routes each command by slot, follows MOVED/ASK and refreshes the topology.
//! What it does not do, this adds: the list of primaries (for a keyspace-wide
//! SCAN) and sending a command to one chosen primary.

use std::time::{Duration, Instant};

use cache_core::{CacheError, Result};
use parking_lot::Mutex;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, RedisError, RedisResult, Value};

use crate::errors::map_connect_error;
use crate::settings::{Endpoint, Settings, tcp_settings};

/// How long a looked-up pub/sub home node is trusted.
const HOME_FRESHNESS: Duration = Duration::from_secs(5);

/// A connected cluster.
pub(crate) struct ClusterTopology {
    conn: ClusterConnection,
    description: String,
    settings: Settings,
    /// One client per seed node, for dedicated connections (pub/sub).
    seeds: Vec<(String, redis::Client)>,
    /// The pub/sub home node and when it was looked up.
    home: Mutex<Option<(Instant, Endpoint)>>,
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
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut builder = ClusterClientBuilder::new(seeds)
            .connection_timeout(settings.connect_timeout)
            .response_timeout(settings.command_timeout)
            .overall_response_timeout(Some(settings.command_timeout))
            .tcp_settings(tcp_settings());
        #[cfg(feature = "tls")]
        if let Some(certs) = settings.certificates() {
            builder = builder.certs(certs);
        }
        let client = builder
            .build()
            .map_err(|e| map_connect_error(&description, e))?;
        let conn =
            match tokio::time::timeout(settings.connect_timeout, client.get_async_connection())
                .await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(map_connect_error(&description, e)),
                Err(_) => {
                    return Err(CacheError::connection(
                        description,
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "no seed node answered within the connect timeout of {:?}",
                                settings.connect_timeout
                            ),
                        ),
                    ));
                }
            };
        let seeds = settings
            .endpoints
            .iter()
            .map(|e| Ok((e.to_string(), settings.client(e)?)))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| map_connect_error(&description, e))?;
        Ok(ClusterTopology {
            conn,
            description,
            settings: settings.clone(),
            seeds,
            home: Mutex::new(None),
        })
    }

    /// A handle (a cheap clone) for the next command.
    pub(crate) fn conn(&self) -> ClusterConnection {
        self.conn.clone()
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
        let mut primaries = parse_cluster_slots(reply)?;
        primaries.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        primaries.dedup();
        Ok(primaries)
    }

    /// Sends `cmd` to `node`.
    pub(crate) async fn query_node(&self, node: &Endpoint, cmd: Cmd) -> RedisResult<Value> {
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: node.host.clone(),
            port: node.port,
        });
        self.conn()
            .route_command(cmd, routing)
            .await?
            .extract_error()
    }
}

/// The primary of every slot range: each entry of the reply is
/// `[start, end, [host, port, id, ...], replicas...]`.
fn parse_cluster_slots(reply: Value) -> RedisResult<Vec<Endpoint>> {
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
        primaries.push(Endpoint { host, port });
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
    fn a_malformed_reply_is_an_error() {
        assert!(parse_cluster_slots(Value::Int(3)).is_err());
        assert!(parse_cluster_slots(Value::Array(vec![Value::Int(3)])).is_err());
    }
}
