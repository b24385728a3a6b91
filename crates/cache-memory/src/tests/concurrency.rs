//! Atomicity under concurrency: many tokio tasks on a multi-thread runtime
//! hammering the same keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{TTL, cache};
use crate::MemoryCache;
use cache_core::{Cache, RateLimitRule};

const TASKS: usize = 128;

/// Runs `TASKS` copies of `work` (given the task number) and collects the results.
async fn run_all<T, F, Fut>(c: &MemoryCache, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(MemoryCache, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..TASKS {
        set.spawn(work(c.clone(), i));
    }
    let mut results = Vec::with_capacity(TASKS);
    while let Some(result) = set.join_next().await {
        results.push(result.expect("a task panicked"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_or_set_has_exactly_one_winner() {
    let c = cache();
    let results = run_all(&c, |c, i| async move {
        c.get_or_set("k", i.to_string().as_bytes(), TTL)
            .await
            .unwrap()
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, stored)| *stored).collect();
    assert_eq!(winners.len(), 1);
    let winning_value = &winners[0].0;
    assert!(results.iter().all(|(value, _)| value == winning_value));
    assert_eq!(&c.get("k").await.unwrap().unwrap(), winning_value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_set_increments_reach_the_exact_total() {
    const ROUNDS: usize = 20;
    let c = cache();
    c.set("n", b"0", TTL).await.unwrap();
    run_all(&c, |c, _| async move {
        for _ in 0..ROUNDS {
            loop {
                let current = c.get("n").await.unwrap().unwrap();
                let next: u64 = std::str::from_utf8(&current)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    + 1;
                let next = next.to_string();
                if c.compare_and_set("n", Some(&current), next.as_bytes(), TTL)
                    .await
                    .unwrap()
                {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    assert_eq!(
        c.get("n").await.unwrap().unwrap(),
        (TASKS * ROUNDS).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incr_by_sums_exactly() {
    const ROUNDS: i64 = 100;
    let c = cache();
    run_all(&c, |c, i| async move {
        for _ in 0..ROUNDS {
            c.incr_by("n", i as i64, TTL).await.unwrap();
            if i % 8 == 0 {
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    let expected: i64 = (0..TASKS as i64).sum::<i64>() * ROUNDS;
    assert_eq!(c.incr_by("n", 0, TTL).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sliding_window_never_admits_more_than_the_limit() {
    let c = cache();
    assert_eq!(
        admitted_by_all_tasks(&c, RateLimitRule::sliding(50, TTL)).await,
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fixed_window_never_admits_more_than_the_limit() {
    let c = cache();
    assert_eq!(
        admitted_by_all_tasks(&c, RateLimitRule::fixed(50, TTL)).await,
        50
    );
    assert_eq!(c.get("k").await.unwrap().unwrap(), "50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_compare_and_set_lock_admits_one_holder_at_a_time() {
    let c = cache();
    let holders = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (h, m) = (holders.clone(), most.clone());
    let acquired = run_all(&c, move |c, i| {
        let (holders, most) = (h.clone(), m.clone());
        async move {
            let token = format!("token-{i}");
            let mut acquired = 0;
            for _ in 0..10 {
                if c.compare_and_set("lock", None, token.as_bytes(), TTL)
                    .await
                    .unwrap()
                {
                    let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    assert!(
                        c.compare_and_delete("lock", token.as_bytes())
                            .await
                            .unwrap()
                    );
                    acquired += 1;
                }
                tokio::task::yield_now().await;
            }
            acquired
        }
    })
    .await;
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders");
    assert!(acquired.iter().sum::<usize>() >= 1);
    assert_eq!(holders.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_set_never_undoes_a_plain_set() {
    // One writer `set`s w1, w2, ... in order while the other tasks CAS-append
    // `+` to whatever is stored. Right after the writer's `set(wN)` returns,
    // the stored value must derive from wN: a CAS that read w(N-1) before the
    // set and wrote after it would bring w(N-1) back, a lost write.
    const WRITES: usize = 300;
    let c = cache();
    c.set("k", b"w0", TTL).await.unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let flag = done.clone();
    let cas_successes = run_all(&c, move |c, i| {
        let done = flag.clone();
        async move {
            if i == 0 {
                for n in 1..=WRITES {
                    let mine = format!("w{n}");
                    c.set("k", mine.as_bytes(), TTL).await.unwrap();
                    let seen = c.get("k").await.unwrap().unwrap();
                    let base = seen.split(|&b| b == b'+').next().unwrap_or_default();
                    assert_eq!(base, mine.as_bytes(), "a CAS undid set({mine})");
                    tokio::task::yield_now().await;
                }
                done.store(1, Ordering::SeqCst);
                return 0;
            }
            let mut successes = 0u32;
            while done.load(Ordering::SeqCst) == 0 {
                let current = c.get("k").await.unwrap().unwrap();
                let mut next = current.to_vec();
                if next.len() > 40 {
                    next.truncate(next.iter().position(|&b| b == b'+').unwrap_or(next.len()));
                }
                next.push(b'+');
                if c.compare_and_set("k", Some(&current), &next, TTL)
                    .await
                    .unwrap()
                {
                    successes += 1;
                }
                tokio::task::yield_now().await;
            }
            successes
        }
    })
    .await;
    assert!(
        cas_successes.iter().sum::<u32>() > 0,
        "the CAS tasks did race the writer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_see_whole_values() {
    let c = cache();
    let a = vec![b'a'; 4096];
    let b = vec![b'b'; 4096];
    c.set("k", &a, TTL).await.unwrap();
    let (va, vb) = (a.clone(), b.clone());
    run_all(&c, move |c, i| {
        let (a, b) = (va.clone(), vb.clone());
        async move {
            for _ in 0..50 {
                if i % 4 == 0 {
                    c.set("k", if i % 8 == 0 { &a } else { &b }, TTL)
                        .await
                        .unwrap();
                } else {
                    let value = c.get("k").await.unwrap().unwrap();
                    assert!(value == a || value == b, "a torn value");
                }
                tokio::time::sleep(Duration::from_micros(1)).await;
            }
        }
    })
    .await;
}

/// Every task asks `rule` for five admissions on key `k` at once; returns how
/// many were admitted in total.
async fn admitted_by_all_tasks(c: &MemoryCache, rule: RateLimitRule) -> usize {
    let admitted = run_all(c, move |c, _| async move {
        let mut admitted = 0;
        for _ in 0..5 {
            admitted += usize::from(c.rate_limit("k", &rule).await.unwrap().allowed);
        }
        admitted
    })
    .await;
    admitted.iter().sum()
}
