//! `cachectl` as an operator runs it: the real binary, on the embedded
//! in-memory backend and on a real Redis started for the test.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cache_testing::server::RedisServer;

fn cachectl(args: &[&str], config: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cachectl"));
    cmd.args(args)
        .stdin(Stdio::null())
        // The tests must not pick up a developer's configuration.
        .env_remove("CACHECTL_CONFIG")
        .env_remove("REDIS_HOST")
        .env_remove("REDIS_PORT");
    for (name, _) in std::env::vars() {
        if name.starts_with("CACHE_") || name.starts_with("VALKEY_") {
            cmd.env_remove(name);
        }
    }
    if let Some(path) = config {
        cmd.arg("--config").arg(path);
    }
    cmd.output().expect("cachectl runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn redis_config(dir: &Path, server: &RedisServer) -> std::path::PathBuf {
    let path = dir.join("cache.yaml");
    std::fs::write(
        &path,
        format!(
            "cache:\n  type: redis\n  key_prefix: \"app:\"\n  redis:\n    addrs: [\"{}\"]\n    connect_timeout: 2s\n    command_timeout: 2s\n",
            server.addr()
        ),
    )
    .unwrap();
    path
}

#[test]
fn demo_runs_on_the_embedded_backend_without_a_server() {
    let out = cachectl(&["demo"], None);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("in-memory (embedded)"), "{text}");
    assert!(text.contains("worker B: stored=false"), "{text}");
    assert!(text.contains("loader ran 1 time(s)"), "{text}");
    assert!(text.contains("globex still has plan=\"free\""), "{text}");
    assert!(text.contains("Done."), "{text}");
}

#[test]
fn get_of_a_missing_key_exits_with_3() {
    let out = cachectl(&["get", "nope"], None);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("not found"));
}

#[test]
fn a_bad_config_fails_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "cache:\n  type: redis\n  redis:\n    addrs: []\n").unwrap();
    let out = cachectl(&["health"], Some(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cache.redis.addrs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(&path, "cache:\n  memroy:\n    max_entries: 5\n").unwrap();
    let out = cachectl(&["health"], Some(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("memroy"), "{}", stderr(&out));
}

#[test]
fn bench_prints_a_latency_table() {
    let out = cachectl(
        &[
            "bench",
            "--duration",
            "2s",
            "--ops",
            "3000",
            "--concurrency",
            "4",
            "--keys",
            "100",
            "--quiet",
        ],
        None,
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("p999"), "{text}");
    assert!(text.contains("GET"), "{text}");
    assert!(text.contains(" 0 errors"), "{text}");
    assert!(text.contains("removed 100 bench keys"), "{text}");
}

#[test]
fn redis_values_persist_across_invocations_and_show_as_json() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), &server);

    let out = cachectl(
        &[
            "set",
            "user:1",
            r#"{"name":"Ada","admin":true}"#,
            "--ttl",
            "1m",
        ],
        Some(&config),
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let out = cachectl(&["get", "user:1"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("\"name\": \"Ada\""),
        "{}",
        stdout(&out)
    );
    // The key prefix from the config is applied on the server.
    assert_eq!(
        server.command(&["EXISTS", "app:user:1"]).as_integer(),
        Some(1)
    );

    let out = cachectl(&["del", "user:1", "user:2"], Some(&config));
    assert!(
        stdout(&out).contains("deleted 1 of 2 keys"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn redis_keys_pages_and_invalidate_asks_first() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), &server);
    for i in 0..25 {
        let out = cachectl(
            &["set", &format!("session:{i}"), "x", "--raw"],
            Some(&config),
        );
        assert!(out.status.success(), "stderr: {}", stderr(&out));
    }
    let out = cachectl(&["set", "keep:me", "x", "--raw"], Some(&config));
    assert!(out.status.success());

    let out = cachectl(
        &["keys", "--pattern", "session:*", "--all", "--count", "5"],
        Some(&config),
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let mut listed: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 25, "{listed:?}");
    assert!(listed.iter().all(|k| k.starts_with("session:")));

    // Without --yes and without a terminal it refuses and deletes nothing.
    let out = cachectl(&["invalidate", "session:*"], Some(&config));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("25 keys match"), "{}", stderr(&out));

    let out = cachectl(&["invalidate", "session:*", "--yes"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("deleted 25 keys"), "{}", stdout(&out));
    assert_eq!(
        server.command(&["EXISTS", "app:keep:me"]).as_integer(),
        Some(1)
    );
}

#[test]
fn redis_health_and_stats() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), &server);
    let out = cachectl(&["health"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains(&server.addr()));
    let out = cachectl(&["stats", "--json"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats --json is JSON");
    assert!(doc["hits"].is_u64());
}

#[test]
fn an_unreachable_redis_fails_at_start_up_naming_the_address() {
    let port = cache_testing::server::free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("down.yaml");
    std::fs::write(
        &path,
        format!("cache:\n  type: redis\n  redis:\n    addrs: [\"127.0.0.1:{port}\"]\n    password: hunter2-secret\n    connect_timeout: 1s\n"),
    )
    .unwrap();
    let out = cachectl(&["health"], Some(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2-secret"), "{err}");
}

#[test]
fn redis_demo_works_and_tenants_are_isolated() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), &server);
    let out = cachectl(&["demo"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("globex still has plan=\"free\""),
        "{}",
        stdout(&out)
    );

    let out = cachectl(
        &["--tenant", "acme", "set", "k", "1", "--raw"],
        Some(&config),
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let out = cachectl(&["--tenant", "globex", "get", "k"], Some(&config));
    assert_eq!(out.status.code(), Some(3), "globex must not see acme's key");
    let out = cachectl(&["--tenant", "acme", "get", "k"], Some(&config));
    assert_eq!(stdout(&out).trim(), "1");
}
