//! Encode and decode cost of one user-profile value: our codec (pre-scan
//! included) against raw ciborium, serde_json and minicbor-serde, in the same
//! run. The encoded sizes are printed once at start, with an interleaved
//! cross-check: on a shared machine, criterion's groups run one after the
//! other and each sees a different load; running every case in turn, many
//! short rounds, and keeping the fastest round gives figures that hold still.
//!
//! `cargo bench -p cache-core --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use cache_core::codec;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/support/profile.rs"]
mod profile;
use profile::{UserProfile, profile};

fn ciborium_to_vec(value: &UserProfile) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn print_sizes(value: &UserProfile) {
    let ours = codec::to_vec(value).unwrap().len();
    let ciborium = ciborium_to_vec(value).len();
    let json = serde_json::to_vec(value).unwrap().len();
    let minicbor = minicbor_serde::to_vec(value).unwrap().len();
    eprintln!(
        "encoded size of the profile in bytes: codec {ours}, ciborium {ciborium}, \
         serde_json {json}, minicbor-serde {minicbor} (codec/json = {:.2})",
        ours as f64 / json as f64
    );
}

/// One operation of the interleaved cross-check.
type Case<'a> = Box<dyn FnMut() + 'a>;

/// Rounds of the interleaved cross-check, and operations per case per round.
const ROUNDS: usize = 200;
const OPS_PER_ROUND: u32 = 500;

/// Runs every case in turn, `ROUNDS` times, and prints the fastest and the
/// median round of each in ns per operation.
fn print_interleaved(value: &UserProfile) {
    let cbor = codec::to_vec(value).unwrap();
    let json = serde_json::to_vec(value).unwrap();
    let minicbor = minicbor_serde::to_vec(value).unwrap();
    let limits = codec::CodecLimits::default();
    let mut cases: Vec<(&str, Case<'_>)> = vec![
        (
            "encode/codec",
            Box::new(|| drop(black_box(codec::to_vec(black_box(value))))),
        ),
        (
            "encode/ciborium",
            Box::new(|| drop(black_box(ciborium_to_vec(black_box(value))))),
        ),
        (
            "encode/serde_json",
            Box::new(|| drop(black_box(serde_json::to_vec(black_box(value))))),
        ),
        (
            "encode/minicbor_serde",
            Box::new(|| drop(black_box(minicbor_serde::to_vec(black_box(value))))),
        ),
        (
            "decode/codec",
            Box::new(|| {
                drop(black_box(codec::from_slice::<UserProfile>(black_box(
                    &cbor,
                ))))
            }),
        ),
        (
            "decode/codec_prescan_only",
            Box::new(|| black_box(codec::validate(black_box(&cbor), &limits)).unwrap()),
        ),
        (
            "decode/ciborium",
            Box::new(|| {
                drop(black_box(ciborium::de::from_reader::<UserProfile, _>(
                    black_box(&cbor[..]),
                )))
            }),
        ),
        (
            "decode/serde_json",
            Box::new(|| {
                drop(black_box(serde_json::from_slice::<UserProfile>(black_box(
                    &json,
                ))))
            }),
        ),
        (
            "decode/minicbor_serde",
            Box::new(|| {
                drop(black_box(minicbor_serde::from_slice::<UserProfile>(
                    black_box(&minicbor),
                )))
            }),
        ),
    ];
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
    for ((name, _), mut per_op) in cases.into_iter().zip(rounds) {
        per_op.sort_by(f64::total_cmp);
        eprintln!(
            "  {name:<26} {:>6.0} / {:>6.0}",
            per_op[0],
            per_op[per_op.len() / 2]
        );
    }
}

fn bench_encode(c: &mut Criterion) {
    let value = profile();
    print_sizes(&value);
    print_interleaved(&value);
    let mut group = c.benchmark_group("encode");
    group.bench_function("codec", |b| {
        b.iter(|| codec::to_vec(black_box(&value)).unwrap())
    });
    group.bench_function("ciborium", |b| {
        b.iter(|| ciborium_to_vec(black_box(&value)))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).unwrap())
    });
    group.bench_function("minicbor_serde", |b| {
        b.iter(|| minicbor_serde::to_vec(black_box(&value)).unwrap())
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let value = profile();
    let cbor = codec::to_vec(&value).unwrap();
    let json = serde_json::to_vec(&value).unwrap();
    let minicbor = minicbor_serde::to_vec(&value).unwrap();
    let mut group = c.benchmark_group("decode");
    group.bench_function("codec", |b| {
        b.iter(|| codec::from_slice::<UserProfile>(black_box(&cbor)).unwrap())
    });
    group.bench_function("codec_prescan_only", |b| {
        let limits = codec::CodecLimits::default();
        b.iter(|| codec::validate(black_box(&cbor), &limits).unwrap())
    });
    group.bench_function("ciborium", |b| {
        b.iter(|| ciborium::de::from_reader::<UserProfile, _>(black_box(&cbor[..])).unwrap())
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<UserProfile>(black_box(&json)).unwrap())
    });
    group.bench_function("minicbor_serde", |b| {
        b.iter(|| minicbor_serde::from_slice::<UserProfile>(black_box(&minicbor)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
