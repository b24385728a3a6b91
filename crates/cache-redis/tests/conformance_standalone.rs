//! The conformance suite against a standalone `redis-server` (or
//! `valkey-server`, see `cache_testing::server`): one test per check.
//!
//! The tests that run at the same time share one server (each check works in
//! its own random namespace); it is stopped when the last of them ends, so no
//! server outlives the test binary.

use std::sync::Arc;

mod harness_support;

use async_trait::async_trait;
use cache_core::Cache;
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::conformance::CacheFactory;
use cache_testing::server::RedisServer;
use harness_support::shared_server;

/// A fresh `RedisCache` per check, all on one server.
struct Standalone {
    server: Arc<RedisServer>,
}

#[async_trait]
impl CacheFactory for Standalone {
    async fn make(&self) -> Arc<dyn Cache> {
        let mut config = RedisConfig::default();
        config.addrs = vec![self.server.addr()];
        let cache = RedisCache::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.server.addr()));
        Arc::new(cache)
    }
}

cache_testing::conformance_tests!(Standalone {
    server: shared_server()
});

/// The pattern suite (cache-aside, rate limits, idempotency, counters, locks
/// under concurrency) on the same server.
mod patterns {
    use super::*;
    cache_testing::pattern_tests!(Standalone {
        server: shared_server()
    });
}
