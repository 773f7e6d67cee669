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
use diameter::core::dictionary::DataType;
use diameter_crate::dictionary::{Dictionary, DEFAULT_DICT_XML};
use diameter_crate::DiameterMessage;
use std::fmt::Write;
use std::sync::Arc;

/// The crate's dictionary: its default plus every AVP this workspace defines.
fn dictionary() -> Arc<Dictionary> {
    let mut xml = String::from(r#"<diameter><application id="4" name="Charging Control">"#);
    for a in diameter::dict::DICTIONARY.avps {
        let ty = match a.data_type {
            DataType::IpFilterRule | DataType::QosFilterRule => "OctetString",
            t => t.name(),
        };
        let vendor = if a.vendor != 0 {
            format!(r#" vendor-id="{}""#, a.vendor)
        } else {
            String::new()
        };
        let _ = write!(
            xml,
            r#"<avp name="{}" code="{}"{vendor}><data type="{ty}"/></avp>"#,
            a.name, a.code
        );
    }
    xml.push_str("</application></diameter>");
    Arc::new(Dictionary::new(&[&DEFAULT_DICT_XML, &xml]))
}

/// The crate's decode into its tree of AVPs, then drop.
fn crate_decode(wire: &[u8], dict: &Arc<Dictionary>) {
    let mut cursor = std::io::Cursor::new(black_box(wire));
    let msg = DiameterMessage::decode_from(&mut cursor, Arc::clone(dict)).unwrap();
    black_box(&msg);
}

/// The crate's encode into a new buffer.
fn crate_encode(msg: &DiameterMessage) {
    let mut out = Vec::new();
    black_box(msg).encode_to(&mut out).unwrap();
    black_box(out);
}

fn theirs(wire: &[u8], dict: &Arc<Dictionary>) -> DiameterMessage {
    DiameterMessage::decode_from(&mut std::io::Cursor::new(wire), Arc::clone(dict))
        .unwrap_or_else(|e| panic!("diameter 0.7.1 decode: {e:?}"))
}

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
