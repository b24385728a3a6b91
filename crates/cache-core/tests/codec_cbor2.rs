//! We read what Python's cbor2 writes: the files in
//! `tests/data/cbor2/written-by-cbor2/`, written by cbor2 6.1.4 in its default
//! and its canonical mode (`tests/data/cbor2/regenerate.py` writes them again),
//! decode into the Rust types they stand for. The other direction (cbor2
//! reads what we write) is `codec_corpus.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use cache_core::codec;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

mod support {
    pub(crate) mod profile;
}
use support::profile::profile;

#[derive(Debug, PartialEq, Deserialize)]
enum External {
    Unit,
    Newtype(u32),
    Struct { seats: u32, note: Option<String> },
}

/// Decodes `name` as cbor2 wrote it in both modes.
fn read_both<T: DeserializeOwned>(name: &str) -> [T; 2] {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cbor2/written-by-cbor2");
    [format!("{name}.cbor"), format!("{name}.canonical.cbor")].map(|file| {
        let bytes = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        codec::from_slice(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"))
    })
}

fn reads_as<T: DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, expected: T) {
    for decoded in read_both::<T>(name) {
        assert_eq!(decoded, expected, "{name}");
    }
}

#[test]
fn a_profile_written_by_cbor2_reads_as_the_struct() {
    reads_as("profile", profile());
    let mut without = profile();
    without.nickname = None;
    reads_as("profile_without_nickname", without);
}

#[test]
fn integers_written_by_cbor2_read_at_every_width_and_as_bignums() {
    reads_as(
        "unsigned",
        vec![0u64, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, u64::MAX],
    );
    reads_as(
        "signed",
        vec![-1i64, -24, -25, -256, -257, i64::MIN, i64::MAX],
    );
    reads_as("bignum_positive", 1u128 << 64);
    reads_as("bignum_negative", -(1i128 << 64) - 1);
    reads_as("negative_2e64", -(1i128 << 64));
}

#[test]
fn floats_written_by_cbor2_read_in_full_and_shortest_width() {
    let expected = [
        0.0,
        -0.0,
        1.1,
        1.5,
        12.5,
        65504.0,
        1.0e300,
        -4.1,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]
    .map(f64::to_bits);
    for decoded in read_both::<Vec<f64>>("floats") {
        assert_eq!(
            decoded.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            expected
        );
    }
    for nan in read_both::<f64>("nan") {
        assert!(nan.is_nan());
    }
}

#[test]
fn strings_and_bytes_written_by_cbor2_read_as_such() {
    reads_as("text", "Zoë Ångström — 東京 🚀".to_owned());
    reads_as("long_text", "x".repeat(100_000));
    let bytes: Vec<u8> = (0..20).flat_map(|_| 0..=255u8).collect();
    reads_as("bytes", ByteBuf::from(bytes.clone()));
    reads_as("bytes", bytes);
}

#[test]
fn containers_written_by_cbor2_read_as_collections() {
    reads_as("nested_lists", vec![vec![], vec![1u8], vec![2, 3]]);
    reads_as(
        "string_map",
        BTreeMap::from([("a".to_owned(), 1i64), ("b".into(), -2), ("".into(), 0)]),
    );
    reads_as(
        "integer_map",
        BTreeMap::from([(0u32, "zero".to_owned()), (300, "three hundred".into())]),
    );
    reads_as("tuple", (1u8, "two".to_owned()));
}

#[test]
fn simple_values_written_by_cbor2_read_as_options_and_bools() {
    reads_as("null", None::<u8>);
    reads_as("undefined", None::<u8>);
    reads_as("true", true);
}

#[test]
fn tagged_values_written_by_cbor2_read_as_the_tagged_item() {
    // Tag 258 (a set) around an array; tag 0 (a date-time string); tag 4
    // (a decimal fraction: exponent and mantissa).
    reads_as("set", BTreeSet::from([1u8, 2, 3]));
    reads_as("datetime", "2013-03-21T20:04:00Z".to_owned());
    reads_as("decimal", (-2i64, 27_315i64));
}

#[test]
fn enums_written_by_cbor2_as_serde_writes_them_read_as_enums() {
    reads_as("enum_unit", External::Unit);
    reads_as("enum_newtype", External::Newtype(42));
    reads_as(
        "enum_struct",
        External::Struct {
            seats: 3,
            note: None,
        },
    );
}
