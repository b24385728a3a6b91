//! `cachectl` as an operator runs it: the real binary, on the embedded
//! in-memory backend and on a real Redis started for the test.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cache_testing::server::{RedisServer, RespValue};

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

/// Asserts that `text`, a run's output, contains `expected`.
#[track_caller]
fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
}

/// A fresh server, the temporary folder of its config, and the config file.
fn redis_setup() -> (RedisServer, tempfile::TempDir, std::path::PathBuf) {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), &server);
    (server, dir, config)
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
    for expected in [
        "in-memory (embedded)",
        "worker B: stored=false",
        "loader ran 1 time(s)",
        "globex still has plan=\"free\"",
        "Done.",
    ] {
        assert_contains(&text, expected);
    }
}

#[test]
fn get_of_a_missing_key_exits_with_3() {
    let out = cachectl(&["get", "nope"], None);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("not found"));
}

#[test]
fn a_bad_config_fails_naming_what_is_wrong() {
    let cases = [
        (
            "an empty address list names the field",
            "cache:\n  type: redis\n  redis:\n    addrs: []\n",
            "cache.redis.addrs",
        ),
        (
            "an unknown key is named",
            "cache:\n  memroy:\n    max_entries: 5\n",
            "memroy",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (case, yaml, named) in cases {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = cachectl(&["health"], Some(&path));
        assert_eq!(out.status.code(), Some(1), "{case}");
        let text = stderr(&out);
        assert!(text.contains(named), "{case}: {text}");
    }
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
    for expected in ["p999", "GET", " 0 errors", "removed 100 bench keys"] {
        assert_contains(&text, expected);
    }
}

#[test]
fn redis_values_persist_across_invocations_and_show_as_json() {
    let (server, _dir, config) = redis_setup();

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
    assert_contains(&stdout(&out), "\"name\": \"Ada\"");
    // The key prefix from the config is applied on the server.
    assert!(exists(&server, "app:user:1"));

    let out = cachectl(&["del", "user:1", "user:2"], Some(&config));
    assert_contains(&stdout(&out), "deleted 1 of 2 keys");
}

#[test]
fn redis_keys_pages_and_invalidate_asks_first() {
    let (server, _dir, config) = redis_setup();
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
    assert!(exists(&server, "app:keep:me"));
}

#[test]
fn redis_health_and_stats() {
    let (server, _dir, config) = redis_setup();
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
    let (_server, _dir, config) = redis_setup();
    let out = cachectl(&["demo"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_contains(&stdout(&out), "globex still has plan=\"free\"");

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

/// Whether the server holds `key` (the full key, prefix included).
fn exists(server: &RedisServer, key: &str) -> bool {
    server.command(&["EXISTS", key]).as_integer() == Some(1)
}

/// Stores `bytes` as they are at `key` under the test config's prefix.
fn put_raw(server: &RedisServer, key: &str, bytes: &[u8]) {
    let full = format!("app:{key}");
    let reply = server
        .connect()
        .command_bytes(&[b"SET", full.as_bytes(), bytes])
        .expect("SET");
    assert!(!reply.is_error(), "{reply:?}");
}

/// The bytes stored at `key` under the test config's prefix.
fn stored_bytes(server: &RedisServer, key: &str) -> Vec<u8> {
    let full = format!("app:{key}");
    match server.command(&["GET", &full]) {
        RespValue::Bulk(Some(bytes)) => bytes,
        other => panic!("GET {full}: {other:?}"),
    }
}

#[test]
fn get_says_why_a_value_is_not_cbor() {
    let (server, _dir, config) = redis_setup();
    put_raw(&server, "blob", &[0xff, 0xfe]);

    // --format cbor fails, naming the reason; nothing on stdout.
    let out = cachectl(&["get", "blob", "--format", "cbor"], Some(&config));
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot show the value of \"blob\": the value is not CBOR (malformed CBOR"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
    for format in ["json", "diag"] {
        let out = cachectl(&["get", "blob", "--format", format], Some(&config));
        assert_eq!(out.status.code(), Some(1), "--format {format}");
    }

    // auto still shows hex, and says why on stderr.
    let out = cachectl(&["get", "blob"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0xfffe");
    let err = stderr(&out);
    assert!(
        err.contains("note: value is not CBOR (malformed CBOR"),
        "{err}"
    );
    assert!(err.contains("showing hex"), "{err}");
}

#[test]
fn numbers_are_stored_and_shown_exactly() {
    let (server, _dir, config) = redis_setup();
    let set_get = |value: &str| -> (Vec<u8>, String) {
        let out = cachectl(&["set", "n", value], Some(&config));
        assert!(out.status.success(), "set {value}: {}", stderr(&out));
        let out = cachectl(&["get", "n"], Some(&config));
        assert!(out.status.success(), "get {value}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "no note for CBOR");
        (
            stored_bytes(&server, "n"),
            stdout(&out).trim_end().to_owned(),
        )
    };

    // 2^-14: exact in a half float, stored in 3 bytes, shown in full.
    let (bytes, shown) = set_get("6.103515625e-05");
    assert_eq!(bytes, [0xf9, 0x04, 0x00]);
    assert_eq!(shown, "6.103515625e-05");
    // 0.1 needs a double; 2^24 + 1 does not fit a single float.
    let (bytes, shown) = set_get("0.1");
    assert_eq!((bytes.len(), shown.as_str()), (9, "0.1"));
    let (bytes, shown) = set_get("16777217.5");
    assert_eq!((bytes[0], shown.as_str()), (0xfb, "16777217.5"));

    // The native extremes, and one past each: bignums, not floats.
    let (bytes, shown) = set_get("18446744073709551615");
    assert_eq!(bytes[0], 0x1b);
    assert_eq!(shown, "18446744073709551615");
    let (bytes, shown) = set_get("-18446744073709551616");
    assert_eq!(bytes[0], 0x3b);
    assert_eq!(shown, "-18446744073709551616");
    let (bytes, shown) = set_get("18446744073709551616");
    assert_eq!(bytes, [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0], "tag 2");
    assert_eq!(shown, "18446744073709551616");
    let (bytes, shown) = set_get("-18446744073709551617");
    assert_eq!(bytes[0], 0xc3, "tag 3");
    assert_eq!(shown, "-18446744073709551617");

    // A JSON document that was exact before shows exactly as before.
    let (_, shown) = set_get(r#"{"name":"Ada","n":[1,-2,1.5,100.0]}"#);
    assert_eq!(
        shown,
        "{\n  \"name\": \"Ada\",\n  \"n\": [\n    1,\n    -2,\n    1.5,\n    100.0\n  ]\n}"
    );

    // A float a double cannot hold is refused, and nothing is stored.
    let out = cachectl(&["set", "huge", "1e400"], Some(&config));
    assert_eq!(out.status.code(), Some(1));
    assert_contains(&stderr(&out), "too large for a 64-bit float");
    assert!(!exists(&server, "app:huge"));
}

#[test]
fn bytes_tags_and_bignums_show_readably() {
    let (server, _dir, config) = redis_setup();
    // {"png": h'0a0b0c', "ints": [10, 11, 12], "at": 1(1700000000), "big": 2(h'010000000000000000')}
    let mut doc = vec![0xa4];
    doc.extend(b"\x63png\x43\x0a\x0b\x0c");
    doc.extend(b"\x64ints\x83\x0a\x0b\x0c");
    doc.extend(b"\x62at\xc1\x1a\x65\x53\xf1\x00");
    doc.extend(b"\x63big\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00");
    put_raw(&server, "doc", &doc);

    let out = cachectl(&["get", "doc", "--format", "diag"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out).trim_end(),
        r#"{"png": h'0a0b0c', "ints": [10, 11, 12], "at": 1(1700000000), "big": 18446744073709551616}"#
    );
    let out = cachectl(&["get", "doc"], Some(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("\"png\": h'0a0b0c',"), "{text}");
    assert!(text.contains("\"at\": 1(1700000000),"), "{text}");
    assert!(!text.contains("@@TAGGED@@"), "{text}");

    // Strict JSON says what it cannot show, and where.
    let out = cachectl(&["get", "doc", "--format", "json"], Some(&config));
    assert_eq!(out.status.code(), Some(1));
    assert_contains(
        &stderr(&out),
        "no exact JSON form: a byte string at $[\"png\"]",
    );
}

#[test]
fn duplicate_map_keys_are_refused_on_get_and_on_set() {
    let (server, _dir, config) = redis_setup();
    // {"a": 1, "a": 2}
    put_raw(&server, "dup", &[0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]);
    for format in ["auto", "cbor", "json", "diag"] {
        let out = cachectl(&["get", "dup", "--format", format], Some(&config));
        assert_eq!(
            out.status.code(),
            Some(1),
            "--format {format}: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("has the key \"a\" more than once"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
    }
    let out = cachectl(&["get", "dup", "--format", "hex"], Some(&config));
    assert_eq!(stdout(&out).trim(), "0xa2616101616102");

    let out = cachectl(
        &["set", "k", r#"{"a": 1, "b": {"x": 1, "x": 2}}"#],
        Some(&config),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("has the key \"x\" more than once"), "{err}");
    assert!(err.contains("nothing was stored"), "{err}");
    assert!(!exists(&server, "app:k"));
}

/// A memory backend that refuses values over 64 bytes.
fn small_values_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("small.yaml");
    std::fs::write(&path, "cache:\n  memory:\n    max_value_bytes: 64\n").unwrap();
    path
}

/// The whitespace-separated fields of the table row for `op`.
fn row(text: &str, op: &str) -> Vec<String> {
    text.lines()
        .find(|l| l.starts_with(op))
        .unwrap_or_else(|| panic!("no {op} row in {text}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bench_counts_failures_by_kind_apart_from_ops() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_values_config(dir.path());
    // Every SET of a 100-byte value fails; every GET misses (nothing was stored).
    let out = cachectl(
        &[
            "bench",
            "--value-size",
            "100",
            "--read-ratio",
            "0.5",
            "--ops",
            "400",
            "--duration",
            "10m",
            "--concurrency",
            "2",
            "--keys",
            "10",
            "--quiet",
        ],
        Some(&config),
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert_contains(&stderr(&out), "warning: pre-filling 10 of 10 keys failed");
    // op count ops/s p50 p99 p999 failed
    let get = row(&text, "GET ");
    let set = row(&text, "SET ");
    assert_eq!(get[6], "0", "{text}");
    assert_eq!(set[1], "0", "failed SETs are not ops: {text}");
    let gets: u64 = get[1].parse().unwrap();
    let failed: u64 = set[6].parse().unwrap();
    assert!(failed > 0, "{text}");
    // The --ops limit counts every call; the total counts only successes.
    assert_eq!(gets + failed, 400, "{text}");
    assert!(text.contains(&format!("total  {gets} ops in ")), "{text}");
    assert!(text.contains(&format!(", {failed} errors")), "{text}");
    assert!(
        text.contains(&format!(
            "failed: {failed} × ValueTooLarge, e.g. value of 100 bytes for key \"cachectl:bench:"
        )),
        "{text}"
    );
    assert!(text.contains("exceeds the limit of 64 bytes"), "{text}");
    assert!(
        text.contains("stopped: --ops limit of 400 calls reached"),
        "{text}"
    );
}

#[test]
fn bench_stops_at_whichever_limit_comes_first_and_says_which() {
    let args = |ops: &str, duration: &str, timeline: bool| {
        let mut a = vec![
            "bench",
            "--ops",
            ops,
            "--duration",
            duration,
            "--concurrency",
            "2",
            "--keys",
            "10",
            "--quiet",
        ];
        if timeline {
            a.push("--timeline");
        }
        cachectl(&a, None)
    };
    let out = args("500", "10m", true);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("stopped: --ops limit of 500 calls reached"),
        "{text}"
    );
    assert!(text.contains(" 0 errors"), "{text}");
    // The timeline accounts for every call, one row per second.
    let mut lines = text.lines().skip_while(|l| !l.starts_with("second"));
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["second", "ops", "failed", "p99", "µs"]),
        "{text}"
    );
    let rows: Vec<Vec<u64>> = lines
        .take_while(|l| !l.starts_with("removed"))
        .map(|l| {
            l.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "{text}");
    assert_eq!(rows[0][0], 1);
    assert_eq!(rows.iter().map(|r| r[1] + r[2]).sum::<u64>(), 500, "{text}");

    // A zero duration ends the run before the first call.
    let out = args("1000000000", "0s", false);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("stopped: --duration of 0s elapsed"), "{text}");
    assert!(text.contains("total  0 ops in "), "{text}");
    assert!(
        !text.contains("second"),
        "no timeline without --timeline: {text}"
    );
}

#[test]
fn stats_prometheus_prints_the_exposition_text_of_the_probes() {
    let out = cachectl(&["stats", "--prometheus", "--probes", "3"], None);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("# TYPE cache_operations counter"), "{text}");
    assert!(
        text.contains(
            "cache_operations{db_system_name=\"memory\",db_operation_name=\"get\",outcome=\"miss\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("db_client_operation_duration"), "{text}");
}

#[test]
fn stats_watch_refreshes_ops_hit_ratio_p99_and_errors_against_redis() {
    let (server, _dir, config) = redis_setup();
    server.command(&["SET", "app:seen", "1"]);
    let out = cachectl(
        &[
            "stats",
            "--watch",
            "--count",
            "2",
            "--interval",
            "100ms",
            "--probes",
            "4",
        ],
        Some(&config),
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("cachectl stats --watch:").count(), 2, "{text}");
    // The probes read the one key there is: every GET hits.
    assert!(text.contains("hit ratio  100.0%"), "{text}");
    assert!(text.contains("errors     none"), "{text}");
    assert!(
        text.contains("p99        ") && text.contains(" ms"),
        "{text}"
    );
    assert!(text.contains("p99 chart  "), "{text}");
    assert!(!text.contains("app:seen"), "no key in the view: {text}");
}
