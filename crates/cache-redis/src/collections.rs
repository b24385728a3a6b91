//! Sets and hashes on Redis: [`Collections`] for [`RedisCache`].
//!
//! Every call is one command (or one script) on one key, so in a cluster it
//! goes to that key's slot, and it runs through the same path as the other
//! calls (deadline, retries of what is safe to retry, stats, metrics, error
//! mapping). Writes that may create the key are Lua scripts (`SADD`/`HSET`/
//! `HINCRBY`, then `PEXPIRE` when the key has no TTL) so that no set or hash
//! is ever left without one. Field TTLs use `HPEXPIRE`, `HPTTL` and
//! `HPERSIST` on servers that have them (Redis 7.4+, Valkey 9.0+, read from
//! `INFO server` at connect); elsewhere they are
//! [`ErrorKind::Unsupported`](cache_core::ErrorKind::Unsupported).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::collections::{Collections, MemberPage, check_per_call, validate_fields};
use cache_core::key::validate_key;
use cache_core::ttl::ttl_millis;
use cache_core::{CacheError, KeyTtl, Operation, Result, ScanCursor};
use redis::Cmd;

use crate::RedisCache;
use crate::retry::Idempotency::Idempotent;
use crate::scan::InvalidCursor;
use crate::scripts;

/// `set_members`'s page size when asked for 0.
const DEFAULT_PAGE_SIZE: usize = 100;

/// Why the field-TTL calls fail on older servers.
const NO_FIELD_TTL: &str = "hash field TTL needs Redis 7.4 or Valkey 9.0 (HPEXPIRE)";

impl RedisCache {
    /// The most members or fields one call on a set or hash may name.
    pub fn max_per_call(&self) -> usize {
        self.inner.settings.max_per_call
    }

    /// The checks of a call naming `members` of the set at `key`.
    fn check_members(&self, op: Operation, key: &str, members: &[&[u8]]) -> Result<()> {
        validate_key(key)?;
        check_per_call(op, key, "members", members.len(), self.max_per_call())?;
        for member in members {
            self.check_value(key, member)?;
        }
        Ok(())
    }

    /// The checks of a call naming `fields` of the hash at `key`.
    fn check_fields<'f>(
        &self,
        op: Operation,
        key: &str,
        fields: impl ExactSizeIterator<Item = &'f str>,
    ) -> Result<()> {
        validate_key(key)?;
        validate_fields(op, key, fields, self.max_per_call())
    }

    /// `name key arg...`, one reply.
    async fn on_key<T: redis::FromRedisValue>(
        &self,
        op: Operation,
        name: &str,
        key: &str,
        args: impl FnOnce(&mut Cmd),
    ) -> Result<T> {
        let mut cmd = redis::cmd(name);
        cmd.arg(key);
        args(&mut cmd);
        self.query(op, Some(key), Idempotent, &cmd).await
    }

    /// `name key [ms] FIELDS n field...` (the field-TTL commands), one reply
    /// per field; an unsupported error on servers without them. A reply of
    /// nil (an absent key, on some versions) is `absent` for every field.
    async fn field_ttl_command(
        &self,
        op: Operation,
        name: &str,
        key: &str,
        ttl_ms: Option<u64>,
        fields: &[&str],
    ) -> Result<Vec<i64>> {
        if !self.inner.field_ttl {
            // A closed cache says so first, as for every other call.
            self.topology(op)?;
            return Err(CacheError::unsupported(op, NO_FIELD_TTL));
        }
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let reply: Option<Vec<i64>> = self
            .on_key(op, name, key, |cmd| {
                if let Some(ms) = ttl_ms {
                    cmd.arg(ms);
                }
                cmd.arg("FIELDS").arg(fields.len()).arg(fields);
            })
            .await?;
        Ok(reply.unwrap_or_else(|| vec![-2; fields.len()]))
    }
}

#[async_trait]
impl Collections for RedisCache {
    async fn set_add(&self, key: &str, members: &[&[u8]], ttl: Duration) -> Result<u64> {
        let op = Operation::SetAdd;
        self.counted(op, async {
            self.check_members(op, key, members)?;
            let ttl_ms = ttl_millis(ttl)?;
            if members.is_empty() {
                return Ok(0);
            }
            let mut invocation = scripts::SET_ADD.prepare_invoke();
            invocation.key(key).arg(ttl_ms);
            for member in members {
                invocation.arg(*member);
            }
            self.script(op, key, &invocation).await
        })
        .await
    }

    async fn set_remove(&self, key: &str, members: &[&[u8]]) -> Result<u64> {
        let op = Operation::SetRemove;
        self.counted(op, async {
            self.check_members(op, key, members)?;
            if members.is_empty() {
                return Ok(0);
            }
            self.on_key(op, "SREM", key, |cmd| {
                cmd.arg(members);
            })
            .await
        })
        .await
    }

    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        let op = Operation::SetContains;
        self.counted(op, async {
            self.check_members(op, key, &[member])?;
            self.on_key(op, "SISMEMBER", key, |cmd| {
                cmd.arg(member);
            })
            .await
        })
        .await
    }

    async fn set_count(&self, key: &str) -> Result<u64> {
        let op = Operation::SetCount;
        self.counted(op, async {
            validate_key(key)?;
            self.on_key(op, "SCARD", key, |_| {}).await
        })
        .await
    }

    async fn set_members(
        &self,
        key: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> Result<MemberPage> {
        let op = Operation::SetMembers;
        self.counted(op, async {
            validate_key(key)?;
            let position: u64 = if cursor.is_start() {
                0
            } else {
                cursor.as_str().parse().map_err(|_| {
                    let text = cursor.as_str().chars().take(64).collect();
                    CacheError::operation(op, Some(key), InvalidCursor(text))
                })?
            };
            let count = if count == 0 { DEFAULT_PAGE_SIZE } else { count };
            let (next, members): (u64, Vec<Bytes>) = self
                .on_key(op, "SSCAN", key, |cmd| {
                    cmd.arg(position).arg("COUNT").arg(count.min(100_000));
                })
                .await?;
            let next = (next != 0).then(|| ScanCursor::from_string(next.to_string()));
            Ok(MemberPage::new(members, next))
        })
        .await
    }

    async fn hash_set(&self, key: &str, fields: &[(&str, &[u8])], ttl: Duration) -> Result<u64> {
        let op = Operation::HashSet;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().map(|(f, _)| *f))?;
            for (_, value) in fields {
                self.check_value(key, value)?;
            }
            let ttl_ms = ttl_millis(ttl)?;
            if fields.is_empty() {
                return Ok(0);
            }
            let mut invocation = scripts::HASH_SET.prepare_invoke();
            invocation.key(key).arg(ttl_ms);
            for (field, value) in fields {
                invocation.arg(*field).arg(*value);
            }
            self.script(op, key, &invocation).await
        })
        .await
    }

    async fn hash_get(&self, key: &str, fields: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let op = Operation::HashGet;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().copied())?;
            if fields.is_empty() {
                return Ok(Vec::new());
            }
            self.on_key(op, "HMGET", key, |cmd| {
                cmd.arg(fields);
            })
            .await
        })
        .await
    }

    async fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Bytes)>> {
        let op = Operation::HashGetAll;
        self.counted(op, async {
            validate_key(key)?;
            let all: HashMap<Vec<u8>, Bytes> = self.on_key(op, "HGETALL", key, |_| {}).await?;
            // Field names are UTF-8 in this contract; one another client
            // wrote in another encoding is left out, as `scan_keys` does with keys.
            Ok(all
                .into_iter()
                .filter_map(|(name, value)| Some((String::from_utf8(name).ok()?, value)))
                .collect())
        })
        .await
    }

    async fn hash_delete(&self, key: &str, fields: &[&str]) -> Result<u64> {
        let op = Operation::HashDelete;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().copied())?;
            if fields.is_empty() {
                return Ok(0);
            }
            self.on_key(op, "HDEL", key, |cmd| {
                cmd.arg(fields);
            })
            .await
        })
        .await
    }

    async fn hash_incr_by(&self, key: &str, field: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let op = Operation::HashIncrBy;
        self.counted(op, async {
            self.check_fields(op, key, std::iter::once(field))?;
            let ttl_ms = ttl_millis(ttl)?;
            let mut invocation = scripts::HASH_INCR_BY.prepare_invoke();
            invocation.key(key).arg(field).arg(delta).arg(ttl_ms);
            let text: String = self.script(op, key, &invocation).await?;
            text.parse::<i64>().map_err(|_| {
                CacheError::wrong_type(key, "a hash whose field holds a decimal i64 counter")
            })
        })
        .await
    }

    fn supports_field_ttl(&self) -> bool {
        self.inner.field_ttl
    }

    async fn hash_expire_fields(
        &self,
        key: &str,
        fields: &[&str],
        ttl: Duration,
    ) -> Result<Vec<bool>> {
        let op = Operation::HashExpireFields;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().copied())?;
            let ttl_ms = ttl_millis(ttl)?;
            // 1: set; -2: no such field; 0: a condition not met (none is given).
            let replies = self
                .field_ttl_command(op, "HPEXPIRE", key, Some(ttl_ms), fields)
                .await?;
            Ok(replies.into_iter().map(|r| r == 1).collect())
        })
        .await
    }

    async fn hash_field_ttl(&self, key: &str, fields: &[&str]) -> Result<Vec<KeyTtl>> {
        let op = Operation::HashFieldTtl;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().copied())?;
            let replies = self
                .field_ttl_command(op, "HPTTL", key, None, fields)
                .await?;
            Ok(replies
                .into_iter()
                .map(|ms| match u64::try_from(ms) {
                    Ok(ms) => KeyTtl::Remaining(Duration::from_millis(ms)),
                    Err(_) if ms == -1 => KeyTtl::NoExpiry,
                    Err(_) => KeyTtl::Absent,
                })
                .collect())
        })
        .await
    }

    async fn hash_persist_fields(&self, key: &str, fields: &[&str]) -> Result<Vec<bool>> {
        let op = Operation::HashPersistFields;
        self.counted(op, async {
            self.check_fields(op, key, fields.iter().copied())?;
            // 1: removed; -1: it had none; -2: no such field.
            let replies = self
                .field_ttl_command(op, "HPERSIST", key, None, fields)
                .await?;
            Ok(replies.into_iter().map(|r| r == 1).collect())
        })
        .await
    }
}
