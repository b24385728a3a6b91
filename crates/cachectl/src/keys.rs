//! `keys` and `invalidate`.

use std::io::{BufRead, IsTerminal, Write};

use cache_core::{Cache, CacheError, ConfigError, ScanCursor};

/// Prints one page of keys (or every page with `all`) and the next cursor.
pub(crate) async fn list(
    cache: &dyn Cache,
    pattern: &str,
    cursor: Option<String>,
    count: usize,
    all: bool,
) -> Result<(), CacheError> {
    let mut cursor = cursor.map_or_else(ScanCursor::start, ScanCursor::from_string);
    let mut total = 0usize;
    loop {
        let page = cache.scan_keys(pattern, &cursor, count).await?;
        for key in &page.keys {
            println!("{key}");
        }
        total += page.keys.len();
        match page.next {
            None => {
                eprintln!("-- {total} keys, end of listing");
                return Ok(());
            }
            Some(next) if all => cursor = next,
            Some(next) => {
                eprintln!("-- {total} keys on this page; next page: --cursor {next}");
                return Ok(());
            }
        }
    }
}

/// Counts the keys matching `pattern`.
pub(crate) async fn count(cache: &dyn Cache, pattern: &str) -> Result<u64, CacheError> {
    let mut cursor = ScanCursor::start();
    let mut n = 0u64;
    loop {
        let page = cache.scan_keys(pattern, &cursor, 1000).await?;
        n += page.keys.len() as u64;
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(n),
        }
    }
}

/// Counts, asks, deletes.
pub(crate) async fn invalidate(
    cache: &dyn Cache,
    pattern: &str,
    yes: bool,
) -> Result<(), CacheError> {
    let n = count(cache, pattern).await?;
    if n == 0 {
        println!("no keys match {pattern:?}");
        return Ok(());
    }
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(ConfigError::new(
                "--yes",
                format!("{n} keys match {pattern:?}; refusing to delete without confirmation on a non-interactive input"),
            )
            .into());
        }
        print!("delete {n} keys matching {pattern:?}? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = stdin.lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing deleted");
            return Ok(());
        }
    }
    let deleted = cache.delete_pattern(pattern).await?;
    println!("deleted {deleted} keys matching {pattern:?}");
    Ok(())
}
