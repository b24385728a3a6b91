//! The standalone harness against the real server binary.

use std::time::Duration;

use cache_testing::server::{RedisServer, RespValue};

#[test]
fn started_server_answers_ping() {
    let server = RedisServer::start();
    assert_eq!(server.command(&["PING"]), RespValue::Simple("PONG".into()));
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
}

#[test]
fn server_runs_without_persistence_in_its_own_directory() {
    let server = RedisServer::start();
    let dir = server.command(&["CONFIG", "GET", "dir"]);
    let RespValue::Array(Some(items)) = dir else {
        panic!("CONFIG GET dir answered {dir:?}");
    };
    let shown = items[1].as_text().unwrap();
    assert_eq!(
        std::path::Path::new(&shown).canonicalize().unwrap(),
        server.dir().canonicalize().unwrap()
    );
    let save = server.command(&["CONFIG", "GET", "save"]);
    assert_eq!(
        save,
        RespValue::Array(Some(vec![
            RespValue::Bulk(Some(b"save".to_vec())),
            RespValue::Bulk(Some(Vec::new()))
        ]))
    );
}

#[test]
fn password_is_required_and_used_by_the_harness() {
    let server = RedisServer::builder().password("harness-pw").start();
    let mut anonymous =
        cache_testing::server::RespConnection::connect(&server.addr(), Duration::from_secs(5))
            .unwrap();
    let reply = anonymous.command(&["GET", "k"]).unwrap();
    assert!(
        matches!(&reply, RespValue::Error(e) if e.starts_with("NOAUTH")),
        "{reply:?}"
    );
    assert_eq!(
        server.command(&["SET", "k", "v"]),
        RespValue::Simple("OK".into())
    );
    assert!(!format!("{server:?}").contains("harness-pw"));
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = RedisServer::builder().args(["--maxmemory", "12mb"]).start();
    let reply = server.command(&["CONFIG", "GET", "maxmemory"]);
    assert_eq!(
        reply,
        RespValue::Array(Some(vec![
            RespValue::Bulk(Some(b"maxmemory".to_vec())),
            RespValue::Bulk(Some(b"12582912".to_vec()))
        ]))
    );
}

#[test]
fn stop_kills_and_restart_comes_back_empty_on_the_same_port() {
    let mut server = RedisServer::start();
    let port = server.port();
    server.command(&["SET", "k", "v"]);
    server.stop();
    assert!(!server.is_running());
    assert!(
        std::net::TcpStream::connect(server.addr()).is_err(),
        "a stopped server must refuse connections"
    );
    server.restart();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert_eq!(server.command(&["GET", "k"]), RespValue::Bulk(None));
}

#[test]
fn drop_kills_the_process() {
    let server = RedisServer::start();
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn a_fixed_port_that_is_taken_fails_with_addr_in_use() {
    // A fixed port is never swapped for another: the start fails and says why.
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let err = RedisServer::builder().port(port).try_start().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("Address already in use"), "{err}");
}

#[test]
fn bad_arguments_fail_with_the_log_tail() {
    let err = RedisServer::builder()
        .args(["--no-such-option", "1"])
        .try_start()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("exited during startup"), "{msg}");
    assert!(msg.contains("no-such-option"), "{msg}");
}

#[test]
fn missing_binary_names_the_environment_variable() {
    let err = RedisServer::builder()
        .binary("/nonexistent/redis-server")
        .try_start()
        .unwrap_err();
    assert!(err.to_string().contains("CACHE_TEST_REDIS_SERVER"), "{err}");
}

#[test]
fn many_servers_start_in_parallel() {
    let servers: Vec<RedisServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(RedisServer::start)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(RedisServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8);
    for server in &servers {
        assert_eq!(server.command(&["PING"]), RespValue::Simple("PONG".into()));
    }
}

#[test]
fn cli_runs_against_the_server_with_its_password() {
    let server = RedisServer::builder().password("cli-pw").start();
    let out = server.cli(&["SET", "k", "v"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}
