use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    geo: (f64, f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Plan {
    Free,
    Paid { seats: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Customer {
    id: u64,
    name: String,
    email: Option<String>,
    tags: Vec<String>,
    balance_cents: i64,
    address: Address,
    plan: Plan,
    limits: BTreeMap<String, u32>,
    active: bool,
}

fn customer() -> Customer {
    Customer {
        id: 9_007_199_254_740_993,
        name: "Zoë Ångström".into(),
        email: Some("zoe@example.com".into()),
        tags: vec!["vip".into(), "beta".into()],
        balance_cents: -12_345,
        address: Address {
            street: "1 Infinite Loop".into(),
            city: "Cupertino".into(),
            geo: (37.33, -122.03),
        },
        plan: Plan::Paid { seats: 12 },
        limits: BTreeMap::from([("api".into(), 1000), ("storage".into(), 5)]),
        active: true,
    }
}

/// `n` nested definite arrays of one element around a `0`.
fn nested_arrays(n: usize) -> Vec<u8> {
    let mut input = vec![0x81; n];
    input.push(0x00);
    input
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = to_vec(&value).unwrap();
    assert_eq!(from_slice::<T>(&bytes).unwrap(), value);
}

#[test]
fn realistic_struct_round_trips() {
    round_trip(customer());
}

#[test]
fn primitives_round_trip() {
    round_trip(0u8);
    round_trip(u64::MAX);
    round_trip(i64::MIN);
    round_trip(-1i32);
    round_trip(1.5f32);
    round_trip(std::f64::consts::PI);
    round_trip(true);
    round_trip('λ');
    round_trip(String::new());
    round_trip("text".to_string());
    round_trip(Option::<u8>::None);
    round_trip(Some(7u16));
    round_trip(());
    round_trip(vec![1u32, 2, 3]);
    round_trip(Plan::Free);
}

#[test]
fn encoding_is_deterministic_for_the_same_value() {
    assert_eq!(to_vec(&customer()).unwrap(), to_vec(&customer()).unwrap());
}

#[test]
fn one_mebibyte_byte_buf_round_trips() {
    let blob = ByteBuf::from((0..1 << 20).map(|i| i as u8).collect::<Vec<u8>>());
    let bytes = to_vec(&blob).unwrap();
    assert!(bytes.len() < blob.len() + 16, "encoded as a byte string");
    assert_eq!(from_slice::<ByteBuf>(&bytes).unwrap(), blob);
}

#[test]
fn serde_bytes_field_over_4096_bytes_round_trips() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    }
    round_trip(Blob {
        data: vec![0xAB; 5000],
    });
}

#[test]
fn plain_vec_u8_encodes_one_item_per_byte_and_meets_the_element_limit() {
    let err = to_vec(&vec![0u8; DEFAULT_MAX_ELEMENTS + 1]).unwrap_err();
    assert!(matches!(err, CodecError::TooManyElements { .. }), "{err:?}");
}

#[test]
fn million_element_array_is_refused_before_allocating() {
    // A plausible array: the header declares 1,000,000 elements and the body
    // holds them (one byte each), so a naive decoder would reserve room for
    // all of them before reading the first.
    let mut input = vec![0x9A, 0x00, 0x0F, 0x42, 0x40];
    input.resize(input.len() + 1_000_000, 0x00);
    assert_eq!(
        from_slice::<Vec<u8>>(&input).unwrap_err(),
        CodecError::TooManyElements {
            count: 1_000_000,
            max: DEFAULT_MAX_ELEMENTS
        }
    );
}

#[test]
fn array_declaring_more_elements_than_bytes_is_truncated() {
    // 5,000 elements are allowed, but 3 bytes cannot hold them.
    let input = [0x99, 0x13, 0x88, 0x00, 0x00, 0x00];
    let err = validate(&input, &CodecLimits::default()).unwrap_err();
    assert!(matches!(err, CodecError::Truncated(_)), "{err:?}");
}

#[test]
fn nesting_ten_thousand_deep_is_refused() {
    assert_eq!(
        from_slice::<IgnoredAny>(&nested_arrays(10_000)).unwrap_err(),
        CodecError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        }
    );
}

#[test]
fn deep_nesting_is_refused_on_a_small_stack_without_recursion() {
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            // Set by hand past the maximum: still clamped to MAX_DEPTH, and
            // the pre-scan keeps its stack on the heap.
            let loose = CodecLimits {
                max_depth: usize::MAX,
                ..CodecLimits::default()
            };
            let scan = validate(&nested_arrays(10_000), &loose);
            let decode = from_slice::<IgnoredAny>(&nested_arrays(10_000));
            (scan, decode)
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(outcome.0, Err(CodecError::TooDeep { max: MAX_DEPTH }));
    assert_eq!(
        outcome.1.unwrap_err(),
        CodecError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        }
    );
}

#[test]
fn nesting_at_the_depth_limit_decodes() {
    from_slice::<IgnoredAny>(&nested_arrays(DEFAULT_MAX_DEPTH)).unwrap();
    assert_eq!(
        validate(
            &nested_arrays(DEFAULT_MAX_DEPTH + 1),
            &CodecLimits::default()
        ),
        Err(CodecError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        })
    );
}

/// A target type that recurses as deep as the input and buffers every level
/// first (serde's untagged enums go through its `Content`): among the
/// greediest users of stack per level.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Untagged {
    Leaf(u64),
    List(Vec<Untagged>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn nesting_at_the_maximum_depth_decodes_on_a_tokio_worker() {
    let at_max = CodecLimits::default().with_max_depth(MAX_DEPTH);
    assert_eq!(at_max.max_depth, MAX_DEPTH);
    let decoded = tokio::spawn(async move {
        let input = nested_arrays(MAX_DEPTH);
        let json = from_slice_with_limits::<serde_json::Value>(&input, &at_max).map(drop);
        let untagged = from_slice_with_limits::<Untagged>(&input, &at_max).map(drop);
        let ignored = from_slice_with_limits::<IgnoredAny>(&input, &at_max).map(drop);
        (json, untagged, ignored)
    })
    .await
    .expect("the task did not panic");
    assert_eq!(decoded, (Ok(()), Ok(()), Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn nesting_beyond_the_maximum_is_a_typed_error_on_a_tokio_worker_even_with_a_larger_limit() {
    // Asking for 10,000 levels used to overflow the worker's stack and abort.
    let asked = CodecLimits::default().with_max_depth(10_000);
    assert_eq!(asked.max_depth, MAX_DEPTH, "clamped");
    let by_hand = CodecLimits {
        max_depth: 10_000,
        ..CodecLimits::default()
    };
    let refused = tokio::spawn(async move {
        [
            from_slice_with_limits::<serde_json::Value>(&nested_arrays(MAX_DEPTH + 1), &asked)
                .map(drop),
            from_slice_with_limits::<serde_json::Value>(&nested_arrays(10_000), &asked).map(drop),
            from_slice_with_limits::<Untagged>(&nested_arrays(10_000), &by_hand).map(drop),
            validate(&nested_arrays(MAX_DEPTH + 1), &by_hand),
            to_vec_with_limits(&nested_value(MAX_DEPTH + 1), &by_hand).map(drop),
        ]
    })
    .await
    .expect("the task did not panic");
    for outcome in refused {
        assert_eq!(outcome, Err(CodecError::TooDeep { max: MAX_DEPTH }));
    }
}

/// `n` nested JSON arrays around a `0`, as a value to encode.
fn nested_value(n: usize) -> serde_json::Value {
    (0..n).fold(serde_json::json!(0), |inner, _| serde_json::json!([inner]))
}

#[test]
fn tags_count_as_nesting_levels() {
    // Tag 6 (unassigned) wrapping tag 6 ... wrapping 0.
    let mut input = vec![0xC6; 10_000];
    input.push(0x00);
    assert_eq!(
        from_slice::<IgnoredAny>(&input).unwrap_err(),
        CodecError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        }
    );
}

#[test]
fn empty_input_is_truncated() {
    let err = from_slice::<u8>(&[]).unwrap_err();
    assert!(matches!(err, CodecError::Truncated(_)), "{err:?}");
}

#[test]
fn value_cut_short_is_truncated() {
    let bytes = to_vec(&customer()).unwrap();
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        let err = from_slice::<Customer>(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, CodecError::Truncated(_)),
            "cut {cut}: {err:?}"
        );
    }
}

#[test]
fn header_cut_short_is_truncated() {
    // A u16 whose second byte is missing.
    let err = from_slice::<u16>(&[0x19, 0x01]).unwrap_err();
    assert!(matches!(err, CodecError::Truncated(_)), "{err:?}");
}

#[test]
fn garbage_is_malformed() {
    for garbage in [
        &[0x1C][..],         // reserved additional information 28
        &[0xFF],             // a break outside any container
        &[0xF8, 0x10],       // simple value 16 in the two-byte form
        &[0x82, 0x00, 0xFF], // a break inside a definite array
    ] {
        let err = from_slice::<IgnoredAny>(garbage).unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed(_)),
            "{garbage:x?}: {err:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = to_vec(&42u8).unwrap();
    bytes.push(0x00);
    let err = from_slice::<u8>(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
}

#[test]
fn oversized_payload_is_refused() {
    let limits = CodecLimits::default().with_max_bytes(16);
    let bytes = to_vec(&"seventeen bytes!").unwrap();
    assert_eq!(bytes.len(), 17);
    assert_eq!(
        from_slice_with_limits::<String>(&bytes, &limits).unwrap_err(),
        CodecError::TooLarge { size: 17, max: 16 }
    );
}

#[test]
fn payload_over_the_default_four_mebibytes_is_refused_when_encoding() {
    let blob = ByteBuf::from(vec![0u8; DEFAULT_MAX_BYTES]);
    let err = to_vec(&blob).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::TooLarge {
                max: DEFAULT_MAX_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn huge_declared_string_length_is_refused_without_allocating() {
    for major in [0x5B, 0x7B] {
        // A byte (text) string declaring 2^63 bytes, followed by a few.
        let mut input = vec![major, 0x80, 0, 0, 0, 0, 0, 0, 0];
        input.extend_from_slice(b"abc");
        let err = from_slice::<IgnoredAny>(&input).unwrap_err();
        assert!(matches!(err, CodecError::Truncated(_)), "{err:?}");
    }
}

#[test]
fn indefinite_array_over_the_limit_is_refused() {
    let mut input = vec![0x9F];
    input.resize(1 + DEFAULT_MAX_ELEMENTS + 1, 0x00);
    input.push(0xFF);
    assert_eq!(
        from_slice::<Vec<u8>>(&input).unwrap_err(),
        CodecError::TooManyElements {
            count: DEFAULT_MAX_ELEMENTS as u64 + 1,
            max: DEFAULT_MAX_ELEMENTS
        }
    );
}

#[test]
fn indefinite_map_over_the_limit_is_refused() {
    let limits = CodecLimits::default().with_max_elements(2);
    // {_ 0: 0, 1: 1, 2: 2}
    let input = [0xBF, 0x00, 0x00, 0x01, 0x01, 0x02, 0x02, 0xFF];
    assert_eq!(
        validate(&input, &limits),
        Err(CodecError::TooManyElements { count: 3, max: 2 })
    );
}

#[test]
fn indefinite_containers_within_the_limit_decode() {
    let array = [0x9F, 0x01, 0x02, 0x03, 0xFF];
    assert_eq!(from_slice::<Vec<u8>>(&array).unwrap(), vec![1, 2, 3]);
    let map = [0xBF, 0x61, b'a', 0x01, 0xFF];
    assert_eq!(
        from_slice::<BTreeMap<String, u8>>(&map).unwrap(),
        BTreeMap::from([("a".to_string(), 1)])
    );
}

/// A case: what it is, what decoding gave, and the kind of error expected.
type DecodeCase = (
    &'static str,
    Result<(), CodecError>,
    fn(&CodecError) -> bool,
);

#[test]
fn bad_input_is_malformed_and_mismatched_input_a_decode_error() {
    let malformed = |e: &CodecError| matches!(e, CodecError::Malformed(_));
    let decode = |e: &CodecError| matches!(e, CodecError::Decode(_));
    let hello = to_vec(&"hello").unwrap();
    let no_name = to_vec(&BTreeMap::from([("id", 1u64)])).unwrap();
    let cases: [DecodeCase; 4] = [
        (
            "an indefinite map ending between key and value is malformed",
            from_slice::<IgnoredAny>(&[0xBF, 0x00, 0xFF]).map(drop),
            malformed,
        ),
        (
            "text that is not UTF-8 is malformed",
            from_slice::<String>(&[0x62, 0xFF, 0xFE]).map(drop),
            malformed,
        ),
        (
            "the wrong type is a decode error",
            from_slice::<u64>(&hello).map(drop),
            decode,
        ),
        (
            "a missing field is a decode error",
            from_slice::<Customer>(&no_name).map(drop),
            decode,
        ),
    ];
    for (case, result, expected) in cases {
        let err = result.expect_err(case);
        assert!(expected(&err), "{case}: {err:?}");
    }
}

#[test]
fn indefinite_strings_are_joined_and_bad_chunks_refused() {
    let text = [0x7F, 0x62, b'a', b'b', 0x61, b'c', 0xFF];
    assert_eq!(from_slice::<String>(&text).unwrap(), "abc");
    // A text chunk inside a byte string.
    let err = from_slice::<IgnoredAny>(&[0x5F, 0x61, b'a', 0xFF]).unwrap_err();
    assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
}

#[test]
fn map_limit_counts_pairs_not_items() {
    let limits = CodecLimits::default().with_max_elements(3);
    let three_pairs = to_vec(&BTreeMap::from([(1u8, 1u8), (2, 2), (3, 3)])).unwrap();
    assert_eq!(validate(&three_pairs, &limits), Ok(()));
    let four_pairs = to_vec(&BTreeMap::from([(1u8, 1u8), (2, 2), (3, 3), (4, 4)])).unwrap();
    assert_eq!(
        validate(&four_pairs, &limits),
        Err(CodecError::TooManyElements { count: 4, max: 3 })
    );
}

#[test]
fn custom_limits_apply_to_both_directions() {
    let limits = CodecLimits::default().with_max_elements(20_000);
    let big = vec![7u8; 15_000];
    let bytes = to_vec_with_limits(&big, &limits).unwrap();
    assert_eq!(
        from_slice_with_limits::<Vec<u8>>(&bytes, &limits).unwrap(),
        big
    );
}

#[test]
fn random_and_mutated_input_never_panics_and_agrees_with_validate() {
    let mut rng = StdRng::seed_from_u64(0x5EED_CB0F);
    let valid = to_vec(&customer()).unwrap();
    let limits = CodecLimits::default();
    for round in 0..20_000 {
        let input: Vec<u8> = if round % 2 == 0 {
            let len = rng.random_range(0..48);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut mutated = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..mutated.len());
                mutated[at] = rng.random();
            }
            mutated.truncate(rng.random_range(1..=mutated.len()));
            mutated
        };
        let scanned = validate(&input, &limits);
        let decoded = from_slice::<IgnoredAny>(&input);
        if let Err(e) = &scanned {
            assert_eq!(decoded.as_ref().unwrap_err(), e, "input {input:x?}");
        }
        let _ = from_slice::<Customer>(&input);
        let _ = from_slice::<serde_json::Value>(&input);
        if let Ok(value) = from_slice::<ciborium::Value>(&input) {
            // What decodes as a generic value writes back as ciborium would.
            let mut written = Vec::new();
            ciborium::ser::into_writer(&value, &mut written).unwrap();
            assert_eq!(to_vec(&value).unwrap(), written, "input {input:x?}");
            // And it is what ciborium, the previous decoder, read.
            if let Ok(theirs) = ciborium::de::from_reader::<ciborium::Value, _>(&input[..]) {
                assert_eq!(
                    format!("{value:?}"),
                    format!("{theirs:?}"),
                    "input {input:x?}"
                );
            }
        }
    }
}

/// A `Serialize` that declares one length and writes another.
struct Lying;

impl Serialize for Lying {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(3))?;
        seq.serialize_element(&1u8)?;
        seq.serialize_element(&2u8)?;
        seq.end()
    }
}

#[test]
fn encoding_refuses_a_serialize_that_breaks_its_declared_length() {
    let err = to_vec(&Lying).unwrap_err();
    assert!(matches!(err, CodecError::Truncated(_)), "{err:?}");
    // Inside a container, the missing item shifts the rest.
    let err = to_vec(&(Lying, 7u8)).unwrap_err();
    assert!(
        matches!(err, CodecError::Truncated(_) | CodecError::Malformed(_)),
        "{err:?}"
    );
}

#[test]
fn encoding_refuses_too_many_elements_and_too_deep_as_decoding_would() {
    let limits = CodecLimits::default()
        .with_max_elements(3)
        .with_max_depth(2);
    assert_eq!(
        to_vec_with_limits(&[1, 2, 3, 4], &limits),
        Err(CodecError::TooManyElements { count: 4, max: 3 })
    );
    assert_eq!(
        to_vec_with_limits(&BTreeMap::from([(1, 1), (2, 2), (3, 3), (4, 4)]), &limits),
        Err(CodecError::TooManyElements { count: 4, max: 3 })
    );
    assert_eq!(
        to_vec_with_limits(&vec![vec![vec![1]]], &limits),
        Err(CodecError::TooDeep { max: 2 })
    );
    // A struct variant is two levels: the one-pair map and the struct.
    assert_eq!(
        to_vec_with_limits(&vec![Plan::Paid { seats: 1 }], &limits),
        Err(CodecError::TooDeep { max: 2 })
    );
    assert!(to_vec_with_limits(&Plan::Paid { seats: 1 }, &limits).is_ok());
    assert!(to_vec_with_limits(&vec![vec![1, 2, 3]], &limits).is_ok());
}

#[test]
fn entries_a_visitor_leaves_unread_are_skipped_so_the_next_field_reads_right() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Short {
        pair: (u8, u8),
        after: String,
    }
    #[derive(Serialize)]
    struct Long {
        pair: (u8, u8, Vec<String>),
        after: String,
    }
    let bytes = to_vec(&Long {
        pair: (1, 2, vec!["skipped".into()]),
        after: "read".into(),
    })
    .unwrap();
    assert_eq!(
        from_slice::<Short>(&bytes).unwrap(),
        Short {
            pair: (1, 2),
            after: "read".into()
        }
    );
}

#[test]
fn a_byte_string_over_four_kibibytes_reads_into_borrowing_and_owning_visitors() {
    let blob = ByteBuf::from(vec![7u8; 10_000]);
    let bytes = to_vec(&blob).unwrap();
    assert_eq!(from_slice::<ByteBuf>(&bytes).unwrap(), blob);
    assert_eq!(from_slice::<Vec<u8>>(&bytes).unwrap(), blob.into_vec());
}
