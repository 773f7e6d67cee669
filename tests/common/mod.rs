//! Builds example messages from the dictionary tables: one valid value per AVP type.
#![allow(dead_code)]

pub mod messages;

use diameter::core::dictionary::{AvpInfo, DataType, Grammar};
use diameter::core::{bytes::Bytes, Header, RawAvp, RawMessage};
use diameter::dict::DICTIONARY;

/// A valid example payload for an AVP.
pub fn sample_payload(info: &AvpInfo, depth: u32) -> Bytes {
    match info.data_type {
        DataType::OctetString => Bytes::from_static(b"\x01\x02octets"),
        DataType::Integer32 => Bytes::copy_from_slice(&(-5i32).to_be_bytes()),
        DataType::Integer64 => Bytes::copy_from_slice(&(-6i64).to_be_bytes()),
        DataType::Unsigned32 => Bytes::copy_from_slice(&7u32.to_be_bytes()),
        DataType::Unsigned64 => Bytes::copy_from_slice(&8u64.to_be_bytes()),
        DataType::Float32 => Bytes::copy_from_slice(&1.5f32.to_be_bytes()),
        DataType::Float64 => Bytes::copy_from_slice(&2.5f64.to_be_bytes()),
        DataType::Address => Bytes::from_static(&[0, 1, 10, 0, 0, 1]),
        DataType::Time => Bytes::copy_from_slice(&3_900_000_000u32.to_be_bytes()),
        DataType::Utf8String => Bytes::from_static("héllo wörld".as_bytes()),
        DataType::DiameterIdentity => Bytes::from_static(b"peer.example.net"),
        DataType::DiameterUri => Bytes::from_static(b"aaa://peer.example.net:3868;transport=tcp"),
        DataType::Enumerated => Bytes::copy_from_slice(&info.enums[0].0.to_be_bytes()),
        DataType::IpFilterRule => Bytes::from_static(b"permit out ip from any to 10.0.0.1"),
        DataType::QosFilterRule => Bytes::from_static(b"tag 5 in ip from any to any"),
        DataType::Grouped => {
            let g = info.grouped.expect("grouped AVP has a grammar");
            let mut out = diameter::core::bytes::BytesMut::new();
            for avp in sample_avps(&g, depth + 1) {
                avp.encode(&mut out);
            }
            out.freeze()
        }
    }
}

/// One AVP of the given definition with its dictionary flags.
pub fn sample_avp(info: &AvpInfo, depth: u32) -> RawAvp {
    RawAvp::new(
        info.code,
        info.must & 0x60,
        info.vendor,
        sample_payload(info, depth),
    )
}

/// Example members for a grammar: every fixed/required entry its minimum times (at least
/// once), optional entries once while shallow, and an unknown non-mandatory AVP when the
/// grammar allows any.
pub fn sample_avps(g: &Grammar, depth: u32) -> Vec<RawAvp> {
    let mut out = Vec::new();
    for e in g.entries {
        if e.max == Some(0) {
            continue;
        }
        let info = DICTIONARY
            .avp(e.code, e.vendor)
            .expect("grammar entries are defined");
        let count = if e.min > 0 {
            e.min
        } else if depth < 4 {
            1
        } else {
            0
        };
        let count = match e.max {
            Some(max) => count.min(max),
            None if e.min == 0 && count == 1 && depth < 2 => 2,
            None => count,
        };
        for _ in 0..count {
            out.push(sample_avp(info, depth));
        }
    }
    if g.any {
        out.push(RawAvp::new(
            0xdead,
            0,
            99_999,
            Bytes::from_static(b"unknown"),
        ));
    }
    out
}

/// A whole example message for a command.
pub fn sample_message(
    code: u32,
    application_id: u32,
    request: bool,
    proxiable: bool,
    g: &Grammar,
) -> RawMessage {
    let flags = if request { 0x80 } else { 0 } | if proxiable { 0x40 } else { 0 };
    RawMessage::from_avps(
        Header::new(code, application_id, flags, 0x1234, 0x5678),
        &sample_avps(g, 0),
    )
}
