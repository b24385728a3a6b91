//! zstd against lz4 on values a service keeps in its cache: the size ratio
//! and the time to compress and decompress, to choose the codec of
//! [`cache_patterns::compress`].
//!
//! Values (made here, deterministic): a user profile as JSON (~2 KiB), a page
//! of 50 products as JSON (~16 KiB), an HTML fragment (~8 KiB), and 4 KiB of
//! random bytes (incompressible, the worst case). Algorithms are interleaved
//! round by round; the table shows medians over the rounds.
//!
//! ```text
//! cargo bench -p cache-patterns --features compression --bench compression -- 11
//! ```

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const WORDS: &[&str] = &[
    "cache",
    "latency",
    "tenant",
    "profile",
    "order",
    "shipping",
    "premium",
    "discount",
    "follower",
    "message",
    "settings",
    "notification",
    "blue",
    "large",
    "account",
    "review",
];

fn sentence(rng: &mut StdRng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn profile(rng: &mut StdRng) -> Vec<u8> {
    let followers: Vec<u64> = (0..120).map(|_| rng.random_range(1..10_000_000)).collect();
    serde_json::to_vec(&json!({
        "id": rng.random::<u32>(),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "bio": sentence(rng, 40),
        "preferences": {"theme": "dark", "language": "en-GB", "notifications": {"email": true, "push": false}},
        "followers": followers,
        "created_at": "2026-11-30T12:34:56Z",
    }))
    .unwrap()
}

fn products(rng: &mut StdRng) -> Vec<u8> {
    let items: Vec<_> = (0..50)
        .map(|i| {
            json!({
                "sku": format!("SKU-{:08}", rng.random::<u32>()),
                "title": sentence(rng, 5),
                "description": sentence(rng, 25),
                "price_cents": rng.random_range(100..100_000),
                "in_stock": rng.random::<bool>(),
                "tags": [WORDS[i % WORDS.len()], WORDS[(i * 7) % WORDS.len()]],
            })
        })
        .collect();
    serde_json::to_vec(&json!({"page": 1, "per_page": 50, "items": items})).unwrap()
}

fn html(rng: &mut StdRng) -> Vec<u8> {
    let mut out = String::from("<div class=\"feed\">");
    while out.len() < 8 * 1024 {
        out.push_str(&format!(
            "<article class=\"post\" data-id=\"{}\"><h2>{}</h2><p>{}</p><a href=\"/u/{}\">more</a></article>",
            rng.random::<u32>(),
            sentence(rng, 4),
            sentence(rng, 20),
            rng.random::<u16>()
        ));
    }
    out.push_str("</div>");
    out.into_bytes()
}

fn random(rng: &mut StdRng) -> Vec<u8> {
    (0..4096).map(|_| rng.random()).collect()
}

thread_local! {
    static COMPRESSORS: std::cell::RefCell<std::collections::HashMap<i32, zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::default();
    static DECOMPRESSOR: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().unwrap());
}

#[derive(Clone, Copy)]
enum Algo {
    Zstd(i32),
    Lz4,
}

impl Algo {
    fn name(self) -> String {
        match self {
            Algo::Zstd(level) => format!("zstd -{level}"),
            Algo::Lz4 => "lz4 (lz4_flex)".to_owned(),
        }
    }
    fn compress(self, value: &[u8]) -> Vec<u8> {
        match self {
            // With a context kept per thread, as the layer does: a fresh one
            // per call costs ~60 µs of setup, more than the work itself.
            Algo::Zstd(level) => COMPRESSORS.with_borrow_mut(|c| {
                c.entry(level)
                    .or_insert_with(|| zstd::bulk::Compressor::new(level).unwrap())
                    .compress(value)
                    .unwrap()
            }),
            Algo::Lz4 => lz4_flex::compress_prepend_size(value),
        }
    }
    fn decompress(self, packed: &[u8], capacity: usize) -> Vec<u8> {
        match self {
            Algo::Zstd(_) => {
                DECOMPRESSOR.with_borrow_mut(|d| d.decompress(packed, capacity).unwrap())
            }
            Algo::Lz4 => lz4_flex::decompress_size_prepended(packed).unwrap(),
        }
    }
}

/// Median of `samples`.
fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(11);
    let mut rng = StdRng::seed_from_u64(7);
    let values: Vec<(&str, Vec<u8>)> = vec![
        ("profile JSON", profile(&mut rng)),
        ("50 products JSON", products(&mut rng)),
        ("HTML fragment", html(&mut rng)),
        ("random bytes", random(&mut rng)),
    ];
    let algos = [Algo::Zstd(1), Algo::Zstd(3), Algo::Lz4];
    const REPS: usize = 200;
    // [value][algo] -> (compress ns samples, decompress ns samples)
    let mut times = vec![vec![(Vec::new(), Vec::new()); algos.len()]; values.len()];
    for _ in 0..rounds {
        for (v, (_, value)) in values.iter().enumerate() {
            for (a, algo) in algos.iter().enumerate() {
                let started = Instant::now();
                let mut packed = Vec::new();
                for _ in 0..REPS {
                    packed = algo.compress(black_box(value));
                }
                times[v][a]
                    .0
                    .push(started.elapsed().as_nanos() as f64 / REPS as f64);
                let started = Instant::now();
                for _ in 0..REPS {
                    black_box(algo.decompress(black_box(&packed), value.len()));
                }
                times[v][a]
                    .1
                    .push(started.elapsed().as_nanos() as f64 / REPS as f64);
            }
        }
    }
    println!("{rounds} rounds of {REPS}; medians");
    println!(
        "{:<18} {:>7} {:<15} {:>8} {:>10} {:>10} {:>9} {:>9}",
        "value", "bytes", "algorithm", "ratio", "comp µs", "decomp µs", "comp MB/s", "dec MB/s"
    );
    for (v, (name, value)) in values.iter().enumerate() {
        for (a, algo) in algos.iter().enumerate() {
            let packed = algo.compress(value);
            assert_eq!(algo.decompress(&packed, value.len()), *value);
            let comp = median(&mut times[v][a].0);
            let dec = median(&mut times[v][a].1);
            let mbps = |ns: f64| value.len() as f64 / ns * 1e3;
            println!(
                "{:<18} {:>7} {:<15} {:>8.3} {:>10.1} {:>10.1} {:>9.0} {:>9.0}",
                name,
                value.len(),
                algo.name(),
                packed.len() as f64 / value.len() as f64,
                comp / 1e3,
                dec / 1e3,
                mbps(comp),
                mbps(dec)
            );
        }
    }
}
