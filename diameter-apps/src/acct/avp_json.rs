//! AVPs as JSON for charging records: each AVP becomes `"Name": value` (a list when it
//! repeats), Grouped AVPs objects, named by the compiled dictionaries. Enumerated values
//! are their names, strings text, other octets hex, Time seconds since the Unix epoch.
//! AVPs the dictionaries do not know appear as `"code:vendor"` with hex data.

use diameter::dict::DICTIONARY;
use diameter_core::avp::AvpIter;
use diameter_core::bytes::{Bytes, BytesMut};
use diameter_core::dictionary::DataType;
use diameter_core::AvpGroup;
use serde_json::{Map, Value};

/// Deepest nesting of Grouped AVPs rendered; deeper ones are left as hex.
const MAX_DEPTH: usize = 16;

/// Seconds between 1900-01-01 (Diameter Time) and 1970-01-01.
const NTP_TO_UNIX: i64 = 2_208_988_800;

/// A typed grouped AVP's members as a JSON object.
pub fn group_to_json<G: AvpGroup>(group: &G) -> Value {
    let mut out = BytesMut::new();
    group.encode_avps(&mut out);
    avps_to_json(&out.freeze(), 0)
}

fn avps_to_json(body: &Bytes, depth: usize) -> Value {
    let mut map = Map::new();
    for avp in AvpIter::new(body).flatten() {
        let info = DICTIONARY.avp(avp.code, avp.vendor);
        let name = match info {
            Some(i) => i.name.to_owned(),
            None => format!("{}:{}", avp.code, avp.vendor),
        };
        let data = avp.data();
        let value = match info {
            Some(i) if i.data_type == DataType::Grouped && depth < MAX_DEPTH => {
                avps_to_json(&avp.data_bytes(), depth + 1)
            }
            Some(i) => leaf(i.data_type, data, |v| i.enum_name(v)),
            None => Value::String(hex(data)),
        };
        match map.get_mut(&name) {
            Some(Value::Array(list)) => list.push(value),
            Some(first) => {
                let first = first.take();
                map.insert(name, Value::Array(vec![first, value]));
            }
            None => {
                map.insert(name, value);
            }
        }
    }
    Value::Object(map)
}

fn leaf(ty: DataType, data: &[u8], enum_name: impl Fn(i32) -> Option<&'static str>) -> Value {
    let int32 = <[u8; 4]>::try_from(data).ok();
    let int64 = <[u8; 8]>::try_from(data).ok();
    match ty {
        DataType::Enumerated => match int32.map(i32::from_be_bytes) {
            Some(v) => enum_name(v).map_or(Value::from(v), Value::from),
            None => Value::String(hex(data)),
        },
        DataType::Integer32 => int32.map_or(Value::String(hex(data)), |b| {
            Value::from(i32::from_be_bytes(b))
        }),
        DataType::Unsigned32 => int32.map_or(Value::String(hex(data)), |b| {
            Value::from(u32::from_be_bytes(b))
        }),
        DataType::Time => int32.map_or(Value::String(hex(data)), |b| {
            Value::from(i64::from(u32::from_be_bytes(b)) - NTP_TO_UNIX)
        }),
        DataType::Integer64 => int64.map_or(Value::String(hex(data)), |b| {
            Value::from(i64::from_be_bytes(b))
        }),
        DataType::Unsigned64 => int64.map_or(Value::String(hex(data)), |b| {
            Value::from(u64::from_be_bytes(b))
        }),
        DataType::Utf8String
        | DataType::DiameterIdentity
        | DataType::DiameterUri
        | DataType::IpFilterRule
        | DataType::QosFilterRule => match std::str::from_utf8(data) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => Value::String(hex(data)),
        },
        _ => Value::String(hex(data)),
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::tgpp_ts32299::{
        EventType, ImsInformation, NodeFunctionality, RoleOfNode, ServiceInformation,
    };

    #[test]
    fn service_information_by_name_with_enum_names() {
        let si = ServiceInformation {
            ims_information: Some(
                ImsInformation {
                    event_type: Some(EventType {
                        sip_method: Some("INVITE".into()),
                        ..Default::default()
                    }),
                    role_of_node: Some(RoleOfNode::OriginatingRole),
                    node_functionality: NodeFunctionality::SCscf,
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        };
        let v = group_to_json(&si);
        let ims = &v["IMS-Information"];
        assert_eq!(ims["Event-Type"]["SIP-Method"], "INVITE", "{v}");
        assert_eq!(ims["Role-Of-Node"], "ORIGINATING_ROLE", "{v}");
        assert_eq!(ims["Node-Functionality"], "S_CSCF", "{v}");
    }
}
