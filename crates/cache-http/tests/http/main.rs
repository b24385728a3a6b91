//! cache-http over real HTTP: each test serves an axum app on 127.0.0.1:0
//! and talks to it with hyper's client, on the memory backend and on a real
//! redis-server that `cache-testing` starts on a free loopback port.

mod support;

/// The example service itself (`examples/service.rs`), compiled into this
/// test so that `example` runs the code the README shows.
#[allow(dead_code)]
#[path = "../../examples/service.rs"]
mod service;

mod admin;
mod example;
mod health;
mod idempotency;
mod lock;
mod metric_names;
mod rate_limit;
mod response_cache;
