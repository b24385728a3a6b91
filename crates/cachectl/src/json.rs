//! JSON typed on the command line, turned into a CBOR value without loss.
//!
//! A JSON library's value type would round integers beyond 64 bits to a
//! float and keep the last of two equal keys; this parser (RFC 8259) keeps
//! the number text until it knows what the number is:
//!
//! - an integer within CBOR's native range (−2⁶⁴ … 2⁶⁴−1) is stored as an
//!   integer, one beyond it as a bignum (tag 2 or 3, RFC 8949 §3.4.3);
//! - a number with a fraction or an exponent is the nearest double (correctly
//!   rounded), stored in the narrowest CBOR float that holds it exactly;
//!   one too large for a double, or so small it would become zero, is refused;
//! - an object with the same key twice is refused.

use std::collections::HashSet;
use std::fmt;

use ciborium::Value;
use ciborium::value::Integer;

use crate::bignum;

/// How deeply arrays and objects may nest (as `serde_json`); the codec's own
/// limit (64) is checked again when the value is encoded.
const MAX_DEPTH: usize = 128;

/// Why the text is not a value `set` can store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// What is wrong.
    pub(crate) kind: JsonErrorKind,
    /// 1-based line of the offending character.
    pub(crate) line: usize,
    /// 1-based column (in characters) of the offending character.
    pub(crate) column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.kind, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// What is wrong with the JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonErrorKind {
    /// Not JSON at all: the text says what was expected.
    Syntax(&'static str),
    /// An object has this key (unescaped) twice.
    DuplicateKey(String),
    /// A number whose magnitude exceeds the largest double.
    FloatOverflow(String),
    /// A non-zero number that would round to zero as a double.
    FloatUnderflow(String),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl JsonErrorKind {
    /// Whether the text is not JSON at all (rather than JSON `set` will not store).
    pub(crate) fn is_syntax(&self) -> bool {
        matches!(self, JsonErrorKind::Syntax(_) | JsonErrorKind::TooDeep)
    }
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonErrorKind::Syntax(what) => f.write_str(what),
            JsonErrorKind::DuplicateKey(key) => write!(
                f,
                "the object has the key {key:?} more than once (CBOR map keys must be unique)"
            ),
            JsonErrorKind::FloatOverflow(text) => write!(
                f,
                "the number {text} is too large for a 64-bit float (to store an exact integer, write all its digits)"
            ),
            JsonErrorKind::FloatUnderflow(text) => {
                write!(
                    f,
                    "the number {text} is too small for a 64-bit float (it would be stored as 0)"
                )
            }
            JsonErrorKind::TooDeep => write!(f, "arrays and objects nest deeper than {MAX_DEPTH}"),
        }
    }
}

/// Parses one JSON value (surrounding whitespace allowed) into a CBOR value.
pub(crate) fn parse(text: &str) -> Result<Value, JsonError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.whitespace();
    let value = p.value()?;
    p.whitespace();
    if p.pos != p.bytes.len() {
        return Err(p.error(JsonErrorKind::Syntax("trailing characters")));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        self.error_at(self.pos, kind)
    }

    fn error_at(&self, at: usize, kind: JsonErrorKind) -> JsonError {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        JsonError { kind, line, column }
    }

    fn syntax(&self, what: &'static str) -> JsonError {
        self.error(JsonErrorKind::Syntax(what))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.syntax("the text ends where a value should be")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Value::Text(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("expected a value")),
        }
    }

    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Value, JsonError>,
    ) -> Result<Value, JsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        let mut items = Vec::new();
        self.items(b']', "expected `,` or `]`", |p| {
            items.push(p.value()?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        self.items(b'}', "expected `,` or `}`", |p| {
            let at = p.pos;
            if p.peek() != Some(b'"') {
                return Err(p.syntax("expected a key (a string)"));
            }
            let key = p.string()?;
            if !seen.insert(key.clone()) {
                return Err(p.error_at(at, JsonErrorKind::DuplicateKey(key)));
            }
            p.whitespace();
            p.expect(b':', "expected `:`")?;
            p.whitespace();
            let value = p.value()?;
            entries.push((Value::Text(key), value));
            Ok(())
        })?;
        Ok(Value::Map(entries))
    }

    /// Reads the comma-separated items of the array or object whose opening
    /// bracket is at the cursor, up to and past `close`: `item` reads one,
    /// whitespace around it skipped; `expected` words a bad separator.
    fn items(
        &mut self,
        close: u8,
        expected: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.pos += 1;
        self.whitespace();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            item(self)?;
            self.whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax(expected)),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Only ASCII bytes stop the run, so both ends are char boundaries.
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.syntax("the text ends inside a string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    return Err(self.syntax("a control character in a string (escape it)"));
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let at = self.pos - 1;
                self.pos += 1;
                let high = self.hex4()?;
                let code = match high {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err(self.error_at(
                                at,
                                JsonErrorKind::Syntax("a lone leading surrogate in a \\u escape"),
                            ));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error_at(
                                at,
                                JsonErrorKind::Syntax("a lone leading surrogate in a \\u escape"),
                            ));
                        }
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error_at(
                            at,
                            JsonErrorKind::Syntax("a lone trailing surrogate in a \\u escape"),
                        ));
                    }
                    other => u32::from(other),
                };
                let c = char::from_u32(code).ok_or_else(|| {
                    self.error_at(at, JsonErrorKind::Syntax("an invalid \\u escape"))
                })?;
                out.push(c);
                return Ok(());
            }
            _ => return Err(self.syntax("an invalid escape")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.syntax("expected four hex digits after \\u"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.syntax("an invalid \\u escape"))?;
        let value =
            u16::from_str_radix(text, 16).map_err(|_| self.syntax("an invalid \\u escape"))?;
        self.pos += 4;
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("a number needs digits")),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.syntax("a number needs digits after `.`"));
            }
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("a number needs digits in its exponent"));
            }
            is_float = true;
        }
        let text = &self.text[start..self.pos];
        if is_float {
            // Rust's parser is correctly rounded and accepts every JSON number.
            let x: f64 = text
                .parse()
                .map_err(|_| self.error_at(start, JsonErrorKind::Syntax("an invalid number")))?;
            if x.is_infinite() {
                return Err(self.error_at(start, JsonErrorKind::FloatOverflow(text.to_owned())));
            }
            let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
            if x == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9')) {
                return Err(self.error_at(start, JsonErrorKind::FloatUnderflow(text.to_owned())));
            }
            return Ok(Value::Float(x));
        }
        Ok(integer(negative, &self.text[int_start..int_end]))
    }
}

/// The CBOR value of the integer `-digits` or `digits`: native when it fits
/// major type 0 or 1, else a bignum.
fn integer(negative: bool, digits: &str) -> Value {
    let magnitude = bignum::from_decimal(digits);
    if magnitude.is_empty() {
        return Value::Integer(Integer::from(0u8));
    }
    // A negative integer -v is stored as n = v - 1 (major type 1, tag 3).
    let stored = if negative {
        bignum::decrement(&magnitude)
    } else {
        magnitude
    };
    if stored.len() <= 8 {
        let mut n = 0u64;
        for b in &stored {
            n = (n << 8) | u64::from(*b);
        }
        if !negative {
            return Value::Integer(Integer::from(n));
        }
        if let Ok(i) = Integer::try_from(-1 - i128::from(n)) {
            return Value::Integer(i);
        }
    }
    let tag = if negative { 3 } else { 2 };
    Value::Tag(tag, Box::new(Value::Bytes(stored)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;

    /// What `set` stores for `text`, shown as `get --format diag` shows it.
    fn stored(text: &str) -> (Vec<u8>, String) {
        let value = parse(text).unwrap();
        let bytes = cache_core::codec::to_vec(&value).unwrap();
        let shown = cbor::compact(&cbor::decode(&bytes).unwrap());
        (bytes, shown)
    }

    fn kind(text: &str) -> JsonErrorKind {
        parse(text).unwrap_err().kind
    }

    #[test]
    fn floats_round_trip_in_the_narrowest_exact_width() {
        let (bytes, shown) = stored("6.103515625e-05");
        assert_eq!(bytes, [0xf9, 0x04, 0x00], "2^-14 fits a half float");
        assert_eq!(shown, "6.103515625e-05");
        let (bytes, shown) = stored("0.1");
        assert_eq!(bytes[0], 0xfb, "0.1 needs a double");
        assert_eq!(shown, "0.1");
        let (bytes, _) = stored("0.5");
        assert_eq!(bytes.len(), 3);
        let (bytes, shown) = stored("16777217.0");
        assert_eq!(bytes[0], 0xfb, "2^24+1 does not fit a single float");
        assert_eq!(shown, "16777217.0");
        assert_eq!(stored("-0.0").1, "-0.0");
        assert_eq!(stored("1E2").1, "100.0");
        assert_eq!(
            stored("2.2250738585072014e-308").1,
            "2.2250738585072014e-308"
        );
        // Correct rounding where a fast parser may be one unit off.
        let (_, shown) = stored("9007199254740993.0");
        assert_eq!(shown, "9007199254740992.0");
        let (_, shown) = stored("1.7976931348623157e308");
        assert_eq!(shown, "1.7976931348623157e+308");
    }

    #[test]
    fn floats_that_a_double_cannot_hold_are_refused() {
        assert!(matches!(kind("1e400"), JsonErrorKind::FloatOverflow(_)));
        assert!(matches!(kind("-1e400"), JsonErrorKind::FloatOverflow(_)));
        assert!(matches!(kind("1e-400"), JsonErrorKind::FloatUnderflow(_)));
        assert_eq!(stored("0e-400").1, "0.0");
        assert_eq!(stored("5e-324").1, "5e-324");
    }

    #[test]
    fn integers_round_trip_exactly_across_the_whole_range() {
        for (text, first_byte) in [
            ("0", 0x00),
            ("-0", 0x00),
            ("23", 0x17),
            ("-1", 0x20),
            ("18446744073709551615", 0x1b),
            ("-18446744073709551616", 0x3b),
            ("9223372036854775808", 0x1b),
            ("-9223372036854775809", 0x3b),
        ] {
            let (bytes, shown) = stored(text);
            assert_eq!(bytes[0], first_byte, "{text}: {bytes:02x?}");
            let expected = if text == "-0" { "0" } else { text };
            assert_eq!(shown, expected, "{text}");
        }
    }

    #[test]
    fn integers_beyond_64_bits_are_bignums() {
        let (bytes, shown) = stored("18446744073709551616");
        assert_eq!(bytes, [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(shown, "18446744073709551616");
        let (bytes, shown) = stored("-18446744073709551617");
        assert_eq!(bytes, [0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(shown, "-18446744073709551617");
        let big = "123456789012345678901234567890123456789012345678901234567890";
        assert_eq!(stored(big).1, big);
        assert_eq!(stored(&format!("-{big}")).1, format!("-{big}"));
        assert_eq!(stored(&format!("[{big}, 1]")).1, format!("[{big}, 1]"));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("{\"a\": 1,\n \"b\": {\"x\": 1, \"\\u0078\": 2}}").unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::DuplicateKey("x".into()));
        assert_eq!((err.line, err.column), (2, 16));
        assert!(!err.kind.is_syntax());
        // The same key in different objects is fine.
        assert_eq!(
            stored("[{\"a\": 1}, {\"a\": 2}]").1,
            "[{\"a\": 1}, {\"a\": 2}]"
        );
    }

    #[test]
    fn strings_and_structure() {
        assert_eq!(
            stored(r#" {"s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "t": [true, false, null], "e": {}} "#).1,
            r#"{"s": "a\"\\/\b\f\n\r\té😀", "t": [true, false, null], "e": {}}"#
        );
        // The order of keys is kept.
        assert_eq!(stored(r#"{"b": 1, "a": 2}"#).1, r#"{"b": 1, "a": 2}"#);
    }

    #[test]
    fn what_is_not_json_is_refused_with_a_position() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "-",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\u{1}\"",
            "{1: 2}",
            "[1 2]",
            "1 2",
            "NaN",
            "Infinity",
            "'a'",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.kind.is_syntax(), "{bad:?}: {err}");
        }
        let err = parse("[1,\n  x]").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(kind(&deep), JsonErrorKind::TooDeep);
    }
}
