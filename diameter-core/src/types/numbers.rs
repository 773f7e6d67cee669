//! Integer32/64, Unsigned32/64 and Float32/64: big-endian, fixed length.

use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::BytesMut;

macro_rules! fixed_width {
    ($ty:ty, $n:expr, $what:expr) => {
        impl AvpValue for $ty {
            const MIN_LEN: usize = $n;
            #[inline]
            fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
                let data: [u8; $n] = avp.data().try_into().map_err(|_| ValueError($what))?;
                Ok(<$ty>::from_be_bytes(data))
            }
            #[inline]
            fn encode_value(&self, out: &mut BytesMut) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            #[inline]
            fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
                crate::avp::put_fixed(out, code, flags, vendor, &self.to_be_bytes());
            }
        }
    };
}

fixed_width!(i32, 4, "an Integer32 payload must be 4 bytes");
fixed_width!(u32, 4, "an Unsigned32 payload must be 4 bytes");
fixed_width!(i64, 8, "an Integer64 payload must be 8 bytes");
fixed_width!(u64, 8, "an Unsigned64 payload must be 8 bytes");
fixed_width!(f32, 4, "a Float32 payload must be 4 bytes");
fixed_width!(f64, 8, "a Float64 payload must be 8 bytes");
