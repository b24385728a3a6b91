//! Secrets (passwords, CA material) never appear in `Debug` output or in any error.

mod config_common;

use cache_core::config::Secret;
use cache_manager::config::Config;
use config_common::{from_env, parse, test_ca_base64, valid_redis};

const PASSWORD: &str = "hunter2-very-secret";

fn config_with_secrets() -> Config {
    let mut config = valid_redis();
    config.cache.redis.password = Some(Secret::new(PASSWORD));
    config.cache.redis.tls.enabled = true;
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(test_ca_base64()));
    config
}

#[test]
fn debug_of_a_whole_config_hides_the_password() {
    let shown = format!("{:?}", config_with_secrets());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}

#[test]
fn debug_of_a_whole_config_hides_the_ca() {
    let config = config_with_secrets();
    let shown = format!("{config:#?}");
    assert!(!shown.contains(&test_ca_base64()[..16]), "{shown}");
}

#[test]
fn serializing_a_config_hides_the_secrets() {
    let json = serde_json::to_string(&config_with_secrets()).unwrap();
    assert!(!json.contains(PASSWORD), "{json}");
    assert!(!json.contains(&test_ca_base64()[..16]), "{json}");
}

#[test]
fn debug_of_a_tenant_override_hides_its_password() {
    let yaml = "cache:\n  tenants:\n    overrides:\n      acme:\n        redis:\n          password: ${PW}\n";
    let config = parse(yaml, &[("PW", PASSWORD)]).unwrap();
    assert!(!format!("{config:?}").contains(PASSWORD));
}

#[test]
fn a_yaml_error_does_not_print_an_expanded_secret() {
    // A number and a duration: two parsers that could quote what they refused.
    for field in ["pool_size", "command_timeout"] {
        let yaml = format!("cache:\n  redis:\n    {field}: ${{PW}}\n");
        let err = parse(&yaml, &[("PW", PASSWORD)]).unwrap_err();
        assert_eq!(err.field, format!("cache.redis.{field}"));
        assert!(!err.to_string().contains(PASSWORD), "{err}");
    }
}

#[test]
fn a_yaml_error_does_not_quote_neighbouring_lines() {
    // A source snippet would show the password written on the line above.
    let yaml = format!("cache:\n  redis:\n    password: {PASSWORD}\n    pool_size: many\n");
    let err = parse(&yaml, &[]).unwrap_err();
    assert_eq!(err.field, "cache.redis.pool_size");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[test]
fn an_unknown_variant_from_a_secret_reference_is_redacted() {
    let yaml = "cache:\n  type: ${PW}\n";
    let err = parse(yaml, &[("PW", PASSWORD)]).unwrap_err();
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[test]
fn a_validation_error_about_the_ca_does_not_print_it() {
    let mut config = config_with_secrets();
    let bad_ca = format!("{PASSWORD}*notbase64");
    config.cache.redis.tls.ca_cert_base64 = Some(Secret::new(bad_ca));
    let err = config.validate().unwrap_err();
    assert_eq!(err.field, "cache.redis.tls.ca_cert_base64");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[test]
fn a_validation_error_about_the_password_does_not_print_it() {
    let mut config = config_with_secrets();
    config.cache.redis.pool_size = 0;
    let err = config.validate().unwrap_err();
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[test]
fn an_environment_error_does_not_print_a_secret_of_the_overrides() {
    let overrides = format!("{{acme: {{redis: {{password: {PASSWORD}, pool_size: lots}}}}}}");
    let err = from_env(&[("CACHE_TENANTS_OVERRIDES", &overrides)]).unwrap_err();
    assert_eq!(err.field, "CACHE_TENANTS_OVERRIDES");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[test]
fn an_address_with_credentials_is_refused_without_quoting_it() {
    for addr in [
        format!("redis://app:{PASSWORD}@cache:6379"),
        format!("app:{PASSWORD}@cache:6379"),
    ] {
        let mut config = valid_redis();
        config.cache.redis.addrs = vec![addr];
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "cache.redis.addrs[0]");
        assert!(!err.to_string().contains(PASSWORD), "{err}");
    }
}
