//! The in-memory fake, `MemoryCache` on a manual clock of its own per check,
//! passes the conformance suite; the checks about expiry advance the clock
//! instead of waiting.

use std::sync::Arc;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_testing::conformance::OnManualClock;

cache_testing::conformance_tests!(OnManualClock::new(|clock| async move {
    let cache = MemoryCache::builder().clock(clock).build().unwrap();
    Arc::new(cache) as Arc<dyn Cache>
}));
