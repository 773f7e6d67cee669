//! The RFC 6733 §4.2 basic and §4.3 derived data types, as [`AvpValue`]s.
//!
//! | Diameter type | Rust type |
//! |---|---|
//! | OctetString | [`bytes::Bytes`] |
//! | Integer32/64, Unsigned32/64, Float32/64 | `i32`, `i64`, `u32`, `u64`, `f32`, `f64` |
//! | UTF8String | [`Utf8String`] |
//! | DiameterIdentity | [`DiameterIdentity`] |
//! | DiameterURI | [`DiameterUri`] |
//! | Address | [`Address`] |
//! | Time | [`Time`] |
//! | IPFilterRule / QoSFilterRule | [`IpFilterRule`] / [`QosFilterRule`] |
//! | Enumerated | a generated enum (an `i32` on the wire) |

mod address;
mod inline_bytes;
mod numbers;
mod text;
mod time;
mod uri;

pub use address::Address;
pub use inline_bytes::{InlineBytes, INLINE_CAPACITY};
pub use text::{DiameterIdentity, IpFilterRule, QosFilterRule, Utf8String};
pub use time::Time;
pub use uri::{DiameterUri, UriProtocol, UriScheme, UriTransport};

use crate::traits::AvpValue;
use crate::{avp::AvpRef, error::ValueError};
use bytes::{Bytes, BytesMut};

impl AvpValue for Bytes {
    #[inline]
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        Ok(avp.data_bytes())
    }
    fn encode_value(&self, out: &mut BytesMut) {
        out.extend_from_slice(self);
    }
    #[inline]
    fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
        crate::avp::put_bytes(out, code, flags, vendor, self);
    }
}
