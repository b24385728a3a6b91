//! What the cache-patterns benches share: the cached row, a poll-once
//! executor for futures that never wait, and interleaved rounds of cases.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use cache_core::Cache;
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;
use tokio::runtime::Runtime;

use futures::FutureExt;

use serde::{Deserialize, Serialize};

/// A typical cached row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) roles: Vec<String>,
    pub(crate) created_at: u64,
}

/// The row both benches cache.
pub(crate) fn profile() -> Profile {
    Profile {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        roles: vec!["reader".into(), "editor".into()],
        created_at: 1_700_000_000,
    }
}

/// Polls a future that never waits.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    future.now_or_never().expect("a hit never waits")
}

/// One case: its name, operations per round, one operation.
#[allow(dead_code)] // not every bench interleaves cases this way
pub(crate) type Case<'a> = (&'static str, u32, Box<dyn FnMut() + 'a>);

/// Runs every case in turn for `rounds` rounds of `ops[i]` operations and
/// returns each case's median ns per operation (and prints the fastest and
/// median round of each).
#[allow(dead_code)] // not every bench interleaves cases this way
pub(crate) fn interleaved(cases: &mut [Case<'_>], rounds: usize) -> Vec<f64> {
    let mut per_op: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for ((_, ops, case), samples) in cases.iter_mut().zip(&mut per_op) {
            let start = Instant::now();
            for _ in 0..*ops {
                case();
            }
            samples.push(start.elapsed().as_nanos() as f64 / f64::from(*ops));
        }
    }
    eprintln!("interleaved, ns/op over {rounds} rounds (fastest / median round):");
    cases
        .iter()
        .zip(per_op)
        .map(|((name, _, _), mut samples)| {
            samples.sort_by(f64::total_cmp);
            let median = samples[samples.len() / 2];
            eprintln!("  {name:<34} {:>9.0} / {:>9.0}", samples[0], median);
            median
        })
        .collect()
}

/// `full` rounds under `cargo bench`; one short round under
/// `cargo test --benches`, which runs a bench without `--bench`.
#[allow(dead_code)] // not every bench counts rounds this way
pub(crate) fn rounds(full: usize) -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        full
    } else {
        1
    }
}

/// A current-thread runtime, a local redis-server on a free port (started by
/// `cache_testing::server`) and a connection to it.
#[allow(dead_code)] // not every bench talks to a server
pub(crate) fn local_redis() -> (Runtime, RedisServer, Arc<dyn Cache>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start();
    let redis = runtime.block_on(async {
        RedisCache::builder()
            .addr(server.addr())
            .connect()
            .await
            .expect("connect to the local redis-server")
    });
    (runtime, server, Arc::new(redis))
}
