//! A master, its replicas and a quorum of Sentinels: [`RedisSentinel`].
//!
//! Every process is a [`RedisServer`] on a free loopback port. The replicas
//! start with `--replicaof` the master; the sentinels start only once every
//! replica's link is up (a sentinel learns the replicas from the master's
//! `INFO`, which it refreshes only every 10 s), each from its own
//! `sentinel.conf` (`sentinel monitor <name> 127.0.0.1 <port> <quorum>` with
//! short `down-after-milliseconds` and `failover-timeout`).
//! [`RedisSentinelBuilder::start`] returns once every sentinel knows the
//! master, every replica and every other sentinel.
//!
//! ```no_run
//! use cache_testing::server::RedisSentinel;
//!
//! let mut sentinel = RedisSentinel::start(); // master + 1 replica + 3 sentinels
//! let old = sentinel.kill_master();
//! let new = sentinel.wait_for_failover(&old);
//! assert_ne!(old, new);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::admin::{info_section, try_command};
use super::reaper::shared_until_exit;
use super::{ExitReaper, RedisServer, RespValue};

/// How long the deployment gets to come up. Generous for a loaded machine.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`RedisSentinel::wait_for_failover`] waits: down-after, the vote
/// and the promotion take a few seconds; a loaded machine takes longer.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);

/// Log lines of each process quoted in a failure message.
const LOG_LINES_IN_PANIC: usize = 15;

/// Builds a [`RedisSentinel`]; see [`RedisSentinel::builder`].
#[derive(Debug, Clone)]
pub struct RedisSentinelBuilder {
    master_name: String,
    replicas: usize,
    sentinels: usize,
    quorum: usize,
    down_after: Duration,
    failover_timeout: Duration,
    start_timeout: Duration,
}

impl Default for RedisSentinelBuilder {
    fn default() -> Self {
        RedisSentinelBuilder {
            master_name: "mymaster".to_owned(),
            replicas: 1,
            sentinels: 3,
            quorum: 2,
            down_after: Duration::from_millis(1000),
            failover_timeout: Duration::from_secs(10),
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }
}

impl RedisSentinelBuilder {
    cache_core::setters! {
        /// The monitored master's name (default `mymaster`).
        master_name: impl Into<String> => into;

        /// Replicas of the master (default 1; at least 1 for a failover).
        replicas: usize;
    }

    /// Sentinels (default 3) and the quorum that agrees a master is down (default 2).
    pub fn sentinels(mut self, n: usize, quorum: usize) -> Self {
        self.sentinels = n;
        self.quorum = quorum;
        self
    }

    cache_core::setters! {
        /// `down-after-milliseconds` (default 1 s): how long the master may be
        /// silent before a sentinel thinks it is down.
        down_after: Duration;

        /// `failover-timeout` (default 10 s).
        failover_timeout: Duration;
    }

    /// Starts everything and waits until the sentinels know the whole deployment.
    ///
    /// # Panics
    /// When a process cannot start or the sentinels do not agree in time; the
    /// message says what was last seen and quotes every log.
    pub fn start(self) -> RedisSentinel {
        assert!(
            self.quorum >= 1 && self.quorum <= self.sentinels,
            "the quorum {} must be between 1 and the number of sentinels {}",
            self.quorum,
            self.sentinels
        );
        let deadline = Instant::now() + self.start_timeout;
        // Replicas sync at once instead of waiting 5 s for company.
        let master = RedisServer::builder()
            .args(["--repl-diskless-sync-delay", "0"])
            .start();
        let master_port = master.port().to_string();
        let mut data_nodes = vec![master];
        for _ in 0..self.replicas {
            let replica = RedisServer::builder()
                .args(["--replicaof", super::LOOPBACK, &master_port])
                .args(["--repl-diskless-sync-delay", "0"])
                .start();
            data_nodes.push(replica);
        }
        let mut deployment = RedisSentinel {
            master_name: self.master_name.clone(),
            data_nodes,
            sentinels: Vec::new(),
        };
        deployment.poll_until(deadline, "synced replicas", |d| d.replicas_synced());

        let config = format!(
            "sentinel monitor {name} {host} {master_port} {quorum}\n\
             sentinel down-after-milliseconds {name} {down}\n\
             sentinel failover-timeout {name} {failover}\n\
             sentinel parallel-syncs {name} 1\n",
            name = self.master_name,
            host = super::LOOPBACK,
            quorum = self.quorum,
            down = self.down_after.as_millis(),
            failover = self.failover_timeout.as_millis(),
        );
        for _ in 0..self.sentinels {
            let sentinel = RedisServer::builder()
                // Each sentinel rewrites its own copy of the config.
                .config_file(config.clone())
                .without_default_args()
                .arg("--sentinel")
                .start();
            deployment.sentinels.push(sentinel);
        }
        let (replicas, others) = (self.replicas, self.sentinels - 1);
        deployment.poll_until(deadline, "sentinels that know everyone", |d| {
            d.sentinels_agree(replicas, others).map(|_| ())
        });
        deployment
    }
}

/// A running master, replicas and sentinels; every process is killed and
/// reaped on drop.
pub struct RedisSentinel {
    master_name: String,
    /// The first started as the master; roles change with failovers.
    data_nodes: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("master_name", &self.master_name)
            .field("data_nodes", &self.data_addrs())
            .field("sentinels", &self.sentinel_addrs())
            .finish()
    }
}

impl RedisSentinel {
    /// Starts a master, one replica and three sentinels (quorum 2) and waits
    /// until the sentinels know all of them.
    ///
    /// # Panics
    /// See [`RedisSentinelBuilder::start`].
    pub fn start() -> RedisSentinel {
        Self::builder().start()
    }

    /// A builder for other shapes and timings.
    pub fn builder() -> RedisSentinelBuilder {
        RedisSentinelBuilder::default()
    }

    /// The deployment shared by every test of this test binary that asks for
    /// it, started by the first. It lives until the binary exits, when an
    /// [`ExitReaper`] kills its processes. Shared, so it cannot be changed: a
    /// test that kills the master starts a deployment of its own.
    ///
    /// # Panics
    /// See [`RedisSentinelBuilder::start`]; a failed start is tried again by
    /// the next caller.
    pub fn shared() -> &'static RedisSentinel {
        static SHARED: OnceLock<(RedisSentinel, ExitReaper)> = OnceLock::new();
        shared_until_exit(&SHARED, RedisSentinel::start, RedisSentinel::pids)
    }

    /// The process ids of the running data nodes and sentinels.
    pub fn pids(&self) -> Vec<u32> {
        self.data_nodes
            .iter()
            .chain(&self.sentinels)
            .filter_map(RedisServer::pid)
            .collect()
    }

    /// The name the sentinels monitor the master under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The `127.0.0.1:<port>` of every sentinel: the address list for a client.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::addr).collect()
    }

    /// The addresses of the master and the replicas (running or not), in start order.
    pub fn data_addrs(&self) -> Vec<String> {
        self.data_nodes.iter().map(RedisServer::addr).collect()
    }

    /// The master's address as the first answering sentinel reports it.
    ///
    /// # Panics
    /// When no sentinel answers.
    pub fn master_addr(&self) -> String {
        let mut errors = Vec::new();
        for sentinel in &self.sentinels {
            match self.master_by(sentinel) {
                Ok(addr) => return addr,
                Err(e) => errors.push(e),
            }
        }
        panic!("no sentinel reported the master: {errors:?}");
    }

    /// The master or replica at `addr`, to send it commands or read its log.
    ///
    /// # Panics
    /// When no data node has that address.
    pub fn data_node(&self, addr: &str) -> &RedisServer {
        self.data_nodes
            .iter()
            .find(|n| n.addr() == addr)
            .unwrap_or_else(|| panic!("{addr} is not a data node {:?}", self.data_addrs()))
    }

    /// Kills the current master (SIGKILL, like a crash) and returns its
    /// address; the sentinels then promote a replica (see
    /// [`wait_for_failover`](Self::wait_for_failover)).
    ///
    /// # Panics
    /// When no sentinel answers or the master is not one of ours.
    pub fn kill_master(&mut self) -> String {
        let master = self.master_addr();
        self.kill_data_node(&master);
        master
    }

    /// Kills the master or replica at `addr`.
    ///
    /// # Panics
    /// When no data node has that address.
    pub fn kill_data_node(&mut self, addr: &str) {
        self.data_node_mut(addr).stop();
    }

    /// Starts the killed data node at `addr` again (empty: persistence is
    /// off). The sentinels turn a former master into a replica of the
    /// current one.
    ///
    /// # Panics
    /// When no data node has that address or it cannot start.
    pub fn restart_data_node(&mut self, addr: &str) {
        self.data_node_mut(addr).restart();
    }

    /// Waits until every sentinel names a master other than `old`, and that
    /// node says `role:master`; returns its address. Waits up to 60 s.
    ///
    /// # Panics
    /// When the failover does not complete in time; the message says what was
    /// last seen and quotes every log.
    pub fn wait_for_failover(&self, old: &str) -> String {
        let deadline = Instant::now() + FAILOVER_TIMEOUT;
        let mut new_master = String::new();
        self.poll_until(deadline, &format!("a failover away from {old}"), |d| {
            let master = d.sentinels_agree_on_master()?;
            if master == old {
                return Err(format!("the sentinels still name {old}"));
            }
            let node = d
                .data_nodes
                .iter()
                .find(|n| n.addr() == master)
                .ok_or_else(|| format!("the sentinels name {master}, which is not ours"))?;
            let role = info_field(node, "replication", "role")?;
            if role != "master" {
                return Err(format!("{master} is named master but says role:{role}"));
            }
            new_master = master;
            Ok(())
        });
        new_master
    }

    /// The tail of every process's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let data = self
            .data_nodes
            .iter()
            .map(|n| format!("===== data node {} =====\n{}", n.addr(), n.log_tail(lines)));
        let sentinels = self
            .sentinels
            .iter()
            .map(|n| format!("===== sentinel {} =====\n{}", n.addr(), n.log_tail(lines)));
        data.chain(sentinels).collect::<Vec<_>>().join("\n")
    }

    fn data_node_mut(&mut self, addr: &str) -> &mut RedisServer {
        let known = self.data_addrs();
        self.data_nodes
            .iter_mut()
            .find(|n| n.addr() == addr)
            .unwrap_or_else(|| panic!("{addr} is not a data node {known:?}"))
    }

    /// Every replica reports its link to the master up.
    fn replicas_synced(&self) -> Result<(), String> {
        for replica in &self.data_nodes[1..] {
            let link = info_field(replica, "replication", "master_link_status")?;
            if link != "up" {
                return Err(format!(
                    "replica {}: master_link_status is {link}",
                    replica.addr()
                ));
            }
        }
        Ok(())
    }

    /// Every sentinel sees a healthy master with `replicas` replicas and
    /// `others` other sentinels.
    fn sentinels_agree(&self, replicas: usize, others: usize) -> Result<String, String> {
        let master = self.sentinels_agree_on_master()?;
        for sentinel in &self.sentinels {
            let addr = sentinel.addr();
            let reply = try_command(sentinel, &["SENTINEL", "MASTER", &self.master_name])?;
            let fields = flat_map(&reply);
            let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("<missing>");
            if get("flags") != "master" {
                return Err(format!("sentinel {addr} flags the master {}", get("flags")));
            }
            for (field, want) in [
                ("num-slaves", replicas.to_string()),
                ("num-other-sentinels", others.to_string()),
            ] {
                if get(field) != want {
                    return Err(format!(
                        "sentinel {addr}: {field} is {}, want {want}",
                        get(field)
                    ));
                }
            }
            let reply = try_command(sentinel, &["SENTINEL", "REPLICAS", &self.master_name])?;
            let RespValue::Array(Some(list)) = reply else {
                return Err(format!(
                    "sentinel {addr}: SENTINEL REPLICAS answered {reply:?}"
                ));
            };
            for replica in &list {
                let fields = flat_map(replica);
                let flags = fields
                    .get("flags")
                    .map(String::as_str)
                    .unwrap_or("<missing>");
                let link = fields
                    .get("master-link-status")
                    .map(String::as_str)
                    .unwrap_or("<missing>");
                if flags != "slave" || link != "ok" {
                    return Err(format!(
                        "sentinel {addr} sees replica {}:{} with flags {flags}, link {link}",
                        fields.get("ip").map(String::as_str).unwrap_or("?"),
                        fields.get("port").map(String::as_str).unwrap_or("?"),
                    ));
                }
            }
        }
        Ok(master)
    }

    /// The master every running sentinel names.
    fn sentinels_agree_on_master(&self) -> Result<String, String> {
        let mut agreed: Option<String> = None;
        for sentinel in &self.sentinels {
            let master = self.master_by(sentinel)?;
            match &agreed {
                None => agreed = Some(master),
                Some(first) if *first != master => {
                    return Err(format!(
                        "sentinel {} names {master}, another names {first}",
                        sentinel.addr()
                    ));
                }
                Some(_) => {}
            }
        }
        agreed.ok_or_else(|| "there is no sentinel".to_owned())
    }

    fn master_by(&self, sentinel: &RedisServer) -> Result<String, String> {
        let reply = try_command(
            sentinel,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.master_name],
        )?;
        match reply {
            RespValue::Array(Some(parts)) if parts.len() == 2 => {
                let host = parts[0].as_text().unwrap_or_default();
                let port = parts[1].as_text().unwrap_or_default();
                Ok(format!("{host}:{port}"))
            }
            other => Err(format!(
                "sentinel {}: GET-MASTER-ADDR-BY-NAME answered {other:?}",
                sentinel.addr()
            )),
        }
    }

    /// Polls `check` every 100 ms until it holds or `deadline` passes.
    fn poll_until<F>(&self, deadline: Instant, what: &str, mut check: F)
    where
        F: FnMut(&Self) -> Result<(), String>,
    {
        loop {
            let last = match check(self) {
                Ok(()) => return,
                Err(reason) => reason,
            };
            if Instant::now() >= deadline {
                panic!(
                    "the sentinel deployment {self:?} did not reach {what} in time; last seen: \
                     {last}\n{}",
                    self.log_tails(LOG_LINES_IN_PANIC)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One `field:value` line of `INFO <section>`.
fn info_field(node: &RedisServer, section: &str, field: &str) -> Result<String, String> {
    info_section(node, section)?
        .remove(field)
        .ok_or_else(|| format!("{}: INFO {section} has no {field}", node.addr()))
}

/// A flat `[k1, v1, k2, v2, ...]` reply (RESP2 `SENTINEL MASTER`) as a map.
fn flat_map(reply: &RespValue) -> BTreeMap<String, String> {
    let RespValue::Array(Some(items)) = reply else {
        return BTreeMap::new();
    };
    items
        .chunks(2)
        .filter_map(|pair| match pair {
            [k, v] => Some((k.as_text()?, v.as_text()?)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_map_pairs_up_fields() {
        let reply = RespValue::Array(Some(vec![
            RespValue::Bulk(Some(b"flags".to_vec())),
            RespValue::Bulk(Some(b"master".to_vec())),
            RespValue::Bulk(Some(b"num-slaves".to_vec())),
            RespValue::Bulk(Some(b"1".to_vec())),
        ]));
        let map = flat_map(&reply);
        assert_eq!(map.get("flags").map(String::as_str), Some("master"));
        assert_eq!(map.get("num-slaves").map(String::as_str), Some("1"));
        assert!(flat_map(&RespValue::Integer(1)).is_empty());
    }

    #[test]
    fn sentinels_fail_the_master_over_to_its_replica() {
        let mut deployment = RedisSentinel::start();
        assert_eq!(deployment.sentinel_addrs().len(), 3);
        let [first, replica] = deployment.data_addrs().try_into().unwrap();
        assert_eq!(deployment.master_addr(), first);

        let old = deployment.kill_master();
        assert_eq!(old, first);
        let new = deployment.wait_for_failover(&old);
        assert_eq!(new, replica);
        assert_eq!(deployment.master_addr(), replica);
    }
}
