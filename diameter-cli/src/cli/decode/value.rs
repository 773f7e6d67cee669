//! Typed values of leaf AVPs, decoded with the core data types.

use super::super::timefmt;
use bytes::Bytes;
use diameter_core::dictionary::{AvpInfo, DataType, Dictionary};
use diameter_core::{Address, AvpRef, AvpValue, DiameterUri, Time, Utf8String};

/// A decoded AVP value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A grouped AVP's children, and the problem that ended them early.
    Grouped {
        /// The child AVPs.
        children: Vec<super::tree::AvpNode>,
        /// A bad child AVP, if any.
        error: Option<super::tree::Problem>,
    },
    /// Unsigned32/64, with a name for Result-Codes and Application-Ids.
    Unsigned(u64, Option<&'static str>),
    /// Integer32/64.
    Signed(i64),
    /// Float32/64.
    Float(f64),
    /// Enumerated, with its name when the dictionary has one.
    Enum(i32, Option<&'static str>),
    /// UTF8String, DiameterIdentity, DiameterURI, IPFilterRule, QoSFilterRule.
    Text(String),
    /// Address, as text.
    Address(String),
    /// Time: NTP seconds as sent and Unix seconds after the 2036 rule.
    Time {
        /// The 32-bit NTP seconds.
        ntp: u32,
        /// Seconds since the Unix epoch.
        unix: i64,
    },
    /// OctetString.
    Octets(Bytes),
    /// An AVP the dictionary does not know: its payload.
    Raw(Bytes),
    /// A payload that does not fit the AVP's type.
    Invalid {
        /// Why.
        reason: String,
        /// The payload.
        raw: Bytes,
    },
}

impl Value {
    /// The Time as a UTC date.
    pub fn utc(unix: i64) -> String {
        timefmt::utc(unix)
    }
}

/// Decodes a leaf value by its type.
pub fn decode_value(dict: &'static Dictionary, info: &AvpInfo, avp: &AvpRef<'_>) -> Value {
    let r = match info.data_type {
        DataType::Unsigned32 => u32::decode_value(avp).map(|v| {
            let name = match (info.code, info.vendor) {
                (268 | 298, 0) => dict.result_code_name(v),
                (258 | 259, 0) => dict.applications.iter().find(|a| a.id == v).map(|a| a.name),
                _ => None,
            };
            Value::Unsigned(v.into(), name)
        }),
        DataType::Unsigned64 => u64::decode_value(avp).map(|v| Value::Unsigned(v, None)),
        DataType::Integer32 => i32::decode_value(avp).map(|v| Value::Signed(v.into())),
        DataType::Integer64 => i64::decode_value(avp).map(Value::Signed),
        DataType::Float32 => f32::decode_value(avp).map(|v| Value::Float(v.into())),
        DataType::Float64 => f64::decode_value(avp).map(Value::Float),
        DataType::Enumerated => i32::decode_value(avp).map(|v| Value::Enum(v, info.enum_name(v))),
        DataType::Utf8String
        | DataType::DiameterIdentity
        | DataType::IpFilterRule
        | DataType::QosFilterRule => {
            Utf8String::decode_value(avp).map(|s| Value::Text(s.as_str().to_owned()))
        }
        DataType::DiameterUri => {
            DiameterUri::decode_value(avp).map(|u| Value::Text(u.as_str().to_owned()))
        }
        DataType::Address => Address::decode_value(avp).map(|a| Value::Address(address(&a))),
        DataType::Time => Time::decode_value(avp).map(|t| Value::Time {
            ntp: t.0,
            unix: t.unix_seconds(),
        }),
        DataType::OctetString => Ok(Value::Octets(avp.data_bytes())),
        DataType::Grouped => Ok(Value::Raw(avp.data_bytes())),
    };
    r.unwrap_or_else(|e| Value::Invalid {
        reason: format!("not a valid {}: {e}", info.data_type.name()),
        raw: avp.data_bytes(),
    })
}

fn address(a: &Address) -> String {
    match a {
        Address::V4(ip) => ip.to_string(),
        Address::V6(ip) => ip.to_string(),
        Address::E164(d) => format!("E.164 {}", String::from_utf8_lossy(d)),
        Address::Other { family, data } => {
            format!("family {family}: 0x{}", super::super::hexin::encode(data))
        }
    }
}

/// Printable ASCII text of a payload, if it is all printable.
pub fn printable(b: &[u8]) -> Option<&str> {
    if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) {
        std::str::from_utf8(b).ok()
    } else {
        None
    }
}
