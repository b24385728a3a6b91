use std::time::{Duration, Instant};
use bytes::Bytes;
use crate::Cache;
use super::super::MemoryCache;

fn cpu() -> Duration { std::thread::yield_now(); let t = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap(); Duration::from_nanos(t.split_whitespace().next().unwrap().parse().unwrap()) }
fn ready<F: std::future::Future>(f: F) -> F::Output { let mut f = std::pin::pin!(f); match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) { std::task::Poll::Ready(o) => o, _ => unreachable!() } }

#[test]
#[ignore]
fn perf_breakdown() {
    let keys: Vec<String> = (0..10_000).map(|i| format!("user:{i:08}")).collect();
    let c = MemoryCache::new();
    let raw: moka::sync::Cache<String, Bytes> = moka::sync::Cache::builder().max_capacity(1<<28).eviction_policy(moka::policy::EvictionPolicy::lru()).weigher(|k: &String, v: &Bytes| (k.len()+v.len()+2685) as u32).build();
    struct Fixed;
    impl moka::Expiry<String, Bytes> for Fixed { fn expire_after_create(&self, _: &String, _: &Bytes, _: Instant) -> Option<Duration> { Some(Duration::from_secs(3600)) } }
    let rawx: moka::sync::Cache<String, Bytes> = moka::sync::Cache::builder().max_capacity(1<<28).eviction_policy(moka::policy::EvictionPolicy::lru()).expire_after(Fixed).weigher(|k: &String, v: &Bytes| (k.len()+v.len()+2685) as u32).build();
    struct FixedY;
    impl moka::Expiry<String, (Bytes, Instant)> for FixedY { fn expire_after_create(&self, _: &String, _: &(Bytes, Instant), _: Instant) -> Option<Duration> { Some(Duration::from_secs(3600)) } }
    let rawy: moka::sync::Cache<String, (Bytes, Instant)> = moka::sync::Cache::builder().max_capacity(1<<28).eviction_policy(moka::policy::EvictionPolicy::lru()).expire_after(FixedY).weigher(|k: &String, v: &(Bytes, Instant)| (k.len()+v.0.len()+2685) as u32).build();
    for k in &keys { rawy.insert(k.clone(), (Bytes::copy_from_slice(&[7;100]), Instant::now())); }
    for k in &keys { rawx.insert(k.clone(), Bytes::copy_from_slice(&[7;100])); }
    for k in &keys { ready(c.set(k, &[7;100], Duration::from_secs(3600))).unwrap(); raw.insert(k.clone(), Bytes::copy_from_slice(&[7;100])); }
    let n = 1_000_000u64;
    for round in 0..3 {
        let t = cpu(); for i in 0..n { std::hint::black_box(raw.get(keys[(i as usize * 7919) % 10_000].as_str())); } let raw_t = cpu() - t;
        let t = cpu(); for i in 0..n { std::hint::black_box(rawx.get(keys[(i as usize * 7919) % 10_000].as_str())); } let rawx_t = cpu() - t;
        let t = cpu(); for i in 0..n { std::hint::black_box(rawy.get(keys[(i as usize * 7919) % 10_000].as_str())); } let rawy_t = cpu() - t;
        let t = cpu(); for i in 0..n { std::hint::black_box(c.store.map.get(keys[(i as usize * 7919) % 10_000].as_str())); } let map_t = cpu() - t;
        let t = cpu(); for i in 0..n { std::hint::black_box(c.store.get(keys[(i as usize * 7919) % 10_000].as_str()).unwrap()); } let store_t = cpu() - t;
        let t = cpu(); for i in 0..n { std::hint::black_box(ready(c.get(keys[(i as usize * 7919) % 10_000].as_str())).unwrap()); } let trait_t = cpu() - t;
        let t = cpu(); for _ in 0..n { std::hint::black_box(Instant::now()); } let now_t = cpu() - t;
        let t = cpu(); for _ in 0..n { c.store.stats.op(crate::Operation::Get); c.store.stats.hits(1); } let stats_t = cpu() - t;
        let per = |d: Duration| d.as_nanos() as f64 / n as f64;
        println!("round {round}: raw {:.0} rawx {:.0} rawy {:.0} map {:.0} store {:.0} trait {:.0} now {:.0} stats {:.0}", per(raw_t), per(rawx_t), per(rawy_t), per(map_t), per(store_t), per(trait_t), per(now_t), per(stats_t));
    }
}
