//! Parsing YAML: unknown keys by name, durations, `${VAR}` expansion, error paths.

mod config_common;

use std::time::Duration;

use cache_manager::config::{BackendKind, Config};
use config_common::{no_env, parse};

#[test]
fn an_empty_document_is_the_defaults() {
    assert_eq!(parse("", &[]).unwrap(), Config::default());
    assert_eq!(parse("cache:\n", &[]).unwrap(), Config::default());
}

#[test]
fn unknown_top_level_key_is_refused_by_name() {
    let err = parse("cahce:\n  enabled: true\n", &[]).unwrap_err();
    assert_eq!(err.field, "(root)");
    assert!(err.reason.contains("unknown field `cahce`"), "{err}");
}

#[test]
fn unknown_key_in_cache_is_refused_by_name() {
    let err = parse("cache:\n  tpye: redis\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache");
    assert!(err.reason.contains("unknown field `tpye`"), "{err}");
}

#[test]
fn unknown_key_in_redis_names_the_section_and_the_key() {
    let err = parse("cache:\n  redis:\n    adrs: [\"h:1\"]\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.redis");
    assert!(err.reason.contains("unknown field `adrs`"), "{err}");
    assert!(err.reason.contains("line 3, column 5"), "{err}");
}

#[test]
fn unknown_key_in_tls_names_the_section() {
    let err = parse("cache:\n  redis:\n    tls:\n      ca_cert: x\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.redis.tls");
    assert!(err.reason.contains("unknown field `ca_cert`"), "{err}");
}

#[test]
fn unknown_key_in_a_tenant_override_names_the_tenant() {
    let yaml =
        "cache:\n  tenants:\n    overrides:\n      acme:\n        redis:\n          databse: 1\n";
    let err = parse(yaml, &[]).unwrap_err();
    assert_eq!(err.field, "cache.tenants.overrides.acme.redis");
    assert!(err.reason.contains("unknown field `databse`"), "{err}");
}

#[test]
fn unknown_backend_names_the_type_field() {
    let err = parse("cache:\n  type: memcached\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.type");
    assert!(err.reason.contains("memcached"), "{err}");
}

#[test]
fn a_wrong_sequence_item_is_named_by_index() {
    let err = parse("cache:\n  redis:\n    addrs: [\"a:1\", {x: 1}]\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.redis.addrs[1]");
}

#[test]
fn a_duplicate_key_is_refused() {
    let err = parse("cache:\n  enabled: true\n  enabled: false\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache");
    assert!(err.reason.contains("duplicate"), "{err}");
}

#[test]
fn a_syntax_error_names_its_line() {
    let err = parse("cache:\n  redis: [\n", &[]).unwrap_err();
    assert!(err.reason.contains("line 2"), "{err}");
}

#[test]
fn durations_read_milliseconds_seconds_and_hours() {
    let yaml = "cache:\n  redis:\n    command_timeout: 300ms\n    connect_timeout: 5s\n  memory:\n    default_ttl: 24h\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(
        config.cache.redis.command_timeout,
        Duration::from_millis(300)
    );
    assert_eq!(config.cache.redis.connect_timeout, Duration::from_secs(5));
    assert_eq!(
        config.cache.memory.default_ttl,
        Duration::from_secs(24 * 3600)
    );
}

#[test]
fn durations_read_compound_forms() {
    let yaml = "cache:\n  tenants:\n    idle_ttl: 1h 30m\n  memory:\n    default_ttl: 1m30s\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(config.cache.tenants.idle_ttl, Duration::from_secs(5400));
    assert_eq!(config.cache.memory.default_ttl, Duration::from_secs(90));
}

#[test]
fn a_duration_without_unit_is_refused_with_its_field() {
    let err = parse("cache:\n  redis:\n    command_timeout: 500\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.redis.command_timeout");
    assert!(err.reason.contains("no unit"), "{err}");
}

#[test]
fn a_malformed_duration_is_refused_with_its_field() {
    let err = parse("cache:\n  memory:\n    default_ttl: soon\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.memory.default_ttl");
}

#[test]
fn a_negative_count_is_refused_with_its_field() {
    let err = parse("cache:\n  memory:\n    max_entries: -1\n", &[]).unwrap_err();
    assert_eq!(err.field, "cache.memory.max_entries");
}

#[test]
fn variable_references_are_expanded() {
    let yaml = "cache:\n  type: redis\n  redis:\n    addrs:\n      - ${HOST}:${PORT}\n    password: ${CACHE_REDIS_PASSWORD}\n";
    let config = parse(
        yaml,
        &[
            ("HOST", "cache.internal"),
            ("PORT", "6380"),
            ("CACHE_REDIS_PASSWORD", "pw"),
        ],
    )
    .unwrap();
    assert_eq!(config.cache.redis.addrs, ["cache.internal:6380"]);
    assert_eq!(config.cache.redis.password.unwrap().expose(), "pw");
}

#[test]
fn a_section_with_nothing_under_it_is_its_defaults() {
    let config = parse("cache:\n  redis:\n    # addrs: []\n  memory:\n", &[]).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn an_expanded_value_is_typed_after_expansion() {
    let config = parse(
        "cache:\n  redis:\n    pool_size: ${POOL}\n",
        &[("POOL", "12")],
    )
    .unwrap();
    assert_eq!(config.cache.redis.pool_size, 12);
}

#[test]
fn a_reference_with_a_default_uses_it_when_unset() {
    let config = parse("cache:\n  key_prefix: ${PREFIX:-app:}\n", &[]).unwrap();
    assert_eq!(config.cache.key_prefix, "app:");
}

#[test]
fn a_missing_variable_is_an_error_naming_it() {
    let err = parse(
        "cache:\n  redis:\n    password: ${CACHE_REDIS_PASSWORD}\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.field, "cache.redis.password");
    assert!(
        err.reason.contains("`CACHE_REDIS_PASSWORD` is not set"),
        "{err}"
    );
}

#[test]
fn a_quoted_reference_stays_literal() {
    let config = parse(
        "cache:\n  key_prefix: \"${PREFIX}\"\n",
        &[("PREFIX", "app:")],
    )
    .unwrap();
    assert_eq!(config.cache.key_prefix, "${PREFIX}");
}

#[test]
fn a_dollar_dollar_escapes_a_reference() {
    let config = parse("cache:\n  key_prefix: $${PREFIX}\n", &[("PREFIX", "app:")]).unwrap();
    assert_eq!(config.cache.key_prefix, "${PREFIX}");
}

#[test]
fn an_empty_optional_value_means_unset() {
    let yaml = "cache:\n  redis:\n    username: \"\"\n    password: ${PW:-}\n";
    let config = parse(yaml, &[]).unwrap();
    assert_eq!(config.cache.redis.username, None);
    assert_eq!(config.cache.redis.password, None);
}

#[test]
fn the_backend_is_read_from_type() {
    let config = parse("cache:\n  type: redis\n", &[]).unwrap();
    assert_eq!(config.cache.backend, BackendKind::Redis);
}

#[test]
fn from_file_names_the_file_in_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.yaml");
    std::fs::write(&file, "cache:\n  redis:\n    pool_szie: 3\n").unwrap();
    let err = Config::from_file_with_env(&file, &no_env).unwrap_err();
    assert_eq!(err.field, "cache.redis");
    assert!(err.reason.contains(&file.display().to_string()), "{err}");
}

#[test]
fn a_missing_file_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.yaml");
    let err = Config::load_with_env(Some(&file), &no_env).unwrap_err();
    assert_eq!(err.field, file.display().to_string());
    assert!(err.reason.contains("cannot read"), "{err}");
}
