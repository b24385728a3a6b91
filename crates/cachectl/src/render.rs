//! How values, errors and stats are shown to a person.

use std::error::Error;
use std::fmt::Write as _;

use cache_core::CodecError;

use crate::cbor;
use crate::connect::Target;

/// How `get` shows a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Counters and text as text, CBOR as with `cbor`, anything else as hex
    /// (saying on stderr why it is not CBOR).
    Auto,
    /// Decode as CBOR: JSON when the value has an exact JSON form, else CBOR
    /// diagnostic notation in the same layout. Fails on anything else.
    Cbor,
    /// Decode as CBOR and show strict JSON; fails when the value has no exact
    /// JSON form (byte strings, tags, undefined, NaN, non-text map keys).
    Json,
    /// Decode as CBOR and show diagnostic notation (RFC 8949 §8) on one line.
    Diag,
    /// Show as UTF-8 text (lossy).
    Text,
    /// Show as hex.
    Hex,
}

/// A value ready to print: the text for stdout and, where the format had to
/// fall back, why (for stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown {
    /// What to print on stdout.
    pub(crate) text: String,
    /// A note for stderr, e.g. why `auto` showed hex.
    pub(crate) note: Option<String>,
}

impl Shown {
    fn plain(text: String) -> Self {
        Shown { text, note: None }
    }
}

/// Why a value cannot be shown in the asked format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RenderError {
    /// The format needs CBOR and the value is not (well-formed, within the
    /// codec's limits, text in UTF-8).
    NotCbor(CodecError),
    /// The value is CBOR but invalid: a map repeats a key.
    Invalid(cbor::DecodeError),
    /// `--format json` on a value that JSON cannot show exactly.
    NoJsonForm {
        /// Where, e.g. `$["a"][2]`.
        path: String,
        /// What, e.g. `a byte string`.
        what: String,
    },
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::NotCbor(e) => {
                write!(
                    f,
                    "the value is not CBOR ({e}); --format hex or text shows it"
                )
            }
            RenderError::Invalid(e) => write!(f, "{e}; --format hex shows the bytes"),
            RenderError::NoJsonForm { path, what } => write!(
                f,
                "the value has no exact JSON form: {what} at {path}; --format diag shows it"
            ),
        }
    }
}

impl Error for RenderError {}

impl From<cbor::DecodeError> for RenderError {
    fn from(e: cbor::DecodeError) -> Self {
        match e {
            cbor::DecodeError::NotCbor(e) => RenderError::NotCbor(e),
            other => RenderError::Invalid(other),
        }
    }
}

/// Renders a stored value (see [`Format`] and `cachectl get --help`).
pub(crate) fn value(bytes: &[u8], format: Format) -> Result<Shown, RenderError> {
    match format {
        Format::Cbor => Ok(Shown::plain(cbor::pretty(&cbor::decode(bytes)?))),
        Format::Json => {
            let item = cbor::decode(bytes)?;
            if let Some((path, what)) = cbor::json_obstacle(&item) {
                return Err(RenderError::NoJsonForm { path, what });
            }
            Ok(Shown::plain(cbor::pretty(&item)))
        }
        Format::Diag => Ok(Shown::plain(cbor::compact(&cbor::decode(bytes)?))),
        Format::Text => Ok(Shown::plain(String::from_utf8_lossy(bytes).into_owned())),
        Format::Hex => Ok(Shown::plain(hex(bytes))),
        Format::Auto => {
            // Counters are decimal ASCII; a lone digit would also be valid CBOR.
            if is_decimal(bytes) {
                return Ok(Shown::plain(String::from_utf8_lossy(bytes).into_owned()));
            }
            let reason = match cbor::decode(bytes) {
                Ok(item) => return Ok(Shown::plain(cbor::pretty(&item))),
                Err(cbor::DecodeError::NotCbor(reason)) => reason,
                Err(invalid) => return Err(RenderError::Invalid(invalid)),
            };
            match std::str::from_utf8(bytes) {
                Ok(text)
                    if !text
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t') =>
                {
                    Ok(Shown::plain(text.to_owned()))
                }
                _ => Ok(Shown {
                    text: hex(bytes),
                    note: Some(format!("value is not CBOR ({reason}); showing hex")),
                }),
            }
        }
    }
}

fn is_decimal(bytes: &[u8]) -> bool {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
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
    use cache_core::codec;

    fn shown(bytes: &[u8], format: Format) -> String {
        value(bytes, format).unwrap().text
    }

    #[test]
    fn counters_show_as_text() {
        assert_eq!(shown(b"42", Format::Auto), "42");
        assert_eq!(shown(b"-7", Format::Auto), "-7");
        assert_eq!(shown(b"5", Format::Auto), "5");
    }

    #[test]
    fn cbor_shows_as_json() {
        let bytes = codec::to_vec(&serde_json::json!({"name": "Ada"})).unwrap();
        assert!(shown(&bytes, Format::Auto).contains("\"name\": \"Ada\""));
        assert_eq!(shown(&bytes, Format::Json), "{\n  \"name\": \"Ada\"\n}");
        assert_eq!(shown(&bytes, Format::Diag), "{\"name\": \"Ada\"}");
    }

    #[test]
    fn binary_shows_as_hex_saying_why() {
        let out = value(&[0xff, 0x00, 0xfe], Format::Auto).unwrap();
        assert_eq!(out.text, "0xff00fe");
        let note = out.note.unwrap();
        assert!(note.starts_with("value is not CBOR ("), "{note}");
        assert!(note.ends_with("); showing hex"), "{note}");
        assert_eq!(shown(b"ab", Format::Hex), "0x6162");
        // Text that is not CBOR is text, without a note.
        assert_eq!(value(b"hello", Format::Auto).unwrap().note, None);
    }

    #[test]
    fn cbor_format_refuses_what_is_not_cbor() {
        for format in [Format::Cbor, Format::Json, Format::Diag] {
            let err = value(&[0xff, 0xfe], format).unwrap_err();
            assert!(matches!(err, RenderError::NotCbor(_)), "{err}");
            assert!(
                err.to_string().starts_with("the value is not CBOR ("),
                "{err}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_refused_in_every_cbor_format() {
        let dup = [0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02];
        for format in [Format::Auto, Format::Cbor, Format::Json, Format::Diag] {
            let err = value(&dup, format).unwrap_err();
            assert!(matches!(err, RenderError::Invalid(_)), "{format:?}: {err}");
            assert!(err.to_string().contains("more than once"), "{err}");
        }
        assert_eq!(shown(&dup, Format::Hex), "0xa2616101616102");
    }

    #[test]
    fn json_format_names_what_json_cannot_show() {
        let bytes = [0xa1, 0x61, b'k', 0x42, 0x0a, 0x0b];
        let err = value(&bytes, Format::Json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value has no exact JSON form: a byte string at $[\"k\"]; --format diag shows it"
        );
        assert_eq!(shown(&bytes, Format::Cbor), "{\n  \"k\": h'0a0b'\n}");
    }

    #[test]
    fn error_chain_joins_causes() {
        let e = cache_core::CacheError::connection("127.0.0.1:1", std::io::Error::other("refused"));
        assert_eq!(error_chain(&e), "cannot connect to 127.0.0.1:1: refused");
    }
}
