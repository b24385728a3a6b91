//! Precedence, lowest first: defaults < file < VALKEY_* < seed CACHE_* aliases
//! < canonical CACHE_* < REDIS_HOST/REDIS_PORT (only for an empty address list).

mod config_common;

use std::path::PathBuf;
use std::time::Duration;

use cache_manager::config::{BackendKind, Config};
use config_common::env;

/// The environment of one case: variable, value.
type Vars = &'static [(&'static str, &'static str)];

/// Writes `yaml` to a temporary file and loads it with `pairs` as the environment.
fn load(yaml: &str, pairs: &[(&str, &str)]) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("cache.yaml");
    std::fs::write(&file, yaml).unwrap();
    Config::load_with_env(Some(&file), &env(pairs)).unwrap()
}

const FILE: &str = "cache:\n  type: redis\n  redis:\n    addrs: [\"file:6379\"]\n    pool_size: 2\n    command_timeout: 1s\n";

#[test]
fn the_file_overrides_the_defaults() {
    let config = load(FILE, &[]);
    assert_eq!(config.cache.redis.pool_size, 2);
    assert_eq!(config.cache.redis.addrs, ["file:6379"]);
}

#[test]
fn no_file_means_the_defaults_and_the_environment() {
    let config = Config::load_with_env(None, &env(&[("CACHE_KEY_PREFIX", "app:")])).unwrap();
    assert_eq!(config.cache.key_prefix, "app:");
    assert_eq!(config.cache.backend, BackendKind::Memory);
}

#[test]
fn a_canonical_pool_size_overrides_the_seed_pool_size() {
    let config = load(
        FILE,
        &[("CACHE_POOL_SIZE", "10"), ("CACHE_REDIS_POOL_SIZE", "6")],
    );
    assert_eq!(config.cache.redis.pool_size, 6);
}

#[test]
fn the_canonical_command_timeout_overrides_read_and_write_timeouts() {
    let config = load(
        FILE,
        &[
            ("CACHE_READ_TIMEOUT", "3s"),
            ("CACHE_WRITE_TIMEOUT", "3s"),
            ("CACHE_REDIS_COMMAND_TIMEOUT", "250ms"),
        ],
    );
    assert_eq!(
        config.cache.redis.command_timeout,
        Duration::from_millis(250)
    );
}

#[test]
fn a_seed_address_overrides_a_memory_backend_in_the_file() {
    let config = load("cache:\n  type: memory\n", &[("CACHE_ADDRS", "seed:6379")]);
    assert_eq!(config.cache.backend, BackendKind::Redis);
}

#[test]
fn cache_type_overrides_the_backend_implied_by_an_alias() {
    let config = load(
        "cache:\n  type: memory\n",
        &[("CACHE_ADDRS", "seed:6379"), ("CACHE_TYPE", "memory")],
    );
    assert_eq!(config.cache.backend, BackendKind::Memory);
}

#[test]
fn the_strongest_source_gives_the_address() {
    let redis_only = "cache:\n  type: redis\n";
    let cases: [(&str, &str, Vars, &str); 6] = [
        (
            "a valkey alias overrides the file",
            FILE,
            &[("VALKEY_HOST", "valkey")],
            "valkey:6379",
        ),
        (
            "a cache alias overrides a valkey alias",
            FILE,
            &[("VALKEY_HOST", "valkey"), ("CACHE_ADDRS", "seed:6379")],
            "seed:6379",
        ),
        (
            "a canonical variable overrides a cache alias",
            FILE,
            &[
                ("CACHE_ADDRS", "seed:6379"),
                ("CACHE_REDIS_ADDRS", "canonical:6379"),
            ],
            "canonical:6379",
        ),
        (
            "REDIS_HOST is ignored when the file has an address",
            FILE,
            &[("REDIS_HOST", "legacy"), ("REDIS_PORT", "6390")],
            "file:6379",
        ),
        (
            "REDIS_HOST fills in when the file has no address",
            redis_only,
            &[("REDIS_HOST", "legacy"), ("REDIS_PORT", "6390")],
            "legacy:6390",
        ),
        (
            "REDIS_HOST is ignored when an alias gives an address",
            redis_only,
            &[("REDIS_HOST", "legacy"), ("CACHE_ADDRS", "seed:6379")],
            "seed:6379",
        ),
    ];
    for (case, file, vars, addr) in cases {
        let config = load(file, vars);
        assert_eq!(config.cache.redis.addrs, [addr], "{case}");
    }
}

#[test]
fn load_validates_after_applying_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.yaml");
    std::fs::write(&file, FILE).unwrap();
    let err =
        Config::load_with_env(Some(&file), &env(&[("CACHE_REDIS_POOL_SIZE", "0")])).unwrap_err();
    assert_eq!(err.field, "cache.redis.pool_size");
}

#[test]
fn the_environment_can_rescue_an_incomplete_file() {
    let config = load(
        "cache:\n  type: redis\n",
        &[("CACHE_REDIS_ADDRS", "late:6379")],
    );
    assert_eq!(config.cache.redis.addrs, ["late:6379"]);
}
