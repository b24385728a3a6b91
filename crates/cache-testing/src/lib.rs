//! # cache-testing
//!
//! The test kit of the cache framework: the conformance suite that every
//! [`Cache`](cache_core::Cache) backend must pass, stand-ins for the tests of
//! code that *uses* a cache, and throw-away `redis-server` processes for the
//! tests of code that talks to Redis. Only ever a dev-dependency.
//!
//! ```
//! use std::sync::Arc;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
//! // Every check, each against a fresh instance from the factory.
//! let report = cache_testing::conformance::run_all(&|| async {
//!     Arc::new(MemoryCache::new()) as Arc<dyn Cache>
//! })
//! .await;
//! assert!(report.is_ok(), "{report}");
//! # }
//! ```
//!
//! A backend's test file is one macro call, giving one `#[tokio::test]` per
//! check, named for the behaviour it checks:
//!
//! ```no_run
//! // crates/my-backend/tests/conformance.rs
//! use std::sync::Arc;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache; // your backend here
//!
//! cache_testing::conformance_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
//! ```
//!
//! A backend on a test clock hands the checks its clock
//! ([`OnManualClock`](conformance::OnManualClock)), so that those about
//! expiry advance it instead of waiting.
//!
//! ## What is in it
//! | module | what | for testing |
//! | --- | --- | --- |
//! | [`conformance`] | [`run_all`](conformance::run_all), [`conformance_tests!`], one `check_*` function per behaviour of the contract | a backend |
//! | [`fakes`] | [`fake_cache`]: the in-memory backend, [`MemoryCache`](cache_memory::MemoryCache), on a [`ManualClock`] (or on tokio's pausable clock) | a caller, deterministically in time |
//! | [`faulty`] | [`FaultyCache`]: fails the next N calls or every call of an operation, adds latency, counts faults | a caller's error handling and timeouts |
//! | [`recording`] | [`RecordingCache`]: records every call (operation, keys, TTL, outcome) | what a caller did |
//! | [`mock`] | [`MockCache`]: a `mockall` mock of the trait | exact calls, scripted answers |
//! | [`metrics`] | [`MetricsCapture`](metrics::MetricsCapture): a debugging `metrics` recorder local to the test; [`SpanCapture`](metrics::SpanCapture): every span's attributes | what a backend or pattern emitted |
//! | [`server`] | [`RedisServer`]: a real `redis-server` on a free loopback port, killed on drop; stop/restart | a Redis client, crashes included |
//!
//! The crate has no cargo features: everything is always built. The server
//! harness reads two environment variables, so the same tests run against
//! Valkey:
//!
//! | variable | default |
//! | --- | --- |
//! | `CACHE_TEST_REDIS_SERVER` | `redis-server` on `PATH` |
//! | `CACHE_TEST_REDIS_CLI` | `redis-cli` on `PATH` |
//!
//! ```no_run
//! use cache_testing::server::RedisServer;
//!
//! let server = RedisServer::builder().password("test-only").start();
//! let url = server.url(); // redis://127.0.0.1:<port>, no credentials
//! # let _ = url;
//! ```
#![forbid(unsafe_code)]

pub mod conformance;
pub mod fakes;
pub mod faulty;
pub mod metrics;
pub mod mock;
pub mod recording;
pub mod server;
pub mod wait;

pub use fakes::{ManualClock, fake_cache};
pub use faulty::FaultyCache;
pub use mock::MockCache;
pub use recording::RecordingCache;
pub use server::RedisServer;
