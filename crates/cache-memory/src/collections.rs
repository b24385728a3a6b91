//! Sets and hashes in the memory backend: [`Collections`] for
//! [`MemoryCache`].
//!
//! A set or hash is one entry of the store, like a value: the entry bound,
//! the byte bound (members, field names and values are charged), eviction,
//! TTL, `delete`, `exists`, `expire`, `persist`, `scan_keys` and
//! `delete_pattern` treat it as any key. Its content lives behind a mutex in
//! the entry and is changed in place, only under the key's stripe lock (as a
//! rate limit's request log is), then stored again so that the map weighs it
//! anew. Members are kept sorted, which makes [`Collections::set_members`]'s
//! cursor "continue after this member": stable whatever is written between pages.
//!
//! Hash fields may carry a deadline on the cache's clock; a field past it is
//! gone for every call, and the next write of the hash drops it. A hash
//! whose fields have all expired reads as absent to the hash calls and is
//! removed by the next one that takes the key's lock; until then the key
//! still counts for `exists` and `scan_keys` (Redis removes it at once).

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use cache_core::cache::{KeyTtl, ScanCursor};
use cache_core::collections::{Collections, MemberPage, check_per_call};
use cache_core::error::{CacheError, Operation, Result};
use cache_core::key::{validate_key, validate_value_size};
use cache_core::ttl::normalize_ttl;

mod hashes;

pub(crate) use hashes::HashData;

use super::MemoryCache;
use super::entry::{Entry, Stored};
use super::scan::{self, DEFAULT_PAGE_SIZE};
use super::store::Store;

/// What a wrong-type error says a set call needed.
const SET_EXPECTED: &str = "a set";
/// What the printed form of a member cursor starts with.
const CURSOR_TAG: &str = "member:";

/// The members of a set.
#[derive(Debug, Default)]
pub(crate) struct SetData(Mutex<Members>);

#[derive(Debug, Default)]
struct Members {
    items: BTreeSet<Bytes>,
    /// The bytes of every member, for the weigher.
    bytes: u64,
}

impl SetData {
    /// The bytes charged against the byte bound (never called with the lock held).
    pub(crate) fn payload_bytes(&self) -> u64 {
        self.0.lock().bytes
    }
}

/// The cursor that continues after `member`.
fn encode_cursor(member: &[u8]) -> ScanCursor {
    scan::tagged_cursor(CURSOR_TAG, member)
}

/// The member a cursor continues after, `None` at the start.
fn decode_cursor(key: &str, cursor: &ScanCursor) -> Result<Option<Vec<u8>>> {
    scan::untag_cursor(CURSOR_TAG, cursor).ok_or_else(|| {
        CacheError::invalid_key(
            key,
            "not a set_members cursor of the in-memory backend (pass back the `next` of a page)",
        )
    })
}

/// The set or hash a call found at a key.
enum Found<T> {
    Absent,
    /// The content and the key's deadline.
    Some(Arc<T>, Option<Instant>),
}

impl Store {
    /// Refuses content of `bytes` bytes under `key` that could never fit.
    fn check_room(&self, key: &str, bytes: u64) -> Result<()> {
        if let Some(weighing) = self.settings.weighing
            && !weighing.fits(key.len() as u64 + bytes)
        {
            let max = weighing.largest_payload(key.len());
            return Err(CacheError::value_too_large(
                key,
                usize::try_from(bytes).unwrap_or(usize::MAX),
                usize::try_from(max).unwrap_or(usize::MAX),
            ));
        }
        Ok(())
    }

    /// The checks every call on `key` starts with.
    fn begin(&self, op: Operation, key: &str) -> Result<()> {
        self.ensure_open(op)?;
        validate_key(key)
    }

    /// The checks of members: how many, and each one's size.
    fn check_members(&self, op: Operation, key: &str, members: &[&[u8]]) -> Result<()> {
        check_per_call(
            op,
            key,
            "members",
            members.len(),
            self.settings.max_per_call,
        )?;
        for member in members {
            validate_value_size(key, member, self.settings.max_value_bytes)?;
        }
        Ok(())
    }

    fn set_at(&self, key: &str, now: Instant) -> Result<Found<SetData>> {
        match self.live(key, now) {
            None => Ok(Found::Absent),
            Some(Entry {
                value: Stored::Set(set),
                expires_at,
            }) => Ok(Found::Some(set, expires_at)),
            Some(_) => Err(CacheError::wrong_type(key, SET_EXPECTED)),
        }
    }

    /// Stores `stored` again after a change in place (so the map weighs it
    /// anew), or removes the key when the change left it `empty`. Call with
    /// the stripe lock held and the content's own lock released.
    fn store_again(&self, key: &str, stored: Stored, expires_at: Option<Instant>, empty: bool) {
        if empty {
            self.map.invalidate(key);
        } else {
            self.map.insert(
                key,
                Entry {
                    value: stored,
                    expires_at,
                },
            );
        }
    }

    fn set_add(&self, key: &str, members: &[&[u8]], ttl: Duration) -> Result<u64> {
        let op = Operation::SetAdd;
        self.begin(op, key)?;
        let ttl = normalize_ttl(ttl)?;
        self.check_members(op, key, members)?;
        if members.is_empty() {
            return Ok(0);
        }
        let _guard = self.lock(key, op)?;
        let now = self.clock.now();
        let (set, expires_at) = match self.set_at(key, now)? {
            Found::Absent => (Arc::default(), now + ttl),
            Found::Some(set, at) => (set, at.unwrap_or(now + ttl)),
        };
        let added = {
            let mut data = set.0.lock();
            let fresh: BTreeSet<&[u8]> = members
                .iter()
                .copied()
                .filter(|m| !data.items.contains(*m))
                .collect();
            let bytes = data.bytes + fresh.iter().map(|m| m.len() as u64).sum::<u64>();
            self.check_room(key, bytes)?;
            data.items
                .extend(fresh.iter().map(|m| Bytes::copy_from_slice(m)));
            data.bytes = bytes;
            fresh.len() as u64
        };
        self.store_again(key, Stored::Set(set), Some(expires_at), false);
        Ok(added)
    }

    fn set_remove(&self, key: &str, members: &[&[u8]]) -> Result<u64> {
        let op = Operation::SetRemove;
        self.begin(op, key)?;
        self.check_members(op, key, members)?;
        let _guard = self.lock(key, op)?;
        let Found::Some(set, expires_at) = self.set_at(key, self.clock.now())? else {
            return Ok(0);
        };
        let (removed, empty) = {
            let mut data = set.0.lock();
            let mut removed = 0;
            for member in members {
                if data.items.remove(*member) {
                    data.bytes -= member.len() as u64;
                    removed += 1;
                }
            }
            (removed, data.items.is_empty())
        };
        if removed > 0 {
            self.store_again(key, Stored::Set(set), expires_at, empty);
        }
        Ok(removed)
    }

    fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        self.begin(Operation::SetContains, key)?;
        Ok(match self.set_at(key, self.clock.now())? {
            Found::Absent => false,
            Found::Some(set, _) => set.0.lock().items.contains(member),
        })
    }

    fn set_count(&self, key: &str) -> Result<u64> {
        self.begin(Operation::SetCount, key)?;
        Ok(match self.set_at(key, self.clock.now())? {
            Found::Absent => 0,
            Found::Some(set, _) => set.0.lock().items.len() as u64,
        })
    }

    fn set_members(&self, key: &str, cursor: &ScanCursor, count: usize) -> Result<MemberPage> {
        self.begin(Operation::SetMembers, key)?;
        let after = decode_cursor(key, cursor)?;
        let count = if count == 0 { DEFAULT_PAGE_SIZE } else { count };
        let Found::Some(set, _) = self.set_at(key, self.clock.now())? else {
            return Ok(MemberPage::default());
        };
        let data = set.0.lock();
        let start = match &after {
            Some(after) => Bound::Excluded(after.as_slice()),
            None => Bound::Unbounded,
        };
        let mut rest = data.items.range::<[u8], _>((start, Bound::Unbounded));
        let members: Vec<Bytes> = rest.by_ref().take(count).cloned().collect();
        let next = match (rest.next(), members.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(last)),
            _ => None,
        };
        Ok(MemberPage::new(members, next))
    }
}

/// Every call is counted and timed like the calls of [`Cache`](cache_core::Cache).
#[async_trait]
impl Collections for MemoryCache {
    async fn set_add(&self, key: &str, members: &[&[u8]], ttl: Duration) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::SetAdd, || store.set_add(key, members, ttl))
    }

    async fn set_remove(&self, key: &str, members: &[&[u8]]) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::SetRemove, || store.set_remove(key, members))
    }

    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        let store = &*self.store;
        store.timed(Operation::SetContains, || store.set_contains(key, member))
    }

    async fn set_count(&self, key: &str) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::SetCount, || store.set_count(key))
    }

    async fn set_members(
        &self,
        key: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> Result<MemberPage> {
        let store = &*self.store;
        store.timed(Operation::SetMembers, || {
            store.set_members(key, cursor, count)
        })
    }

    async fn hash_set(&self, key: &str, fields: &[(&str, &[u8])], ttl: Duration) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::HashSet, || store.hash_set(key, fields, ttl))
    }

    async fn hash_get(&self, key: &str, fields: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let store = &*self.store;
        store.timed(Operation::HashGet, || store.hash_get(key, fields))
    }

    async fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Bytes)>> {
        let store = &*self.store;
        store.timed(Operation::HashGetAll, || store.hash_get_all(key))
    }

    async fn hash_delete(&self, key: &str, fields: &[&str]) -> Result<u64> {
        let store = &*self.store;
        store.timed(Operation::HashDelete, || store.hash_delete(key, fields))
    }

    async fn hash_incr_by(&self, key: &str, field: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let store = &*self.store;
        store.timed(Operation::HashIncrBy, || {
            store.hash_incr_by(key, field, delta, ttl)
        })
    }

    /// Always: fields expire on the cache's clock.
    fn supports_field_ttl(&self) -> bool {
        true
    }

    async fn hash_expire_fields(
        &self,
        key: &str,
        fields: &[&str],
        ttl: Duration,
    ) -> Result<Vec<bool>> {
        let store = &*self.store;
        store.timed(Operation::HashExpireFields, || {
            store.hash_expire_fields(key, fields, ttl)
        })
    }

    async fn hash_field_ttl(&self, key: &str, fields: &[&str]) -> Result<Vec<KeyTtl>> {
        let store = &*self.store;
        store.timed(Operation::HashFieldTtl, || {
            store.hash_field_ttl(key, fields)
        })
    }

    async fn hash_persist_fields(&self, key: &str, fields: &[&str]) -> Result<Vec<bool>> {
        let store = &*self.store;
        store.timed(Operation::HashPersistFields, || {
            store.hash_persist_fields(key, fields)
        })
    }
}
