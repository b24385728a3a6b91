//! Blocking administrative helpers the multi-process harnesses share: one
//! command on a fresh connection, `INFO` as a map, a node's keys, and a
//! child process with a deadline. Failures are `Err(String)` with the address
//! in it, for polling loops that report the last reason on timeout.

use std::collections::BTreeMap;
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{RedisServer, RespValue};

/// Sends `args` to `node` on a fresh connection without panicking; an error
/// reply is an `Err` too.
pub(crate) fn try_command(node: &RedisServer, args: &[&str]) -> Result<RespValue, String> {
    let mut conn = super::ping(&node.addr(), None, None, Duration::from_secs(2))
        .map_err(|e| format!("{}: {e}", node.addr()))?;
    match conn.command(args) {
        Ok(RespValue::Error(e)) => Err(format!("{}: {args:?} answered {e}", node.addr())),
        Ok(reply) => Ok(reply),
        Err(e) => Err(format!("{}: {args:?} failed: {e}", node.addr())),
    }
}

/// `field:value` lines of a text reply, as a map.
pub(crate) fn parse_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `INFO <section>` of `node` as a map.
pub(crate) fn info_section(
    node: &RedisServer,
    section: &str,
) -> Result<BTreeMap<String, String>, String> {
    let reply = try_command(node, &["INFO", section])?;
    Ok(parse_fields(&reply.as_text().unwrap_or_default()))
}

/// Every key on one node matching `pattern`, sorted.
pub(crate) fn scan_node(node: &RedisServer, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let reply = try_command(node, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
            .unwrap_or_else(|e| panic!("SCAN failed: {e}"));
        let RespValue::Array(Some(parts)) = reply else {
            panic!("{}: SCAN answered {reply:?}", node.addr());
        };
        let [next, RespValue::Array(Some(batch))] = parts.as_slice() else {
            panic!("{}: SCAN answered {parts:?}", node.addr());
        };
        keys.extend(batch.iter().filter_map(RespValue::as_text));
        cursor = next.as_text().unwrap_or_else(|| "0".to_owned());
        if cursor == "0" {
            break;
        }
    }
    keys.sort();
    keys
}

/// Runs `cmd` to completion, killing it when `deadline` passes.
pub(crate) fn run_with_deadline(
    mut cmd: Command,
    deadline: Instant,
) -> io::Result<std::process::ExitStatus> {
    let mut child = cmd.spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "did not finish before the deadline and was killed",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
