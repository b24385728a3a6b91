//! Environment overrides: every variable (canonical and alias) applies, with
//! the meaning documented in `docs/config-reference.md`.

mod config_common;

use std::time::Duration;

use cache_manager::config::{BackendKind, Config, EnvVarKind, env_vars};
use cache_redis::RedisMode;
use config_common::{env, from_env};
use serde_json::Value;

/// The environment of one case: variable, value.
type Vars = &'static [(&'static str, &'static str)];

/// The value at a dotted path (`cache.redis.tls.enabled`) of the config as JSON.
fn at(config: &Config, path: &str) -> Value {
    let mut value = serde_json::to_value(config).unwrap();
    for key in path.split('.') {
        value = value
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no field {path}"));
    }
    value
}

/// The variables a variable needs beside it to have an effect.
fn companions(name: &str) -> Vec<(&'static str, &'static str)> {
    match name {
        "VALKEY_PORT" => vec![("VALKEY_HOST", "valkey.internal")],
        "REDIS_HOST" => vec![("CACHE_TYPE", "redis")],
        "REDIS_PORT" => vec![("CACHE_TYPE", "redis"), ("REDIS_HOST", "redis.internal")],
        _ => vec![],
    }
}

#[test]
fn every_variable_sets_its_field() {
    let ca = config_common::test_ca_base64();
    for var in env_vars() {
        let example = if var.field.ends_with("ca_cert_base64") {
            ca.as_str()
        } else {
            var.example
        };
        let base = companions(var.name);
        let mut with = base.clone();
        with.push((var.name, example));
        let before = from_env(&base).unwrap();
        let after = from_env(&with).unwrap_or_else(|e| panic!("{}: {e}", var.name));
        assert_ne!(
            at(&before, var.field),
            at(&after, var.field),
            "{} = {example:?} did not change {}",
            var.name,
            var.field
        );
    }
}

/// Every leaf of the model, as a dotted path.
fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                leaves(child, format!("{path}.{key}"), out);
            }
        }
        _ => out.push(path),
    }
}

#[test]
fn every_field_has_a_canonical_variable() {
    let mut fields = Vec::new();
    leaves(
        &serde_json::to_value(Config::default()).unwrap()["cache"],
        "cache".into(),
        &mut fields,
    );
    for field in fields {
        assert!(
            env_vars().any(|v| v.kind == EnvVarKind::Canonical && v.field == field),
            "no canonical variable for {field}"
        );
    }
}

#[test]
fn an_unset_environment_changes_nothing() {
    assert_eq!(from_env(&[]).unwrap(), Config::default());
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let config = from_env(&[
        ("CACHE_ADDRS", ""),
        ("CACHE_PASSWORD", ""),
        ("CACHE_POOL_SIZE", "  "),
    ])
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn non_secret_values_are_trimmed() {
    let config = from_env(&[("CACHE_REDIS_POOL_SIZE", " 7\n")]).unwrap();
    assert_eq!(config.cache.redis.pool_size, 7);
}

#[test]
fn secret_values_are_used_verbatim() {
    let config = from_env(&[("CACHE_REDIS_PASSWORD", " pass word ")]).unwrap();
    assert_eq!(config.cache.redis.password.unwrap().expose(), " pass word ");
}

#[test]
fn a_malformed_value_names_the_variable() {
    // (variable, value, a fragment the reason must carry)
    let cases = [
        ("CACHE_REDIS_POOL_SIZE", "many", "cache.redis.pool_size"),
        ("CACHE_TLS_ENABLED", "maybe", ""),
        ("CACHE_DIAL_TIMEOUT", "5", "no unit"),
        ("CACHE_MODE", "sharded", ""),
    ];
    for (variable, value, reason) in cases {
        let err = from_env(&[(variable, value)]).unwrap_err();
        assert_eq!(err.field, variable, "{variable}={value:?}");
        assert!(err.reason.contains(reason), "{variable}={value:?}: {err}");
    }
}

#[test]
fn booleans_accept_the_usual_spellings() {
    for (text, expected) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("on", true),
        ("False", false),
        ("0", false),
        ("no", false),
        ("off", false),
    ] {
        let config = from_env(&[("CACHE_REDIS_TLS_ENABLED", text)]).unwrap();
        assert_eq!(config.cache.redis.tls.enabled, expected, "{text}");
    }
}

#[test]
fn redis_addrs_are_comma_separated() {
    let config = from_env(&[("CACHE_REDIS_ADDRS", "a:1, b:2 ,,c:3")]).unwrap();
    assert_eq!(config.cache.redis.addrs, ["a:1", "b:2", "c:3"]);
}

#[test]
fn canonical_addrs_do_not_choose_the_backend() {
    let config = from_env(&[("CACHE_REDIS_ADDRS", "a:1")]).unwrap();
    assert_eq!(config.cache.backend, BackendKind::Memory);
}

#[test]
fn max_bytes_none_removes_the_byte_bound() {
    let config = from_env(&[("CACHE_MEMORY_MAX_BYTES", "none")]).unwrap();
    assert_eq!(config.cache.memory.max_bytes, None);
}

#[test]
fn a_standalone_mode_variable_overrides_a_cluster_config() {
    for (variable, value) in [("CACHE_MODE", "single"), ("VALKEY_CLUSTER", "false")] {
        let mut config = Config::default();
        config.cache.redis.mode = RedisMode::Cluster;
        config.apply_env(&env(&[(variable, value)])).unwrap();
        let mode = config.cache.redis.mode;
        assert_eq!(mode, RedisMode::Standalone, "{variable}={value}");
    }
}

#[test]
fn cache_mode_cluster_means_cluster() {
    let config = from_env(&[("CACHE_MODE", "cluster")]).unwrap();
    assert_eq!(config.cache.redis.mode, RedisMode::Cluster);
}

#[test]
fn cache_addrs_selects_the_redis_backend() {
    let config = from_env(&[("CACHE_ADDRS", "a:6379,b:6379")]).unwrap();
    assert_eq!(config.cache.backend, BackendKind::Redis);
    assert_eq!(config.cache.redis.addrs, ["a:6379", "b:6379"]);
}

#[test]
fn cache_dial_timeout_sets_the_connect_timeout() {
    let config = from_env(&[("CACHE_DIAL_TIMEOUT", "7s")]).unwrap();
    assert_eq!(config.cache.redis.connect_timeout, Duration::from_secs(7));
}

#[test]
fn the_larger_of_read_and_write_timeout_sets_the_command_timeout() {
    let cases: [(&str, Vars, Duration); 4] = [
        (
            "read timeout alone",
            &[("CACHE_READ_TIMEOUT", "1s")],
            Duration::from_secs(1),
        ),
        (
            "write timeout alone",
            &[("CACHE_WRITE_TIMEOUT", "4s")],
            Duration::from_secs(4),
        ),
        (
            "read is larger",
            &[
                ("CACHE_READ_TIMEOUT", "3s"),
                ("CACHE_WRITE_TIMEOUT", "800ms"),
            ],
            Duration::from_secs(3),
        ),
        (
            "write is larger",
            &[
                ("CACHE_READ_TIMEOUT", "800ms"),
                ("CACHE_WRITE_TIMEOUT", "3s"),
            ],
            Duration::from_secs(3),
        ),
    ];
    for (case, vars, expected) in cases {
        let config = from_env(vars).unwrap();
        assert_eq!(config.cache.redis.command_timeout, expected, "{case}");
    }
}

/// The username and the exposed password of `redis`.
fn credentials(redis: &cache_redis::RedisConfig) -> (Option<&str>, &str) {
    let password = redis.password.as_ref().expect("a password is set");
    (redis.username.as_deref(), password.expose())
}

#[test]
fn seed_credentials_and_pool_apply() {
    let config = from_env(&[
        ("CACHE_USERNAME", "app"),
        ("CACHE_PASSWORD", "pw"),
        ("CACHE_POOL_SIZE", "10"),
        ("CACHE_MAX_RETRIES", "5"),
    ])
    .unwrap();
    let redis = &config.cache.redis;
    assert_eq!(credentials(redis), (Some("app"), "pw"));
    assert_eq!((redis.pool_size, redis.max_retries), (10, 5));
}

#[test]
fn valkey_enabled_true_selects_redis() {
    let config = from_env(&[("VALKEY_ENABLED", "true")]).unwrap();
    assert_eq!(config.cache.backend, BackendKind::Redis);
    assert!(config.cache.enabled);
}

#[test]
fn valkey_enabled_false_selects_memory_without_disabling_the_cache() {
    let mut config = Config::default();
    config.cache.backend = BackendKind::Redis;
    config
        .apply_env(&env(&[("VALKEY_ENABLED", "false")]))
        .unwrap();
    assert_eq!(config.cache.backend, BackendKind::Memory);
    assert!(config.cache.enabled);
}

#[test]
fn valkey_host_and_port_make_one_address() {
    let config = from_env(&[("VALKEY_HOST", "valkey.internal"), ("VALKEY_PORT", "6380")]).unwrap();
    assert_eq!(config.cache.redis.addrs, ["valkey.internal:6380"]);
    assert_eq!(config.cache.backend, BackendKind::Redis);
}

#[test]
fn host_and_port_variables_make_the_address() {
    let cases: [(&str, Vars, &str); 4] = [
        (
            "the valkey port defaults to 6379",
            &[("VALKEY_HOST", "valkey.internal")],
            "valkey.internal:6379",
        ),
        (
            "a kubernetes service link port is read",
            &[
                ("VALKEY_HOST", "valkey"),
                ("VALKEY_PORT", "tcp://10.0.0.7:6380"),
            ],
            "valkey:6380",
        ),
        (
            "an IPv6 host gets brackets",
            &[("VALKEY_HOST", "fd00::7")],
            "[fd00::7]:6379",
        ),
        (
            "REDIS_HOST fills an empty address list of a redis backend",
            &[
                ("CACHE_TYPE", "redis"),
                ("REDIS_HOST", "legacy"),
                ("REDIS_PORT", "6390"),
            ],
            "legacy:6390",
        ),
    ];
    for (case, vars, addr) in cases {
        let config = from_env(vars).unwrap();
        assert_eq!(config.cache.redis.addrs, [addr], "{case}");
    }
}

#[test]
fn a_port_or_legacy_host_alone_changes_nothing() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        (
            "a valkey port without a host is ignored",
            &[("VALKEY_PORT", "tcp://10.0.0.7:6379")],
        ),
        (
            "REDIS_HOST does not choose the backend",
            &[("REDIS_HOST", "legacy")],
        ),
    ];
    for (case, vars) in cases {
        assert_eq!(from_env(vars).unwrap(), Config::default(), "{case}");
    }
}

#[test]
fn a_malformed_port_names_the_variable() {
    let err = from_env(&[("VALKEY_HOST", "valkey"), ("VALKEY_PORT", "http")]).unwrap_err();
    assert_eq!(err.field, "VALKEY_PORT");
}

#[test]
fn valkey_credentials_tls_and_cluster_apply() {
    let config = from_env(&[
        ("VALKEY_USERNAME", "default"),
        ("VALKEY_PASSWORD", "pw"),
        ("VALKEY_TLS", "true"),
        ("VALKEY_CLUSTER", "true"),
    ])
    .unwrap();
    let redis = &config.cache.redis;
    assert_eq!(credentials(redis), (Some("default"), "pw"));
    assert!(redis.tls.enabled);
    assert_eq!(redis.mode, RedisMode::Cluster);
}

#[test]
fn tenant_overrides_are_read_as_yaml() {
    let config = from_env(&[(
        "CACHE_TENANTS_OVERRIDES",
        r#"{"acme": {"type": "redis", "redis": {"addrs": ["acme:6379"], "database": 3}}}"#,
    )])
    .unwrap();
    let acme = &config.cache.tenants.overrides["acme"];
    assert_eq!(acme.backend, BackendKind::Redis);
    assert_eq!(
        (acme.redis.addrs.as_slice(), acme.redis.database),
        (&["acme:6379".to_owned()][..], 3)
    );
}

#[test]
fn tenant_overrides_expand_variable_references() {
    let overrides = "acme:\n  type: redis\n  redis:\n    addrs: [\"acme:6379\"]\n    password: ${ACME_PASSWORD}\n";
    let config = from_env(&[
        ("CACHE_TENANTS_OVERRIDES", overrides),
        ("ACME_PASSWORD", "acme-pw"),
    ])
    .unwrap();
    let acme = &config.cache.tenants.overrides["acme"];
    assert_eq!(acme.redis.password.as_ref().unwrap().expose(), "acme-pw");
}

#[test]
fn malformed_tenant_overrides_name_the_variable_and_the_key() {
    let err = from_env(&[("CACHE_TENANTS_OVERRIDES", "{acme: {redis: {adrs: []}}}")]).unwrap_err();
    assert_eq!(err.field, "CACHE_TENANTS_OVERRIDES");
    assert!(err.reason.contains("acme.redis"), "{err}");
    assert!(err.reason.contains("unknown field `adrs`"), "{err}");
}
