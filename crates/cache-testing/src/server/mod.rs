//! Real `redis-server` (or `valkey-server`) processes for tests.
//!
//! [`RedisServer::start`] runs a throw-away server on a free loopback port in
//! a fresh temporary directory, waits until it answers `PING`, and kills and
//! reaps it on drop. Persistence is off (`--save "" --appendonly no`), so a
//! server starts empty, also after [`RedisServer::restart`].
//!
//! The binaries come from environment variables so that the same tests run
//! against Valkey:
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `CACHE_TEST_REDIS_SERVER` | `redis-server` on `PATH` | the server binary |
//! | `CACHE_TEST_REDIS_CLI` | `redis-cli` on `PATH` | the command-line client |
//!
//! The API is blocking on purpose: a start takes milliseconds, and a sync API
//! is usable from both sync and async tests (`#[tokio::test]` included).
//! Many test binaries may start servers at the same time: each server gets a
//! port the kernel just handed out, and a start that loses the race for it
//! ("Address already in use") is retried on a new port.
//!
//! ```no_run
//! use cache_testing::server::RedisServer;
//!
//! let server = RedisServer::start();
//! let url = format!("redis://{}", server.addr());
//! // ... connect the client under test to `url` ...
//! # let _ = url;
//! ```

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod admin;
mod cluster;
mod reaper;
mod resp;
mod sentinel;
mod standalone;
mod tls;

pub use cluster::{CLUSTER_SLOTS, RedisCluster, RedisClusterBuilder, key_slot};
pub use reaper::ExitReaper;
pub use resp::{RespConnection, RespValue};
pub use sentinel::{RedisSentinel, RedisSentinelBuilder};
pub use standalone::{ReadyCheck, RedisServer, RedisServerBuilder};
pub use tls::{TLS_SERVER_NAMES, TlsMaterial, TlsRedisServer};

/// The environment variable naming the server binary.
pub const SERVER_BINARY_ENV: &str = "CACHE_TEST_REDIS_SERVER";

/// The environment variable naming the `redis-cli` binary.
pub const CLI_BINARY_ENV: &str = "CACHE_TEST_REDIS_CLI";

/// The loopback host every harness server binds to.
pub const LOOPBACK: &str = "127.0.0.1";

/// The server binary: `$CACHE_TEST_REDIS_SERVER`, or `redis-server` on `PATH`.
pub fn server_binary() -> PathBuf {
    binary_from_env(SERVER_BINARY_ENV, "redis-server")
}

/// The client binary: `$CACHE_TEST_REDIS_CLI`, or `redis-cli` on `PATH`.
pub fn cli_binary() -> PathBuf {
    binary_from_env(CLI_BINARY_ENV, "redis-cli")
}

fn binary_from_env(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

/// A loopback TCP port that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port the kernel chose and releases it.
/// Another process may take the port before it is used, so whoever binds it
/// must be ready to retry with a new one (as [`RedisServer`] does).
///
/// # Panics
/// When the kernel hands out no port at all (no loopback interface).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((LOOPBACK, 0))
        .unwrap_or_else(|e| panic!("cannot bind a free port on {LOOPBACK}: {e}"));
    listener
        .local_addr()
        .expect("a bound listener has a local address")
        .port()
}

/// Credentials for the readiness check (never printed).
#[derive(Clone, Default)]
pub(crate) struct Auth {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Opens a connection to `addr`, authenticates when `password` is given, and
/// sends `PING`. Returns the connection when the server answered `PONG`.
pub fn ping(
    addr: &str,
    username: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> io::Result<RespConnection> {
    let mut conn = RespConnection::connect(addr, timeout)?;
    if let Some(password) = password {
        conn.auth(username, password)?;
    }
    match conn.command(&["PING"])? {
        RespValue::Simple(s) if s == "PONG" => Ok(conn),
        other => Err(io::Error::other(format!(
            "PING answered {other:?} instead of PONG"
        ))),
    }
}

/// Polls [`ping`] every 10 ms until the server at `addr` answers or
/// `deadline` passes; the error carries the last failure.
pub fn wait_for_ping(
    addr: &str,
    username: Option<&str>,
    password: Option<&str>,
    deadline: Instant,
) -> io::Result<RespConnection> {
    loop {
        match ping(addr, username, password, Duration::from_millis(500)) {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{addr} did not answer PING in time; last error: {e}"),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The last `lines` lines of the file at `path` (at most the last 64 KiB), or
/// a note saying why it could not be read. For failure messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        // Free a moment ago: binding it again right away works (barring a race
        // with another process, which is what the harness retries on).
        TcpListener::bind((LOOPBACK, port)).expect("port handed out by free_port is bindable");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&path, 2), "c\nd");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("cannot read"));
    }

    #[test]
    fn auth_debug_redacts_the_password() {
        let auth = Auth {
            username: Some("app".into()),
            password: Some("hunter2".into()),
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
