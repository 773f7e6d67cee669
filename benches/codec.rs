//! Decode and encode of one realistic Gy CCR-UPDATE, typed and untyped, beside a baseline
//! measured in the same run: a zero-allocation walk over the same bytes that checks every
//! header and AVP length. Targets: typed decode within 5× of the walk, typed encode within 3×.
//!
//! Run: `cargo bench --bench codec`. After criterion's figures it prints the ratios measured
//! interleaved (walk and typed decode alternating in short batches, median of 60 pairs), which
//! holds up better than two separate criterion runs when the machine is shared.

use criterion::{black_box, criterion_group, Criterion};
use diameter::core::bytes::Bytes;
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

/// Grouped AVPs of this message: (vendor, code). A short slice the walk scans per AVP.
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
/// The value is observed through a reference, so no copy of the 800-byte struct is timed.
fn typed_decode(wire: &Bytes) {
    let msg = RawMessage::decode_header(black_box(wire.clone()), &Limits::default()).unwrap();
    let ccr = Ccr::decode(&msg).unwrap();
    black_box(&ccr);
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
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Typed decode and encode against the walk, alternating in short batches; prints the median
/// ratio of 60 pairs, so that a burst of load elsewhere affects both sides alike.
fn interleaved_ratios() {
    let ccr = ccr_update();
    let wire = ccr.encode(7, 9).freeze();
    let walk = || {
        black_box(walk::walk_message(black_box(&wire), is_grouped));
    };
    let decode = || typed_decode(&wire);
    let encode = || {
        black_box(black_box(&ccr).encode(7, 9));
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut decode_ratios, mut encode_ratios) = (Vec::new(), Vec::new());
    for _ in 0..60 {
        let w = per_call(10_000, walk);
        decode_ratios.push(per_call(10_000, decode) / w);
        encode_ratios.push(per_call(10_000, encode) / w);
    }
    println!(
        "interleaved, median of 60: typed decode {:.2}x the walk (target 5x), typed encode {:.2}x (target 3x)",
        median(decode_ratios),
        median(encode_ratios)
    );
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
