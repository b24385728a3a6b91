//! The one place `cachectl` reads a value, so that a change to
//! [`Cache::get`]'s signature is a change here only.

use cache_core::{Bytes, Cache, CacheError};

/// The value at `key`, or `None` when the key holds nothing.
pub(crate) async fn value(cache: &dyn Cache, key: &str) -> Result<Option<Bytes>, CacheError> {
    cache.get(key).await
}
