use std::time::{Duration, Instant};
use cache_core::config::RedisConfig;
use cache_core::{Cache, SubscriptionEvent};
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_restart() {
    let mut server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    config.command_timeout = Duration::from_millis(500);
    let cache = RedisCache::connect(&config).await.unwrap();
    let mut sub = cache.subscribe("chan").await.unwrap();
    cache.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    server.stop();
    for _ in 0..3 {
        let t = Instant::now();
        let r = cache.get("k").await;
        let i = cache.incr_by("c", 1, Duration::from_secs(60)).await;
        println!("down: get {:?} incr {:?} in {:?}", r.as_ref().map_err(|e| e.kind()), i.as_ref().map_err(|e| e.kind()), t.elapsed());
    }
    server.restart();
    let t = Instant::now();
    let r = cache.set("k", b"v2", Duration::from_secs(60)).await;
    println!("after restart: set {:?} in {:?}", r, t.elapsed());
    let t = Instant::now();
    let i = cache.incr_by("c", 1, Duration::from_secs(60)).await;
    println!("after restart: incr {:?} in {:?}", i, t.elapsed());
    // subscription should report Reconnected
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            Ok(Some(SubscriptionEvent::Reconnected)) => { println!("got Reconnected after {:?}", t.elapsed()); break; }
            Ok(other) => println!("event {other:?}"),
            Err(_) => { cache.publish("chan", b"x").await.ok(); }
        }
        assert!(Instant::now() < deadline, "no Reconnected");
    }
    loop {
        cache.publish("chan", b"after").await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            Ok(Some(SubscriptionEvent::Message(m))) => { println!("message {m:?}"); break; }
            Ok(other) => println!("event {other:?}"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "no message");
    }
    cache.close().await.unwrap();
    assert!(sub.recv().await.is_none());
}
