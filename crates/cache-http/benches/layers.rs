//! What the layers add per request over a bare axum handler, on the memory
//! backend and on a local redis-server (started by `cache-testing` on a free
//! loopback port), in one run, printed as ratios.
//!
//! ```sh
//! cargo bench -p cache-http --bench layers            # --quick: a short run; --memory: no Redis
//! ```
//!
//! Requests go through the axum `Router` in process (`oneshot`, no sockets),
//! one at a time on a current-thread runtime, so the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) is the CPU the request cost: the handler,
//! the layers, the codec, the backend client; on Redis also the client's
//! share of the round trips (the server's CPU is not counted). The cases run
//! interleaved, round after round, and the median round is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use cache_core::Cache;
use cache_http::identity::RequestKey;
use cache_http::lock::LockKey;
use cache_http::ratelimit::Rule;
use cache_http::{IdempotencyLayer, LockLayer, RateLimitLayer, ResponseCacheLayer};
use cache_memory::MemoryCache;
use cache_redis::{RedisCache, RedisConfig};
use cache_testing::server::RedisServer;
use http::Request;
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

/// CPU time of this thread so far, in ns (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(u64::try_from(t.tv_sec).ok()? * 1_000_000_000 + u64::try_from(t.tv_nsec).ok()?)
}

#[derive(Clone, Copy)]
enum Case {
    Bare,
    RateLimit,
    Idempotency,
    RateLimitAndIdempotency,
    Lock,
    ResponseCacheHit,
}

impl Case {
    const ALL: [Case; 6] = [
        Case::Bare,
        Case::RateLimit,
        Case::Idempotency,
        Case::RateLimitAndIdempotency,
        Case::Lock,
        Case::ResponseCacheHit,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Bare => "bare handler",
            Case::RateLimit => "rate limit (1 rule)",
            Case::Idempotency => "idempotency (first request)",
            Case::RateLimitAndIdempotency => "rate limit + idempotency",
            Case::Lock => "lock",
            Case::ResponseCacheHit => "response cache (hit)",
        }
    }
}

/// Clients the requests rotate through, so each sliding window stays as
/// short as a real client's (a few entries) and nobody is denied.
const CLIENTS: u64 = 10_000;

fn rule() -> Rule {
    Rule::sliding(
        "bench",
        1_000,
        Duration::from_secs(60),
        RequestKey::custom(|parts| {
            parts
                .headers
                .get("x-client")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }),
    )
}

fn app(case: Case, cache: Arc<dyn Cache>) -> Router {
    let handler = || async { "ok" };
    match case {
        Case::Bare => Router::new().route("/", post(handler).get(handler)),
        Case::RateLimit => Router::new().route(
            "/",
            post(handler).layer(RateLimitLayer::new(cache).rule(rule())),
        ),
        Case::Idempotency => Router::new().route(
            "/",
            post(handler).layer(IdempotencyLayer::new(cache).required(true)),
        ),
        Case::RateLimitAndIdempotency => Router::new().route(
            "/",
            post(handler).layer(
                ServiceBuilder::new()
                    .layer(RateLimitLayer::new(cache.clone()).rule(rule()))
                    .layer(IdempotencyLayer::new(cache).required(true)),
            ),
        ),
        Case::Lock => Router::new().route(
            "/",
            post(handler).layer(LockLayer::new(cache, LockKey::template("bench:{path}"))),
        ),
        Case::ResponseCacheHit => Router::new().route(
            "/",
            get(handler).layer(ResponseCacheLayer::new(cache, Duration::from_secs(3600))),
        ),
    }
}

fn request(case: Case, n: u64) -> Request<Body> {
    let builder = Request::builder().uri("/");
    let builder = match case {
        Case::ResponseCacheHit => builder.method("GET"),
        _ => builder
            .method("POST")
            .header("x-client", format!("client-{}", n % CLIENTS))
            .header("idempotency-key", format!("bench-{n}")),
    };
    builder.body(Body::from("{\"item\":\"book\"}")).unwrap()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Runs `n` requests; (wall ns, CPU ns) per request.
async fn block(app: &Router, case: Case, n: u64) -> (f64, f64) {
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    for _ in 0..n {
        let req = request(case, SEQ.fetch_add(1, Ordering::Relaxed));
        let response = app.clone().oneshot(req).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let _ = response.into_body().collect().await.unwrap();
    }
    let wall = t0.elapsed().as_nanos() as f64 / n as f64;
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / n as f64,
        _ => f64::NAN,
    };
    (wall, cpu)
}

/// The patterns alone, without HTTP: one `RateLimiter::check` and one
/// idempotency claim + complete per request, what the two layers call.
async fn patterns_block(cache: &Arc<dyn Cache>, n: u64) -> (f64, f64) {
    use cache_core::RateLimitRule;
    use cache_patterns::idempotency::{Claim, Idempotency};
    let limiter = cache_patterns::RateLimiter::new(
        cache.clone(),
        RateLimitRule::sliding(1_000, Duration::from_secs(60)),
    );
    let requests = Idempotency::new(cache.clone());
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    for _ in 0..n {
        let i = SEQ.fetch_add(1, Ordering::Relaxed);
        assert!(
            limiter
                .check(&format!("client-{}", i % CLIENTS))
                .await
                .unwrap()
                .allowed
        );
        let Ok(Claim::First(ticket)) = requests.claim::<String>(&format!("direct-{i}"), None).await
        else {
            panic!("a fresh id")
        };
        assert!(requests.complete(ticket, "ok").await.unwrap());
    }
    let wall = t0.elapsed().as_nanos() as f64 / n as f64;
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / n as f64,
        _ => f64::NAN,
    };
    (wall, cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn run(backend: &str, cache: Arc<dyn Cache>, n: u64, rounds: usize) {
    let apps: Vec<(Case, Router)> = Case::ALL
        .iter()
        .map(|&c| (c, app(c, cache.clone())))
        .collect();
    // Warm up (and fill the response cache).
    for (case, app) in &apps {
        block(app, *case, n / 10 + 1).await;
    }
    let mut walls = vec![Vec::new(); apps.len() + 1];
    let mut cpus = vec![Vec::new(); apps.len() + 1];
    for _ in 0..rounds {
        for (i, (case, app)) in apps.iter().enumerate() {
            let (wall, cpu) = block(app, *case, n).await;
            walls[i].push(wall);
            cpus[i].push(cpu);
        }
        let (wall, cpu) = patterns_block(&cache, n).await;
        walls[apps.len()].push(wall);
        cpus[apps.len()].push(cpu);
    }
    let wall: Vec<f64> = walls.into_iter().map(median).collect();
    let cpu: Vec<f64> = cpus.into_iter().map(median).collect();
    println!("\n{backend}: {n} requests x {rounds} rounds, median round, per request");
    println!(
        "(+CPU: over the bare handler; for \"patterns alone\", the whole cost of the two patterns)"
    );
    println!(
        "{:<30} {:>10} {:>10} {:>12} {:>9}",
        "case", "wall µs", "CPU µs", "+CPU µs", "CPU ×bare"
    );
    let names = apps
        .iter()
        .map(|(c, _)| c.name())
        .chain(["patterns alone (no HTTP)"]);
    for (i, name) in names.enumerate() {
        let (added, ratio) = if i < apps.len() {
            (
                format!("{:.2}", (cpu[i] - cpu[0]) / 1000.0),
                format!("{:.2}", cpu[i] / cpu[0]),
            )
        } else {
            ("–".to_owned(), "–".to_owned())
        };
        println!(
            "{:<30} {:>10.2} {:>10.2} {:>12} {:>9}",
            name,
            wall[i] / 1000.0,
            cpu[i] / 1000.0,
            added,
            ratio,
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let quick = std::env::args().any(|a| a == "--quick");
    let memory_only = std::env::args().any(|a| a == "--memory");
    let (n, rounds) = if quick { (500, 3) } else { (5_000, 7) };
    runtime.block_on(async {
        run("memory", Arc::new(MemoryCache::new()), n, rounds).await;
        if memory_only {
            return;
        }
        let server = RedisServer::start();
        let mut config = RedisConfig::default();
        config.addrs = vec![server.addr()];
        let redis = RedisCache::connect(&config).await.expect("connect");
        run(
            "redis (local, one multiplexed connection)",
            Arc::new(redis),
            n / 4,
            rounds,
        )
        .await;
        drop(server);
    });
}
