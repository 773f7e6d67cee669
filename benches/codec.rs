//! Decode and encode of Gy CCRs, typed and untyped, beside baselines measured in the same
//! run: a zero-allocation walk over the same bytes that checks every header and AVP length,
//! and the `diameter` crate 0.7.1 (crates.io, renamed `diameter_crate` here) decoding and
//! encoding the same bytes untyped.
//!
//! Samples: our own CCR-UPDATE (built below), and CCRs other tools wrote, from
//! `tests/fixtures/`: Erlang/OTP's CCR-INITIAL, and freeDiameter's relayed CCRs.
//! Targets (issue 14): typed decode within 5× the walk, at least 4× faster than the crate's
//! decode, typed encode no slower than the crate's encode.
//!
//! Run: `cargo bench --bench codec`. After criterion's figures it prints the ratios measured
//! interleaved (the two sides alternating in short batches, median of 40 pairs), which holds
//! up better than two separate criterion runs when the machine is shared.

use criterion::{black_box, criterion_group, Criterion};
use diameter::core::bytes::Bytes;
use diameter::core::dictionary::DataType;
use diameter::core::{walk, Address, AvpIter, Command, Limits, RawMessage, Time};
use diameter::dict::dcca_rfc4006::{
    CcRequestType, Ccr, MultipleServicesCreditControl, RequestedServiceUnit, SubscriptionId,
    SubscriptionIdType, UsedServiceUnit,
};
use diameter::dict::tgpp_ts32299::{PsInformation, ServiceInformation};

/// A Gy CCR-UPDATE as a PGW sends it: two rating groups, usage and a new request in each.
fn ccr_update() -> Ccr {
    let mscc = |rg: u32, used: u64| MultipleServicesCreditControl {
        requested_service_unit: Some(Box::new(RequestedServiceUnit {
            cc_total_octets: Some(10_000_000),
            ..Default::default()
        })),
        used_service_unit: vec![UsedServiceUnit {
            cc_total_octets: Some(used),
            cc_input_octets: Some(used / 4),
            cc_output_octets: Some(used - used / 4),
            cc_time: Some(60),
            ..Default::default()
        }],
        rating_group: Some(rg),
        service_identifier: vec![rg * 10],
        ..Default::default()
    };
    Ccr {
        session_id: "pgw1.operator.net;1717171717;42;gy".into(),
        origin_host: "pgw1.operator.net".into(),
        origin_realm: "operator.net".into(),
        destination_realm: "ocs.operator.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: CcRequestType::UpdateRequest,
        cc_request_number: 3,
        event_timestamp: Some(Time(3_900_000_000)),
        subscription_id: vec![
            SubscriptionId {
                subscription_id_type: SubscriptionIdType::EndUserE164,
                subscription_id_data: "46701234567".into(),
                ..Default::default()
            },
            SubscriptionId {
                subscription_id_type: SubscriptionIdType::EndUserImsi,
                subscription_id_data: "240011234567890".into(),
                ..Default::default()
            },
        ],
        multiple_services_credit_control: vec![mscc(100, 4_800_000), mscc(200, 120_000)],
        service_information: Some(Box::new(ServiceInformation {
            ps_information: Some(Box::new(PsInformation {
                tgpp_charging_id: Some(0x1234_5678),
                tgpp_pdp_type: Some(Default::default()),
                pdp_address: vec![Address::V4([10, 45, 0, 7].into())],
                sgsn_address: vec![Address::V4([192, 0, 2, 10].into())],
                ggsn_address: vec![Address::V4([192, 0, 2, 20].into())],
                tgpp_imsi_mcc_mnc: Some("24001".into()),
                tgpp_ggsn_mcc_mnc: Some("24001".into()),
                tgpp_nsapi: Some(Bytes::from_static(b"5")),
                called_station_id: Some("internet".into()),
                tgpp_selection_mode: Some("0".into()),
                tgpp_charging_characteristics: Some("0800".into()),
                tgpp_sgsn_mcc_mnc: Some("24001".into()),
                ..Default::default()
            })),
            ..Default::default()
        })),
        ..Default::default()
    }
}

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

/// Typed decode with grammar validation, then drop: what a handler does with a request.
/// The value is observed through a reference, so no copy of the large struct is timed.
fn typed_decode(wire: &Bytes) {
    let msg = RawMessage::decode_header(black_box(wire.clone()), &Limits::default()).unwrap();
    let ccr = Ccr::decode(&msg).unwrap();
    black_box(&ccr);
}

/// One message to measure: its bytes and the grouped AVPs the walk descends into.
struct Sample {
    name: &'static str,
    wire: Bytes,
    /// (vendor, code) of the grouped AVPs present, from the dictionary.
    grouped: Vec<(u32, u32)>,
}

impl Sample {
    fn new(name: &'static str, wire: Bytes) -> Sample {
        let mut grouped = Vec::new();
        collect_grouped(
            RawMessage::decode(wire.clone(), &Limits::default())
                .unwrap()
                .avps(),
            &mut grouped,
        );
        grouped.sort_unstable();
        grouped.dedup();
        Sample {
            name,
            wire,
            grouped,
        }
    }

    fn walk(&self) -> Option<usize> {
        let g = &self.grouped[..];
        walk::walk_message(black_box(&self.wire), |code, vendor| {
            g.contains(&(vendor, code))
        })
    }
}

fn collect_grouped(avps: AvpIter<'_>, out: &mut Vec<(u32, u32)>) {
    for avp in avps.flatten() {
        let info = diameter::dict::DICTIONARY.avp(avp.code, avp.vendor);
        if info.is_some_and(|i| i.data_type == DataType::Grouped) {
            out.push((avp.vendor, avp.code));
            collect_grouped(avp.children(), out);
        }
    }
}

/// A hex fixture of `tests/fixtures/` (`#` lines are comments).
fn fixture(path: &str) -> Bytes {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// The samples: ours, then bytes other tools wrote.
fn samples() -> Vec<Sample> {
    vec![
        Sample::new("own_ccr_update", ccr_update().encode(7, 9).freeze()),
        Sample::new("erlang_ccr_initial", fixture("erlang_ccr.hex")),
        Sample::new("freediameter_ccr", fixture("freediameter_relayed_ccr.hex")),
        Sample::new(
            "freediameter_gy_ccr_update",
            fixture("relayed_apps/freediameter_relayed_gy_ccr_update.hex"),
        ),
    ]
}

/// The `diameter` crate 0.7.1 with every AVP this workspace's dictionaries define (its own
/// dictionary lacks the 3GPP AVPs, and it fails on an AVP it does not know), so that it
/// decodes the whole message, grouped AVPs included, like the typed decoder.
mod other_crate {
    use diameter::core::dictionary::DataType;
    use diameter_crate::dictionary::{Dictionary, DEFAULT_DICT_XML};
    pub use diameter_crate::DiameterMessage;
    use std::fmt::Write;
    use std::sync::Arc;

    pub fn dictionary() -> Arc<Dictionary> {
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

    /// Decodes the message into the crate's tree of AVPs, then drops it.
    pub fn decode(wire: &[u8], dict: &Arc<Dictionary>) {
        let mut cursor = std::io::Cursor::new(wire);
        let msg = DiameterMessage::decode_from(&mut cursor, Arc::clone(dict)).unwrap();
        criterion::black_box(&msg);
    }
}

/// Typed encode into a new buffer, as a handler's answer is.
fn typed_encode(ccr: &Ccr) {
    black_box(black_box(ccr).encode(7, 9));
}

/// The crate's encode into a new buffer.
fn crate_encode(msg: &other_crate::DiameterMessage) {
    let mut out = Vec::new();
    black_box(msg).encode_to(&mut out).unwrap();
    black_box(out);
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

    let dict = other_crate::dictionary();
    for s in samples() {
        let mut g = c.benchmark_group(s.name);
        g.throughput(criterion::Throughput::Bytes(s.wire.len() as u64));
        assert!(s.walk().is_some(), "{}: walk", s.name);
        let ccr =
            Ccr::decode(&RawMessage::decode_header(s.wire.clone(), &Limits::default()).unwrap())
                .unwrap_or_else(|e| panic!("{}: typed decode: {e:?}", s.name));
        let theirs = other_crate::DiameterMessage::decode_from(
            &mut std::io::Cursor::new(&s.wire[..]),
            dict.clone(),
        )
        .unwrap_or_else(|e| panic!("{}: diameter 0.7.1 decode: {e:?}", s.name));
        g.bench_function("baseline_walk", |b| b.iter(|| s.walk()));
        g.bench_function("typed_decode", |b| b.iter(|| typed_decode(&s.wire)));
        g.bench_function("diameter_0_7_1_decode", |b| {
            b.iter(|| other_crate::decode(black_box(&s.wire), &dict))
        });
        g.bench_function("typed_encode", |b| b.iter(|| typed_encode(&ccr)));
        g.bench_function("diameter_0_7_1_encode", |b| {
            b.iter(|| crate_encode(&theirs))
        });
        g.finish();
    }
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Median over `pairs` of the time of `a` over the time of `b`, the two measured
/// alternately in batches of `n` calls, so that a burst of load elsewhere affects both alike.
fn interleaved(pairs: usize, n: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    let mut ratios: Vec<f64> = (0..pairs)
        .map(|_| {
            let tb = per_call(n, &mut b);
            per_call(n, &mut a) / tb
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Per sample: typed decode against the walk and against the crate's decode, typed encode
/// against the crate's encode, each measured interleaved.
fn interleaved_ratios() {
    let dict = other_crate::dictionary();
    println!("interleaved, median of 40 pairs of 5,000 calls each:");
    println!(
        "sample                      bytes  decode/walk  crate-decode/decode  encode/crate-encode"
    );
    for s in samples() {
        let ccr =
            Ccr::decode(&RawMessage::decode_header(s.wire.clone(), &Limits::default()).unwrap())
                .unwrap();
        let theirs = other_crate::DiameterMessage::decode_from(
            &mut std::io::Cursor::new(&s.wire[..]),
            dict.clone(),
        )
        .unwrap();
        let walk = || {
            black_box(s.walk());
        };
        let decode = || typed_decode(&s.wire);
        let crate_decode = || other_crate::decode(black_box(&s.wire), &dict);
        let d_w = interleaved(40, 5_000, decode, walk);
        let c_d = interleaved(40, 5_000, crate_decode, decode);
        let e_c = interleaved(40, 5_000, || typed_encode(&ccr), || crate_encode(&theirs));
        println!(
            "{:<27} {:>5}  {:>10.2}x  {:>18.2}x  {:>18.2}x",
            s.name,
            s.wire.len(),
            d_w,
            c_d,
            e_c
        );
    }
    println!("targets: decode/walk <= 5, crate-decode/decode >= 4, encode/crate-encode <= 1");
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
