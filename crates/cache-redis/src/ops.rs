//! The [`Cache`] operations on Redis. Every input is validated before any
//! I/O; each call is one round trip where the contract allows (batches are
//! pipelined, per slot in a cluster).

#[cfg(feature = "cluster")]
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "cluster")]
use crate::RedisMode;
use async_trait::async_trait;
use bytes::Bytes;
use cache_core::key::{validate_key, validate_value_size};
use cache_core::ttl::ttl_millis;
use cache_core::{
    Cache, CacheError, CacheStats, KeyPage, KeyTtl, Operation, RateDecision, RateLimitAlgorithm,
    RateLimitRule, Result, ScanCursor, Subscription,
};
use redis::{Cmd, FromRedisValue, Pipeline, ScriptInvocation};

use crate::cache::{KeyGroup, RedisCache};
use crate::retry::Idempotency::{self, Idempotent, NotIdempotent};
use crate::scan::ScanPosition;
use crate::scripts;
use crate::server_info::DeleteIfEqual;
use crate::topology::Topology;

/// Keys per command or pipeline in batch calls: big enough to amortize round
/// trips, small enough not to stall the server for other clients.
const BATCH: usize = 1000;

/// SCAN's COUNT hint for `delete_pattern`.
const DELETE_SCAN_COUNT: usize = 1000;

/// Bytes of `PX <ttl>` in a command at most: "PX" and a `u64` in decimal.
const MAX_TTL_ARG: usize = 2 + 20;

/// The largest `limit` the rate-limit scripts take (Lua numbers are doubles).
const MAX_SCRIPT_LIMIT: u64 = 1 << 53;

impl RedisCache {
    /// One command, one reply.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        op: Operation,
        key: Option<&str>,
        idempotency: Idempotency,
        cmd: &Cmd,
    ) -> Result<T> {
        self.run(op, key, idempotency, move |mut conn| async move {
            cmd.query_async::<T>(&mut conn).await
        })
        .await
    }

    /// `GET key` (`key` is valid).
    pub(crate) async fn get_one(&self, key: &str) -> Result<Option<Bytes>> {
        self.query(
            Operation::Get,
            Some(key),
            Idempotent,
            &Self::get_command(key),
        )
        .await
    }

    /// The command of [`RedisCache::get_one`].
    fn get_command(key: &str) -> Cmd {
        let mut cmd = Self::command("GET", 2, key.len());
        cmd.arg(key);
        cmd
    }

    /// One Lua script (EVALSHA, loaded on NOSCRIPT).
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        op: Operation,
        key: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T> {
        self.run(op, Some(key), NotIdempotent, move |mut conn| async move {
            invocation.invoke_async::<T>(&mut conn).await
        })
        .await
    }

    /// A command with room for `args` arguments (the name included) and
    /// `data` bytes of them, so that building it allocates twice instead of
    /// growing its buffers argument by argument (a visible share of a call's
    /// CPU on the hot paths).
    fn command(name: &str, args: usize, data: usize) -> Cmd {
        let mut cmd = Cmd::with_capacity(args, name.len() + data);
        cmd.arg(name);
        cmd
    }

    pub(crate) fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        validate_value_size(key, value, self.max_value_bytes())
    }

    /// The keys of a batch in groups of at most [`BATCH`], each one command
    /// (or pipeline) to one node: in a cluster one group per slot, so that
    /// each is retried on its own ([`RedisCache::run_groups`]) and redis-rs
    /// never splits a command across slots (it fails the whole command when
    /// one slot has no node, as during a failover).
    fn key_groups<'k>(&self, keys: impl ExactSizeIterator<Item = &'k str>) -> Vec<KeyGroup> {
        let chunked = |slot: Option<u16>, indices: Vec<usize>| {
            indices
                .chunks(BATCH)
                .map(|chunk| KeyGroup {
                    slot,
                    indices: chunk.to_vec(),
                })
                .collect::<Vec<_>>()
        };
        #[cfg(feature = "cluster")]
        if self.mode() == RedisMode::Cluster {
            let mut by_slot: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
            for (i, key) in keys.enumerate() {
                by_slot
                    .entry(crate::topology::key_slot(key.as_bytes()))
                    .or_default()
                    .push(i);
            }
            return by_slot
                .into_iter()
                .flat_map(|(slot, indices)| chunked(Some(slot), indices))
                .collect();
        }
        chunked(None, (0..keys.len()).collect())
    }

    /// One command `name key...` over the keys of `group`.
    fn group_command(name: &str, keys: &[&str], group: &KeyGroup) -> Cmd {
        let mut cmd = redis::cmd(name);
        for &i in &group.indices {
            cmd.arg(keys[i]);
        }
        cmd
    }

    /// `name key...` (UNLINK, EXISTS, TOUCH: commands that answer how many
    /// of their keys they found), one command per key group (per slot in a
    /// cluster, see [`RedisCache::key_groups`]), summed. A group that
    /// succeeded is not sent again, so its count is not lost to a retry.
    /// Every key is validated before any I/O.
    async fn count_keys(&self, op: Operation, name: &str, keys: &[&str]) -> Result<u64> {
        for key in keys {
            validate_key(key)?;
        }
        if keys.is_empty() {
            return Ok(0);
        }
        let groups = self.key_groups(keys.iter().copied());
        let commands: Vec<Cmd> = groups
            .iter()
            .map(|group| Self::group_command(name, keys, group))
            .collect();
        let commands = &commands;
        let counts = self
            .run_groups(op, &groups, |mut conn, i| {
                let cmd = &commands[i];
                async move { cmd.query_async::<u64>(&mut conn).await }
            })
            .await?;
        Ok(counts.into_iter().sum())
    }

    /// One SCAN page of `node`.
    async fn scan_page(
        &self,
        topology: &Arc<Topology>,
        op: Operation,
        node: &crate::settings::Endpoint,
        position: ScanPosition,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(position.cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count.clamp(1, 100_000));
        let cmd = &cmd;
        self.step(topology, op, move || async move {
            let reply = topology.query_node(node, cmd.clone()).await?;
            Ok(redis::from_redis_value::<(u64, Vec<Vec<u8>>)>(reply)?)
        })
        .await
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.counted(Operation::Get, async {
            validate_key(key)?;
            // Not through `get_one`: one async layer less on the hot path.
            let value = if self.inner.coalescer.is_some() {
                self.coalesced_get(key).await?
            } else {
                let cmd = Self::get_command(key);
                self.query(Operation::Get, Some(key), Idempotent, &cmd)
                    .await?
            };
            if value.is_some() {
                self.inner.stats.local().hits(1);
            } else {
                self.inner.stats.local().misses(1);
            }
            Ok(value)
        })
        .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.counted(Operation::Set, async {
            validate_key(key)?;
            self.check_value(key, value)?;
            let ttl_ms = ttl_millis(ttl)?;
            let mut cmd = Self::command("SET", 5, key.len() + value.len() + MAX_TTL_ARG);
            cmd.arg(key).arg(value).arg("PX").arg(ttl_ms);
            self.query::<()>(Operation::Set, Some(key), Idempotent, &cmd)
                .await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.counted(Operation::Delete, async {
            validate_key(key)?;
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(key);
            let removed: u64 = self
                .query(Operation::Delete, Some(key), Idempotent, &cmd)
                .await?;
            Ok(removed > 0)
        })
        .await
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        let op = Operation::GetOrSet;
        self.counted(op, async {
            validate_key(key)?;
            self.check_value(key, value)?;
            let ttl_ms = ttl_millis(ttl)?;
            if self.uses_set_nx_get() {
                // Absent: stored, the reply is nil. Present: untouched, the reply is the value.
                let mut cmd = Self::command("SET", 7, key.len() + value.len() + 5 + MAX_TTL_ARG);
                cmd.arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(ttl_ms);
                let previous: Option<Bytes> =
                    self.query(op, Some(key), NotIdempotent, &cmd).await?;
                Ok(match previous {
                    Some(existing) => (existing, false),
                    None => (Bytes::copy_from_slice(value), true),
                })
            } else {
                let mut invocation = scripts::GET_OR_SET.prepare_invoke();
                invocation.key(key).arg(value).arg(ttl_ms);
                let (stored, set): (Bytes, i64) = self.script(op, key, &invocation).await?;
                Ok((stored, set == 1))
            }
        })
        .await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let op = Operation::CompareAndSet;
        self.counted(op, async {
            validate_key(key)?;
            self.check_value(key, new)?;
            let ttl_ms = ttl_millis(ttl)?;
            match expected {
                None => {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(key).arg(new).arg("NX").arg("PX").arg(ttl_ms);
                    let reply: Option<String> =
                        self.query(op, Some(key), NotIdempotent, &cmd).await?;
                    Ok(reply.is_some())
                }
                Some(expected) if self.inner.set_ifeq => {
                    let mut cmd = Self::command(
                        "SET",
                        7,
                        key.len() + new.len() + 4 + expected.len() + MAX_TTL_ARG,
                    );
                    cmd.arg(key)
                        .arg(new)
                        .arg("IFEQ")
                        .arg(expected)
                        .arg("PX")
                        .arg(ttl_ms);
                    let reply: Option<String> =
                        self.query(op, Some(key), NotIdempotent, &cmd).await?;
                    Ok(reply.is_some())
                }
                Some(expected) => {
                    let mut invocation = scripts::COMPARE_AND_SET.prepare_invoke();
                    invocation.key(key).arg(expected).arg(new).arg(ttl_ms);
                    let replaced: i64 = self.script(op, key, &invocation).await?;
                    Ok(replaced == 1)
                }
            }
        })
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let op = Operation::CompareAndDelete;
        self.counted(op, async {
            validate_key(key)?;
            let deleted: i64 = match self.inner.delete_if_equal {
                Some(DeleteIfEqual::Delifeq) => {
                    let mut cmd = Self::command("DELIFEQ", 3, key.len() + expected.len());
                    cmd.arg(key).arg(expected);
                    self.query(op, Some(key), NotIdempotent, &cmd).await?
                }
                Some(DeleteIfEqual::Delex) => {
                    let mut cmd = Self::command("DELEX", 4, key.len() + 4 + expected.len());
                    cmd.arg(key).arg("IFEQ").arg(expected);
                    self.query(op, Some(key), NotIdempotent, &cmd).await?
                }
                None => {
                    let mut invocation = scripts::COMPARE_AND_DELETE.prepare_invoke();
                    invocation.key(key).arg(expected);
                    self.script(op, key, &invocation).await?
                }
            };
            Ok(deleted == 1)
        })
        .await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let op = Operation::GetMany;
        self.counted(op, async {
            for key in keys {
                validate_key(key)?;
            }
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            // One MGET per group (per slot in a cluster), each retried on its own.
            let groups = self.key_groups(keys.iter().copied());
            let commands: Vec<Cmd> = groups
                .iter()
                .map(|group| Self::group_command("MGET", keys, group))
                .collect();
            let commands = &commands;
            let replies = self
                .run_groups(op, &groups, |mut conn, i| {
                    let cmd = &commands[i];
                    async move { cmd.query_async::<Vec<Option<Bytes>>>(&mut conn).await }
                })
                .await?;
            let mut values: Vec<Option<Bytes>> = vec![None; keys.len()];
            for (group, reply) in groups.iter().zip(replies) {
                if reply.len() != group.indices.len() {
                    return Err(CacheError::operation(
                        op,
                        None,
                        std::io::Error::other(format!(
                            "MGET of {} keys returned {} values",
                            group.indices.len(),
                            reply.len()
                        )),
                    ));
                }
                for (&i, value) in group.indices.iter().zip(reply) {
                    values[i] = value;
                }
            }
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            self.inner.stats.local().hits(hits);
            self.inner.stats.local().misses(values.len() as u64 - hits);
            Ok(values)
        })
        .await
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let op = Operation::SetMany;
        self.counted(op, async {
            for (key, value) in entries {
                validate_key(key)?;
                self.check_value(key, value)?;
            }
            let ttl_ms = ttl_millis(ttl)?;
            if entries.is_empty() {
                return Ok(());
            }
            // One pipeline per group (a pipeline must stay on one node).
            let groups = self.key_groups(entries.iter().map(|(key, _)| *key));
            let pipelines: Vec<Pipeline> = groups
                .iter()
                .map(|group| {
                    let mut pipe = redis::pipe();
                    for &i in &group.indices {
                        let (key, value) = entries[i];
                        pipe.cmd("SET")
                            .arg(key)
                            .arg(value)
                            .arg("PX")
                            .arg(ttl_ms)
                            .ignore();
                    }
                    pipe
                })
                .collect();
            let pipelines = &pipelines;
            self.run_groups(op, &groups, |mut conn, i| {
                let pipe = &pipelines[i];
                async move { pipe.query_async::<()>(&mut conn).await }
            })
            .await
            .map(drop)
        })
        .await
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let op = Operation::DeleteMany;
        self.counted(op, async { self.count_keys(op, "UNLINK", keys).await })
            .await
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let op = Operation::IncrBy;
        self.counted(op, async {
            validate_key(key)?;
            let ttl_ms = ttl_millis(ttl)?;
            let mut invocation = scripts::INCR_BY.prepare_invoke();
            invocation.key(key).arg(delta).arg(ttl_ms);
            let text: String = self.script(op, key, &invocation).await?;
            text.parse::<i64>()
                .map_err(|_| CacheError::wrong_type(key, "a decimal i64 counter"))
        })
        .await
    }

    async fn exists(&self, keys: &[&str]) -> Result<u64> {
        let op = Operation::Exists;
        self.counted(op, async { self.count_keys(op, "EXISTS", keys).await })
            .await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        let op = Operation::Expire;
        self.counted(op, async {
            validate_key(key)?;
            let ttl_ms = ttl_millis(ttl)?;
            let mut cmd = redis::cmd("PEXPIRE");
            cmd.arg(key).arg(ttl_ms);
            let set: i64 = self.query(op, Some(key), Idempotent, &cmd).await?;
            Ok(set == 1)
        })
        .await
    }

    async fn persist(&self, key: &str) -> Result<bool> {
        let op = Operation::Persist;
        self.counted(op, async {
            validate_key(key)?;
            let mut cmd = redis::cmd("PERSIST");
            cmd.arg(key);
            // Not retried: a retry after a PERSIST that ran would answer false.
            let removed: i64 = self.query(op, Some(key), NotIdempotent, &cmd).await?;
            Ok(removed == 1)
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let op = Operation::Ttl;
        self.counted(op, async {
            validate_key(key)?;
            let mut cmd = redis::cmd("PTTL");
            cmd.arg(key);
            let ms: i64 = self.query(op, Some(key), Idempotent, &cmd).await?;
            Ok(match ms {
                -2 => KeyTtl::Absent,
                -1 => KeyTtl::NoExpiry,
                ms => KeyTtl::Remaining(Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            })
        })
        .await
    }

    async fn touch(&self, keys: &[&str]) -> Result<u64> {
        let op = Operation::Touch;
        self.counted(op, async { self.count_keys(op, "TOUCH", keys).await })
            .await
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let op = Operation::ScanKeys;
        self.counted(op, async {
            let position =
                ScanPosition::parse(cursor).map_err(|e| CacheError::operation(op, None, e))?;
            let topology = self.topology(op)?;
            let topo = &topology;
            let nodes = self.step(topo, op, move || topo.primaries()).await?;
            let Some(node) = nodes.get(position.node) else {
                // The cluster has fewer primaries than when the cursor was made.
                return Ok(KeyPage::new(Vec::new(), None));
            };
            let (next, raw) = self
                .scan_page(topo, op, node, position, pattern, count)
                .await?;
            // Keys are UTF-8 in this contract; a key some other client wrote
            // in another encoding is not listed (delete_pattern still removes it).
            let keys = raw
                .into_iter()
                .filter_map(|k| String::from_utf8(k).ok())
                .collect();
            let next = position
                .advance(next, nodes.len())
                .map(ScanPosition::to_cursor);
            Ok(KeyPage::new(keys, next))
        })
        .await
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let op = Operation::DeletePattern;
        self.counted(op, async {
            let topology = self.topology(op)?;
            let topo = &topology;
            let nodes = self.step(topo, op, move || topo.primaries()).await?;
            let mut deleted = 0u64;
            for (index, node) in nodes.iter().enumerate() {
                let mut position = ScanPosition {
                    node: index,
                    cursor: 0,
                };
                loop {
                    let (next, keys) = self
                        .scan_page(topo, op, node, position, pattern, DELETE_SCAN_COUNT)
                        .await?;
                    if !keys.is_empty() {
                        let mut cmd = redis::cmd("UNLINK");
                        cmd.arg(&keys);
                        let cmd = &cmd;
                        deleted += self
                            .step(topo, op, move || {
                                let mut conn = topo.conn();
                                async move { cmd.query_async::<u64>(&mut conn).await }
                            })
                            .await?;
                    }
                    if next == 0 {
                        break;
                    }
                    position.cursor = next;
                }
            }
            Ok(deleted)
        })
        .await
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        let op = Operation::RateLimit;
        self.counted(op, async {
            rule.validate()?;
            validate_key(key)?;
            let window_ms = ttl_millis(rule.window)?;
            let script = match rule.algorithm {
                RateLimitAlgorithm::FixedWindow => &*scripts::FIXED_WINDOW,
                _ => &*scripts::SLIDING_WINDOW,
            };
            let mut invocation = script.prepare_invoke();
            invocation
                .key(key)
                .arg(rule.limit.min(MAX_SCRIPT_LIMIT))
                .arg(window_ms);
            let (allowed, used, retry_us): (i64, u64, u64) =
                self.script(op, key, &invocation).await?;
            Ok(if allowed == 1 {
                RateDecision::new(
                    true,
                    rule.limit,
                    rule.limit.saturating_sub(used),
                    Duration::ZERO,
                )
            } else {
                RateDecision::new(false, rule.limit, 0, Duration::from_micros(retry_us.max(1)))
            })
        })
        .await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        let op = Operation::Publish;
        self.counted(op, async {
            validate_key(channel)?;
            self.check_value(channel, message)?;
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(channel).arg(message);
            let topology = self.topology(op)?;
            let (topo, cmd) = (&topology, &cmd);
            self.on_topology(topo, op, Some(channel), NotIdempotent, move || {
                topo.publish(cmd)
            })
            .await
        })
        .await
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let op = Operation::Subscribe;
        self.counted(op, async {
            validate_key(channel)?;
            let topology = self.topology(op)?;
            // A first subscribe opens the dedicated connection, then subscribes.
            let limit = self.inner.settings.connect_timeout + self.command_timeout();
            let subscribe = self.inner.pubsub.subscribe(&topology, channel);
            match tokio::time::timeout(limit, subscribe).await {
                Ok(result) => result,
                Err(_) => Err(CacheError::timeout(op, Some(channel), limit)),
            }
        })
        .await
    }

    async fn health(&self) -> Result<()> {
        let op = Operation::Health;
        self.counted(op, async {
            let topology = self.topology(op)?;
            let topo = &topology;
            let ping = redis::cmd("PING");
            let ping = &ping;
            self.step(topo, op, move || topo.query_each_primary(ping))
                .await
                .map(drop)
        })
        .await
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    fn collections(&self) -> Option<&dyn cache_core::Collections> {
        Some(self)
    }

    async fn close(&self) -> Result<()> {
        self.inner.stats.local().op(Operation::Close);
        if self.shut() {
            tracing::info!("closed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxed future of a `get` or a `set` (the `async_trait` box every
    /// call allocates) stays within glibc's per-thread cache of small blocks
    /// (at most 1,032 bytes): past it, the allocation and the moves of the
    /// future cost several hundred instructions more per call (issue 12;
    /// the layers that took a future by value had made it 2.7 KB).
    #[tokio::test]
    async fn the_boxed_call_futures_stay_small() {
        let server = cache_testing::server::RedisServer::start();
        let config = crate::RedisConfig {
            addrs: vec![server.addr()],
            ..Default::default()
        };
        let cache = RedisCache::connect(&config).await.unwrap();
        let get = Cache::get(&cache, "k");
        let set = Cache::set(&cache, "k", b"v", Duration::from_secs(1));
        let sizes = [std::mem::size_of_val(&*get), std::mem::size_of_val(&*set)];
        assert!(
            sizes.iter().all(|&s| s <= 1024),
            "get, set: {sizes:?} bytes"
        );
    }
}
