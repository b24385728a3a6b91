//! The examples of RFC 8949 Appendix A decode: into the Rust types they
//! stand for, and, for every one, into a generic value exactly as `ciborium`
//! (the previous decoder) reads it, which our encoder writes back the same.

use std::collections::BTreeMap;

use cache_core::CodecError;
use cache_core::codec;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Every example of Appendix A, as (diagnostic notation, encoding).
const VECTORS: &[(&str, &str)] = &[
    ("0", "00"),
    ("1", "01"),
    ("10", "0a"),
    ("23", "17"),
    ("24", "1818"),
    ("25", "1819"),
    ("100", "1864"),
    ("1000", "1903e8"),
    ("1000000", "1a000f4240"),
    ("1000000000000", "1b000000e8d4a51000"),
    ("18446744073709551615", "1bffffffffffffffff"),
    ("18446744073709551616", "c249010000000000000000"),
    ("-18446744073709551616", "3bffffffffffffffff"),
    ("-18446744073709551617", "c349010000000000000000"),
    ("-1", "20"),
    ("-10", "29"),
    ("-100", "3863"),
    ("-1000", "3903e7"),
    ("0.0", "f90000"),
    ("-0.0", "f98000"),
    ("1.0", "f93c00"),
    ("1.1", "fb3ff199999999999a"),
    ("1.5", "f93e00"),
    ("65504.0", "f97bff"),
    ("100000.0", "fa47c35000"),
    ("3.4028234663852886e+38", "fa7f7fffff"),
    ("1.0e+300", "fb7e37e43c8800759c"),
    ("5.960464477539063e-8", "f90001"),
    ("0.00006103515625", "f90400"),
    ("-4.0", "f9c400"),
    ("-4.1", "fbc010666666666666"),
    ("Infinity", "f97c00"),
    ("NaN", "f97e00"),
    ("-Infinity", "f9fc00"),
    ("Infinity", "fa7f800000"),
    ("NaN", "fa7fc00000"),
    ("-Infinity", "faff800000"),
    ("Infinity", "fb7ff0000000000000"),
    ("NaN", "fb7ff8000000000000"),
    ("-Infinity", "fbfff0000000000000"),
    ("false", "f4"),
    ("true", "f5"),
    ("null", "f6"),
    ("undefined", "f7"),
    ("simple(16)", "f0"),
    ("simple(255)", "f8ff"),
    (
        "0(\"2013-03-21T20:04:00Z\")",
        "c074323031332d30332d32315432303a30343a30305a",
    ),
    ("1(1363896240)", "c11a514b67b0"),
    ("1(1363896240.5)", "c1fb41d452d9ec200000"),
    ("23(h'01020304')", "d74401020304"),
    ("24(h'6449455446')", "d818456449455446"),
    (
        "32(\"http://www.example.com\")",
        "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
    ),
    ("h''", "40"),
    ("h'01020304'", "4401020304"),
    ("\"\"", "60"),
    ("\"a\"", "6161"),
    ("\"IETF\"", "6449455446"),
    ("\"\\\"\\\\\"", "62225c"),
    ("\"\\u00fc\"", "62c3bc"),
    ("\"\\u6c34\"", "63e6b0b4"),
    ("\"\\ud800\\udd51\"", "64f0908591"),
    ("[]", "80"),
    ("[1, 2, 3]", "83010203"),
    ("[1, [2, 3], [4, 5]]", "8301820203820405"),
    (
        "[1, 2, ..., 25]",
        "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
    ),
    ("{}", "a0"),
    ("{1: 2, 3: 4}", "a201020304"),
    ("{\"a\": 1, \"b\": [2, 3]}", "a26161016162820203"),
    ("[\"a\", {\"b\": \"c\"}]", "826161a161626163"),
    (
        "{\"a\": \"A\", \"b\": \"B\", \"c\": \"C\", \"d\": \"D\", \"e\": \"E\"}",
        "a56161614161626142616361436164614461656145",
    ),
    ("(_ h'0102', h'030405')", "5f42010243030405ff"),
    ("(_ \"strea\", \"ming\")", "7f657374726561646d696e67ff"),
    ("[_ ]", "9fff"),
    ("[_ 1, [2, 3], [_ 4, 5]]", "9f018202039f0405ffff"),
    ("[_ 1, [2, 3], [4, 5]]", "9f01820203820405ff"),
    ("[1, [2, 3], [_ 4, 5]]", "83018202039f0405ff"),
    ("[1, [_ 2, 3], [4, 5]]", "83019f0203ff820405"),
    (
        "[_ 1, 2, ..., 25]",
        "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
    ),
    ("{_ \"a\": 1, \"b\": [_ 2, 3]}", "bf61610161629f0203ffff"),
    ("[\"a\", {_ \"b\": \"c\"}]", "826161bf61626163ff"),
    ("{_ \"Fun\": true, \"Amt\": -2}", "bf6346756ef563416d7421ff"),
];

/// Simple values that serde has no type for; ciborium refused them too.
const UNASSIGNED_SIMPLE: &[&str] = &["simple(16)", "simple(255)"];

#[test]
fn every_appendix_a_vector_decodes_into_a_generic_value_as_ciborium_reads_it() {
    for (diagnostic, hex) in VECTORS {
        let input = bytes(hex);
        codec::validate(&input, &codec::CodecLimits::default())
            .unwrap_or_else(|e| panic!("{diagnostic}: not well-formed: {e}"));
        let ours = codec::from_slice::<ciborium::Value>(&input);
        let theirs = ciborium::de::from_reader::<ciborium::Value, _>(&input[..]);
        if UNASSIGNED_SIMPLE.contains(diagnostic) {
            assert!(
                matches!(ours, Err(CodecError::Decode(_))) && theirs.is_err(),
                "{diagnostic}: {ours:?}"
            );
            continue;
        }
        let (ours, theirs) = (ours.unwrap(), theirs.unwrap());
        // Debug, so that NaN equals NaN and -0.0 differs from 0.0.
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"), "{diagnostic}");
        // The value writes back as ciborium writes it.
        let mut written = Vec::new();
        ciborium::ser::into_writer(&theirs, &mut written).unwrap();
        assert_eq!(codec::to_vec(&ours).unwrap(), written, "{diagnostic}");
    }
}

fn decodes_to<T: DeserializeOwned + PartialEq + std::fmt::Debug>(diagnostic: &str, expected: T) {
    let (_, hex) = VECTORS
        .iter()
        .find(|(d, _)| *d == diagnostic)
        .unwrap_or_else(|| panic!("no vector {diagnostic}"));
    let decoded: T =
        codec::from_slice(&bytes(hex)).unwrap_or_else(|e| panic!("{diagnostic} ({hex}): {e}"));
    assert_eq!(decoded, expected, "{diagnostic} ({hex})");
}

fn float_decodes_to(diagnostic: &str, hex: &str, expected: f64) {
    let decoded: f64 = codec::from_slice(&bytes(hex)).unwrap();
    assert!(
        decoded.to_bits() == expected.to_bits() || (decoded.is_nan() && expected.is_nan()),
        "{diagnostic} ({hex}): {decoded:?}"
    );
}

#[test]
fn integer_vectors_decode_to_their_values() {
    for (diagnostic, value) in [
        ("0", 0u64),
        ("1", 1),
        ("10", 10),
        ("23", 23),
        ("24", 24),
        ("25", 25),
        ("100", 100),
        ("1000", 1000),
        ("1000000", 1_000_000),
        ("1000000000000", 1_000_000_000_000),
        ("18446744073709551615", u64::MAX),
    ] {
        decodes_to(diagnostic, value);
    }
    for (diagnostic, value) in [
        ("-1", -1i64),
        ("-10", -10),
        ("-100", -100),
        ("-1000", -1000),
    ] {
        decodes_to(diagnostic, value);
    }
    decodes_to("18446744073709551616", 18_446_744_073_709_551_616u128);
    decodes_to("-18446744073709551616", -18_446_744_073_709_551_616i128);
    decodes_to("-18446744073709551617", -18_446_744_073_709_551_617i128);
}

#[test]
fn float_vectors_decode_to_their_values_from_every_width() {
    for (diagnostic, hex) in VECTORS.iter().filter(|(_, hex)| hex.starts_with('f')) {
        let expected = match *diagnostic {
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            "false" | "true" | "null" | "undefined" | "simple(16)" | "simple(255)" => continue,
            number => number.parse().unwrap(),
        };
        float_decodes_to(diagnostic, hex, expected);
    }
}

#[test]
fn simple_value_vectors_decode_to_their_values() {
    decodes_to("false", false);
    decodes_to("true", true);
    decodes_to("null", None::<u8>);
    decodes_to("undefined", None::<u8>);
    decodes_to("null", ());
}

#[test]
fn tagged_vectors_decode_to_the_tagged_item() {
    decodes_to(
        "0(\"2013-03-21T20:04:00Z\")",
        "2013-03-21T20:04:00Z".to_owned(),
    );
    decodes_to("1(1363896240)", 1_363_896_240u64);
    decodes_to("1(1363896240.5)", 1_363_896_240.5f64);
    decodes_to("23(h'01020304')", ByteBuf::from(vec![1, 2, 3, 4]));
    decodes_to(
        "24(h'6449455446')",
        ByteBuf::from(vec![0x64, 0x49, 0x45, 0x54, 0x46]),
    );
    decodes_to(
        "32(\"http://www.example.com\")",
        "http://www.example.com".to_owned(),
    );
}

#[test]
fn string_vectors_decode_to_their_values() {
    decodes_to("h''", ByteBuf::new());
    decodes_to("h'01020304'", ByteBuf::from(vec![1, 2, 3, 4]));
    decodes_to("h'01020304'", vec![1u8, 2, 3, 4]);
    decodes_to("\"\"", String::new());
    decodes_to("\"a\"", "a".to_owned());
    decodes_to("\"IETF\"", "IETF".to_owned());
    decodes_to("\"\\\"\\\\\"", "\"\\".to_owned());
    decodes_to("\"\\u00fc\"", "\u{fc}".to_owned());
    decodes_to("\"\\u6c34\"", "\u{6c34}".to_owned());
    decodes_to("\"\\ud800\\udd51\"", "\u{10151}".to_owned());
    decodes_to("\"\\u6c34\"", '\u{6c34}');
    decodes_to("(_ h'0102', h'030405')", ByteBuf::from(vec![1, 2, 3, 4, 5]));
    decodes_to("(_ \"strea\", \"ming\")", "streaming".to_owned());
}

#[test]
fn container_vectors_decode_to_their_values() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(untagged)]
    enum Nested {
        Leaf(u8),
        List(Vec<u8>),
    }
    use Nested::{Leaf, List};
    let nested = vec![Leaf(1), List(vec![2, 3]), List(vec![4, 5])];
    let one_to_25: Vec<u8> = (1..=25).collect();

    decodes_to("[]", Vec::<u8>::new());
    decodes_to("[1, 2, 3]", vec![1u8, 2, 3]);
    decodes_to("[1, [2, 3], [4, 5]]", (1u8, (2u8, 3u8), [4u8, 5]));
    decodes_to("[1, 2, ..., 25]", one_to_25.clone());
    decodes_to("{}", BTreeMap::<String, u8>::new());
    decodes_to("{1: 2, 3: 4}", BTreeMap::from([(1u8, 2u8), (3, 4)]));
    decodes_to(
        "{\"a\": \"A\", \"b\": \"B\", \"c\": \"C\", \"d\": \"D\", \"e\": \"E\"}",
        BTreeMap::from(["a", "b", "c", "d", "e"].map(|k| (k.to_owned(), k.to_uppercase()))),
    );
    decodes_to("[_ ]", Vec::<u8>::new());
    decodes_to("[_ 1, [2, 3], [_ 4, 5]]", (1u8, [2u8, 3], vec![4u8, 5]));
    decodes_to("[_ 1, [2, 3], [4, 5]]", (1u8, vec![2u8, 3], (4u8, 5u8)));
    decodes_to("[1, [2, 3], [_ 4, 5]]", (1u8, [2u8, 3], vec![4u8, 5]));
    decodes_to("[1, [_ 2, 3], [4, 5]]", (1u8, vec![2u8, 3], [4u8, 5]));
    decodes_to("[_ 1, 2, ..., 25]", one_to_25);
    decodes_to("[_ 1, [2, 3], [4, 5]]", nested);

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct AB {
        a: u8,
        b: Vec<u8>,
    }
    decodes_to(
        "{\"a\": 1, \"b\": [2, 3]}",
        AB {
            a: 1,
            b: vec![2, 3],
        },
    );
    decodes_to(
        "{_ \"a\": 1, \"b\": [_ 2, 3]}",
        AB {
            a: 1,
            b: vec![2, 3],
        },
    );
    for diagnostic in ["[\"a\", {\"b\": \"c\"}]", "[\"a\", {_ \"b\": \"c\"}]"] {
        decodes_to(
            diagnostic,
            (
                "a".to_owned(),
                BTreeMap::from([("b".to_owned(), "c".to_owned())]),
            ),
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct FunAmt {
        fun: bool,
        amt: i8,
    }
    decodes_to(
        "{_ \"Fun\": true, \"Amt\": -2}",
        FunAmt { fun: true, amt: -2 },
    );
}
