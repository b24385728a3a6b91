//! A Redis Cluster of real server processes: [`RedisCluster`].
//!
//! Every node is a [`RedisServer`] on a free loopback port, with
//! `--cluster-enabled yes` and its cluster bus on a second free port given
//! explicitly (`--cluster-port`, Redis ≥ 7.0 and Valkey), so nothing depends on
//! `port + 10000` being free. The cluster is formed with
//! `redis-cli --cluster create ... --cluster-replicas R --cluster-yes`, and
//! [`RedisClusterBuilder::start`] returns only once every node says
//! `cluster_state:ok`, every slot is served, all nodes agree on who serves it,
//! and every replica's link to its primary is up.
//!
//! ```no_run
//! use cache_testing::server::{RedisCluster, key_slot};
//!
//! let mut cluster = RedisCluster::start(); // 3 primaries, 3 replicas
//! let seeds = cluster.seed_addrs();
//! let victim = cluster.primary_of(key_slot("user:42"));
//! cluster.kill_node(&victim);
//! let successor = cluster.wait_for_failover(&victim);
//! assert_ne!(successor, victim);
//! # let _ = seeds;
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::admin::{info_section, run_with_deadline, scan_node, try_command};
use super::reaper::shared_until_exit;
use super::{ExitReaper, RedisServer, RespValue, log_tail};

mod slots;

pub use slots::{CLUSTER_SLOTS, key_slot};
use slots::{NodeView, cluster_info, cluster_view, slot_owners};

/// How long a cluster gets to form (all nodes started, slots assigned,
/// replicas synced). Generous: a loaded 2-core machine runs several test
/// binaries at once.
const DEFAULT_FORM_TIMEOUT: Duration = Duration::from_secs(90);

/// How long [`RedisCluster::wait_for_failover`] and
/// [`RedisCluster::wait_until_stable`] wait by default.
const DEFAULT_CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Log lines of each node quoted in a failure message.
const LOG_LINES_IN_PANIC: usize = 15;

/// Builds a [`RedisCluster`]; see [`RedisCluster::builder`].
#[derive(Debug, Clone)]
pub struct RedisClusterBuilder {
    primaries: usize,
    replicas_per_primary: usize,
    node_timeout: Duration,
    form_timeout: Duration,
    args: Vec<OsString>,
}

impl Default for RedisClusterBuilder {
    fn default() -> Self {
        RedisClusterBuilder {
            primaries: 3,
            replicas_per_primary: 1,
            node_timeout: Duration::from_millis(2000),
            form_timeout: DEFAULT_FORM_TIMEOUT,
            args: Vec::new(),
        }
    }
}

impl RedisClusterBuilder {
    cache_core::setters! {
        /// The number of primaries (default 3, the least `redis-cli` accepts).
        primaries: usize;

        /// Replicas per primary (default 1).
        replicas_per_primary: usize;

        /// `cluster-node-timeout` (default 2 s): how long a node may be
        /// unreachable before it is failed over. Small, so failover tests are quick.
        node_timeout: Duration;

        /// How long the cluster gets to form (default 90 s).
        form_timeout: Duration;
    }

    /// Appends a command-line argument for every node.
    pub fn node_arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the nodes, forms the cluster and waits until it is healthy.
    ///
    /// # Panics
    /// When a node cannot start or the cluster does not form in time; the
    /// message says which condition failed and quotes every node's log.
    pub fn start(self) -> RedisCluster {
        assert!(
            self.primaries >= 3,
            "redis-cli --cluster create needs at least 3 primaries, got {}",
            self.primaries
        );
        let work_dir = tempfile::Builder::new()
            .prefix("cache-testing-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let total = self.primaries * (1 + self.replicas_per_primary);
        let nodes: Vec<RedisServer> = (0..total)
            .map(|_| {
                RedisServer::builder()
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                    ])
                    .arg(self.node_timeout.as_millis().to_string())
                    // Replicas sync at once instead of waiting 5 s for company.
                    .args(["--repl-diskless-sync-delay", "0"])
                    .args(self.args.iter().cloned())
                    .extra_port_arg("--cluster-port")
                    .start()
            })
            .collect();
        let cluster = RedisCluster {
            nodes,
            primaries: self.primaries,
            replicas_per_primary: self.replicas_per_primary,
            killed_primary_slots: BTreeMap::new(),
            killed: BTreeSet::new(),
            work_dir,
        };
        cluster.create(self.form_timeout);
        cluster.wait_formed(Instant::now() + self.form_timeout);
        cluster
    }
}

/// A running Redis Cluster; every node is killed and reaped on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    primaries: usize,
    replicas_per_primary: usize,
    /// A slot each killed primary served when it was killed, by address.
    killed_primary_slots: BTreeMap<String, u16>,
    /// The nodes killed by `kill_node` and not restarted since.
    killed: BTreeSet<String>,
    work_dir: TempDir,
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.seed_addrs())
            .field("primaries", &self.primaries)
            .field("replicas_per_primary", &self.replicas_per_primary)
            .finish_non_exhaustive()
    }
}

impl RedisCluster {
    /// Starts 3 primaries with 1 replica each and waits until the cluster is healthy.
    ///
    /// # Panics
    /// See [`RedisClusterBuilder::start`].
    pub fn start() -> RedisCluster {
        Self::builder().start()
    }

    /// A builder for other shapes and timeouts.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// The cluster shared by every test of this test binary that asks for it,
    /// started by the first. It lives until the binary exits, when an
    /// [`ExitReaper`] kills its nodes. Shared, so it cannot be changed: a test
    /// that kills nodes starts a cluster of its own.
    ///
    /// # Panics
    /// See [`RedisClusterBuilder::start`]; a failed start is tried again by
    /// the next caller.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<(RedisCluster, ExitReaper)> = OnceLock::new();
        shared_until_exit(&SHARED, RedisCluster::start, RedisCluster::pids)
    }

    /// The process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(RedisServer::pid).collect()
    }

    /// The `127.0.0.1:<port>` of every node (primaries and replicas, running
    /// or not), in start order: the seed list for a client.
    pub fn seed_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// The node at `addr`, to send it commands or read its log.
    ///
    /// # Panics
    /// When no node of this cluster has that address.
    pub fn node(&self, addr: &str) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.addr() == addr)
            .unwrap_or_else(|| {
                panic!(
                    "{addr} is not a node of this cluster {:?}",
                    self.seed_addrs()
                )
            })
    }

    fn node_mut(&mut self, addr: &str) -> &mut RedisServer {
        let known = self.seed_addrs();
        self.nodes
            .iter_mut()
            .find(|n| n.addr() == addr)
            .unwrap_or_else(|| panic!("{addr} is not a node of this cluster {known:?}"))
    }

    /// The addresses of the nodes not killed by [`kill_node`](Self::kill_node)
    /// (or restarted since), in start order.
    pub fn running_addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(RedisServer::addr)
            .filter(|addr| !self.killed.contains(addr))
            .collect()
    }

    /// The primaries that serve slots now, as the cluster sees them (asked
    /// of a running node), sorted.
    ///
    /// # Panics
    /// When no running node answers.
    pub fn primaries(&self) -> Vec<String> {
        let view = self.any_view();
        let mut addrs: Vec<String> = view
            .iter()
            .filter(|n| n.is_primary() && !n.is_failing() && !n.slots.is_empty())
            .map(|n| n.addr.clone())
            .collect();
        addrs.sort();
        addrs
    }

    /// The replicas that are not failing, as the cluster sees them, sorted.
    ///
    /// # Panics
    /// When no running node answers.
    pub fn replicas(&self) -> Vec<String> {
        let view = self.any_view();
        let mut addrs: Vec<String> = view
            .iter()
            .filter(|n| n.has_flag("slave") && !n.is_failing())
            .map(|n| n.addr.clone())
            .collect();
        addrs.sort();
        addrs
    }

    /// The replicas of the primary at `primary`, as the cluster sees them, sorted.
    ///
    /// # Panics
    /// When no running node answers or `primary` is unknown to the cluster.
    pub fn replicas_of(&self, primary: &str) -> Vec<String> {
        let view = self.any_view();
        let id = view
            .iter()
            .find(|n| n.addr == primary)
            .map(|n| n.id.clone())
            .unwrap_or_else(|| panic!("{primary} is not known to the cluster"));
        let mut addrs: Vec<String> = view
            .iter()
            .filter(|n| n.primary_id.as_deref() == Some(id.as_str()))
            .map(|n| n.addr.clone())
            .collect();
        addrs.sort();
        addrs
    }

    /// The primary that serves `slot` now, as a running node sees it (see
    /// [`key_slot`] for a key's slot).
    ///
    /// # Panics
    /// When no running node answers or nobody serves the slot.
    pub fn primary_of(&self, slot: u16) -> String {
        let view = self.any_view();
        slot_owners(&view)
            .get(&slot)
            .cloned()
            .unwrap_or_else(|| panic!("no node serves slot {slot}"))
    }

    /// Kills the node at `addr` (SIGKILL, like a crash). Its port, bus port
    /// and `nodes.conf` are kept for [`restart_node`](Self::restart_node).
    ///
    /// # Panics
    /// When no node has that address.
    pub fn kill_node(&mut self, addr: &str) {
        // Remember one slot it served, so that wait_for_failover knows what to
        // watch even when the failover completes before it is called.
        let served = self
            .try_any_view()
            .and_then(|view| slot_owners(&view).into_iter().find(|(_, o)| o == addr))
            .map(|(slot, _)| slot);
        if let Some(slot) = served {
            self.killed_primary_slots.insert(addr.to_owned(), slot);
        }
        self.node_mut(addr).stop();
        self.killed.insert(addr.to_owned());
    }

    /// Starts the killed node at `addr` again on the same ports and
    /// directory; it rejoins the cluster from its `nodes.conf` (a former
    /// primary that was failed over comes back as a replica). Call
    /// [`wait_until_stable`](Self::wait_until_stable) to wait until it is in.
    ///
    /// # Panics
    /// When no node has that address or it cannot start.
    pub fn restart_node(&mut self, addr: &str) {
        self.killed_primary_slots.remove(addr);
        self.node_mut(addr).restart();
        self.killed.remove(addr);
    }

    /// Waits until the slots that the killed primary `killed` served are
    /// served by another, running node in the view of every running node,
    /// and the cluster is stable (see
    /// [`wait_until_stable`](Self::wait_until_stable)). Returns the address
    /// of the successor (its former replica). Waits up to 60 s.
    ///
    /// # Panics
    /// When `killed` served no slots, or the failover does not complete in
    /// time; the message says what was last seen and quotes the logs.
    pub fn wait_for_failover(&self, killed: &str) -> String {
        let slot = match self.killed_primary_slots.get(killed) {
            Some(&slot) => slot,
            // Killed some other way: until the failover, the others still
            // list `killed` with its slots.
            None => {
                let view = self.any_view();
                slot_owners(&view)
                    .into_iter()
                    .find_map(|(slot, owner)| (owner == killed).then_some(slot))
                    .unwrap_or_else(|| {
                        panic!("{killed} serves no slots: it is no primary to fail over")
                    })
            }
        };
        let deadline = Instant::now() + DEFAULT_CONVERGE_TIMEOUT;
        let mut successor = String::new();
        self.poll_until(deadline, &format!("a failover of {killed}"), |cluster| {
            let owners = cluster.agreed_slot_owners()?;
            match owners.get(&slot) {
                Some(owner) if owner != killed => {
                    successor = owner.clone();
                    Ok(())
                }
                other => Err(format!("slot {slot} is still served by {other:?}")),
            }
        });
        successor
    }

    /// Waits until one of `candidates` says it is a primary (`ROLE`), polling
    /// every 5 ms: the moment the servers have done their part of a
    /// failover and the promoted replica serves. Pass the replicas of the
    /// killed primary, taken before the kill
    /// ([`replicas_of`](Self::replicas_of)). Returns the promoted one.
    /// Waits up to 60 s.
    ///
    /// # Panics
    /// When none is promoted in time.
    pub fn wait_for_promotion(&self, candidates: &[String]) -> String {
        let deadline = Instant::now() + DEFAULT_CONVERGE_TIMEOUT;
        loop {
            let mut seen = Vec::new();
            for addr in candidates {
                match try_command(self.node(addr), &["ROLE"]) {
                    Ok(RespValue::Array(Some(parts))) => {
                        let role = parts.first().and_then(RespValue::as_text);
                        if role.as_deref() == Some("master") {
                            return addr.clone();
                        }
                        seen.push(format!("{addr}: {role:?}"));
                    }
                    Ok(other) => seen.push(format!("{addr}: ROLE answered {other:?}")),
                    Err(e) => seen.push(e),
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "none of {candidates:?} was promoted in time; last seen: {seen:?}\n{}",
                    self.log_tails(LOG_LINES_IN_PANIC)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the node at `addr` is a replica whose link to its
    /// primary is up and synced (`INFO replication`): a restarted former
    /// primary that rejoined. Waits up to 60 s.
    ///
    /// # Panics
    /// When that does not happen in time.
    pub fn wait_for_replica(&self, addr: &str) {
        let deadline = Instant::now() + DEFAULT_CONVERGE_TIMEOUT;
        self.poll_until(deadline, &format!("{addr} as a synced replica"), |cluster| {
            let info = info_section(cluster.node(addr), "replication")?;
            let get = |field: &str| info.get(field).map(String::as_str).unwrap_or("<missing>");
            match (get("role"), get("master_link_status"), get("master_sync_in_progress")) {
                ("slave", "up", "0") => Ok(()),
                (role, link, sync) => Err(format!(
                    "{addr}: role {role}, master_link_status {link}, master_sync_in_progress {sync}"
                )),
            }
        });
    }

    /// Waits until every running node says `cluster_state:ok`, every slot is
    /// served by a running primary, and all running nodes agree on who serves
    /// each slot. Waits up to 60 s.
    ///
    /// # Panics
    /// When that does not happen in time; the message says what was last seen.
    pub fn wait_until_stable(&self) {
        let deadline = Instant::now() + DEFAULT_CONVERGE_TIMEOUT;
        self.poll_until(deadline, "a stable cluster", |cluster| {
            cluster.agreed_slot_owners().map(|_| ())
        });
    }

    /// Every key on the node at `addr` that matches `pattern` (SCAN on that
    /// node alone), sorted; for checking where keys live.
    ///
    /// # Panics
    /// When the node does not answer.
    pub fn keys_on(&self, addr: &str, pattern: &str) -> Vec<String> {
        scan_node(self.node(addr), pattern)
    }

    /// Sends one command to the node at `addr` on a new connection.
    ///
    /// # Panics
    /// When no node has that address or it does not answer.
    pub fn command_on(&self, addr: &str, args: &[&str]) -> RespValue {
        self.node(addr).command(args)
    }

    /// The tail of every node's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| format!("===== node {} =====\n{}", n.addr(), n.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `redis-cli --cluster create` over all nodes.
    fn create(&self, timeout: Duration) {
        let out_path = self.work_dir.path().join("cluster-create.log");
        let out = File::create(&out_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_path.display()));
        let mut cmd = Command::new(super::cli_binary());
        cmd.arg("--cluster")
            .arg("create")
            .args(self.seed_addrs())
            .arg("--cluster-replicas")
            .arg(self.replicas_per_primary.to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone a file handle"))
            .stderr(out);
        let status = run_with_deadline(cmd, Instant::now() + timeout).unwrap_or_else(|e| {
            panic!(
                "`{} --cluster create` failed to run: {e}; point {} at a redis-cli/valkey-cli \
                 binary\n{}",
                super::cli_binary().display(),
                super::CLI_BINARY_ENV,
                log_tail(&out_path, 40)
            )
        });
        if !status.success() {
            panic!(
                "`redis-cli --cluster create` exited with {status}\n--- its output ---\n{}\n{}",
                log_tail(&out_path, 40),
                self.log_tails(LOG_LINES_IN_PANIC)
            );
        }
    }

    /// Waits until the cluster has its full shape and every replica is synced.
    fn wait_formed(&self, deadline: Instant) {
        let total = self.nodes.len();
        let check = || -> Result<(), String> {
            let mut first_owners: Option<BTreeMap<u16, String>> = None;
            for node in &self.nodes {
                let addr = node.addr();
                let info = cluster_info(node)?;
                for (field, want) in [
                    ("cluster_state", "ok".to_owned()),
                    ("cluster_slots_ok", CLUSTER_SLOTS.to_string()),
                    ("cluster_known_nodes", total.to_string()),
                ] {
                    let got = info.get(field).map(String::as_str).unwrap_or("<missing>");
                    if got != want {
                        return Err(format!("{addr}: {field} is {got}, want {want}"));
                    }
                }
                let view = cluster_view(node)?;
                if let Some(bad) = view.iter().find(|n| n.is_failing() || !n.link_connected) {
                    return Err(format!("{addr} sees {} as {:?}", bad.addr, bad.flags));
                }
                let primaries: Vec<&NodeView> = view
                    .iter()
                    .filter(|n| n.is_primary() && !n.slots.is_empty())
                    .collect();
                if primaries.len() != self.primaries {
                    return Err(format!(
                        "{addr} sees {} primaries with slots, want {}",
                        primaries.len(),
                        self.primaries
                    ));
                }
                for primary in primaries {
                    let replicas = view
                        .iter()
                        .filter(|n| n.primary_id.as_deref() == Some(primary.id.as_str()))
                        .count();
                    if replicas != self.replicas_per_primary {
                        return Err(format!(
                            "{addr} sees {replicas} replica(s) of {}, want {}",
                            primary.addr, self.replicas_per_primary
                        ));
                    }
                }
                let owners = slot_owners(&view);
                match &first_owners {
                    None => first_owners = Some(owners),
                    Some(first) if *first != owners => {
                        return Err(format!("{addr} disagrees with the others on slot owners"));
                    }
                    Some(_) => {}
                }
                let replication = info_section(node, "replication")?;
                if replication.get("role").map(String::as_str) == Some("slave") {
                    let link = replication
                        .get("master_link_status")
                        .map(String::as_str)
                        .unwrap_or("<missing>");
                    if link != "up" {
                        return Err(format!("replica {addr}: master_link_status is {link}"));
                    }
                }
            }
            Ok(())
        };
        let mut last;
        loop {
            match check() {
                Ok(()) => return,
                Err(reason) => last = reason,
            }
            if Instant::now() >= deadline {
                panic!(
                    "the cluster {:?} did not form in time; last seen: {last}\n{}",
                    self.seed_addrs(),
                    self.log_tails(LOG_LINES_IN_PANIC)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The slot owners on which every running node agrees, when every running
    /// node says `cluster_state:ok` and every slot is served by a running node.
    fn agreed_slot_owners(&self) -> Result<BTreeMap<u16, String>, String> {
        let running = self.running_addrs();
        let mut agreed: Option<BTreeMap<u16, String>> = None;
        for addr in &running {
            let node = self.node(addr);
            let info = cluster_info(node)?;
            let state = info
                .get("cluster_state")
                .map(String::as_str)
                .unwrap_or("<missing>");
            if state != "ok" {
                return Err(format!("{addr}: cluster_state is {state}"));
            }
            let owners = slot_owners(&cluster_view(node)?);
            if owners.len() != usize::from(CLUSTER_SLOTS) {
                return Err(format!("{addr} sees {} slots served", owners.len()));
            }
            if let Some((slot, owner)) = owners.iter().find(|(_, o)| !running.contains(o)) {
                return Err(format!(
                    "{addr} sees slot {slot} served by {owner}, which is down"
                ));
            }
            match &agreed {
                None => agreed = Some(owners),
                Some(first) if *first != owners => {
                    return Err(format!("{addr} disagrees with the others on slot owners"));
                }
                Some(_) => {}
            }
        }
        agreed.ok_or_else(|| "no node is running".to_owned())
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
                    "the cluster {:?} did not reach {what} in time; last seen: {last}\n{}",
                    self.seed_addrs(),
                    self.log_tails(LOG_LINES_IN_PANIC)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `CLUSTER NODES` as seen by the first running node that answers.
    fn any_view(&self) -> Vec<NodeView> {
        let mut errors = Vec::new();
        for addr in self.running_addrs() {
            match cluster_view(self.node(&addr)) {
                Ok(view) => return view,
                Err(e) => errors.push(e),
            }
        }
        panic!("no running node of the cluster answered CLUSTER NODES: {errors:?}");
    }

    fn try_any_view(&self) -> Option<Vec<NodeView>> {
        self.running_addrs()
            .iter()
            .find_map(|addr| cluster_view(self.node(addr)).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_forms_fails_over_and_takes_a_node_back() {
        let mut cluster = RedisCluster::start();
        assert_eq!(cluster.seed_addrs().len(), 6);
        let primaries = cluster.primaries();
        assert_eq!(primaries.len(), 3, "{primaries:?}");
        assert_eq!(cluster.replicas().len(), 3);
        for key in ["foo", "user:42", "{tag}x"] {
            let owner = cluster.primary_of(key_slot(key));
            let reply = cluster.command_on(&owner, &["CLUSTER", "KEYSLOT", key]);
            assert_eq!(reply.as_integer(), Some(i64::from(key_slot(key))), "{key}");
        }

        let victim = cluster.primary_of(key_slot("foo"));
        let replica = cluster.replicas_of(&victim);
        assert_eq!(replica.len(), 1);
        cluster.kill_node(&victim);
        let successor = cluster.wait_for_failover(&victim);
        assert_eq!(successor, replica[0]);
        assert_eq!(cluster.primary_of(key_slot("foo")), successor);

        cluster.restart_node(&victim);
        cluster.wait_until_stable();
        assert!(cluster.running_addrs().contains(&victim));
    }
}
