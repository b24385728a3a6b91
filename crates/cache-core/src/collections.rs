//! Sets and hashes: [`Collections`], the second trait of the contract.
//!
//! A backend that can hold sets and hashes answers
//! [`Cache::collections`](crate::Cache::collections) with itself; every
//! [`CacheLayer`](crate::CacheLayer) (a namespace, a tenant's view, a lease, a
//! recording or fault-injecting double) passes them through, its key mapping,
//! `around` and `is_closed` hooks applied as to every other call. A cache
//! without them answers `None`.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{Cache, ScanCursor};
//! use cache_memory::MemoryCache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let cache = MemoryCache::new();
//! let sets = cache.collections().expect("the memory backend has sets and hashes");
//! let ttl = Duration::from_secs(3600);
//!
//! // Followers of user 42: a set.
//! assert_eq!(sets.set_add("followers:42", &[b"ada", b"grace"], ttl).await?, 2);
//! assert_eq!(sets.set_add("followers:42", &[b"ada"], ttl).await?, 0); // already there
//! assert!(sets.set_contains("followers:42", b"grace").await?);
//! assert_eq!(sets.set_count("followers:42").await?, 2);
//! let page = sets.set_members("followers:42", &ScanCursor::start(), 100).await?;
//! assert_eq!(page.members.len(), 2);
//!
//! // Preferences of user 42: a hash.
//! sets.hash_set("prefs:42", &[("theme", b"dark"), ("lang", b"en")], ttl).await?;
//! let got = sets.hash_get("prefs:42", &["theme", "missing"]).await?;
//! assert_eq!(got[0].as_deref(), Some(&b"dark"[..]));
//! assert_eq!(got[1], None);
//! assert_eq!(sets.hash_incr_by("prefs:42", "visits", 1, ttl).await?, 1);
//! assert_eq!(sets.hash_delete("prefs:42", &["lang"]).await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Semantics
//! - **One key each.** A set or a hash is one key: in a cluster it lives in
//!   one slot, and `delete`, `exists`, `expire`, `persist`, `ttl`,
//!   `scan_keys` and `delete_pattern` of [`Cache`](crate::Cache) see it like
//!   any other key. A set or hash left empty is removed, as on Redis.
//! - **TTL.** Every entry expires: a write that creates the set or hash (or
//!   finds it without a TTL) gives it `ttl`; an existing one keeps its TTL,
//!   as [`Cache::incr_by`](crate::Cache::incr_by) does. Use
//!   [`Cache::expire`](crate::Cache::expire) to move it.
//! - **Wrong type.** A set call on a key that holds a plain value or a hash
//!   (and a hash call on a set or a plain value, a plain `get` on either)
//!   fails with [`ErrorKind::WrongType`](crate::ErrorKind::WrongType).
//! - **Limits.** Members and values follow the backend's value-size limit,
//!   keys the key rules ([`crate::key`]), field names the same length rules
//!   as keys ([`validate_field`]). A call names at most the backend's
//!   per-call limit of members or fields ([`DEFAULT_MAX_PER_CALL`] unless
//!   configured); past it the call fails with
//!   [`ErrorKind::ValueTooLarge`](crate::ErrorKind::ValueTooLarge)
//!   ([`CacheError::too_many`]) and does nothing.
//! - **Field TTL.** Hash fields may expire on their own where the backend can
//!   ([`Collections::supports_field_ttl`]: Redis ≥ 7.4, Valkey ≥ 9.0, the
//!   memory backend); elsewhere those three calls fail with
//!   [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported). Writing a
//!   field with [`Collections::hash_set`] clears its TTL, as `HSET` does.
//! - **Atomicity.** Each call is atomic on its one key.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{KeyTtl, ScanCursor};
use crate::codec;
use crate::error::{CacheError, Operation, Result, check_byte_limit};
use crate::key::MAX_KEY_BYTES;

/// The members or fields a call may name unless the backend is configured
/// otherwise.
pub const DEFAULT_MAX_PER_CALL: usize = 1000;

/// Sets and hashes on a [`Cache`](crate::Cache); see the [module docs](self)
/// for the rules every backend follows, checked by the conformance suite.
///
/// Object-safe: a cache hands out `&dyn Collections` from
/// [`Cache::collections`](crate::Cache::collections).
#[async_trait]
pub trait Collections: Send + Sync + fmt::Debug {
    /// Adds `members` to the set at `key` (created with `ttl` if absent).
    /// Returns how many were not there yet.
    async fn set_add(&self, key: &str, members: &[&[u8]], ttl: Duration) -> Result<u64>;

    /// Removes `members` from the set at `key`; returns how many were there.
    /// An absent key is an empty set.
    async fn set_remove(&self, key: &str, members: &[&[u8]]) -> Result<u64>;

    /// Whether `member` is in the set at `key`.
    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool>;

    /// How many members the set at `key` has (0 when absent).
    async fn set_count(&self, key: &str) -> Result<u64>;

    /// One page of the members of the set at `key`, starting at `cursor`,
    /// about `count` long (`SSCAN` on Redis, so a large set never blocks the
    /// server). Start with [`ScanCursor::start`] and pass each page's `next`
    /// until it is `None`: a member present for the whole iteration is
    /// listed at least once, exactly once without concurrent writes.
    async fn set_members(&self, key: &str, cursor: &ScanCursor, count: usize)
    -> Result<MemberPage>;

    /// Stores each `(field, value)` in the hash at `key` (created with `ttl`
    /// if absent), replacing values (and clearing the TTL of each field
    /// written). Returns how many fields are new.
    async fn hash_set(&self, key: &str, fields: &[(&str, &[u8])], ttl: Duration) -> Result<u64>;

    /// The values of `fields` in the hash at `key`, in order, `None` for each
    /// field it does not hold (all `None` when the key is absent).
    async fn hash_get(&self, key: &str, fields: &[&str]) -> Result<Vec<Option<Bytes>>>;

    /// Every field and value of the hash at `key`, in no particular order
    /// (empty when absent).
    async fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Bytes)>>;

    /// Removes `fields` from the hash at `key`; returns how many it held.
    async fn hash_delete(&self, key: &str, fields: &[&str]) -> Result<u64>;

    /// Adds `delta` to the integer in `field` of the hash at `key` and
    /// returns the result, atomically: an absent field starts at 0, an absent
    /// hash is created with `ttl`. A field that is not a decimal `i64` is an
    /// [`ErrorKind::WrongType`](crate::ErrorKind::WrongType); leaving the
    /// `i64` range is an [`ErrorKind::Overflow`](crate::ErrorKind::Overflow).
    async fn hash_incr_by(&self, key: &str, field: &str, delta: i64, ttl: Duration) -> Result<i64>;

    /// Whether the three field-TTL calls below work on this backend (known
    /// at connect: Redis ≥ 7.4 and Valkey ≥ 9.0 have `HPEXPIRE`). When
    /// `false` they fail with
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    fn supports_field_ttl(&self) -> bool;

    /// Gives each of `fields` of the hash at `key` its own `ttl`, counted
    /// from now. Returns, per field, whether it was there to get it.
    async fn hash_expire_fields(
        &self,
        key: &str,
        fields: &[&str],
        ttl: Duration,
    ) -> Result<Vec<bool>>;

    /// How long each of `fields` still lives: [`KeyTtl::Absent`] for a field
    /// the hash does not hold, [`KeyTtl::NoExpiry`] for one without a TTL of
    /// its own (the key's TTL still applies), otherwise the time left.
    async fn hash_field_ttl(&self, key: &str, fields: &[&str]) -> Result<Vec<KeyTtl>>;

    /// Removes the TTL of each of `fields`; per field, whether it had one.
    async fn hash_persist_fields(&self, key: &str, fields: &[&str]) -> Result<Vec<bool>>;
}

/// Typed hash fields on any [`Collections`]: values in CBOR through
/// [`crate::codec`] with its default limits, as [`TypedCacheExt`](crate::TypedCacheExt)
/// does for plain values.
///
/// ```
/// use std::time::Duration;
/// use cache_core::Cache;
/// use cache_core::collections::TypedCollectionsExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let cache = cache_memory::MemoryCache::new();
/// let prefs = cache.collections().unwrap();
/// prefs.hash_set_as("prefs:42", "langs", &["en", "fr"], Duration::from_secs(60)).await?;
/// let langs: Option<Vec<String>> = prefs.hash_get_as("prefs:42", "langs").await?;
/// assert_eq!(langs, Some(vec!["en".to_owned(), "fr".to_owned()]));
/// # Ok(())
/// # }
/// ```
pub trait TypedCollectionsExt: Collections {
    /// The value of `field` in the hash at `key`, decoded as `T`; `None`
    /// when absent. A value that is not a valid `T` is an
    /// [`ErrorKind::Codec`](crate::ErrorKind::Codec) and is left in place.
    fn hash_get_as<T: DeserializeOwned>(
        &self,
        key: &str,
        field: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move {
            let value = self.hash_get(key, &[field]).await?.pop().flatten();
            value
                .map(|bytes| {
                    codec::from_slice(&bytes).map_err(|e| CacheError::from(e).with_key(key))
                })
                .transpose()
        }
    }

    /// Stores `value`, encoded as CBOR, in `field` of the hash at `key` (see
    /// [`Collections::hash_set`]); whether the field is new.
    fn hash_set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        field: &str,
        value: &T,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        let encoded = codec::to_vec(value).map_err(|e| CacheError::from(e).with_key(key));
        async move {
            let new = self.hash_set(key, &[(field, &encoded?)], ttl).await?;
            Ok(new == 1)
        }
    }
}

impl<C: Collections + ?Sized> TypedCollectionsExt for C {}

/// One page of [`Collections::set_members`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MemberPage {
    /// Members on this page (may be fewer than asked, even none, before the end).
    pub members: Vec<Bytes>,
    /// Where to continue, `None` when the iteration is complete.
    pub next: Option<ScanCursor>,
}

impl MemberPage {
    /// A page of `members` continuing at `next`.
    pub fn new(members: Vec<Bytes>, next: Option<ScanCursor>) -> Self {
        MemberPage { members, next }
    }
}

/// Refuses a call of `op` on `key` that names `count` `what` (`"members"`,
/// `"fields"`) when that is more than `limit`.
///
/// ```
/// use cache_core::collections::check_per_call;
/// use cache_core::{ErrorKind, Operation};
/// assert!(check_per_call(Operation::HashGet, "h", "fields", 1000, 1000).is_ok());
/// let err = check_per_call(Operation::HashGet, "h", "fields", 1001, 1000).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
/// ```
pub fn check_per_call(
    op: Operation,
    key: &str,
    what: &str,
    count: usize,
    limit: usize,
) -> Result<()> {
    if count > limit {
        return Err(CacheError::too_many(op, key, what, count, limit));
    }
    Ok(())
}

/// Checks a field name of the hash at `key`: 1 to
/// [`MAX_KEY_BYTES`] bytes, like a key. A bad one
/// is an [`ErrorKind::InvalidKey`](crate::ErrorKind::InvalidKey) naming the
/// hash's key.
///
/// ```
/// use cache_core::collections::validate_field;
/// assert!(validate_field("h", "theme").is_ok());
/// assert!(validate_field("h", "").is_err());
/// ```
pub fn validate_field(key: &str, field: &str) -> Result<()> {
    if field.is_empty() {
        return Err(CacheError::invalid_key(
            key,
            "a hash field name must not be empty",
        ));
    }
    check_byte_limit("a hash field name", field.len(), MAX_KEY_BYTES)
        .map_err(|reason| CacheError::invalid_key(key, reason))
}

/// Checks the fields of a call on the hash at `key`: at most `limit` of them,
/// each a valid name.
pub fn validate_fields<'f>(
    op: Operation,
    key: &str,
    fields: impl ExactSizeIterator<Item = &'f str>,
    limit: usize,
) -> Result<()> {
    check_per_call(op, key, "fields", fields.len(), limit)?;
    for field in fields {
        validate_field(key, field)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn too_many_members_is_refused_in_the_limit_wording() {
        let err = check_per_call(Operation::SetAdd, "s", "members", 5, 4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
        assert_eq!(err.op(), Some(Operation::SetAdd));
        assert_eq!(err.key(), Some("s"));
        assert_eq!(err.reason(), Some("5 members is more than the limit of 4"));
    }

    #[test]
    fn field_names_follow_the_key_lengths() {
        validate_field("h", &"f".repeat(MAX_KEY_BYTES)).unwrap();
        let err = validate_field("h", &"f".repeat(MAX_KEY_BYTES + 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert_eq!(err.key(), Some("h"));
        let err = validate_fields(Operation::HashGet, "h", ["a", ""].into_iter(), 10);
        assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidKey);
        let err = validate_fields(Operation::HashGet, "h", ["a", "b"].into_iter(), 1);
        assert_eq!(err.unwrap_err().kind(), ErrorKind::ValueTooLarge);
    }

    #[test]
    fn trait_is_object_safe() {
        fn takes(_: Option<&dyn Collections>) {}
        takes(None);
    }
}
