//! What the codec benchmarks share: the samples (our own Gy CCR-UPDATE and CCRs other
//! tools wrote, from `tests/fixtures/`), the typed decode being measured, and the
//! interleaved timing that compares two functions on a shared, noisy machine.
#![allow(dead_code)]

use criterion::black_box;
use diameter::core::bytes::Bytes;
use diameter::core::dictionary::DataType;
use diameter::core::{walk, Address, AvpIter, Boxed, Command, Limits, RawMessage, Time};
use diameter::dict::dcca_rfc4006::{
    CcRequestType, Ccr, MultipleServicesCreditControl, RequestedServiceUnit, SubscriptionId,
    SubscriptionIdType, UsedServiceUnit,
};
use diameter::dict::tgpp_ts32299::{PsInformation, ServiceInformation};

/// A Gy CCR-UPDATE as a PGW sends it: two rating groups, usage and a new request in each.
pub fn ccr_update() -> Ccr {
    let mscc = |rg: u32, used: u64| MultipleServicesCreditControl {
        requested_service_unit: Some(Boxed::new(RequestedServiceUnit {
            cc_total_octets: Some(10_000_000),
            ..Default::default()
        })),
        used_service_unit: vec![UsedServiceUnit {
            cc_total_octets: Some(used),
            cc_input_octets: Some(used / 4),
            cc_output_octets: Some(used - used / 4),
            cc_time: Some(60),
            ..Default::default()
        }]
        .into(),
        rating_group: Some(rg),
        service_identifier: vec![rg * 10].into(),
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
        ]
        .into(),
        multiple_services_credit_control: vec![mscc(100, 4_800_000), mscc(200, 120_000)].into(),
        service_information: Some(Boxed::new(ServiceInformation {
            ps_information: Some(Boxed::new(PsInformation {
                tgpp_charging_id: Some(0x1234_5678),
                tgpp_pdp_type: Some(Default::default()),
                pdp_address: vec![Address::V4([10, 45, 0, 7].into())].into(),
                sgsn_address: vec![Address::V4([192, 0, 2, 10].into())].into(),
                ggsn_address: vec![Address::V4([192, 0, 2, 20].into())].into(),
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

/// Typed decode with grammar validation, then drop: what a handler does with a request.
/// The value is observed through a reference, so no copy of the large struct is timed.
pub fn typed_decode(wire: &Bytes) {
    let msg = RawMessage::decode_header(black_box(wire.clone()), &Limits::default()).unwrap();
    let ccr = Ccr::decode(&msg).unwrap();
    black_box(&ccr);
}

/// Typed decode, kept (to encode it again).
pub fn decoded(wire: &Bytes) -> Ccr {
    Ccr::decode(&RawMessage::decode_header(wire.clone(), &Limits::default()).unwrap())
        .unwrap_or_else(|e| panic!("typed decode: {e:?}"))
}

/// Typed encode into a new buffer, as a handler's answer is.
pub fn typed_encode(ccr: &Ccr) {
    black_box(black_box(ccr).encode(7, 9));
}

/// One message to measure: its bytes and the grouped AVPs the walk descends into.
pub struct Sample {
    pub name: &'static str,
    pub wire: Bytes,
    /// (vendor, code) of the grouped AVPs present, from the dictionary.
    pub grouped: Vec<(u32, u32)>,
}

impl Sample {
    pub fn new(name: &'static str, wire: Bytes) -> Sample {
        let mut grouped = Vec::new();
        let msg = RawMessage::decode(wire.clone(), &Limits::default()).unwrap();
        collect_grouped(msg.avps(), &mut grouped);
        grouped.sort_unstable();
        grouped.dedup();
        Sample {
            name,
            wire,
            grouped,
        }
    }

    /// The baseline: a zero-allocation walk checking every header and AVP length,
    /// descending into the grouped AVPs of this sample (a short slice scanned per AVP).
    pub fn walk(&self) -> Option<usize> {
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
pub fn fixture(path: &str) -> Bytes {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    // The root package and benches/vs_diameter_crate both use this module.
    let full = [root, concat!(env!("CARGO_MANIFEST_DIR"), "/../../")]
        .iter()
        .map(|r| format!("{r}tests/fixtures/{path}"))
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("fixture {path} not found"));
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
pub fn samples() -> Vec<Sample> {
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

/// Nanoseconds per call of `f`, over `n` calls.
pub fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Median over `pairs` of the time of `a` over the time of `b`, the two measured
/// alternately in batches of `n` calls, so that a burst of load elsewhere affects both alike.
pub fn interleaved(pairs: usize, n: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    let mut ratios: Vec<f64> = (0..pairs)
        .map(|_| {
            let tb = per_call(n, &mut b);
            per_call(n, &mut a) / tb
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}
