//! The pattern suite of `cache-testing` on the in-memory backend, directly and
//! through a `Namespaced` view (the same scenarios run on Redis in
//! cache-redis's `conformance_standalone`).

use std::sync::Arc;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_patterns::Namespaced;

mod memory {
    use super::*;
    cache_testing::pattern_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
}

mod namespaced_memory {
    use super::*;
    cache_testing::pattern_tests!(|| async {
        Arc::new(Namespaced::new(Arc::new(MemoryCache::new()), "tenant:{a}:")) as Arc<dyn Cache>
    });
}
