//! Throw-away TLS material and TLS-only servers: [`TlsMaterial`].
//!
//! [`TlsMaterial::generate`] makes a fresh CA and a server certificate it
//! signed (for `localhost` and `127.0.0.1`, ECDSA P-256, via `rcgen`), and
//! writes them as PEM files to a temporary directory. The CA is also
//! available as base64 of its PEM, the way ElastiCache configs carry it.
//! [`TlsMaterial::start_server`] runs a [`RedisServer`] that speaks TLS only
//! (`--port 0 --tls-port P`, no client certificates required).
//!
//! ```no_run
//! use cache_testing::server::TlsMaterial;
//!
//! let tls = TlsMaterial::generate();
//! let server = tls.start_server();
//! let ca_base64 = tls.ca_cert_base64(); // for `cache.redis.tls.ca_cert_base64`
//! let ca_path = tls.ca_cert_path(); // for `cache.redis.tls.ca_cert_path`
//! # let _ = (server, ca_base64, ca_path);
//! ```
//!
//! The files live as long as the [`TlsMaterial`]: keep it alive while the
//! server runs (a [`RedisServer::restart`] reads them again).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use super::reaper::shared_until_exit;
use super::{ExitReaper, ReadyCheck, RedisServer, RedisServerBuilder};

/// The names the server certificate is valid for.
pub const TLS_SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// How long a started TLS server gets to answer a TLS `PING`.
const TLS_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// A CA and a server certificate signed by it, as PEM files in a temporary
/// directory (removed on drop). `Debug` shows the directory, never the material.
pub struct TlsMaterial {
    dir: TempDir,
    ca_cert_pem: String,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Generates a new CA and server certificate and writes `ca.crt`,
    /// `server.crt` and `server.key` to a new temporary directory.
    ///
    /// # Panics
    /// When generating or writing fails (no temporary directory).
    pub fn generate() -> TlsMaterial {
        Self::try_generate().unwrap_or_else(|e| panic!("cannot generate TLS material: {e}"))
    }

    /// Like [`generate`](Self::generate), returning the failure.
    pub fn try_generate() -> io::Result<TlsMaterial> {
        let to_io = |e: rcgen::Error| io::Error::other(format!("rcgen: {e}"));

        let ca_key = KeyPair::generate().map_err(to_io)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(to_io)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cache-testing throw-away CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(to_io)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(to_io)?;
        let names: Vec<String> = TLS_SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let mut server_params = CertificateParams::new(names).map_err(to_io)?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        server_params.use_authority_key_identifier_extension = true;
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(to_io)?;

        let dir = tempfile::Builder::new()
            .prefix("cache-testing-tls-")
            .tempdir()?;
        let material = TlsMaterial {
            dir,
            ca_cert_pem: ca_cert.pem(),
        };
        fs::write(material.ca_cert_path(), &material.ca_cert_pem)?;
        fs::write(material.server_cert_path(), server_cert.pem())?;
        fs::write(material.server_key_path(), server_key.serialize_pem())?;
        Ok(material)
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate as PEM text.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The CA certificate's PEM text, base64-encoded (standard alphabet, padded).
    pub fn ca_cert_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_cert_pem)
    }

    /// `ca.crt`: the CA certificate, PEM.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// `server.crt`: the server certificate, PEM.
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// `server.key`: the server's private key, PKCS#8 PEM.
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// A server builder for a TLS-only server with this material: the
    /// harness's port goes to `--tls-port`, the plain port is off
    /// (`--port 0`), client certificates are not required, and readiness is
    /// read from the log (a plain `PING` cannot reach it). Add options
    /// (`password`, `arg`) before starting.
    pub fn server_builder(&self) -> RedisServerBuilder {
        RedisServer::builder()
            .port_arg("--tls-port")
            .args(["--port", "0"])
            .arg("--tls-cert-file")
            .arg(self.server_cert_path())
            .arg("--tls-key-file")
            .arg(self.server_key_path())
            .arg("--tls-ca-cert-file")
            .arg(self.ca_cert_path())
            .args(["--tls-auth-clients", "no"])
            .ready_check(ReadyCheck::LogContains(
                "Ready to accept connections".to_owned(),
            ))
    }

    /// Starts a TLS-only server with this material and waits until it answers
    /// a `PING` over TLS (through `redis-cli --tls --cacert`).
    ///
    /// # Panics
    /// When the server does not start or does not answer over TLS; the message
    /// quotes its log and the client's error.
    pub fn start_server(&self) -> RedisServer {
        let server = self.server_builder().start();
        self.wait_for_tls_ping(&server);
        server
    }

    /// Waits until `server` answers `PING` over TLS, checking this material
    /// end to end.
    ///
    /// # Panics
    /// When it does not within 20 s; the message quotes the server's log.
    pub fn wait_for_tls_ping(&self, server: &RedisServer) {
        let deadline = Instant::now() + TLS_PING_TIMEOUT;
        loop {
            let last = match self.cli(server, &["PING"]) {
                Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "PONG" => return,
                Ok(out) => format!(
                    "redis-cli exited with {}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => format!(
                    "cannot run `{}`: {e}; point {} at a redis-cli/valkey-cli built with TLS",
                    super::cli_binary().display(),
                    super::CLI_BINARY_ENV
                ),
            };
            if Instant::now() >= deadline {
                panic!(
                    "the TLS server on {} did not answer PING over TLS; last: {last}\n{}",
                    server.addr(),
                    server.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `redis-cli --tls --cacert <ca> -h 127.0.0.1 -p <port> <args>`
    /// against `server` and returns its output. The CLI's server-name check
    /// is satisfied by the certificate's `127.0.0.1` entry.
    pub fn cli(&self, server: &RedisServer, args: &[&str]) -> io::Result<Output> {
        Command::new(super::cli_binary())
            .arg("--tls")
            .arg("--cacert")
            .arg(self.ca_cert_path())
            .arg("-h")
            .arg(server.host())
            .arg("-p")
            .arg(server.port().to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
    }
}

/// A TLS-only server together with the material it was started with (the
/// server reads the files again on restart, so they live as long as it does).
#[derive(Debug)]
pub struct TlsRedisServer {
    // Declared first: dropped (killed) before the material's files go.
    server: RedisServer,
    material: TlsMaterial,
}

impl TlsRedisServer {
    /// Generates fresh material and starts a TLS-only server with it.
    ///
    /// # Panics
    /// See [`TlsMaterial::start_server`].
    pub fn start() -> TlsRedisServer {
        let material = TlsMaterial::generate();
        let server = material.start_server();
        TlsRedisServer { server, material }
    }

    /// The TLS server shared by every test of this test binary that asks for
    /// it, started by the first. It lives until the binary exits, when an
    /// [`ExitReaper`] kills it. A test that stops the server starts its own.
    ///
    /// # Panics
    /// See [`TlsMaterial::start_server`]; a failed start is tried again by
    /// the next caller.
    pub fn shared() -> &'static TlsRedisServer {
        static SHARED: OnceLock<(TlsRedisServer, ExitReaper)> = OnceLock::new();
        shared_until_exit(&SHARED, TlsRedisServer::start, |tls| {
            tls.server.pid().into_iter().collect()
        })
    }

    /// `127.0.0.1:<tls port>`.
    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// The server.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// The server, to stop or restart it.
    pub fn server_mut(&mut self) -> &mut RedisServer {
        &mut self.server
    }

    /// The CA and certificates the server uses.
    pub fn material(&self) -> &TlsMaterial {
        &self.material
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_written_as_pem_and_base64() {
        let tls = TlsMaterial::generate();
        let ca = fs::read_to_string(tls.ca_cert_path()).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert_eq!(ca, tls.ca_cert_pem());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(tls.ca_cert_base64())
            .unwrap();
        assert_eq!(decoded, ca.as_bytes());
        let key = fs::read_to_string(tls.server_key_path()).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert!(fs::read_to_string(tls.server_cert_path()).unwrap() != ca);
    }

    #[test]
    fn debug_shows_no_material() {
        let tls = TlsMaterial::generate();
        let shown = format!("{tls:?}");
        assert!(!shown.contains("BEGIN"), "{shown}");
        assert!(!shown.contains(&tls.ca_cert_base64()[..20]), "{shown}");
    }

    #[test]
    fn tls_server_answers_over_tls_and_refuses_a_foreign_ca() {
        let mut tls = TlsRedisServer::start();
        let out = tls
            .material()
            .cli(tls.server(), &["SET", "k", "v"])
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");

        let other = TlsMaterial::generate();
        let out = other.cli(tls.server(), &["PING"]).unwrap();
        assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");

        tls.server_mut().restart();
        tls.material().wait_for_tls_ping(tls.server());
    }
}
