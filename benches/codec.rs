//! Decode and encode of Gy CCRs, typed and untyped, beside a baseline measured in the same
//! run: a zero-allocation walk over the same bytes that checks every header and AVP length.
//!
//! Samples (`common::samples`): our own CCR-UPDATE, and CCRs other tools wrote, from
//! `tests/fixtures/`: Erlang/OTP's CCR-INITIAL and freeDiameter's relayed CCRs. Target
//! (issue 14): typed decode within 5× the walk. The comparison with the `diameter` crate
//! 0.7.1 is a separate bench outside the workspace (`benches/vs_diameter_crate`), so that
//! crate and its dependencies stay out of the workspace's graph and lock file.
//!
//! Run: `cargo bench --bench codec`. After criterion's figures it prints the ratios measured
//! interleaved (the two sides alternating in short batches, median of 40 pairs), which holds
//! up better than two separate criterion runs when the machine is shared.

mod common;

use common::{ccr_update, decoded, interleaved, samples, typed_decode, typed_encode};
use criterion::{black_box, criterion_group, Criterion};
use diameter::core::bytes::Bytes;
use diameter::core::{walk, AvpIter, Command, Limits, RawMessage};

/// Grouped AVPs of our own sample: (vendor, code). A short slice the walk scans per AVP.
const GROUPED: &[(u32, u32)] = &[
    (0, 443),
    (0, 456),
    (0, 437),
    (0, 446),
    (10415, 873),
    (10415, 874),
];

fn is_grouped(code: u32, vendor: u32) -> bool {
    GROUPED.contains(&(vendor, code))
}

/// Untyped decode: frame checks, then every AVP visited with its payload sliced.
fn untyped_decode(bytes: Bytes) -> usize {
    fn visit(avps: AvpIter<'_>) -> usize {
        let mut n = 0;
        for avp in avps.flatten() {
            n += avp.data().len();
            if is_grouped(avp.code, avp.vendor) {
                n += visit(avp.children());
            }
        }
        n
    }
    let msg = RawMessage::decode(bytes, &Limits::default()).expect("valid");
    visit(msg.avps())
}

fn codec(c: &mut Criterion) {
    let ccr = ccr_update();
    let wire = ccr.encode(7, 9).freeze();
    assert!(walk::walk_message(&wire, is_grouped).is_some());
    let mut g = c.benchmark_group("gy_ccr_update");
    g.throughput(criterion::Throughput::Bytes(wire.len() as u64));
    g.bench_function("baseline_walk", |b| {
        b.iter(|| walk::walk_message(black_box(&wire), is_grouped))
    });
    g.bench_function("typed_decode", |b| b.iter(|| typed_decode(&wire)));
    g.bench_function("untyped_decode", |b| {
        b.iter(|| untyped_decode(black_box(wire.clone())))
    });
    g.bench_function("typed_encode", |b| b.iter(|| black_box(&ccr).encode(7, 9)));
    let raw = RawMessage::decode(wire.clone(), &Limits::default()).unwrap();
    g.bench_function("untyped_encode", |b| b.iter(|| black_box(&raw).to_bytes()));
    g.finish();

    for s in samples() {
        let mut g = c.benchmark_group(s.name);
        g.throughput(criterion::Throughput::Bytes(s.wire.len() as u64));
        assert!(s.walk().is_some(), "{}: walk", s.name);
        let ccr = decoded(&s.wire);
        g.bench_function("baseline_walk", |b| b.iter(|| s.walk()));
        g.bench_function("typed_decode", |b| b.iter(|| typed_decode(&s.wire)));
        g.bench_function("typed_encode", |b| b.iter(|| typed_encode(&ccr)));
        g.bench_function("framing_check", |b| b.iter(|| framing_check(&s.wire)));
        g.finish();
    }
}

/// What the transport checks when it frames a message: the header and every top-level
/// AVP header (the walk a typed decode repeats).
fn framing_check(wire: &Bytes) {
    black_box(RawMessage::decode(black_box(wire.clone()), &Limits::default()).unwrap());
}

/// Per sample: typed decode and typed encode against the walk, measured interleaved, and
/// the framing check against typed decode (what one walk per message would save).
fn interleaved_ratios() {
    println!("interleaved, median of 40 pairs of 5,000 calls each:");
    println!("sample                      bytes  decode/walk  encode/walk  framing/decode");
    for s in samples() {
        let ccr = decoded(&s.wire);
        let walk = || {
            black_box(s.walk());
        };
        let d = interleaved(40, 5_000, || typed_decode(&s.wire), walk);
        let e = interleaved(40, 5_000, || typed_encode(&ccr), walk);
        let f = interleaved(
            40,
            5_000,
            || framing_check(&s.wire),
            || typed_decode(&s.wire),
        );
        println!(
            "{:<27} {:>5}  {:>10.2}x  {:>10.2}x  {:>13.2}x",
            s.name,
            s.wire.len(),
            d,
            e,
            f
        );
    }
    println!("target: decode/walk <= 5");
}

criterion_group!(benches, codec);

fn main() {
    benches();
    // `cargo test --benches` runs each benchmark once, without `--bench`; skip the ratios there.
    if std::env::args().any(|a| a == "--bench") {
        interleaved_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
