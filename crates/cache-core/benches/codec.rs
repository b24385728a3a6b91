//! Encode and decode cost of one user-profile value: our codec (pre-scan
//! included) against raw ciborium, serde_json and minicbor-serde, in the same
//! run. The encoded sizes are printed once at start.
//!
//! `cargo bench -p cache-core --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use cache_core::codec;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    accuracy_m: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserProfile {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
    location: Location,
    verified: bool,
    nickname: Option<String>,
}

fn profile() -> UserProfile {
    UserProfile {
        id: 4_815_162_342,
        name: "Ada Lovelace".into(),
        email: "ada.lovelace@example.com".into(),
        tags: [
            "admin",
            "beta-tester",
            "early-adopter",
            "eu-west",
            "newsletter",
        ]
        .map(String::from)
        .into(),
        location: Location {
            latitude: 51.507_351,
            longitude: -0.127_758,
            accuracy_m: 12.5,
        },
        verified: true,
        nickname: Some("Countess".into()),
    }
}

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

fn bench_encode(c: &mut Criterion) {
    let value = profile();
    print_sizes(&value);
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
