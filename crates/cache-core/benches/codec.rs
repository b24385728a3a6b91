//! Encode and decode cost of one user-profile value (209 bytes of CBOR): our
//! codec (pre-scan included) against serde_json and the CBOR candidates
//! (ciborium, the previous codec; minicbor-serde with `half`; cbor4ii), in the
//! same run. The encoded sizes are printed once at start, then an interleaved
//! cross-check: on a shared machine, criterion's groups run one after the
//! other and each sees a different load; running every case in turn, many
//! short rounds, gives medians that hold still. The last line is
//! `summary: decode× A, encode× B vs serde_json` (medians of the
//! interleaved rounds: our codec's time over serde_json's).
//!
//! `cargo bench -p cache-core --bench codec -- --warm-up-time 1 --measurement-time 3`
//!
//! Instruction counts, repeatable on a noisy machine: with
//! `CODEC_BENCH_CASE=decode/codec CODEC_BENCH_ITERATIONS=10000`, the bench
//! binary runs only that case so many times and exits; run it under
//! `valgrind --tool=callgrind` with 10,000 and with 0 iterations and divide
//! the difference by 10,000 (see `docs/BENCHMARKS.md`).

use std::hint::black_box;
use std::time::Instant;

use cache_core::codec;
use criterion::Criterion;

#[path = "../tests/support/profile.rs"]
mod profile;
use profile::{UserProfile, profile};

fn ciborium_to_vec(value: &UserProfile) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

/// One operation of a case.
type Case<'a> = Box<dyn FnMut() + 'a>;

/// The encodings of the profile that the decode cases read.
struct Inputs {
    cbor: Vec<u8>,
    json: Vec<u8>,
    minicbor: Vec<u8>,
    cbor4ii: Vec<u8>,
}

impl Inputs {
    fn new(value: &UserProfile) -> Self {
        Inputs {
            cbor: codec::to_vec(value).unwrap(),
            json: serde_json::to_vec(value).unwrap(),
            minicbor: minicbor_serde::to_vec(value).unwrap(),
            cbor4ii: cbor4ii::serde::to_vec(Vec::new(), value).unwrap(),
        }
    }
}

/// Every case, by name: `encode/...` and `decode/...`.
fn cases<'a>(value: &'a UserProfile, inputs: &'a Inputs) -> Vec<(&'static str, Case<'a>)> {
    let limits = codec::CodecLimits::default();
    vec![
        (
            "encode/codec",
            Box::new(move || drop(black_box(codec::to_vec(black_box(value))))),
        ),
        (
            "encode/serde_json",
            Box::new(move || drop(black_box(serde_json::to_vec(black_box(value))))),
        ),
        (
            "encode/ciborium",
            Box::new(move || drop(black_box(ciborium_to_vec(black_box(value))))),
        ),
        (
            "encode/minicbor_serde",
            Box::new(move || drop(black_box(minicbor_serde::to_vec(black_box(value))))),
        ),
        (
            "encode/cbor4ii",
            Box::new(move || {
                drop(black_box(cbor4ii::serde::to_vec(
                    Vec::with_capacity(128),
                    black_box(value),
                )))
            }),
        ),
        (
            "decode/codec",
            Box::new(move || {
                drop(black_box(codec::from_slice::<UserProfile>(black_box(
                    &inputs.cbor,
                ))))
            }),
        ),
        (
            "decode/serde_json",
            Box::new(move || {
                drop(black_box(serde_json::from_slice::<UserProfile>(black_box(
                    &inputs.json,
                ))))
            }),
        ),
        (
            "decode/codec_prescan_only",
            Box::new(move || black_box(codec::validate(black_box(&inputs.cbor), &limits)).unwrap()),
        ),
        (
            "decode/ciborium",
            Box::new(move || {
                drop(black_box(ciborium::de::from_reader::<UserProfile, _>(
                    black_box(&inputs.cbor[..]),
                )))
            }),
        ),
        (
            "decode/minicbor_serde",
            Box::new(move || {
                drop(black_box(minicbor_serde::from_slice::<UserProfile>(
                    black_box(&inputs.cbor),
                )))
            }),
        ),
        (
            "decode/cbor4ii",
            Box::new(move || {
                drop(black_box(cbor4ii::serde::from_slice::<UserProfile>(
                    black_box(&inputs.cbor4ii),
                )))
            }),
        ),
    ]
}

fn print_sizes(value: &UserProfile, inputs: &Inputs) {
    let ciborium = ciborium_to_vec(value);
    eprintln!(
        "encoded size of the profile in bytes: codec {}, ciborium {}, serde_json {}, \
         minicbor-serde {}, cbor4ii {} (codec/json = {:.2})",
        inputs.cbor.len(),
        ciborium.len(),
        inputs.json.len(),
        inputs.minicbor.len(),
        inputs.cbor4ii.len(),
        inputs.cbor.len() as f64 / inputs.json.len() as f64
    );
    eprintln!(
        "same bytes as ciborium: codec {}, minicbor-serde {}, cbor4ii {}; \
         reads the codec's bytes: minicbor-serde {}, cbor4ii {}",
        inputs.cbor == ciborium,
        inputs.minicbor == ciborium,
        inputs.cbor4ii == ciborium,
        minicbor_serde::from_slice::<UserProfile>(&inputs.cbor).is_ok_and(|v| v == *value),
        cbor4ii::serde::from_slice::<UserProfile>(&inputs.cbor).is_ok_and(|v| v == *value),
    );
}

/// Rounds of the interleaved cross-check, and operations per case per round.
const ROUNDS: usize = 200;
const OPS_PER_ROUND: u32 = 500;

/// Runs every case in turn, `ROUNDS` times, prints the fastest and the
/// median round of each in ns per operation, and returns the medians.
fn interleaved(value: &UserProfile, inputs: &Inputs) -> Vec<(&'static str, f64)> {
    let mut cases = cases(value, inputs);
    let mut rounds: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (case, per_op) in cases.iter_mut().zip(&mut rounds) {
            let start = Instant::now();
            for _ in 0..OPS_PER_ROUND {
                (case.1)();
            }
            per_op.push(start.elapsed().as_nanos() as f64 / f64::from(OPS_PER_ROUND));
        }
    }
    eprintln!("interleaved cross-check, ns/op over {ROUNDS} rounds (fastest / median round):");
    let mut medians = Vec::new();
    for ((name, _), mut per_op) in cases.into_iter().zip(rounds) {
        per_op.sort_by(f64::total_cmp);
        let median = per_op[per_op.len() / 2];
        eprintln!("  {name:<26} {:>6.0} / {:>6.0}", per_op[0], median);
        medians.push((name, median));
    }
    medians
}

fn criterion_groups(c: &mut Criterion, value: &UserProfile, inputs: &Inputs) {
    for (name, mut case) in cases(value, inputs) {
        let (group, function) = name.split_once('/').unwrap();
        c.benchmark_group(group)
            .bench_function(function, |b| b.iter(&mut case));
    }
}

/// Runs one case `iterations` times, for callgrind.
fn run_one(name: &str, iterations: u64, value: &UserProfile, inputs: &Inputs) {
    let (_, mut case) = cases(value, inputs)
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    for _ in 0..iterations {
        case();
    }
}

fn main() {
    let value = profile();
    let inputs = Inputs::new(&value);
    if let Ok(name) = std::env::var("CODEC_BENCH_CASE") {
        let iterations = std::env::var("CODEC_BENCH_ITERATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        run_one(&name, iterations, &value, &inputs);
        return;
    }
    print_sizes(&value, &inputs);
    let medians = interleaved(&value, &inputs);
    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion, &value, &inputs);
    criterion.final_summary();
    let median = |name: &str| medians.iter().find(|(n, _)| *n == name).unwrap().1;
    println!(
        "summary: decode× {:.2}, encode× {:.2} vs serde_json",
        median("decode/codec") / median("decode/serde_json"),
        median("encode/codec") / median("encode/serde_json"),
    );
}
