//! Text to AVP payload, by the AVP's data type in the dictionary.

use crate::cli::{hexin, timefmt};
use bytes::{BufMut, Bytes, BytesMut};
use diameter_core::dictionary::{AvpInfo, DataType};
use diameter_core::{
    Address, AvpValue, DiameterIdentity, DiameterUri, IpFilterRule, QosFilterRule, Time,
};
use std::net::IpAddr;

/// Encodes a leaf value written as text; the error says what the type expects.
pub fn encode(info: &AvpInfo, text: &str) -> Result<Bytes, String> {
    let t = text.trim();
    let mut out = BytesMut::new();
    let bad = |what: &str| format!("is {}: {what}", info.data_type.name());
    match info.data_type {
        DataType::Unsigned32 => out.put_u32(
            number(t)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("expected a number from 0 to 4294967295"))?,
        ),
        DataType::Unsigned64 => out.put_u64(
            t.parse::<u64>()
                .map_err(|_| bad("expected a number from 0 to 18446744073709551615"))?,
        ),
        DataType::Integer32 => out.put_i32(
            t.parse::<i32>()
                .map_err(|_| bad("expected a signed 32-bit number"))?,
        ),
        DataType::Integer64 => out.put_i64(
            t.parse::<i64>()
                .map_err(|_| bad("expected a signed 64-bit number"))?,
        ),
        DataType::Float32 => out.put_f32(t.parse::<f32>().map_err(|_| bad("expected a number"))?),
        DataType::Float64 => out.put_f64(t.parse::<f64>().map_err(|_| bad("expected a number"))?),
        DataType::Enumerated => {
            let v = info
                .enums
                .iter()
                .find(|(_, n)| {
                    n.eq_ignore_ascii_case(t) || n.replace('_', "-").eq_ignore_ascii_case(t)
                })
                .map(|(v, _)| *v)
                .or_else(|| t.parse::<i32>().ok())
                .ok_or_else(|| {
                    let names: Vec<&str> = info.enums.iter().map(|(_, n)| *n).collect();
                    bad(&format!("expected one of {} or a number", names.join(", ")))
                })?;
            out.put_i32(v);
        }
        DataType::Utf8String => out.put_slice(t.as_bytes()),
        DataType::DiameterIdentity => DiameterIdentity::new(t)
            .map_err(|e| bad(&e.to_string()))?
            .encode_value(&mut out),
        DataType::DiameterUri => DiameterUri::parse(t)
            .map_err(|e| bad(&e.to_string()))?
            .encode_value(&mut out),
        DataType::IpFilterRule => IpFilterRule::new(t)
            .map_err(|e| bad(&e.to_string()))?
            .encode_value(&mut out),
        DataType::QosFilterRule => QosFilterRule::new(t)
            .map_err(|e| bad(&e.to_string()))?
            .encode_value(&mut out),
        DataType::Address => {
            let ip: IpAddr = t
                .parse()
                .map_err(|_| bad("expected an IPv4 or IPv6 address"))?;
            Address::from(ip).encode_value(&mut out)
        }
        DataType::Time => time(t)
            .ok_or_else(|| {
                bad("expected now, a UTC date such as 2026-01-01T00:00:00Z, or Unix seconds")
            })?
            .encode_value(&mut out),
        DataType::OctetString => match t.strip_prefix("0x") {
            Some(h) => out.put_slice(&hexin::parse(h).map_err(|e| bad(&format!("bad hex: {e}")))?),
            None => out.put_slice(text.as_bytes()),
        },
        DataType::Grouped => {
            return Err(format!(
                "is Grouped: give its members, such as {}.Member=value",
                info.name
            ))
        }
    }
    Ok(out.freeze())
}

/// A number in decimal or 0x hex.
fn number(t: &str) -> Option<u64> {
    match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

fn time(t: &str) -> Option<Time> {
    if t.eq_ignore_ascii_case("now") {
        return Some(Time::now());
    }
    let secs = match t.parse::<i64>() {
        Ok(s) => s,
        Err(_) => timefmt::parse_utc(t)?,
    };
    Time::from_unix_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::DICTIONARY;

    fn enc(name: &str, v: &str) -> Result<Bytes, String> {
        encode(DICTIONARY.avp_by_name(name).expect("avp"), v)
    }

    #[test]
    fn by_type() {
        assert_eq!(
            &enc("CC-Request-Type", "initial_request").unwrap()[..],
            &[0, 0, 0, 1]
        );
        assert_eq!(&enc("CC-Request-Type", "3").unwrap()[..], &[0, 0, 0, 3]);
        let e = enc("CC-Request-Type", "bogus").unwrap_err();
        assert!(
            e.starts_with("is Enumerated: expected one of INITIAL_REQUEST"),
            "{e}"
        );
        assert_eq!(enc("CC-Total-Octets", "1000").unwrap().len(), 8);
        assert_eq!(
            &enc("Host-IP-Address", "10.0.0.1").unwrap()[..],
            &[0, 1, 10, 0, 0, 1]
        );
        assert!(enc("Origin-Host", "bad host").is_err());
        assert!(enc("Rating-Group", "-1").is_err());
        assert_eq!(
            &enc("Event-Timestamp", "2036-02-07T06:28:16Z").unwrap()[..],
            &[0, 0, 0, 0]
        );
        assert_eq!(&enc("CC-Correlation-Id", "0x0102").unwrap()[..], &[1, 2]);
    }
}
