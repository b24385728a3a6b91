//! `cache_memory::MemoryCache` passes the conformance suite.

use std::sync::Arc;

use cache_core::Cache;
use cache_memory::MemoryCache;

cache_testing::conformance_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
