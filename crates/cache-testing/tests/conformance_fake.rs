//! `FakeCache` on tokio's clock passes the conformance suite.

use std::sync::Arc;

use cache_core::Cache;
use cache_testing::fakes::FakeCache;

cache_testing::conformance_tests!(|| async { Arc::new(FakeCache::new()) as Arc<dyn Cache> });
