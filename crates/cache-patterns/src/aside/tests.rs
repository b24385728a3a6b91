//! Unit tests of the TTL arithmetic.

use super::*;
use cache_memory::MemoryCache;

#[test]
fn jitter_shortens_both_ttls_by_the_same_factor_and_never_lengthens() {
    let aside = CacheAside::new(Arc::new(MemoryCache::new()))
        .soft_ttl(Duration::from_secs(60))
        .jitter(0.2);
    let ttl = Duration::from_secs(100);
    let mut shortened = 0;
    for _ in 0..200 {
        let (hard, soft) = aside.expiries(ttl);
        let soft = soft.unwrap();
        assert!(hard <= ttl && hard >= ttl.mul_f64(0.8), "{hard:?}");
        assert!(
            soft <= Duration::from_secs(60) && soft >= Duration::from_secs(48),
            "{soft:?}"
        );
        let ratio = soft.as_secs_f64() / hard.as_secs_f64();
        assert!((ratio - 0.6).abs() < 1e-6, "{ratio}");
        shortened += usize::from(hard < ttl);
    }
    assert!(shortened > 150, "jitter must actually spread TTLs");
}

#[test]
fn the_soft_ttl_never_exceeds_the_hard_ttl() {
    let aside = CacheAside::new(Arc::new(MemoryCache::new())).soft_ttl(Duration::from_secs(600));
    let (hard, soft) = aside.expiries(Duration::from_secs(30));
    assert_eq!(
        (hard, soft),
        (Duration::from_secs(30), Some(Duration::from_secs(30)))
    );
}

#[test]
fn without_a_soft_ttl_values_are_stored_plain() {
    let aside = CacheAside::new(Arc::new(MemoryCache::new()));
    assert_eq!(
        aside.expiries(Duration::from_secs(30)),
        (Duration::from_secs(30), None)
    );
}

#[test]
fn jitter_outside_its_range_is_clamped() {
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    assert_eq!(CacheAside::new(cache.clone()).jitter(f64::NAN).jitter, 0.0);
    assert_eq!(CacheAside::new(cache.clone()).jitter(-1.0).jitter, 0.0);
    assert_eq!(CacheAside::new(cache).jitter(5.0).jitter, 0.9);
}
