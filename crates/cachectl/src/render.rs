//! How values, errors and stats are shown to a person.

use std::error::Error;
use std::fmt::Write as _;

use cache_core::codec;

use crate::connect::Target;

/// How `get` shows a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Counters and text as text, CBOR as JSON, anything else as hex.
    Auto,
    /// Decode as CBOR and show JSON (fails on anything else).
    Cbor,
    /// Show as UTF-8 text (lossy).
    Text,
    /// Show as hex.
    Hex,
}

/// Renders a stored value.
pub(crate) fn value(bytes: &[u8], format: Format) -> String {
    match format {
        Format::Cbor => cbor_as_json(bytes).unwrap_or_else(|e| format!("<not CBOR: {e}>")),
        Format::Text => String::from_utf8_lossy(bytes).into_owned(),
        Format::Hex => hex(bytes),
        Format::Auto => {
            // Counters are decimal ASCII; a lone digit would also be valid CBOR.
            if !bytes.is_empty() && is_decimal(bytes) {
                return String::from_utf8_lossy(bytes).into_owned();
            }
            if let Ok(json) = cbor_as_json(bytes) {
                return json;
            }
            match std::str::from_utf8(bytes) {
                Ok(text)
                    if !text
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t') =>
                {
                    text.to_owned()
                }
                _ => hex(bytes),
            }
        }
    }
}

fn is_decimal(bytes: &[u8]) -> bool {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn cbor_as_json(bytes: &[u8]) -> Result<String, String> {
    let value: ciborium::Value = codec::from_slice(bytes).map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 4);
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An error and its causes on one line: `a: b: c`.
pub(crate) fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Prints the stats of the target's cache.
pub(crate) fn stats(target: &Target, json: bool) {
    let s = target.cache.stats();
    if json {
        let ops: serde_json::Map<String, serde_json::Value> = s
            .operations
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(op, n)| (op.as_str().to_owned(), (*n).into()))
            .collect();
        let doc = serde_json::json!({
            "backend": target.description,
            "hits": s.hits,
            "misses": s.misses,
            "errors": s.errors,
            "hit_ratio": s.hit_ratio(),
            "entries": s.entries,
            "bytes": s.bytes,
            "operations": ops,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    println!("backend    {}", target.description);
    println!("hits       {}", s.hits);
    println!("misses     {}", s.misses);
    match s.hit_ratio() {
        Some(r) => println!("hit ratio  {:.1}%", r * 100.0),
        None => println!("hit ratio  -"),
    }
    println!("errors     {}", s.errors);
    if let Some(n) = s.entries {
        println!("entries    {n}");
    }
    if let Some(n) = s.bytes {
        println!("bytes      {n}");
    }
    for (op, n) in s.operations.iter().filter(|(_, n)| *n > 0) {
        println!("  {:<20} {n}", op.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_as_text() {
        assert_eq!(value(b"42", Format::Auto), "42");
        assert_eq!(value(b"-7", Format::Auto), "-7");
        assert_eq!(value(b"5", Format::Auto), "5");
    }

    #[test]
    fn cbor_shows_as_json() {
        let bytes = codec::to_vec(&serde_json::json!({"name": "Ada"})).unwrap();
        assert!(value(&bytes, Format::Auto).contains("\"name\": \"Ada\""));
    }

    #[test]
    fn binary_shows_as_hex() {
        assert_eq!(value(&[0xff, 0x00, 0xfe], Format::Auto), "0xff00fe");
        assert_eq!(value(b"ab", Format::Hex), "0x6162");
    }

    #[test]
    fn error_chain_joins_causes() {
        let e = cache_core::CacheError::connection("127.0.0.1:1", std::io::Error::other("refused"));
        assert_eq!(error_chain(&e), "cannot connect to 127.0.0.1:1: refused");
    }
}
