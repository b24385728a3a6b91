//! One standalone server process: [`RedisServer`] and its builder.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{Auth, LOOPBACK, RespConnection, RespValue, free_port, log_tail, ping};

/// How many times a start is retried on a new port after losing the race for
/// its port to another process.
const PORT_ATTEMPTS: usize = 10;

/// The default time a server gets to answer after its process started. Generous:
/// many test binaries start servers at once on a loaded 2-core machine.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Lines of the server's log quoted in a failure message.
const LOG_LINES_IN_PANIC: usize = 30;

/// How a starting server is judged ready.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadyCheck {
    /// It answers `PING` on the plain port (after `AUTH` when a password is
    /// set), and `INFO server` names this process, so a server of another test
    /// that happens to hold the port is never mistaken for ours. The default.
    Ping,
    /// Its log (or its stdout/stderr) contains this text: for servers that
    /// cannot be pinged in plain text (TLS only).
    LogContains(String),
}

/// Builds a [`RedisServer`]; see [`RedisServer::builder`].
#[derive(Clone)]
pub struct RedisServerBuilder {
    binary: Option<PathBuf>,
    args: Vec<OsString>,
    config: Option<String>,
    auth: Auth,
    port: Option<u16>,
    port_arg: String,
    extra_port_args: Vec<String>,
    default_args: bool,
    ready: ReadyCheck,
    startup_timeout: Duration,
}

impl fmt::Debug for RedisServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Extra arguments may carry a password (`--requirepass`): not printed.
        f.debug_struct("RedisServerBuilder")
            .field("binary", &self.binary)
            .field("args", &self.args.len())
            .field("auth", &self.auth)
            .field("port", &self.port)
            .field("port_arg", &self.port_arg)
            .field("extra_port_args", &self.extra_port_args)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl Default for RedisServerBuilder {
    fn default() -> Self {
        RedisServerBuilder {
            binary: None,
            args: Vec::new(),
            config: None,
            auth: Auth::default(),
            port: None,
            port_arg: "--port".into(),
            extra_port_args: Vec::new(),
            default_args: true,
            ready: ReadyCheck::Ping,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl RedisServerBuilder {
    /// Appends one command-line argument (after the harness's own).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Requires `password` (`--requirepass`); the readiness check authenticates with it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        let password = password.into();
        self.args.push("--requirepass".into());
        self.args.push(password.clone().into());
        self.auth.password = Some(password);
        self
    }

    /// Authenticates the readiness check as `username` with `password`
    /// (`AUTH user pass`), for servers whose ACL users come from
    /// [`config_file`](Self::config_file) or extra arguments. Sets no server option.
    pub fn auth_as(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth.username = Some(username.into());
        self.auth.password = Some(password.into());
        self
    }

    /// Writes `contents` to `redis.conf` in the server's directory and passes
    /// it as the configuration file (command-line arguments still win).
    pub fn config_file(mut self, contents: impl Into<String>) -> Self {
        self.config = Some(contents.into());
        self
    }

    /// Persists every write before replying: the append-only file with
    /// `appendfsync always` (`--appendonly yes --appendfsync always`). A
    /// [`RedisServer::stop`] (SIGKILL) then loses no acknowledged write, and
    /// [`RedisServer::restart`] reloads them from the same directory.
    pub fn aof_always(self) -> Self {
        self.args(["--appendonly", "yes", "--appendfsync", "always"])
    }

    cache_core::setters! {
        /// Uses this port instead of a free one. No retry on another port then.
        port: u16 => Some;

        /// The option that receives the port (default `--port`); a TLS-only
        /// server uses `--tls-port` here plus `.args(["--port", "0"])`.
        port_arg: impl Into<String> => into;
    }

    /// Gives `option` (e.g. `--cluster-port`) its own free port, chosen
    /// afresh on every attempt; read it back with [`RedisServer::extra_port`].
    pub fn extra_port_arg(mut self, option: impl Into<String>) -> Self {
        self.extra_port_args.push(option.into());
        self
    }

    /// Leaves out `--save "" --appendonly no` (e.g. for a sentinel, or to
    /// test persistence). `--bind`, `--dir` and `--logfile` stay.
    pub fn without_default_args(mut self) -> Self {
        self.default_args = false;
        self
    }

    /// How readiness is judged (default [`ReadyCheck::Ping`]).
    pub fn ready_check(mut self, check: ReadyCheck) -> Self {
        self.ready = check;
        self
    }

    cache_core::setters! {
        /// How long the server gets to become ready (default 20 s).
        startup_timeout: Duration;
    }

    /// Runs this binary instead of [`super::server_binary`].
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Starts the server and waits until it is ready.
    ///
    /// # Panics
    /// When it cannot start: the message names the binary, the port and
    /// quotes the tail of the server's log.
    pub fn start(self) -> RedisServer {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the server and waits until it is ready, or says why it could not.
    pub fn try_start(self) -> io::Result<RedisServer> {
        let dir = tempfile::Builder::new()
            .prefix("cache-testing-redis-")
            .tempdir()?;
        if let Some(config) = &self.config {
            fs::write(dir.path().join("redis.conf"), config)?;
        }
        let mut server = RedisServer {
            binary: self.binary.clone().unwrap_or_else(super::server_binary),
            spec: self,
            port: 0,
            extra_ports: Vec::new(),
            dir,
            child: None,
        };
        let fixed_port = server.spec.port;
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = fixed_port.unwrap_or_else(free_port);
            server.extra_ports = server
                .spec
                .extra_port_args
                .iter()
                .map(|opt| (opt.clone(), free_port()))
                .collect();
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(StartFailure::AddrInUse(_))
                    if fixed_port.is_none() && attempt < PORT_ATTEMPTS =>
                {
                    tracing::debug!(port = server.port, "port taken meanwhile, retrying");
                }
                Err(failure) => return Err(failure.into_io(attempt)),
            }
        }
    }
}

/// Why one start attempt failed.
enum StartFailure {
    /// Another process holds the port.
    AddrInUse(String),
    /// Anything else, fully described.
    Other(io::Error),
}

impl StartFailure {
    fn into_io(self, attempts: usize) -> io::Error {
        match self {
            StartFailure::AddrInUse(msg) => io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{msg}\n(after {attempts} attempt(s))"),
            ),
            StartFailure::Other(e) => e,
        }
    }
}

/// A running server process, killed and reaped on drop.
///
/// ```no_run
/// use cache_testing::server::RedisServer;
///
/// let mut server = RedisServer::builder().password("s3cret").start();
/// assert!(server.addr().starts_with("127.0.0.1:"));
/// server.stop(); // a crash: clients see the connection drop
/// server.restart(); // same port, same directory, empty keyspace
/// ```
pub struct RedisServer {
    spec: RedisServerBuilder,
    binary: PathBuf,
    port: u16,
    extra_ports: Vec<(String, u16)>,
    dir: TempDir,
    child: Option<Child>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("binary", &self.binary)
            .field("addr", &self.addr())
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl RedisServer {
    /// Starts a plain server on a free port and waits until it answers.
    ///
    /// # Panics
    /// When it cannot start (binary missing, bad arguments, no answer within
    /// the startup timeout); the message quotes the server's log.
    pub fn start() -> RedisServer {
        Self::builder().start()
    }

    /// A builder for servers with a password, extra arguments or a config file.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("{LOOPBACK}:{}", self.port)
    }

    /// The host, always the loopback address.
    pub fn host(&self) -> &'static str {
        LOOPBACK
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, without credentials.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// The port given to `option` by [`RedisServerBuilder::extra_port_arg`].
    pub fn extra_port(&self, option: &str) -> Option<u16> {
        self.extra_ports
            .iter()
            .find(|(o, _)| o == option)
            .map(|(_, p)| *p)
    }

    /// The server's working directory (kept across [`restart`](Self::restart)).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The last `lines` lines of the server's log and of its stdout/stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- {} ---\n{}\n--- stdout/stderr ---\n{}",
            self.log_path().display(),
            log_tail(&self.log_path(), lines),
            log_tail(&self.output_path(), lines)
        )
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (not stopped, not crashed).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL, like a crash) and reaps it; the port and
    /// the directory stay reserved for [`restart`](Self::restart). Stopping a
    /// stopped server does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it already exited; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP): its sockets stay open and accept, but
    /// nothing answers, like a hung server or a VM paused by its host.
    /// [`resume`](Self::resume) lets it go on; a paused server is still
    /// killed on drop.
    ///
    /// # Panics
    /// When the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`pause`](Self::pause)d process go on (SIGCONT).
    ///
    /// # Panics
    /// When the server is not running or the signal cannot be sent.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} is not running: cannot send {signal}", self.addr()));
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill {signal} {pid}`: {e}"));
        assert!(
            status.success(),
            "`kill {signal} {pid}` exited with {status}"
        );
    }

    /// Starts the server again on the same port and directory (stopping it
    /// first if it runs) and waits until it answers. Persistence is off unless
    /// the builder said otherwise, so the keyspace starts empty.
    ///
    /// # Panics
    /// When it does not come back within the startup timeout (for example
    /// because another process took the port meanwhile).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + self.spec.startup_timeout;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The port may be taken for a moment (another test's short
                // connection attempt cannot hold a listening port, but a racing
                // free_port() caller can): retry until the deadline.
                Err(StartFailure::AddrInUse(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(f) => panic!("restart failed: {}", f.into_io(1)),
            }
        }
    }

    /// A new blocking connection, authenticated when the server has a password.
    ///
    /// # Panics
    /// When the server does not answer.
    pub fn connect(&self) -> RespConnection {
        ping(
            &self.addr(),
            self.spec.auth.username.as_deref(),
            self.spec.auth.password.as_deref(),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.addr()))
    }

    /// Sends one command on a new connection and returns the reply (an error
    /// reply is a value, not a panic), e.g. `server.command(&["DBSIZE"])`.
    ///
    /// # Panics
    /// On I/O failure.
    pub fn command(&self, args: &[&str]) -> RespValue {
        self.connect()
            .command(args)
            .unwrap_or_else(|e| panic!("{:?} on {} failed: {e}", args.first(), self.addr()))
    }

    /// Runs `redis-cli` ([`super::cli_binary`]) against this server with
    /// `args`, authenticated through `REDISCLI_AUTH` (so the password never
    /// appears on a command line), and returns its output.
    pub fn cli(&self, args: &[&str]) -> io::Result<Output> {
        let mut cmd = Command::new(super::cli_binary());
        cmd.arg("-h")
            .arg(LOOPBACK)
            .arg("-p")
            .arg(self.port.to_string());
        if let Some(user) = &self.spec.auth.username {
            cmd.arg("--user").arg(user);
        }
        if let Some(password) = &self.spec.auth.password {
            cmd.env("REDISCLI_AUTH", password);
        }
        cmd.args(args).stdin(Stdio::null()).output()
    }

    fn output_path(&self) -> PathBuf {
        self.dir.path().join("stdout.log")
    }

    fn command_line(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        if self.spec.config.is_some() {
            cmd.arg(self.dir.path().join("redis.conf"));
        }
        cmd.arg(&self.spec.port_arg).arg(self.port.to_string());
        for (option, port) in &self.extra_ports {
            cmd.arg(option).arg(port.to_string());
        }
        cmd.arg("--bind").arg(LOOPBACK);
        if self.spec.default_args {
            cmd.args(["--save", "", "--appendonly", "no"]);
        }
        cmd.arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path());
        cmd.args(&self.spec.args);
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Spawns the process on `self.port` and waits until it is ready.
    fn spawn_and_wait(&mut self) -> Result<(), StartFailure> {
        let other = StartFailure::Other;
        // Fresh logs per attempt, so that an old "Address already in use" or
        // "Ready" line is never read as this attempt's.
        let output = File::create(self.output_path()).map_err(other)?;
        let _ = fs::remove_file(self.log_path());
        let mut cmd = self.command_line();
        cmd.stdin(Stdio::null())
            .stdout(output.try_clone().map_err(other)?)
            .stderr(output);
        let child = cmd.spawn().map_err(|e| {
            StartFailure::Other(io::Error::new(
                e.kind(),
                format!(
                    "cannot run the server binary `{}`: {e}; install redis-server or point {} at \
                     a redis-server/valkey-server binary",
                    self.binary.display(),
                    super::SERVER_BINARY_ENV
                ),
            ))
        })?;
        self.child = Some(child);
        let result = self.wait_ready();
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let deadline = Instant::now() + self.spec.startup_timeout;
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait().map_err(StartFailure::Other)? {
                let tail = self.log_tail(LOG_LINES_IN_PANIC);
                let msg = format!(
                    "redis server `{}` on {} exited during startup ({status})\n{tail}",
                    self.binary.display(),
                    self.addr()
                );
                return Err(if tail.contains("Address already in use") {
                    StartFailure::AddrInUse(msg)
                } else {
                    StartFailure::Other(io::Error::other(msg))
                });
            }
            let last_error = match self.probe() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(StartFailure::Other(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis server `{}` on {} was not ready within {:?} ({:?}); last error: \
                         {last_error}\n{}",
                        self.binary.display(),
                        self.addr(),
                        self.spec.startup_timeout,
                        self.spec.ready,
                        self.log_tail(LOG_LINES_IN_PANIC)
                    ),
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One readiness probe; `Err` says why it is not ready yet.
    fn probe(&self) -> Result<(), String> {
        match &self.spec.ready {
            ReadyCheck::LogContains(text) => {
                let log = fs::read_to_string(self.log_path()).unwrap_or_default();
                let out = fs::read_to_string(self.output_path()).unwrap_or_default();
                if log.contains(text.as_str()) || out.contains(text.as_str()) {
                    Ok(())
                } else {
                    Err(format!("log does not contain {text:?} yet"))
                }
            }
            ReadyCheck::Ping => {
                let mut conn = ping(
                    &self.addr(),
                    self.spec.auth.username.as_deref(),
                    self.spec.auth.password.as_deref(),
                    Duration::from_millis(500),
                )
                .map_err(|e| e.to_string())?;
                let info = conn
                    .command(&["INFO", "server"])
                    .map_err(|e| e.to_string())?;
                let text = info.as_text().unwrap_or_default();
                let pid = text
                    .lines()
                    .find_map(|l| l.strip_prefix("process_id:"))
                    .and_then(|p| p.trim().parse::<u32>().ok());
                match (pid, self.pid()) {
                    (Some(theirs), Some(ours)) if theirs == ours => Ok(()),
                    (theirs, ours) => Err(format!(
                        "the server answering on {} is process {theirs:?}, not ours ({ours:?})",
                        self.addr()
                    )),
                }
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
