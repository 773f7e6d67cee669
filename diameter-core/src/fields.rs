//! Reading and writing single base-protocol AVP values on untyped messages.
//!
//! The peer state machine and the router work on [`RawMessage`]s; these helpers read the
//! few AVPs they need (Origin-Host, Result-Code, ...) and build AVPs for the messages
//! they create, without a dictionary.

use crate::avp::{AvpFlags, RawAvp};
use crate::base::avp;
use crate::message::RawMessage;
use crate::types::Address;
use crate::AvpValue;
use bytes::{Bytes, BytesMut};
use std::net::IpAddr;

const M: u8 = AvpFlags::MANDATORY;

/// An Unsigned32 AVP with the M-bit.
pub fn u32_avp(code: u32, value: u32) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(&value.to_be_bytes()))
}

/// A UTF8String or DiameterIdentity AVP with the M-bit.
pub fn str_avp(code: u32, value: &str) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(value.as_bytes()))
}

/// An Address AVP with the M-bit.
pub fn address_avp(code: u32, ip: IpAddr) -> RawAvp {
    let mut out = BytesMut::with_capacity(18);
    Address::from(ip).encode_value(&mut out);
    RawAvp::new(code, M, 0, out.freeze())
}

/// A Grouped AVP with the M-bit built from its members.
pub fn grouped_avp(code: u32, members: &[RawAvp]) -> RawAvp {
    let mut out = BytesMut::new();
    for m in members {
        m.encode(&mut out);
    }
    RawAvp::new(code, M, 0, out.freeze())
}

/// Reads an Unsigned32 payload; `None` unless it has exactly 4 bytes.
pub fn read_u32(data: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(data).ok().map(u32::from_be_bytes)
}

/// Reads a UTF-8 payload; `None` if it is not valid UTF-8.
pub fn read_str(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The payload of the first top-level base AVP (vendor 0) with this code, borrowed from
/// the message.
pub fn find_data(msg: &RawMessage, code: u32) -> Option<&[u8]> {
    // `next_avp`: no `Result` per AVP; it stops at a malformed header, as a search must.
    let mut avps = msg.avps();
    while let Some(a) = avps.next_avp() {
        if a.code == code && a.vendor == 0 {
            return Some(a.data());
        }
    }
    None
}

/// The first top-level base AVP (vendor 0) with this code, as a string.
pub fn find_str(msg: &RawMessage, code: u32) -> Option<String> {
    read_str(find_data(msg, code)?).map(str::to_owned)
}

/// The first top-level base AVP (vendor 0) with this code, as an Unsigned32.
pub fn find_u32(msg: &RawMessage, code: u32) -> Option<u32> {
    read_u32(find_data(msg, code)?)
}

/// Origin-Host of a message.
pub fn origin_host(msg: &RawMessage) -> Option<String> {
    find_str(msg, avp::ORIGIN_HOST)
}

/// Origin-Realm of a message.
pub fn origin_realm(msg: &RawMessage) -> Option<String> {
    find_str(msg, avp::ORIGIN_REALM)
}

/// Destination-Realm of a request.
pub fn destination_realm(msg: &RawMessage) -> Option<String> {
    find_str(msg, avp::DESTINATION_REALM)
}

/// Destination-Host of a request.
pub fn destination_host(msg: &RawMessage) -> Option<String> {
    find_str(msg, avp::DESTINATION_HOST)
}

/// Session-Id of a message.
pub fn session_id(msg: &RawMessage) -> Option<String> {
    find_str(msg, avp::SESSION_ID)
}

/// Result-Code of an answer.
pub fn result_code(msg: &RawMessage) -> Option<u32> {
    find_u32(msg, avp::RESULT_CODE)
}

/// The Result-Code among encoded top-level AVPs (a message's body): for an answer
/// encoded in place, with no message around it. Stops at a malformed AVP header.
pub fn result_code_in(avps: &[u8]) -> Option<u32> {
    (EncodedAvps { rest: avps })
        .find(|a| a.code == avp::RESULT_CODE && a.vendor == 0)
        .and_then(|a| read_u32(a.data))
}

/// Whether encoded top-level AVPs (a message's body) hold a base AVP (vendor 0) with
/// this code. Stops at a malformed AVP header.
pub fn has_avp_in(avps: &[u8], code: u32) -> bool {
    (EncodedAvps { rest: avps }).any(|a| a.code == code && a.vendor == 0)
}

/// One AVP of an encoded body walked by [`EncodedAvps`].
struct EncodedAvp<'a> {
    code: u32,
    vendor: u32,
    data: &'a [u8],
}

/// The top-level AVPs of an encoded body, as plain bytes (no shared buffer around them:
/// an answer encoded in place). Ends at the first malformed AVP header.
struct EncodedAvps<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for EncodedAvps<'a> {
    type Item = EncodedAvp<'a>;

    #[inline]
    fn next(&mut self) -> Option<EncodedAvp<'a>> {
        let b = self.rest;
        if b.len() < 8 {
            return None;
        }
        let code = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let vendor_bit = b[4] & 0x80 != 0;
        let len = u32::from_be_bytes([0, b[5], b[6], b[7]]) as usize;
        let head = if vendor_bit { 12 } else { 8 };
        if len < head || len > b.len() {
            self.rest = &[];
            return None;
        }
        let vendor = match vendor_bit {
            true => u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            false => 0,
        };
        self.rest = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some(EncodedAvp {
            code,
            vendor,
            data: &b[head..len],
        })
    }
}

/// Every Route-Record of a request.
pub fn route_records(msg: &RawMessage) -> Vec<String> {
    msg.avps()
        .map_while(Result::ok)
        .filter(|a| a.code == avp::ROUTE_RECORD && a.vendor == 0)
        .filter_map(|a| read_str(a.data()).map(str::to_owned))
        .collect()
}

/// Compares two DiameterIdentities as RFC 6733 §5.6.4 does: octet by octet, ASCII
/// letters case-insensitively.
pub fn cmp_identity(a: &str, b: &str) -> std::cmp::Ordering {
    let la = a.bytes().map(|c| c.to_ascii_lowercase());
    let lb = b.bytes().map(|c| c.to_ascii_lowercase());
    la.cmp(lb)
}

/// Whether two DiameterIdentities are equal, ignoring ASCII case (text or the raw bytes
/// of an AVP: identities are ASCII). The usual exact spelling is compared first, at
/// memory-compare speed.
#[inline]
pub fn same_identity(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> bool {
    let (a, b) = (a.as_ref(), b.as_ref());
    a == b || a.eq_ignore_ascii_case(b)
}
