//! Sets and hashes through a [`CacheLayer`]: the blanket
//! `impl<L: CacheLayer> Collections for L`. Each call runs as the calls of
//! [`Cache`] do, `around(call, { refuse if closed → map the key → the inner
//! cache's collections → map errors back })`, so a namespace, a tenant's view,
//! a lease, a recording or fault-injecting double applies to them unchanged.
//! Members, fields and values are not names: they pass as they are.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{CacheLayer, CallInfo, CallKeys, mapped, run, unmapped};
use crate::cache::{Cache, KeyTtl, ScanCursor};
use crate::collections::{Collections, MemberPage};
use crate::error::{CacheError, Operation, Result};

/// The collections of the layer's inner cache, or an unsupported error for `op`.
fn inner_collections<L: CacheLayer>(layer: &L, op: Operation) -> Result<&dyn Collections> {
    layer.inner().collections().ok_or_else(|| {
        CacheError::unsupported(op, "the cache under this layer has no sets or hashes")
    })
}

/// One call of `$op` on `$key` (with `$ttl`): `$c` is the inner cache's
/// collections and `$k` the mapped key in `$call`.
macro_rules! through_layer {
    ($layer:ident, $op:ident, $key:ident, $ttl:expr, |$c:ident, $k:ident| $call:expr) => {{
        let call = CallInfo::new(Operation::$op, CallKeys::Key($key), $ttl);
        run($layer, call, async move {
            let m = $layer.key_mapping();
            let $k = mapped(m, $key, |m, k| m.map_key(k))?;
            let $c = inner_collections($layer, call.op)?;
            unmapped(m, &call, $call.await)
        })
        .await
    }};
}

#[async_trait]
impl<L: CacheLayer> Collections for L {
    async fn set_add(&self, key: &str, members: &[&[u8]], ttl: Duration) -> Result<u64> {
        through_layer!(self, SetAdd, key, Some(ttl), |c, k| c
            .set_add(&k, members, ttl))
    }

    async fn set_remove(&self, key: &str, members: &[&[u8]]) -> Result<u64> {
        through_layer!(self, SetRemove, key, None, |c, k| c.set_remove(&k, members))
    }

    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        through_layer!(self, SetContains, key, None, |c, k| c
            .set_contains(&k, member))
    }

    async fn set_count(&self, key: &str) -> Result<u64> {
        through_layer!(self, SetCount, key, None, |c, k| c.set_count(&k))
    }

    async fn set_members(
        &self,
        key: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> Result<MemberPage> {
        through_layer!(self, SetMembers, key, None, |c, k| c
            .set_members(&k, cursor, count))
    }

    async fn hash_set(&self, key: &str, fields: &[(&str, &[u8])], ttl: Duration) -> Result<u64> {
        through_layer!(self, HashSet, key, Some(ttl), |c, k| c
            .hash_set(&k, fields, ttl))
    }

    async fn hash_get(&self, key: &str, fields: &[&str]) -> Result<Vec<Option<Bytes>>> {
        through_layer!(self, HashGet, key, None, |c, k| c.hash_get(&k, fields))
    }

    async fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Bytes)>> {
        through_layer!(self, HashGetAll, key, None, |c, k| c.hash_get_all(&k))
    }

    async fn hash_delete(&self, key: &str, fields: &[&str]) -> Result<u64> {
        through_layer!(self, HashDelete, key, None, |c, k| c
            .hash_delete(&k, fields))
    }

    async fn hash_incr_by(&self, key: &str, field: &str, delta: i64, ttl: Duration) -> Result<i64> {
        through_layer!(self, HashIncrBy, key, Some(ttl), |c, k| c
            .hash_incr_by(&k, field, delta, ttl))
    }

    fn supports_field_ttl(&self) -> bool {
        self.inner()
            .collections()
            .is_some_and(|c| c.supports_field_ttl())
    }

    async fn hash_expire_fields(
        &self,
        key: &str,
        fields: &[&str],
        ttl: Duration,
    ) -> Result<Vec<bool>> {
        through_layer!(self, HashExpireFields, key, Some(ttl), |c, k| c
            .hash_expire_fields(&k, fields, ttl))
    }

    async fn hash_field_ttl(&self, key: &str, fields: &[&str]) -> Result<Vec<KeyTtl>> {
        through_layer!(self, HashFieldTtl, key, None, |c, k| c
            .hash_field_ttl(&k, fields))
    }

    async fn hash_persist_fields(&self, key: &str, fields: &[&str]) -> Result<Vec<bool>> {
        through_layer!(self, HashPersistFields, key, None, |c, k| c
            .hash_persist_fields(&k, fields))
    }
}
