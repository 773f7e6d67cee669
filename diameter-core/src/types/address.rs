//! The Address type (RFC 6733 §4.3.1): a 2-byte IANA address family, then the address.

use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::{BufMut, Bytes, BytesMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An Address value. IPv4 and IPv6 are parsed; E.164 and every other family is kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// Family 1.
    V4(Ipv4Addr),
    /// Family 2.
    V6(Ipv6Addr),
    /// Family 8: E.164 digits, kept as sent.
    E164(Bytes),
    /// Any other family, with its raw payload.
    Other {
        /// IANA address family number.
        family: u16,
        /// The address bytes.
        data: Bytes,
    },
}

impl Address {
    /// The IP address, for families 1 and 2.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::V4(a) => Some(IpAddr::V4(*a)),
            Address::V6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }
}

impl Default for Address {
    /// `0.0.0.0`.
    fn default() -> Self {
        Address::V4(Ipv4Addr::UNSPECIFIED)
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Address::V4(a),
            IpAddr::V6(a) => Address::V6(a),
        }
    }
}

impl AvpValue for Address {
    const MIN_LEN: usize = 6;

    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        let d = avp.data();
        if d.len() < 2 {
            return Err(ValueError("an Address needs a 2-byte family"));
        }
        let family = u16::from_be_bytes([d[0], d[1]]);
        let rest = &d[2..];
        match family {
            1 => <[u8; 4]>::try_from(rest)
                .map(|a| Address::V4(a.into()))
                .map_err(|_| ValueError("an IPv4 Address must have 4 bytes")),
            2 => <[u8; 16]>::try_from(rest)
                .map(|a| Address::V6(a.into()))
                .map_err(|_| ValueError("an IPv6 Address must have 16 bytes")),
            8 => Ok(Address::E164(avp.data_bytes().slice(2..))),
            _ => Ok(Address::Other {
                family,
                data: avp.data_bytes().slice(2..),
            }),
        }
    }

    /// IPv4, by far the most common family, is written straight into the slot; returning
    /// it through a `Result` first cost a store-forwarding stall on the enum's odd layout.
    #[inline(always)]
    fn decode_to(avp: &AvpRef<'_>, slot: &mut Self) -> Result<(), ValueError> {
        if let [0, 1, a, b, c, d] = *avp.data() {
            *slot = Address::V4(Ipv4Addr::new(a, b, c, d));
            return Ok(());
        }
        // A copy, so that only this path needs the AVP in memory.
        let avp = *avp;
        *slot = Self::decode_value(&avp)?;
        Ok(())
    }

    fn encode_value(&self, out: &mut BytesMut) {
        match self {
            Address::V4(a) => {
                let o = a.octets();
                out.extend_from_slice(&[0, 1, o[0], o[1], o[2], o[3]]);
            }
            Address::V6(a) => {
                out.put_u16(2);
                out.put_slice(&a.octets());
            }
            Address::E164(d) => {
                out.put_u16(8);
                out.put_slice(d);
            }
            Address::Other { family, data } => {
                out.put_u16(*family);
                out.put_slice(data);
            }
        }
    }
}
