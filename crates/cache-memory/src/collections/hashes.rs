//! Hashes in memory: fields with deadlines of their own (see the parent module).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use cache_core::cache::KeyTtl;
use cache_core::collections::validate_fields;
use cache_core::error::{CacheError, Operation, Result};
use cache_core::key::validate_value_size;
use cache_core::ttl::normalize_ttl;

use super::Found;
use crate::entry::{Entry, Stored, parse_counter};
use crate::store::{CounterOverflow, Store};

/// What a wrong-type error says a hash call needed.
const HASH_EXPECTED: &str = "a hash";
/// What a wrong-type error says `hash_incr_by` needed.
const COUNTER_FIELD_EXPECTED: &str = "a hash whose field holds a decimal i64 counter";

/// The fields of a hash.
#[derive(Debug, Default)]
pub(crate) struct HashData(Mutex<Fields>);

#[derive(Debug, Default)]
struct Fields {
    items: BTreeMap<String, Field>,
    /// The bytes of every field name and value, for the weigher.
    bytes: u64,
}

#[derive(Debug, Clone)]
struct Field {
    value: Bytes,
    /// `None`: the field lives as long as its hash.
    expires_at: Option<Instant>,
}

impl Field {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    fn bytes(name: &str, value: &[u8]) -> u64 {
        (name.len() + value.len()) as u64
    }
}

impl HashData {
    /// The bytes charged against the byte bound (never called with the lock held).
    pub(crate) fn payload_bytes(&self) -> u64 {
        self.0.lock().bytes
    }
}

impl Fields {
    /// Drops the fields past their deadline at `now`.
    fn prune(&mut self, now: Instant) {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|name, field| {
            let live = field.is_live(now);
            if !live {
                freed += Field::bytes(name, &field.value);
            }
            live
        });
        if self.items.len() != before {
            self.bytes -= freed;
        }
    }

    fn live(&self, name: &str, now: Instant) -> Option<&Field> {
        self.items.get(name).filter(|f| f.is_live(now))
    }
}

impl Store {
    fn hash_at(&self, key: &str, now: Instant) -> Result<Found<HashData>> {
        match self.live(key, now) {
            None => Ok(Found::Absent),
            Some(Entry {
                value: Stored::Hash(hash),
                expires_at,
            }) => Ok(Found::Some(hash, expires_at)),
            Some(_) => Err(CacheError::wrong_type(key, HASH_EXPECTED)),
        }
    }

    /// The checks of a call naming `fields` of the hash at `key`.
    fn begin_fields<'f>(
        &self,
        op: Operation,
        key: &str,
        fields: impl ExactSizeIterator<Item = &'f str>,
    ) -> Result<()> {
        self.begin(op, key)?;
        validate_fields(op, key, fields, self.settings.max_per_call)
    }

    /// Runs `change` on the live fields of the hash at `key` (created, with
    /// `ttl`, when absent and `ttl` is given; otherwise an absent hash
    /// answers `absent`), under the key's lock, then stores it again.
    fn change_hash<T>(
        &self,
        op: Operation,
        key: &str,
        ttl: Option<Duration>,
        absent: impl FnOnce() -> T,
        change: impl FnOnce(&mut Fields, Instant) -> Result<T>,
    ) -> Result<T> {
        let _guard = self.lock(key, op)?;
        let now = self.clock.now();
        let (hash, expires_at) = match (self.hash_at(key, now)?, ttl) {
            (Found::Some(hash, at), _) => (hash, at),
            (Found::Absent, Some(ttl)) => (Arc::default(), Some(now + ttl)),
            (Found::Absent, None) => return Ok(absent()),
        };
        let (answer, empty, expires_at) = {
            let mut fields = hash.0.lock();
            fields.prune(now);
            // A hash whose fields all expired was gone: written again, it
            // starts over with the new TTL, as on Redis.
            let expires_at = match ttl {
                Some(ttl) if fields.items.is_empty() || expires_at.is_none() => Some(now + ttl),
                _ => expires_at,
            };
            let answer = change(&mut fields, now);
            (answer, fields.items.is_empty(), expires_at)
        };
        // Also after a refused change: the pruning above is kept (and a hash
        // left empty by it removed).
        self.store_again(key, Stored::Hash(hash), expires_at, empty);
        answer
    }

    pub(super) fn hash_set(
        &self,
        key: &str,
        fields: &[(&str, &[u8])],
        ttl: Duration,
    ) -> Result<u64> {
        let op = Operation::HashSet;
        self.begin_fields(op, key, fields.iter().map(|(f, _)| *f))?;
        let ttl = normalize_ttl(ttl)?;
        for (_, value) in fields {
            validate_value_size(key, value, self.settings.max_value_bytes)?;
        }
        if fields.is_empty() {
            return Ok(0);
        }
        self.change_hash(
            op,
            key,
            Some(ttl),
            || 0,
            |data, _| {
                // Sized first (the last of a repeated field wins), so that a hash
                // that would not fit is refused unchanged.
                let mut writes: BTreeMap<&str, &[u8]> = BTreeMap::new();
                writes.extend(fields.iter().copied());
                let mut bytes = data.bytes;
                for (name, value) in &writes {
                    if let Some(old) = data.items.get(*name) {
                        bytes -= Field::bytes(name, &old.value);
                    }
                    bytes += Field::bytes(name, value);
                }
                self.check_room(key, bytes)?;
                let mut added = 0;
                for (name, value) in writes {
                    let field = Field {
                        value: Bytes::copy_from_slice(value),
                        expires_at: None,
                    };
                    added += u64::from(data.items.insert(name.to_owned(), field).is_none());
                }
                data.bytes = bytes;
                Ok(added)
            },
        )
    }

    pub(super) fn hash_get(&self, key: &str, fields: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.begin_fields(Operation::HashGet, key, fields.iter().copied())?;
        let now = self.clock.now();
        Ok(match self.hash_at(key, now)? {
            Found::Absent => vec![None; fields.len()],
            Found::Some(hash, _) => {
                let data = hash.0.lock();
                fields
                    .iter()
                    .map(|f| data.live(f, now).map(|f| f.value.clone()))
                    .collect()
            }
        })
    }

    pub(super) fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Bytes)>> {
        self.begin(Operation::HashGetAll, key)?;
        let now = self.clock.now();
        Ok(match self.hash_at(key, now)? {
            Found::Absent => Vec::new(),
            Found::Some(hash, _) => hash
                .0
                .lock()
                .items
                .iter()
                .filter(|(_, f)| f.is_live(now))
                .map(|(name, f)| (name.clone(), f.value.clone()))
                .collect(),
        })
    }

    pub(super) fn hash_delete(&self, key: &str, fields: &[&str]) -> Result<u64> {
        let op = Operation::HashDelete;
        self.begin_fields(op, key, fields.iter().copied())?;
        self.change_hash(
            op,
            key,
            None,
            || 0,
            |data, _| {
                let mut removed = 0;
                for name in fields {
                    if let Some(old) = data.items.remove(*name) {
                        data.bytes -= Field::bytes(name, &old.value);
                        removed += 1;
                    }
                }
                Ok(removed)
            },
        )
    }

    pub(super) fn hash_incr_by(
        &self,
        key: &str,
        field: &str,
        delta: i64,
        ttl: Duration,
    ) -> Result<i64> {
        let op = Operation::HashIncrBy;
        self.begin_fields(op, key, std::iter::once(field))?;
        let ttl = normalize_ttl(ttl)?;
        self.change_hash(
            op,
            key,
            Some(ttl),
            || 0,
            |data, _| {
                let (current, old_bytes, expires_at) = match data.items.get(field) {
                    None => (0, 0, None),
                    Some(f) => match parse_counter(&f.value) {
                        Some(n) => (n, Field::bytes(field, &f.value), f.expires_at),
                        None => return Err(CacheError::wrong_type(key, COUNTER_FIELD_EXPECTED)),
                    },
                };
                let Some(next) = current.checked_add(delta) else {
                    let overflow = CounterOverflow { current, delta };
                    return Err(CacheError::overflow(op, Some(key), overflow));
                };
                let value = Bytes::from(next.to_string());
                let bytes = data.bytes - old_bytes + Field::bytes(field, &value);
                self.check_room(key, bytes)?;
                // The field keeps its own TTL, as HINCRBY keeps it.
                data.items
                    .insert(field.to_owned(), Field { value, expires_at });
                data.bytes = bytes;
                Ok(next)
            },
        )
    }

    pub(super) fn hash_expire_fields(
        &self,
        key: &str,
        fields: &[&str],
        ttl: Duration,
    ) -> Result<Vec<bool>> {
        let op = Operation::HashExpireFields;
        self.begin_fields(op, key, fields.iter().copied())?;
        let ttl = normalize_ttl(ttl)?;
        self.retime_fields(op, key, fields, |_| true, |now| Some(now + ttl))
    }

    pub(super) fn hash_persist_fields(&self, key: &str, fields: &[&str]) -> Result<Vec<bool>> {
        let op = Operation::HashPersistFields;
        self.begin_fields(op, key, fields.iter().copied())?;
        self.retime_fields(op, key, fields, |f| f.expires_at.is_some(), |_| None)
    }

    /// Gives each live field of `fields` that `applies` the deadline
    /// `deadline(now)`; per field, whether it did.
    fn retime_fields(
        &self,
        op: Operation,
        key: &str,
        fields: &[&str],
        applies: impl Fn(&Field) -> bool,
        deadline: impl Fn(Instant) -> Option<Instant>,
    ) -> Result<Vec<bool>> {
        let absent = || vec![false; fields.len()];
        self.change_hash(op, key, None, absent, |data, now| {
            Ok(fields
                .iter()
                .map(|name| match data.items.get_mut(*name) {
                    Some(field) if applies(field) => {
                        field.expires_at = deadline(now);
                        true
                    }
                    _ => false,
                })
                .collect())
        })
    }

    pub(super) fn hash_field_ttl(&self, key: &str, fields: &[&str]) -> Result<Vec<KeyTtl>> {
        self.begin_fields(Operation::HashFieldTtl, key, fields.iter().copied())?;
        let now = self.clock.now();
        Ok(match self.hash_at(key, now)? {
            Found::Absent => vec![KeyTtl::Absent; fields.len()],
            Found::Some(hash, _) => {
                let data = hash.0.lock();
                fields
                    .iter()
                    .map(|name| match data.live(name, now) {
                        None => KeyTtl::Absent,
                        Some(Field {
                            expires_at: None, ..
                        }) => KeyTtl::NoExpiry,
                        Some(Field {
                            expires_at: Some(at),
                            ..
                        }) => KeyTtl::Remaining(*at - now),
                    })
                    .collect()
            }
        })
    }
}
