use std::time::{Duration, Instant};
use cache_core::config::RedisConfig;
use cache_core::Cache;
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scratch_round_trips() {
    let server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    let cache = RedisCache::connect(&config).await.unwrap();
    let t = Instant::now();
    for _ in 0..5000 { cache.incr_by("x", 1, Duration::from_secs(60)).await.unwrap(); }
    eprintln!("incr_by: {:?} per op", t.elapsed() / 5000);
    let t = Instant::now();
    for _ in 0..5000 { cache.get("x").await.unwrap(); }
    eprintln!("get: {:?} per op", t.elapsed() / 5000);
    let t = Instant::now();
    for _ in 0..5000 { cache.compare_and_set("y", Some(b"nope"), b"v", Duration::from_secs(60)).await.unwrap(); }
    eprintln!("cas: {:?} per op", t.elapsed() / 5000);
}
