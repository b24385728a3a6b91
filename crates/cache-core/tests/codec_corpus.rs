//! Wire compatibility: values written by the codec as it was when this corpus
//! was made (ciborium 0.2.2 behind `codec::to_vec`) must decode to the same
//! value forever, and today's encoder must write the same bytes.
//!
//! The files in `tests/data/codec-corpus/` were written once, before the codec
//! changed, by `CODEC_CORPUS_WRITE=1 cargo test -p cache-core --test codec_corpus`.
//! Never regenerate them to make a test pass: a difference is a wire change.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use cache_core::codec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

mod support {
    pub(crate) mod profile;
}
use support::profile::{UserProfile, profile};

/// An `f64` compared by bit pattern, so NaNs (and their payloads) and the sign
/// of zero count; except on a thread that reads what cbor2 rewrote: Python's
/// cbor2 writes every NaN as the one half-precision quiet NaN.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
struct F64Bits(f64);

thread_local! {
    static ANY_NAN_MATCHES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl PartialEq for F64Bits {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
            || (self.0.is_nan() && other.0.is_nan() && ANY_NAN_MATCHES.get())
    }
}

/// An `f32` compared by bit pattern, except that every NaN equals every NaN:
/// an f32 NaN goes through f64 on the way (serde's CBOR serializers widen
/// f32), which quiets a signalling NaN, so its payload was never kept.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
struct F32Bits(f32);

impl PartialEq for F32Bits {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits() || (self.0.is_nan() && other.0.is_nan())
    }
}

/// A sequence serialized without a length (an indefinite-length array).
#[derive(Debug, Clone, PartialEq)]
struct Unsized(Vec<u32>);

impl Serialize for Unsized {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        for item in &self.0 {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Unsized {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Unsized)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UnitStruct;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Newtype(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TupleStruct(i32, String, bool);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum External {
    Unit,
    Newtype(u32),
    Tuple(u8, String),
    Struct { seats: u32, note: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Internal {
    Circle { radius: f64 },
    Square { side: u32 },
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Text(String),
    Pair(u8, u8),
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Number(i64),
    Text(String),
    List(Vec<Untagged>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Base {
    id: u32,
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Renamed {
    first_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    middle_name: Option<String>,
    #[serde(with = "serde_bytes")]
    avatar_png: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Everything {
    small: u8,
    neg: i16,
    big: u64,
    float32: F32Bits,
    float64: F64Bits,
    flag: bool,
    letter: char,
    text: String,
    bytes: ByteBuf,
    unit: (),
    missing: Option<u32>,
    present: Option<u32>,
    nested: Vec<Vec<u8>>,
    tuple: (u8, i64, String),
    map: BTreeMap<u32, String>,
    external: Vec<External>,
    ttl: Duration,
}

/// A deterministic generator that never changes (the corpus is regenerated
/// from the same seeds by every run of the test, and must not drift with a
/// `rand` upgrade).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Floats of every encoded width: any bit pattern (NaN payloads included),
/// values exact in f32 and in f16, subnormals, zeros, infinities, integers.
fn float_mix() -> Vec<F64Bits> {
    let mut rng = SplitMix(0xC0DEC);
    let mut values: Vec<f64> = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 2.0,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0,
        1.5,
        1.1,
        12.5,
        65504.0,
        65505.0,
        100_000.0,
        5.960_464_477_539_063e-8,
        0.000_061_035_156_25,
        3.402_823_466_385_288_6e38,
        1.0e300,
        -4.1,
        51.507_351,
        -0.127_758,
    ];
    for i in 0..600 {
        let bits = rng.next();
        values.push(match i % 6 {
            0 => f64::from_bits(bits),
            1 => f64::from(f32::from_bits(bits as u32)),
            2 => {
                // An f16 bit pattern widened: sign, 5 exponent bits, 10 mantissa bits.
                let h = bits as u16;
                let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
                let exp = i32::from((h >> 10) & 0x1F);
                let mant = f64::from(h & 0x3FF);
                sign * match exp {
                    0 => mant * 2f64.powi(-24),
                    31 => f64::INFINITY,
                    _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
                }
            }
            3 => (bits % 2_000_001) as f64 - 1_000_000.0,
            4 => (bits >> 11) as f64 / (1u64 << 53) as f64,
            _ => f64::from_bits(bits & 0x800F_FFFF_FFFF_FFFF), // subnormal
        });
    }
    values.into_iter().map(F64Bits).collect()
}

fn float32_mix() -> Vec<F32Bits> {
    let mut rng = SplitMix(0xF32);
    let mut values = vec![0.0, -0.0, f32::INFINITY, f32::NAN, f32::MAX, 1.1, 12.5, 0.1];
    values.extend((0..300).map(|_| f32::from_bits(rng.next() as u32)));
    values.into_iter().map(F32Bits).collect()
}

fn everything() -> Everything {
    Everything {
        small: 200,
        neg: -300,
        big: u64::MAX - 1,
        float32: F32Bits(0.1),
        float64: F64Bits(-1.0e-7),
        flag: false,
        letter: 'ß',
        text: "naïve café ☕".into(),
        bytes: ByteBuf::from(vec![0, 1, 2, 254, 255]),
        unit: (),
        missing: None,
        present: Some(70_000),
        nested: vec![vec![], vec![1], vec![2, 3, 4]],
        tuple: (7, -9_000_000_000, "t".into()),
        map: BTreeMap::from([(1, "one".into()), (1000, "thousand".into())]),
        external: vec![
            External::Unit,
            External::Newtype(5),
            External::Tuple(1, "x".into()),
            External::Struct {
                seats: 3,
                note: None,
            },
        ],
        ttl: Duration::new(90, 500),
    }
}

fn json_value() -> serde_json::Value {
    serde_json::json!({
        "null": null,
        "t": true,
        "int": -42,
        "big": 18_446_744_073_709_551_615_u64,
        "float": 2.5,
        "inexact": 0.1,
        "text": "ünïcödé",
        "list": [1, "two", [3.0, null], {"four": 4}],
        "empty_list": [],
        "empty_map": {},
    })
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/codec-corpus")
}

fn cbor2_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cbor2/read-by-cbor2")
}

/// What [`check`] does with each case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Write the corpus file (only when making the corpus).
    Write,
    /// The corpus file decodes to the value, and the value encodes to it.
    Verify,
    /// The file that cbor2 wrote after reading the corpus file decodes to
    /// the value (`tests/data/cbor2/regenerate.py`).
    ReadByCbor2,
}

/// Applies `mode` to one case.
fn check<T>(name: &str, value: &T, mode: Mode, failures: &mut Vec<String>)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let path = data_dir().join(format!("{name}.cbor"));
    if mode == Mode::Write {
        std::fs::write(&path, codec::to_vec(value).unwrap()).unwrap();
        return;
    }
    if mode == Mode::ReadByCbor2 {
        let path = cbor2_dir().join(format!("{name}.cbor"));
        let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match codec::from_slice::<T>(&stored) {
            Ok(decoded) if decoded == *value => {}
            Ok(decoded) => {
                let mut message =
                    format!("{name}: cbor2 understood {decoded:?}, we wrote {value:?}");
                message.truncate(600);
                failures.push(message);
            }
            Err(e) => failures.push(format!("{name}: cbor2's rewrite does not decode: {e}")),
        }
        return;
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match codec::from_slice::<T>(&stored) {
        Ok(decoded) if decoded == *value => {}
        Ok(decoded) => {
            let mut message = format!("{name}: decoded {decoded:?}, expected {value:?}");
            message.truncate(600);
            failures.push(message);
        }
        Err(e) => failures.push(format!("{name}: does not decode: {e}")),
    }
    match codec::to_vec(value) {
        Ok(bytes) if bytes == stored => {}
        Ok(bytes) => failures.push(format!(
            "{name}: encodes differently: {} bytes, first difference at byte {}",
            bytes.len(),
            bytes
                .iter()
                .zip(&stored)
                .position(|(a, b)| a != b)
                .unwrap_or(bytes.len().min(stored.len()))
        )),
        Err(e) => failures.push(format!("{name}: does not encode: {e}")),
    }
}

macro_rules! corpus {
    ($mode:expr, $failures:expr; $($name:literal: $ty:ty = $value:expr;)*) => {{
        let names = [$($name),*];
        $( check::<$ty>($name, &$value, $mode, $failures); )*
        names.len()
    }};
}

/// Every case: (file name, type, value). Add cases only by writing their
/// files with the codec of the time, and never change an existing one.
fn run_corpus(mode: Mode, failures: &mut Vec<String>) -> usize {
    corpus! { mode, failures;
        "u8_0": u8 = 0;
        "u8_23": u8 = 23;
        "u8_24": u8 = 24;
        "u8_max": u8 = u8::MAX;
        "u16_256": u16 = 256;
        "u16_max": u16 = u16::MAX;
        "u32_65536": u32 = 65_536;
        "u32_max": u32 = u32::MAX;
        "u64_2e32": u64 = 1 << 32;
        "u64_max": u64 = u64::MAX;
        "i8_min": i8 = i8::MIN;
        "i32_min": i32 = i32::MIN;
        "i64_minus_1": i64 = -1;
        "i64_minus_24": i64 = -24;
        "i64_minus_25": i64 = -25;
        "i64_minus_256": i64 = -256;
        "i64_minus_257": i64 = -257;
        "i64_min": i64 = i64::MIN;
        "i64_max": i64 = i64::MAX;
        "u128_small": u128 = 7;
        "u128_2e64": u128 = 1 << 64;
        "u128_max": u128 = u128::MAX;
        "i128_minus_2e64": i128 = -(1 << 64);
        "i128_minus_2e64_minus_1": i128 = -(1 << 64) - 1;
        "i128_min": i128 = i128::MIN;
        "bool_true": bool = true;
        "bool_false": bool = false;
        "unit": () = ();
        "option_none": Option<u32> = None;
        "option_some": Option<u32> = Some(7);
        "char_ascii": char = 'a';
        "char_two_bytes": char = 'é';
        "char_three_bytes": char = '€';
        "char_four_bytes": char = '😀';
        "string_empty": String = String::new();
        "string_23": String = "a".repeat(23);
        "string_24": String = "b".repeat(24);
        "string_255": String = "c".repeat(255);
        "string_256": String = "d".repeat(256);
        "string_65536": String = "e".repeat(65_536);
        "string_unicode": String = "Zoë Ångström — 東京 🚀".to_owned();
        "bytes_empty": ByteBuf = ByteBuf::new();
        "bytes_24": ByteBuf = ByteBuf::from(vec![0xAB; 24]);
        "bytes_300": ByteBuf = ByteBuf::from((0..300).map(|i| i as u8).collect::<Vec<u8>>());
        "bytes_5000": ByteBuf = ByteBuf::from(vec![0x5A; 5000]);
        "vec_u8_as_integers": Vec<u8> = vec![0, 1, 23, 24, 255];
        "vec_u32_empty": Vec<u32> = Vec::new();
        "vec_u64_random": Vec<u64> = { let mut r = SplitMix(64); (0..500).map(|i| r.next() >> (i % 64)).collect() };
        "vec_i64_random": Vec<i64> = { let mut r = SplitMix(65); (0..500).map(|i| (r.next() as i64) >> (i % 64)).collect() };
        "vec_i8_i16": (Vec<i8>, Vec<i16>) = (vec![-128, -1, 0, 127], vec![-32_768, -129, 128, 32_767]);
        "floats_f64": Vec<F64Bits> = float_mix();
        "floats_f32": Vec<F32Bits> = float32_mix();
        "float_12_5": f64 = 12.5;
        "float_1_1": f64 = 1.1;
        "float_f32_field": f32 = 0.1;
        "tuple": (u8, String, bool) = (1, "two".into(), true);
        "unit_struct": UnitStruct = UnitStruct;
        "newtype_struct": Newtype = Newtype("inner".into());
        "tuple_struct": TupleStruct = TupleStruct(-5, "x".into(), false);
        "enum_unit": External = External::Unit;
        "enum_newtype": External = External::Newtype(42);
        "enum_tuple": External = External::Tuple(9, "nine".into());
        "enum_struct": External = External::Struct { seats: 12, note: Some("n".into()) };
        "enum_internal": Vec<Internal> = vec![Internal::Circle { radius: 1.5 }, Internal::Square { side: 4 }, Internal::Empty];
        "enum_adjacent": Vec<Adjacent> = vec![Adjacent::Text("t".into()), Adjacent::Pair(1, 2), Adjacent::Nothing];
        "enum_untagged": Untagged = Untagged::List(vec![Untagged::Number(-3), Untagged::Text("s".into()), Untagged::List(vec![])]);
        "map_string_keys": BTreeMap<String, i32> = BTreeMap::from([("a".into(), 1), ("b".into(), -2), ("".into(), 0)]);
        "map_integer_keys": BTreeMap<u32, String> = BTreeMap::from([(0, "zero".into()), (300, "three hundred".into())]);
        "map_of_lists": BTreeMap<i64, Vec<String>> = BTreeMap::from([(-1, vec!["x".into()]), (1, vec![])]);
        "flattened_struct_indefinite_map": Base = Base { id: 3, extra: BTreeMap::from([("k".into(), "v".into())]) };
        "unsized_sequence_indefinite_array": Unsized = Unsized(vec![1, 500, 70_000]);
        "renamed_skipped_serde_bytes": Renamed = Renamed { first_name: "Ada".into(), middle_name: None, avatar_png: vec![0x89, 0x50, 0x4E, 0x47] };
        "renamed_with_middle": Renamed = Renamed { first_name: "Ada".into(), middle_name: Some("King".into()), avatar_png: vec![] };
        "duration": Duration = Duration::new(3_600, 999_999_999);
        "system_time": SystemTime = SystemTime::UNIX_EPOCH + Duration::new(1_764_547_200, 123_456_789);
        "ip_addresses": Vec<IpAddr> = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        "json_value": serde_json::Value = json_value();
        "nested_vectors": Vec<Vec<Vec<u8>>> = vec![vec![vec![1, 2], vec![]], vec![vec![3]]];
        "user_profile": UserProfile = profile();
        "everything": Everything = everything();
        "profiles": Vec<UserProfile> = vec![profile(); 20];
    }
}

#[test]
fn every_value_written_by_the_original_codec_decodes_to_the_same_value_and_encodes_the_same() {
    let write = std::env::var_os("CODEC_CORPUS_WRITE").is_some();
    if write {
        std::fs::create_dir_all(data_dir()).unwrap();
    }
    let mut failures = Vec::new();
    let mode = if write { Mode::Write } else { Mode::Verify };
    let cases = run_corpus(mode, &mut failures);
    assert!(cases > 80, "{cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if !write {
        let files = std::fs::read_dir(data_dir()).unwrap().count();
        assert_eq!(files, cases, "a corpus file without a case, or the reverse");
    }
}

/// Python's cbor2 reads what we write: it read every corpus file (which the
/// test above keeps identical to what our encoder writes) and wrote back what
/// it understood, which must be the value we wrote.
#[test]
fn cbor2_reads_every_corpus_value_as_the_value_we_wrote() {
    ANY_NAN_MATCHES.set(true);
    let mut failures = Vec::new();
    let cases = run_corpus(Mode::ReadByCbor2, &mut failures);
    assert_eq!(std::fs::read_dir(cbor2_dir()).unwrap().count(), cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
