//! Shared by the `config_*` integration tests: an injected environment (tests
//! never touch the process environment: they run in parallel) and a test CA.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine as _;
use cache_core::ConfigError;
use cache_manager::config::Config;

/// A self-signed P-256 CA, valid until 2126, used only as TLS test material.
pub const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUVtLW/jZA4j0NxawmC1FQhrNcIbswCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSY2FjaGUtY29yZSB0ZXN0IENBMCAXDTI2MTEyMzE3MDMwN1oY
DzIxMjYxMDMwMTcwMzA3WjAdMRswGQYDVQQDDBJjYWNoZS1jb3JlIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARG0gJFVIDq8IT33ULfzO2qWRLmx/Tb
pyqPwZxaoJtYCwkyBDrW/lK455GIIRkXgmpqzZLGDJlpQZ8vcV7HZnfNo1MwUTAd
BgNVHQ4EFgQURzIJqZ72rm/xMc3Ho2r61z14xiMwHwYDVR0jBBgwFoAURzIJqZ72
rm/xMc3Ho2r61z14xiMwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiALkeg1S5CkmnoqxJueDBcbj/DKd3BgPudyKKEFTDaUgAIhAOUd2v7pfsr2E9m2
AXL8k79pxH/1kCW9Hjc+aLKbnZza
-----END CERTIFICATE-----
";

/// The test CA, base64-encoded as ElastiCache documentation passes it.
pub fn test_ca_base64() -> String {
    base64::engine::general_purpose::STANDARD.encode(TEST_CA_PEM)
}

/// An environment holding exactly `pairs`.
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// An empty environment.
pub fn no_env(_: &str) -> Option<String> {
    None
}

/// Parses `yaml` with `${VAR}` read from `pairs`.
pub fn parse(yaml: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_yaml_str_with_env(yaml, &env(pairs))
}

/// The defaults with `pairs` applied as the environment.
pub fn from_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    config.apply_env(&env(pairs))?;
    Ok(config)
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A config that validates with the Redis backend, to break one field at a time.
pub fn valid_redis() -> Config {
    parse(
        "cache:\n  type: redis\n  redis:\n    addrs: [\"localhost:6379\"]\n",
        &[],
    )
    .expect("valid redis config")
}
