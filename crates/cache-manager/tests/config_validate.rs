//! Fail-fast validation: each rule names its field by dotted path.

mod config_common;

use std::time::Duration;

use cache_core::config::Secret;
use cache_core::ttl::MAX_TTL;
use cache_manager::config::{BackendKind, Config, MAX_KEY_PREFIX_BYTES};
use cache_memory::MAX_VALUE_BYTES_LIMIT;
use cache_redis::MAX_RETRIES_LIMIT;
use cache_redis::RedisMode;
use config_common::{TEST_CA_PEM, parse, test_ca_base64, valid_redis};

/// The field that `config` fails validation on.
fn failing_field(config: &Config) -> String {
    config.validate().expect_err("should be invalid").field
}

#[test]
fn the_defaults_are_valid() {
    Config::default().validate().unwrap();
}

#[test]
fn a_minimal_redis_config_is_valid() {
    valid_redis().validate().unwrap();
}

#[test]
fn a_disabled_cache_validates_nothing_else() {
    let mut config = Config::default();
    config.cache.enabled = false;
    config.cache.backend = BackendKind::Redis;
    config.cache.memory.max_entries = 0;
    config.cache.tenants.namespace = String::new();
    config.validate().unwrap();
}

#[test]
fn redis_without_an_address_names_addrs() {
    let mut config = Config::default();
    config.cache.backend = BackendKind::Redis;
    assert_eq!(failing_field(&config), "cache.redis.addrs");
}

#[test]
fn an_address_without_port_is_named_by_index() {
    let mut config = valid_redis();
    config.cache.redis.mode = RedisMode::Cluster;
    config.cache.redis.addrs = vec!["a:6379".into(), "b".into()];
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.addrs[1]");
    assert!(err.reason.contains("no port"), "{err}");
}

#[test]
fn an_address_with_a_scheme_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.addrs = vec!["redis://h:6379".into()];
    assert_eq!(failing_field(&config), "cache.redis.addrs[0]");
}

#[test]
fn an_address_with_a_port_out_of_range_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.addrs = vec!["h:70000".into()];
    assert_eq!(failing_field(&config), "cache.redis.addrs[0]");
}

#[test]
fn an_ipv6_address_in_brackets_is_accepted() {
    let mut config = valid_redis();
    config.cache.redis.addrs = vec!["[::1]:6379".into()];
    config.validate().unwrap();
}

#[test]
fn a_bare_ipv6_address_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.addrs = vec!["::1:6379".into()];
    let err = config.validate().unwrap_err();
    assert!(err.reason.contains("brackets"), "{err}");
}

#[test]
fn standalone_with_several_addresses_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.addrs = vec!["a:6379".into(), "b:6379".into()];
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.addrs");
    assert!(err.reason.contains("mode: cluster"), "{err}");
}

#[test]
fn pool_size_zero_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.pool_size = 0;
    assert_eq!(failing_field(&config), "cache.redis.pool_size");
}

#[test]
fn an_absurd_pool_size_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.pool_size = 100_000;
    assert_eq!(failing_field(&config), "cache.redis.pool_size");
}

#[test]
fn a_zero_connect_timeout_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.connect_timeout = Duration::ZERO;
    assert_eq!(failing_field(&config), "cache.redis.connect_timeout");
}

#[test]
fn a_zero_command_timeout_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.command_timeout = Duration::ZERO;
    assert_eq!(failing_field(&config), "cache.redis.command_timeout");
}

#[test]
fn a_zero_retry_backoff_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.retry_backoff = Duration::ZERO;
    assert_eq!(failing_field(&config), "cache.redis.retry_backoff");
}

#[test]
fn a_max_retry_backoff_below_the_first_backoff_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.retry_backoff = Duration::from_secs(3);
    config.cache.redis.max_retry_backoff = Duration::from_secs(1);
    assert_eq!(failing_field(&config), "cache.redis.max_retry_backoff");
}

#[test]
fn absurdly_many_retries_are_refused() {
    let mut config = valid_redis();
    config.cache.redis.max_retries = MAX_RETRIES_LIMIT;
    config.validate().unwrap();
    config.cache.redis.max_retries = MAX_RETRIES_LIMIT + 1;
    assert_eq!(failing_field(&config), "cache.redis.max_retries");
}

#[test]
fn a_negative_database_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.database = -1;
    assert_eq!(failing_field(&config), "cache.redis.database");
}

#[test]
fn a_database_above_15_is_accepted() {
    let mut config = valid_redis();
    config.cache.redis.database = 42;
    config.validate().unwrap();
}

#[test]
fn cluster_with_a_database_other_than_0_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.mode = RedisMode::Cluster;
    config.cache.redis.database = 1;
    assert_eq!(failing_field(&config), "cache.redis.database");
}

#[test]
fn sentinel_without_a_master_name_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.mode = RedisMode::Sentinel;
    config.cache.redis.sentinel_master = " ".into();
    assert_eq!(failing_field(&config), "cache.redis.sentinel_master");
}

#[test]
fn an_empty_username_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.username = Some(String::new());
    assert_eq!(failing_field(&config), "cache.redis.username");
}

#[test]
fn an_empty_password_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.password = Some(Secret::new(""));
    assert_eq!(failing_field(&config), "cache.redis.password");
}

#[test]
fn redis_max_value_bytes_zero_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.max_value_bytes = 0;
    assert_eq!(failing_field(&config), "cache.redis.max_value_bytes");
}

#[test]
fn the_redis_section_is_not_checked_for_a_memory_backend() {
    let mut config = Config::default();
    config.cache.redis.pool_size = 0;
    config.validate().unwrap();
}

fn with_tls(config: &mut Config) {
    config.cache.redis.tls.enabled = true;
}

#[test]
fn both_ca_fields_are_refused() {
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(test_ca_base64()));
    config.cache.redis.tls.ca_cert_path = Some("/etc/ssl/ca.pem".into());
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls");
    assert!(err.reason.contains("at most one"), "{err}");
}

#[test]
fn a_valid_base64_ca_is_accepted() {
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(test_ca_base64()));
    config.validate().unwrap();
}

#[test]
fn a_line_wrapped_base64_ca_is_accepted() {
    let wrapped: String = test_ca_base64()
        .as_bytes()
        .chunks(76)
        .map(|line| format!("{}\n", std::str::from_utf8(line).unwrap()))
        .collect();
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(wrapped));
    config.validate().unwrap();
}

#[test]
fn a_ca_that_is_not_base64_is_refused() {
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new("not*base64!"));
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls.ca_cert_base64");
    assert!(err.reason.contains("not valid base64"), "{err}");
}

#[test]
fn a_base64_ca_without_a_certificate_is_refused() {
    use base64::Engine as _;
    let mut config = valid_redis();
    with_tls(&mut config);
    let not_a_cert = base64::engine::general_purpose::STANDARD.encode("hello world");
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(not_a_cert));
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls.ca_cert_base64");
    assert!(err.reason.contains("no PEM certificate"), "{err}");
}

#[test]
fn a_pem_given_where_base64_is_expected_is_explained() {
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(TEST_CA_PEM));
    let err = config.validate().unwrap_err();
    assert!(err.reason.contains("PEM text"), "{err}");
}

#[test]
fn a_missing_ca_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_path = Some(dir.path().join("absent.pem"));
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls.ca_cert_path");
    assert!(err.reason.contains("does not exist"), "{err}");
}

#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, "not a certificate").unwrap();
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_path = Some(file);
    assert_eq!(failing_field(&config), "cache.redis.tls.ca_cert_path");
}

#[test]
fn a_readable_ca_file_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, TEST_CA_PEM).unwrap();
    let mut config = valid_redis();
    with_tls(&mut config);
    config.cache.redis.tls.ca_cert_path = Some(file);
    config.validate().unwrap();
}

#[test]
fn a_ca_without_tls_is_refused() {
    let mut config = valid_redis();
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(test_ca_base64()));
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls.enabled");
    assert!(err.reason.contains("ca_cert_base64"), "{err}");
}

#[test]
fn memory_max_entries_zero_is_refused() {
    let mut config = Config::default();
    config.cache.memory.max_entries = 0;
    assert_eq!(failing_field(&config), "cache.memory.max_entries");
}

#[test]
fn memory_max_bytes_zero_is_refused() {
    let mut config = Config::default();
    config.cache.memory.max_bytes = Some(0);
    assert_eq!(failing_field(&config), "cache.memory.max_bytes");
}

#[test]
fn a_zero_default_ttl_is_refused() {
    let mut config = Config::default();
    config.cache.memory.default_ttl = Duration::ZERO;
    assert_eq!(failing_field(&config), "cache.memory.default_ttl");
}

#[test]
fn a_default_ttl_over_the_maximum_is_refused() {
    let mut config = Config::default();
    config.cache.memory.default_ttl = MAX_TTL + Duration::from_secs(1);
    assert_eq!(failing_field(&config), "cache.memory.default_ttl");
}

#[test]
fn memory_max_value_bytes_zero_is_refused() {
    let mut config = Config::default();
    config.cache.memory.max_value_bytes = 0;
    assert_eq!(failing_field(&config), "cache.memory.max_value_bytes");
}

#[test]
fn max_value_bytes_over_512_mib_is_refused() {
    let mut config = Config::default();
    config.cache.memory.max_value_bytes = MAX_VALUE_BYTES_LIMIT;
    config.validate().unwrap();
    config.cache.memory.max_value_bytes = MAX_VALUE_BYTES_LIMIT + 1;
    assert_eq!(failing_field(&config), "cache.memory.max_value_bytes");
}

#[test]
fn a_namespace_without_the_tenant_placeholder_is_refused() {
    let mut config = Config::default();
    config.cache.tenants.namespace = "tenant:".into();
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.tenants.namespace");
    assert!(err.reason.contains("<tenant>"), "{err}");
}

#[test]
fn a_namespace_whose_placeholder_is_not_followed_by_a_separator_is_refused() {
    for template in [
        "t:<tenant>",
        "t:<tenant>x:",
        "<tenant>-",
        "a<tenant>:<tenant>:",
    ] {
        let mut config = Config::default();
        config.cache.tenants.namespace = template.into();
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "cache.tenants.namespace", "{template}");
    }
    for template in ["t:<tenant>:", "tenant:{<tenant>}:", "<tenant>/"] {
        let mut config = Config::default();
        config.cache.tenants.namespace = template.into();
        config
            .validate()
            .unwrap_or_else(|e| panic!("{template}: {e}"));
    }
}

#[test]
fn max_tenants_zero_is_refused() {
    let mut config = Config::default();
    config.cache.tenants.max_tenants = 0;
    assert_eq!(failing_field(&config), "cache.tenants.max_tenants");
}

#[test]
fn a_zero_idle_ttl_is_refused() {
    let mut config = Config::default();
    config.cache.tenants.idle_ttl = Duration::ZERO;
    assert_eq!(failing_field(&config), "cache.tenants.idle_ttl");
}

#[test]
fn an_overlong_key_prefix_is_refused() {
    let mut config = Config::default();
    config.cache.key_prefix = "p".repeat(MAX_KEY_PREFIX_BYTES);
    config.validate().unwrap();
    config.cache.key_prefix.push('p');
    assert_eq!(failing_field(&config), "cache.key_prefix");
}

#[test]
fn a_tenant_override_is_validated_with_its_path() {
    let yaml = "cache:\n  tenants:\n    overrides:\n      acme:\n        type: redis\n        redis:\n          addrs: [\"acme-redis\"]\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(
        failing_field(&config),
        "cache.tenants.overrides.acme.redis.addrs[0]"
    );
}

#[test]
fn a_tenant_override_without_an_address_is_refused() {
    let yaml = "cache:\n  tenants:\n    overrides:\n      acme:\n        type: redis\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(
        failing_field(&config),
        "cache.tenants.overrides.acme.redis.addrs"
    );
}

#[test]
fn a_tenant_override_memory_section_is_validated() {
    let yaml = "cache:\n  tenants:\n    overrides:\n      acme:\n        memory:\n          max_entries: 0\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(
        failing_field(&config),
        "cache.tenants.overrides.acme.memory.max_entries"
    );
}

#[test]
fn a_tenant_id_with_dots_is_quoted_in_the_path() {
    let yaml = "cache:\n  tenants:\n    overrides:\n      \"a.b\":\n        type: redis\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(
        failing_field(&config),
        "cache.tenants.overrides[\"a.b\"].redis.addrs"
    );
}

#[test]
fn compression_thresholds_and_levels_out_of_range_are_refused() {
    for (yaml, field) in [
        (
            "cache:\n  compression:\n    threshold: 8\n",
            "cache.compression.threshold",
        ),
        (
            "cache:\n  compression:\n    level: 0\n",
            "cache.compression.level",
        ),
        (
            "cache:\n  compression:\n    level: 22\n",
            "cache.compression.level",
        ),
    ] {
        let config = parse(yaml, &[]).unwrap();
        assert_eq!(failing_field(&config), field, "{yaml}");
    }
    let ok = "cache:\n  compression:\n    enabled: true\n    threshold: 32\n    level: 19\n";
    parse(ok, &[]).unwrap().validate().unwrap();
}
