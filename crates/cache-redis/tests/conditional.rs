//! The two paths of `compare_and_set` and `compare_and_delete`: the server's
//! own commands (`SET … IFEQ` on Valkey 8.1+, `DELIFEQ` on Valkey 9.0+,
//! `DELEX` on Redis 8.4+), chosen at connect from `INFO server`, and the Lua
//! scripts for every other server. Under plain `cargo test` (Redis 7.0) the
//! default is Lua; `scripts/test-valkey.sh` (Valkey 9.1) runs the native
//! path, and every test here forces Lua too, so both are checked on one server.

mod harness_support;

use std::sync::Arc;

use cache_core::Cache;
use cache_redis::{ConnectOptions, RedisCache, RedisConfig};
use cache_testing::server::RedisServer;
use harness_support::shared_server;

fn config_for(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    config
}

/// The engine and `(major, minor)` the cache saw at connect.
fn version_of(cache: &RedisCache) -> (&'static str, (u32, u32)) {
    let (engine, version) = cache.server_version().expect("INFO server is allowed");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    (engine, (parts.next().unwrap(), parts.next().unwrap_or(0)))
}

/// How many times the server ran `command` (from `INFO commandstats`).
fn calls_of(server: &RedisServer, command: &str) -> u64 {
    let info = server
        .command(&["INFO", "commandstats"])
        .as_text()
        .expect("INFO commandstats is text");
    let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
    info.lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn the_native_commands_follow_the_server_version() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let (engine, version) = version_of(&cache);
    let expected_set = if engine == "valkey" && version >= (8, 1) {
        "SET IFEQ"
    } else {
        "Lua"
    };
    let expected_delete = match engine {
        "valkey" if version >= (9, 0) => "DELIFEQ",
        "redis" if version >= (8, 4) => "DELEX",
        _ => "Lua",
    };
    assert_eq!(
        (
            cache.compare_and_set_command(),
            cache.compare_and_delete_command()
        ),
        (expected_set, expected_delete),
        "{engine} {version:?}"
    );
    let forced = RedisCache::connect_with(
        &config_for(&server),
        ConnectOptions::default().force_lua_conditionals(true),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            forced.compare_and_set_command(),
            forced.compare_and_delete_command()
        ),
        ("Lua", "Lua")
    );
}

#[tokio::test]
async fn the_reported_native_commands_are_the_ones_sent() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let key = format!("conditional-test:{}", rand::random::<u64>());
    let ttl = std::time::Duration::from_secs(60);
    let delete_command = cache.compare_and_delete_command();
    let counted = match delete_command {
        "Lua" => "EVALSHA",
        native => native,
    };
    let before = calls_of(&server, counted);
    cache.set(&key, b"token", ttl).await.unwrap();
    assert!(
        cache
            .compare_and_set(&key, Some(b"token"), b"next", ttl)
            .await
            .unwrap()
    );
    assert!(cache.compare_and_delete(&key, b"next").await.unwrap());
    assert!(
        calls_of(&server, counted) > before,
        "compare_and_delete reports {delete_command}, yet the server ran no {counted}"
    );
}

/// The conformance checks of the conditional calls and of locks, on a cache
/// that `options` configure.
async fn conditional_checks_pass(options: ConnectOptions) {
    let server = shared_server();
    let factory = || {
        let (config, options) = (config_for(&server), options.clone());
        async move {
            Arc::new(RedisCache::connect_with(&config, options).await.unwrap()) as Arc<dyn Cache>
        }
    };
    let report = cache_testing::conformance::run_checks(&factory, |name| {
        name.starts_with("compare_and") || name.starts_with("stale_lock")
    })
    .await;
    assert!(report.passed.len() >= 7, "{report}");
    report.assert_ok();
    let patterns = cache_testing::conformance::run_list(
        cache_testing::conformance::PATTERN_CHECKS,
        &factory,
        |name| name.contains("lock"),
    )
    .await;
    assert!(
        !patterns.passed.is_empty(),
        "no lock pattern check selected"
    );
    patterns.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lua_conditionals_pass_the_conditional_checks() {
    conditional_checks_pass(ConnectOptions::default().force_lua_conditionals(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_conditionals_pass_the_conditional_checks() {
    conditional_checks_pass(ConnectOptions::default()).await;
}
