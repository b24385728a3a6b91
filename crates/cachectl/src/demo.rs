//! `cachectl demo`: a guided walk through the framework on the configured backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::pattern::escape;
use cache_core::{Cache, CacheError, ScanCursor, TypedCacheExt};
use cache_manager::{CacheSetup, RequestContext};
use cache_patterns::aside::CacheAside;
use cache_patterns::lock::DistributedLock;
use cache_patterns::ratelimit::RateLimiter;
use serde::{Deserialize, Serialize};

use crate::connect::Target;

const TTL: Duration = Duration::from_secs(60);

/// A value the way services store them: a struct, encoded as CBOR by the typed helpers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserProfile {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
    verified: bool,
}

fn step(n: u32, title: &str) {
    println!("\n{n}. {title}");
}

/// Runs the walk-through and cleans up its keys.
pub(crate) async fn run(target: &Target) -> Result<(), CacheError> {
    println!("cachectl demo on {}", target.description);
    let cache = target.cache.clone();
    let prefix = format!("demo:{}:", std::process::id());
    let key = |k: &str| format!("{prefix}{k}");
    let result = walk(target, &cache, &key).await;
    let removed = cache.delete_pattern(&format!("{}*", escape(&prefix))).await;
    match (&result, removed) {
        (Ok(()), Ok(n)) => println!("\ncleaned up {n} demo keys. Done."),
        (_, Err(e)) => eprintln!("warning: cleaning up demo keys: {e}"),
        _ => {}
    }
    result
}

async fn walk(
    target: &Target,
    cache: &Arc<dyn Cache>,
    key: &dyn Fn(&str) -> String,
) -> Result<(), CacheError> {
    step(
        1,
        "Typed values: set_as / get_as (CBOR with limits for untrusted input)",
    );
    let ada = UserProfile {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        tags: vec!["admin".into(), "math".into()],
        verified: true,
    };
    cache.set_as(&key("user:42"), &ada, TTL).await?;
    let back: Option<UserProfile> = cache.get_as(&key("user:42")).await?;
    println!("   stored and read back {back:?}");
    let bytes = cache.get(&key("user:42")).await?.unwrap_or_default();
    println!("   on the wire: {} bytes of CBOR", bytes.len());
    let missing: Option<UserProfile> = cache.get_as(&key("user:43")).await?;
    println!("   user:43 -> {missing:?} (a miss is Ok(None), not an error)");

    step(2, "De-duplication: get_or_set stores only the first value");
    for (worker, note) in [("A", ""), ("B", " -> duplicate detected")] {
        let mine = format!("processing by worker {worker}");
        let (stored, was_set) = cache
            .get_or_set(&key("request:r-1"), mine.as_bytes(), TTL)
            .await?;
        let stored = String::from_utf8_lossy(&stored);
        println!("   worker {worker}: stored={was_set} value={stored:?}{note}");
    }

    step(
        3,
        "A lock with compare_and_set, released only by its holder",
    );
    let lock_key = key("lock:invoice-7");
    let a = cache
        .compare_and_set(&lock_key, None, b"token-A", Duration::from_secs(10))
        .await?;
    let b = cache
        .compare_and_set(&lock_key, None, b"token-B", Duration::from_secs(10))
        .await?;
    println!("   A acquires: {a}; B acquires: {b}");
    let b_release = cache.compare_and_delete(&lock_key, b"token-B").await?;
    let a_release = cache.compare_and_delete(&lock_key, b"token-A").await?;
    println!("   B releases A's lock: {b_release}; A releases its own: {a_release}");
    let locks = DistributedLock::new(cache.clone()).prefix(key("locks:"));
    let guard = locks
        .try_acquire("report", Duration::from_secs(10))
        .await?
        .ok_or_else(|| CacheError::cas_failed("report"))?;
    let second = locks.try_acquire("report", Duration::from_secs(10)).await?;
    println!(
        "   DistributedLock: held with a random token, a second try gets {:?}",
        second.map(|_| "the lock")
    );
    println!("   released: {}", guard.release().await?);

    step(4, "Cache-aside: concurrent misses run the loader once");
    let aside = CacheAside::new(cache.clone()).ttl(TTL);
    let loads = Arc::new(AtomicUsize::new(0));
    let mut calls = Vec::new();
    for _ in 0..50 {
        let (aside, loads, k) = (aside.clone(), loads.clone(), key("report:daily"));
        calls.push(tokio::spawn(async move {
            aside
                .get_or_load(&k, TTL, move || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, std::io::Error>(vec![3u32, 1, 4, 1, 5])
                })
                .await
        }));
    }
    for call in calls {
        let value = call
            .await
            .map_err(|e| CacheError::operation(cache_core::Operation::Get, None, e))?
            .map_err(|e| CacheError::operation(cache_core::Operation::Get, None, e))?;
        debug_assert_eq!(value, vec![3, 1, 4, 1, 5]);
    }
    println!(
        "   50 concurrent callers, loader ran {} time(s)",
        loads.load(Ordering::SeqCst)
    );

    step(
        5,
        "Rate limiting: 3 requests per 10 s, sliding window, atomic on the backend",
    );
    let limiter =
        RateLimiter::sliding(cache.clone(), 3, Duration::from_secs(10)).prefix(key("rl:"));
    for i in 1..=5 {
        let d = limiter.check("client-9").await?;
        println!(
            "   request {i}: allowed={} remaining={} retry_after={:?}",
            d.allowed, d.remaining, d.retry_after
        );
    }

    step(
        6,
        "Tenants: the same key in two tenants, isolated namespaces",
    );
    let setup = CacheSetup::from_config(&target.config).await?;
    let get_cache = setup.get_cache();
    let acme = get_cache(&RequestContext::for_tenant("acme")).await?;
    let globex = get_cache(&RequestContext::for_tenant("globex")).await?;
    acme.set_as(&key("plan"), &"enterprise", TTL).await?;
    globex.set_as(&key("plan"), &"free", TTL).await?;
    let a: String = acme.get_as(&key("plan")).await?.unwrap_or_default();
    let g: String = globex.get_as(&key("plan")).await?.unwrap_or_default();
    println!("   acme sees plan={a:?}, globex sees plan={g:?}");
    let page = acme.scan_keys("*", &ScanCursor::start(), 100).await?;
    println!("   acme lists {} key(s): {:?}", page.keys.len(), page.keys);
    let wiped = acme.delete_pattern("*").await?;
    let still: String = globex.get_as(&key("plan")).await?.unwrap_or_default();
    println!("   acme deletes \"*\" ({wiped} key) and globex still has plan={still:?}");
    globex.delete(&key("plan")).await?;
    setup.close().await?;

    step(7, "Stats, pulled from the backend");
    let s = cache.stats();
    println!(
        "   hits={} misses={} errors={} hit ratio={} operations={}",
        s.hits,
        s.misses,
        s.errors,
        s.hit_ratio()
            .map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
        s.total_operations()
    );
    Ok(())
}
