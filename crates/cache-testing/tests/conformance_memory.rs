//! `cache_core::MemoryCache` passes the conformance suite.

use std::sync::Arc;

use cache_core::{Cache, MemoryCache};

cache_testing::conformance_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
