//! Typed decode (with grammar validation) and typed encode of this workspace against the
//! `diameter` crate 0.7.1 (crates.io) decoding and encoding the same bytes untyped, on the
//! samples of `benches/common` (our own Gy CCR-UPDATE, and CCRs that Erlang/OTP and
//! freeDiameter wrote). Targets (issue 14): typed decode at least 4× faster than the crate's
//! decode, typed encode no slower than its encode.
//!
//! The crate is given every AVP of this workspace's dictionaries (its own dictionary lacks
//! the 3GPP AVPs, and its decoder fails on an AVP it does not know), so that it decodes the
//! whole message, grouped AVPs included, as the typed decoder does. Both encoders write into
//! a new buffer per message.
//!
//! Run: `cargo bench --manifest-path benches/vs_diameter_crate/Cargo.toml --target-dir target`.

#[path = "../../common/mod.rs"]
mod common;

use common::{decoded, interleaved, samples, typed_decode, typed_encode};
use criterion::{black_box, criterion_group, Criterion};
use diameter_bench_vs_crate::{crate_decode, crate_encode, dictionary, theirs};

fn compare(c: &mut Criterion) {
    let dict = dictionary();
    for s in samples() {
        let mut g = c.benchmark_group(s.name);
        g.throughput(criterion::Throughput::Bytes(s.wire.len() as u64));
        let ours = decoded(&s.wire);
        let theirs = theirs(&s.wire, &dict);
        g.bench_function("typed_decode", |b| b.iter(|| typed_decode(&s.wire)));
        g.bench_function("diameter_0_7_1_decode", |b| {
            b.iter(|| crate_decode(&s.wire, &dict))
        });
        g.bench_function("typed_encode", |b| b.iter(|| typed_encode(&ours)));
        g.bench_function("diameter_0_7_1_encode", |b| {
            b.iter(|| crate_encode(&theirs))
        });
        g.finish();
    }
}

/// Per sample, measured interleaved: the crate's decode over typed decode, typed encode
/// over the crate's encode, and typed decode over the walk (the baseline of `codec`).
fn interleaved_ratios() {
    let dict = dictionary();
    println!("interleaved, median of 40 pairs of 5,000 calls each:");
    println!(
        "sample                      bytes  crate-decode/decode  encode/crate-encode  decode/walk"
    );
    for s in samples() {
        let ours = decoded(&s.wire);
        let theirs = theirs(&s.wire, &dict);
        let decode = || typed_decode(&s.wire);
        let c_d = interleaved(40, 5_000, || crate_decode(&s.wire, &dict), decode);
        let e_c = interleaved(40, 5_000, || typed_encode(&ours), || crate_encode(&theirs));
        let d_w = interleaved(40, 5_000, decode, || {
            black_box(s.walk());
        });
        println!(
            "{:<27} {:>5}  {:>18.2}x  {:>18.2}x  {:>10.2}x",
            s.name,
            s.wire.len(),
            c_d,
            e_c,
            d_w
        );
    }
    println!("targets: crate-decode/decode >= 4, encode/crate-encode <= 1, decode/walk <= 5");
}

criterion_group!(benches, compare);

fn main() {
    benches();
    if std::env::args().any(|a| a == "--bench") {
        interleaved_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
