//! Mutual exclusion of `DistributedLock` across two processes on one Redis.
//!
//! The test re-executes its own binary as the second process (selected by
//! `PATTERNS_LOCK_CHILD_ADDR`, running only [`child_process_role`]). Both
//! processes run 8 tasks that take the same lock, 10,000 acquisitions in all,
//! and check exclusion through the server while holding it:
//! - an occupancy counter (`incr_by` +1 must return 1, then -1 must return 0);
//! - fencing tokens: larger than the last token any holder recorded (a
//!   shared key read and written only under the lock), and larger than the
//!   task's own previous token.
//!
//! Each process counts violations and fails if it saw any. The shared key
//! also records the holder's process, so the test can show that the two
//! processes took turns (handovers) rather than running one after the other.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_patterns::lock::{Backoff, DistributedLock};
use cache_testing::server::RedisServer;

mod support;
use support::connect;

const CHILD_ENV: &str = "PATTERNS_LOCK_CHILD_ADDR";
const TASKS: usize = 8;
const ACQUISITIONS_PER_PROCESS: usize = 5_000;
const LOCK: &str = "shared-resource";
const OCCUPANCY: &str = "exclusion:occupancy";
const LAST_HOLDER: &str = "exclusion:last-holder";
const READY: &str = "exclusion:ready";
const TTL: Duration = Duration::from_secs(30);
/// Longer than any run: a counter keeps the TTL of its first increment, and
/// the occupancy counter must not expire in the middle of the test.
const BOOKKEEPING_TTL: Duration = Duration::from_secs(3600);

/// What one process saw.
#[derive(Debug, Default)]
struct Report {
    /// Checks that failed: two holders at once, or a fencing token that did
    /// not grow.
    violations: u64,
    /// Acquisitions that followed a holder of the other process: the
    /// processes really took turns.
    handovers: u64,
}

/// One critical section: the checks, through the server.
async fn hold(cache: &Arc<dyn Cache>, fence: u64, me: u32) -> Report {
    let mut report = Report::default();
    if cache.incr_by(OCCUPANCY, 1, BOOKKEEPING_TTL).await.unwrap() != 1 {
        report.violations += 1;
    }
    // "<fence>:<pid>" of the previous holder.
    let previous = cache.get(LAST_HOLDER).await.unwrap();
    let (last_fence, last_pid) = previous.map_or((0, me), |b| {
        let text = std::str::from_utf8(&b).unwrap().to_owned();
        let (fence, pid) = text.split_once(':').unwrap();
        (fence.parse::<u64>().unwrap(), pid.parse::<u32>().unwrap())
    });
    if fence <= last_fence {
        report.violations += 1;
    }
    if last_pid != me {
        report.handovers += 1;
    }
    let holder = format!("{fence}:{me}");
    cache
        .set(LAST_HOLDER, holder.as_bytes(), BOOKKEEPING_TTL)
        .await
        .unwrap();
    if cache.incr_by(OCCUPANCY, -1, BOOKKEEPING_TTL).await.unwrap() != 0 {
        report.violations += 1;
    }
    report
}

/// Runs this process's share of the acquisitions.
async fn contend(addr: &str) -> Report {
    let cache = connect(addr).await;
    // Start together, so that the processes actually contend.
    cache.incr_by(READY, 1, BOOKKEEPING_TTL).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cache.get(READY).await.unwrap().as_deref() != Some(&b"2"[..]) {
        assert!(Instant::now() < deadline, "the other process never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let locks = DistributedLock::new(cache.clone())
        .fencing(true)
        .wait(Duration::from_secs(60))
        // Short waits: the section is a few round trips long.
        .backoff(Backoff::new(
            Duration::from_micros(200),
            Duration::from_millis(3),
        ));
    let me = std::process::id();
    let violations = Arc::new(AtomicU64::new(0));
    let handovers = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (locks, cache) = (locks.clone(), cache.clone());
        let (violations, handovers) = (violations.clone(), handovers.clone());
        tasks.push(tokio::spawn(async move {
            let mut my_last_fence = 0u64;
            for _ in 0..ACQUISITIONS_PER_PROCESS / TASKS {
                let (fence, report) = locks
                    .with_lock(LOCK, TTL, |info| {
                        let cache = cache.clone();
                        async move {
                            let fence = info.fencing_token.expect("fencing is on");
                            (fence, hold(&cache, fence, me).await)
                        }
                    })
                    .await
                    .expect("acquired within the wait");
                let mut bad = report.violations;
                if fence <= my_last_fence {
                    bad += 1;
                }
                my_last_fence = fence;
                violations.fetch_add(bad, Ordering::Relaxed);
                handovers.fetch_add(report.handovers, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = locks.stats();
    let report = Report {
        violations: violations.load(Ordering::Relaxed),
        handovers: handovers.load(Ordering::Relaxed),
    };
    eprintln!("process {me}: {report:?} {stats:?}");
    assert_eq!(stats.acquired as usize, ACQUISITIONS_PER_PROCESS);
    assert_eq!(stats.lost, 0, "a lock expired while held");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_hold_the_lock_at_the_same_time() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // in the child, only `child_process_role` runs
    }
    let server = RedisServer::start();
    let started = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_role",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, server.addr())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the second process");
    let mine = contend(&server.addr()).await;
    let child = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let child_log = format!(
        "{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    eprintln!(
        "10,000 acquisitions across 2 processes in {:?}",
        started.elapsed()
    );
    assert!(
        child.status.success(),
        "the second process failed:\n{child_log}"
    );
    assert!(
        child_log.contains("1 passed"),
        "the child role did not run:\n{child_log}"
    );
    assert_eq!(mine.violations, 0, "violations seen by this process");
    assert!(
        mine.handovers >= 10,
        "the processes hardly took turns: {mine:?}"
    );
    let cache = connect(&server.addr()).await;
    let last = cache.get(LAST_HOLDER).await.unwrap().unwrap();
    let last_fence: u64 = std::str::from_utf8(&last)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last_fence >= 10_000,
        "every acquisition took a fencing token: {last_fence}"
    );
}

/// The second process's part; a no-op unless started by the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn child_process_role() {
    let Some(addr) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let report = contend(addr.to_str().unwrap()).await;
    assert_eq!(
        report.violations, 0,
        "violations seen by the second process"
    );
}
