//! `docs/config-reference.md` stays true: every variable is in its tables with
//! the field it sets, and its YAML blocks parse (the first one to the defaults).

mod config_common;

use cache_manager::config::{Config, env_vars};
use config_common::{parse, workspace_root};

fn reference() -> String {
    std::fs::read_to_string(workspace_root().join("docs/config-reference.md")).unwrap()
}

/// The bodies of the ```yaml blocks, in order.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_variable_has_a_row_naming_its_field() {
    let doc = reference();
    for var in env_vars() {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", var.name)))
            .unwrap_or_else(|| panic!("{} is not documented", var.name));
        assert!(row.contains(&format!("`{}`", var.field)), "{row}");
    }
}

#[test]
fn every_documented_variable_is_read() {
    let doc = reference();
    for line in doc.lines().filter(|l| {
        l.starts_with("| `CACHE_") || l.starts_with("| `VALKEY_") || l.starts_with("| `REDIS_")
    }) {
        let name = line.split('`').nth(1).unwrap();
        assert!(
            env_vars().any(|v| v.name == name),
            "{name} is documented but not read"
        );
    }
}

#[test]
fn the_reference_block_is_the_defaults() {
    let blocks = yaml_blocks(&reference());
    assert_eq!(parse(&blocks[0], &[]).unwrap(), Config::default());
}

#[test]
fn the_override_example_parses_and_validates() {
    let blocks = yaml_blocks(&reference());
    let config = parse(&blocks[1], &[("ACME_REDIS_PASSWORD", "pw")]).unwrap();
    config.validate().unwrap();
    assert!(config.cache.tenants.overrides.contains_key("acme"));
}
