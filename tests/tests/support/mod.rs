//! What the workspace tests share.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use cache_core::Cache;
use cache_redis::{RedisCache, RedisConfig};

/// A [`RedisCache`] on the test server at `addr`, with the default settings.
pub async fn connect(addr: &str) -> Arc<dyn Cache> {
    let mut config = RedisConfig::default();
    config.addrs = vec![addr.to_owned()];
    Arc::new(
        RedisCache::connect(&config)
            .await
            .expect("connect to the test server"),
    )
}
