//! Reading a configuration: YAML text or a file, `${VAR}` references, and the
//! one call applications use, [`Config::load`].
//!
//! YAML is parsed by `serde-saphyr` (see ADR 0003: `serde_yaml` is archived and
//! `serde_yml` has advisories). Errors are turned into a [`ConfigError`] whose
//! `field` is the dotted path of the offending value (tracked with
//! `serde_path_to_error`) and whose `reason` is the parser's message with its
//! line and column, never a source snippet: a snippet would print the lines
//! around the error, secrets included.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_saphyr::MessageFormatter as _;

#[cfg(feature = "redis")]
use super::RedisConfig;
use super::model::{CacheConfig, Config};
use cache_core::error::ConfigError;

/// The `field` of a [`ConfigError`] about the document as a whole (an unknown
/// top-level key, a syntax error before the first key).
pub(crate) const ROOT_FIELD: &str = "(root)";

/// Reads a variable from the real process environment: the lookup that
/// [`Config::load`] and [`Config::from_yaml_str`] use.
///
/// A variable whose value is not valid UTF-8 reads as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).and_then(|value| value.into_string().ok())
}

impl Config {
    /// Parses a YAML document, expanding `${VAR}` references from the process
    /// environment. Applies no environment overrides and does not validate:
    /// that is [`Config::load`].
    ///
    /// ```
    /// use cache_manager::{config::{BackendKind, Config}};
    /// let config = Config::from_yaml_str("cache:\n  type: redis\n  redis:\n    addrs: [\"localhost:6379\"]\n")?;
    /// assert_eq!(config.cache.backend, BackendKind::Redis);
    /// assert!(Config::from_yaml_str("cache:\n  tpye: redis\n").is_err());
    /// # Ok::<(), cache_core::ConfigError>(())
    /// ```
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str_with_env(text, &process_env)
    }

    /// [`Config::from_yaml_str`] with `${VAR}` references read through `env`
    /// instead of the process environment.
    pub fn from_yaml_str_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        parse_config(text, None, env)
    }

    /// Reads and parses a YAML file, expanding `${VAR}` references from the
    /// process environment. Applies no environment overrides and does not validate.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::from_file_with_env(path, &process_env)
    }

    /// [`Config::from_file`] with `${VAR}` references read through `env`.
    pub fn from_file_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                format!("cannot read the configuration file: {e}"),
            )
        })?;
        parse_config(&text, Some(path), env)
    }

    /// The one call applications make: defaults, then the file at `path` if
    /// one is given, then the process environment (`CACHE_*` and the
    /// documented aliases, see [`Config::apply_env`]), then
    /// [`Config::validate`]. Any error stops start-up with the field named.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use cache_manager::config::Config;
    /// // At start-up; an error names the field and should stop the process.
    /// let config = Config::load(Some(Path::new("config/cache.yaml")))?;
    /// // No file: the defaults plus whatever the environment says.
    /// let config = Config::load(None)?;
    /// # let _ = config;
    /// # Ok::<(), cache_core::ConfigError>(())
    /// ```
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, &process_env)
    }

    /// [`Config::load`] with an injected environment: `env` serves both the
    /// `${VAR}` references of the file and the overrides. Tests use this and
    /// never touch the process environment.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use cache_manager::{config::{BackendKind, Config}};
    /// let env = HashMap::from([("CACHE_ADDRS", "cache.internal:6379")]);
    /// let config = Config::load_with_env(None, &|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.cache.backend, BackendKind::Redis);
    /// assert_eq!(config.cache.redis.addrs, ["cache.internal:6379"]);
    /// # Ok::<(), cache_core::ConfigError>(())
    /// ```
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Config::from_file_with_env(path, env)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        tracing::debug!(
            enabled = config.cache.enabled,
            backend = ?config.cache.backend,
            file = ?path,
            "cache configuration loaded"
        );
        Ok(config)
    }
}

fn parse_config(
    text: &str,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut config: Config = parse_yaml(text, env).map_err(|e| {
        let field = if e.path.is_empty() {
            ROOT_FIELD.to_owned()
        } else {
            e.path.clone()
        };
        ConfigError::new(field, e.describe(file))
    })?;
    normalize_empty(&mut config.cache);
    warn_on_literal_references(&config.cache, "cache");
    Ok(config)
}

/// A YAML document that did not fit its type.
#[derive(Debug)]
pub(crate) struct YamlError {
    /// Dotted path of the offending value, relative to the document root; empty for the root.
    pub(crate) path: String,
    /// The parser's message, without location or snippet.
    pub(crate) message: String,
    /// 1-based line and column, when known.
    pub(crate) position: Option<(u64, u64)>,
}

impl YamlError {
    /// The message with its position, e.g. `unknown field ... (line 3, column 5 of cache.yaml)`.
    pub(crate) fn describe(&self, file: Option<&Path>) -> String {
        match (self.position, file) {
            (Some((line, column)), Some(file)) => format!(
                "{} (line {line}, column {column} of {})",
                self.message,
                file.display()
            ),
            (Some((line, column)), None) => {
                format!("{} (line {line}, column {column})", self.message)
            }
            (None, Some(file)) => format!("{} (in {})", self.message, file.display()),
            (None, None) => self.message.clone(),
        }
    }
}

/// Parses one YAML document into `T`, expanding `${VAR}` in plain scalars through `env`.
pub(crate) fn parse_yaml<T: DeserializeOwned>(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, YamlError> {
    let mut options =
        serde_saphyr::Options::default().with_properties(referenced_variables(text, env));
    // A snippet quotes the lines around the error: secrets written in the file would leak.
    options.with_snippet = false;

    let mut failed_at = None;
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        let mut track = serde_path_to_error::Track::new();
        let value = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if value.is_err() {
            failed_at = Some(track.path());
        }
        value
    });
    parsed.map_err(|err| yaml_error(text, &err, failed_at.as_ref()))
}

fn yaml_error(
    text: &str,
    err: &serde_saphyr::Error,
    path: Option<&serde_path_to_error::Path>,
) -> YamlError {
    let err = err.without_snippet();
    let mut segments: Vec<String> = Vec::new();
    if let Some(path) = path {
        for segment in path {
            match segment {
                Segment::Map { key } => segments.push(key.clone()),
                Segment::Seq { index } => match segments.last_mut() {
                    Some(last) => last.push_str(&format!("[{index}]")),
                    None => segments.push(format!("[{index}]")),
                },
                Segment::Enum { .. } => {}
                // `?`: the tracker lost the key (e.g. a duplicate key); the parent is the best we know.
                Segment::Unknown => break,
            }
        }
    }
    let position = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()));

    let message = match err {
        serde_saphyr::Error::UnresolvedProperty { name, .. } => {
            // The tracker stops at the mapping that holds the reference; the key is on its line.
            if let Some(key) = position.and_then(|(line, _)| key_on_line(text, line))
                && segments.last().map(String::as_str) != Some(key)
            {
                segments.push(key.to_owned());
            }
            format!("environment variable `{name}` is not set (referenced as `${{{name}}}`)")
        }
        other => {
            let message = sanitize(&serde_saphyr::DefaultMessageFormatter.format_message(other));
            // An unknown key is not a field: name the section that refused it.
            if let Some(last) = segments.last()
                && message.starts_with(&format!("unknown field `{last}`"))
            {
                segments.pop();
            }
            message
        }
    };
    YamlError {
        path: join_path(&segments),
        message,
        position,
    }
}

/// Joins path segments with dots, quoting keys that are not plain identifiers
/// (a tenant id such as `a.b` becomes `["a.b"]`).
fn join_path(segments: &[String]) -> String {
    let mut path = String::new();
    for segment in segments {
        let (key, index) = match segment.find('[') {
            Some(at) if segment.ends_with(']') => segment.split_at(at),
            _ => (segment.as_str(), ""),
        };
        if is_plain_key(key) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        } else if !key.is_empty() {
            path.push_str(&format!("[{key:?}]"));
        }
        path.push_str(index);
    }
    path
}

/// Whether `key` can appear bare in a dotted path.
pub(crate) fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The mapping key written on 1-based `line`, if the line reads `key: ...` or `- key: ...`.
fn key_on_line(text: &str, line: u64) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let line = line.trim_start().trim_start_matches("- ").trim_start();
    let (key, _) = line.split_once(':')?;
    is_plain_key(key).then_some(key)
}

/// Control characters replaced by their escapes, so a hostile key cannot forge log lines.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The variables that `text` references as `${NAME...}` and that `env` knows.
///
/// serde-saphyr wants a map; reading only the referenced names keeps the rest
/// of the environment out of the parser. A name that is referenced but unset is
/// left out, so using it fails with the variable's name.
fn referenced_variables(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> HashMap<String, String> {
    let mut variables = HashMap::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &rest[..len];
        if !name.is_empty()
            && !variables.contains_key(name)
            && let Some(value) = env(name)
        {
            variables.insert(name.to_owned(), value);
        }
    }
    variables
}

/// An empty optional value means "not set", as an empty environment variable
/// does: `password: ""` (or `password: ${EMPTY}`) is no password, not an empty one.
fn normalize_empty(cache: &mut CacheConfig) {
    #[cfg(feature = "redis")]
    {
        normalize_redis(&mut cache.redis);
        for tenant_override in cache.tenants.overrides.values_mut() {
            normalize_redis(&mut tenant_override.redis);
        }
    }
    #[cfg(not(feature = "redis"))]
    let _ = cache;
}

#[cfg(feature = "redis")]
fn normalize_redis(redis: &mut RedisConfig) {
    redis.username = redis.username.take().filter(|v| !v.is_empty());
    redis.password = redis.password.take().filter(|v| !v.is_empty());
    let tls = &mut redis.tls;
    tls.ca_cert_base64 = tls.ca_cert_base64.take().filter(|v| !v.is_empty());
    tls.ca_cert_path = tls
        .ca_cert_path
        .take()
        .filter(|p| !p.as_os_str().is_empty());
    tls.server_name = tls.server_name.take().filter(|v| !v.is_empty());
}

/// `${VAR}` is expanded only in plain (unquoted) YAML scalars. A quoted
/// `"${VAR}"` stays literal, which is nearly always a mistake: say so, without
/// printing the value.
fn warn_on_literal_references(cache: &CacheConfig, path: &str) {
    warn_if_literal(path, "key_prefix", Some(&cache.key_prefix));
    warn_if_literal(path, "tenants.namespace", Some(&cache.tenants.namespace));
    #[cfg(feature = "redis")]
    {
        warn_on_literal_redis(&cache.redis, path);
        for (tenant, tenant_override) in &cache.tenants.overrides {
            warn_on_literal_redis(
                &tenant_override.redis,
                &format!("{path}.tenants.overrides.{tenant}"),
            );
        }
    }
}

#[cfg(feature = "redis")]
fn warn_on_literal_redis(redis: &RedisConfig, path: &str) {
    for (i, addr) in redis.addrs.iter().enumerate() {
        warn_if_literal(path, &format!("redis.addrs[{i}]"), Some(addr));
    }
    warn_if_literal(path, "redis.username", redis.username.as_deref());
    warn_if_literal(
        path,
        "redis.password",
        redis.password.as_ref().map(|s| s.expose()),
    );
    let tls = &redis.tls;
    warn_if_literal(
        path,
        "redis.tls.ca_cert_base64",
        tls.ca_cert_base64.as_ref().map(|s| s.expose()),
    );
    warn_if_literal(path, "redis.tls.server_name", tls.server_name.as_deref());
}

fn warn_if_literal(path: &str, field: &str, value: Option<&str>) {
    if value.is_some_and(|v| v.contains("${")) {
        tracing::warn!(
            field = %format!("{path}.{field}"),
            "configuration value contains a literal `${{`: references are expanded only in \
             unquoted YAML values (write `password: ${{VAR}}`, not `\"${{VAR}}\"`)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        let segments =
            ["cache", "tenants", "overrides", "a.b", "redis", "addrs[1]"].map(String::from);
        assert_eq!(
            join_path(&segments),
            "cache.tenants.overrides[\"a.b\"].redis.addrs[1]"
        );
    }

    #[test]
    fn only_referenced_and_set_variables_reach_the_parser() {
        let env = |name: &str| (name != "UNSET").then(|| format!("value of {name}"));
        let vars = referenced_variables("a: ${ONE}\nb: ${UNSET}\nc: ${TWO:-${THREE}}\n", &env);
        let mut names: Vec<_> = vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["ONE", "THREE", "TWO"]);
    }

    #[test]
    fn key_on_line_reads_block_and_sequence_entries() {
        let text = "cache:\n  redis:\n    password: ${X}\n  - name: y\n";
        assert_eq!(key_on_line(text, 3), Some("password"));
        assert_eq!(key_on_line(text, 4), Some("name"));
        assert_eq!(key_on_line(text, 9), None);
    }

    #[test]
    fn control_characters_in_messages_are_escaped() {
        assert_eq!(sanitize("a\nb\u{1b}"), "a\\nb\\u{1b}");
    }

    #[test]
    fn a_syntax_error_reports_its_position() {
        let err = parse_yaml::<Config>("cache: [\n", &no_env).unwrap_err();
        assert!(err.position.is_some(), "{err:?}");
    }
}
