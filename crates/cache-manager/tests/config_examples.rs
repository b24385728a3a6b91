//! Every example under `examples/config/` loads and validates.

mod config_common;

use std::path::PathBuf;

use cache_manager::config::{BackendKind, Config};
use cache_redis::RedisMode;
use config_common::{env, test_ca_base64, workspace_root};

fn example(name: &str) -> PathBuf {
    workspace_root().join("examples/config").join(name)
}

/// Loads an example with an environment holding only the variables it references.
fn load_with(name: &str, pairs: &[(&str, &str)]) -> Config {
    Config::load_with_env(Some(&example(name)), &env(pairs))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load(name: &str) -> Config {
    load_with(name, &[])
}

#[test]
fn every_example_file_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("examples/config"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "disabled.yaml",
            "elasticache-tls.yaml",
            "memory.yaml",
            "redis-cluster.yaml",
            "redis-sentinel.yaml",
            "redis-standalone.yaml"
        ]
    );
}

#[test]
fn memory_example_loads() {
    let config = load("memory.yaml");
    assert_eq!(config.cache.backend, BackendKind::Memory);
    assert_eq!(config.cache.key_prefix, "orders:");
}

#[test]
fn standalone_example_loads_without_a_password() {
    let config = load("redis-standalone.yaml");
    assert_eq!(config.cache.redis.mode, RedisMode::Standalone);
    assert_eq!(config.cache.redis.addrs, ["localhost:6379"]);
    assert!(config.cache.redis.password.is_none());
}

#[test]
fn cluster_example_loads_with_a_tenant_override() {
    let config = load_with(
        "redis-cluster.yaml",
        &[
            ("CACHE_REDIS_PASSWORD", "cluster-password"),
            ("ACME_REDIS_PASSWORD", "acme-password"),
        ],
    );
    assert_eq!(config.cache.redis.mode, RedisMode::Cluster);
    assert_eq!(config.cache.redis.addrs.len(), 3);
    let acme = &config.cache.tenants.overrides["acme"];
    assert_eq!(acme.backend, BackendKind::Redis);
    assert_eq!(
        acme.redis.password.as_ref().unwrap().expose(),
        "acme-password"
    );
}

#[test]
fn sentinel_example_loads() {
    let config = load_with(
        "redis-sentinel.yaml",
        &[("CACHE_REDIS_PASSWORD", "sentinel-password")],
    );
    assert_eq!(config.cache.redis.mode, RedisMode::Sentinel);
    assert_eq!(config.cache.redis.sentinel_master, "mymaster");
    assert_eq!(config.cache.redis.database, 1);
}

#[test]
fn elasticache_example_loads_with_a_ca_from_the_environment() {
    let ca = test_ca_base64();
    let config = load_with(
        "elasticache-tls.yaml",
        &[
            ("ELASTICACHE_AUTH_TOKEN", "elasticache-token"),
            ("ELASTICACHE_CA_CERT_BASE64", &ca),
        ],
    );
    let redis = &config.cache.redis;
    assert!(redis.tls.enabled);
    assert_eq!(
        redis.tls.ca_cert_base64.as_ref().unwrap().expose(),
        test_ca_base64()
    );
    assert_eq!(
        redis.password.as_ref().unwrap().expose(),
        "elasticache-token"
    );
}

#[test]
fn disabled_example_loads_although_its_redis_section_is_incomplete() {
    let config = load("disabled.yaml");
    assert!(!config.cache.enabled);
    assert!(config.cache.redis.addrs.is_empty());
}
