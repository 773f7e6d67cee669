//! The Time type (RFC 6733 §4.3.1): NTP seconds, with the 2036 wrap rule.

use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::{BufMut, BytesMut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_TO_UNIX: i64 = 2_208_988_800;

/// A Time value: the 32-bit NTP seconds as sent.
///
/// RFC 6733 §4.3.1: the field wraps on 2036-02-07 06:28:16 UTC; values with the top bit
/// clear are read as the next era (2036–2104), values with it set as 1968–2036.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time(pub u32);

impl Time {
    /// Seconds since the Unix epoch, with the 2036 rule applied.
    pub fn unix_seconds(self) -> i64 {
        if self.0 & 0x8000_0000 != 0 {
            i64::from(self.0) - NTP_TO_UNIX
        } else {
            i64::from(self.0) + (1i64 << 32) - NTP_TO_UNIX
        }
    }

    /// From seconds since the Unix epoch; `None` outside 1968-01-20 .. 2104-02-26.
    pub fn from_unix_seconds(secs: i64) -> Option<Time> {
        let ntp = secs + NTP_TO_UNIX;
        let low = 1i64 << 31;
        if (low..(1i64 << 32)).contains(&ntp) {
            Some(Time(ntp as u32))
        } else if ((1i64 << 32)..(1i64 << 32) + low).contains(&ntp) {
            Some(Time((ntp - (1i64 << 32)) as u32))
        } else {
            None
        }
    }

    /// As a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let s = self.unix_seconds();
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    }

    /// The current time (whole seconds).
    pub fn now() -> Time {
        let s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Time::from_unix_seconds(s).unwrap_or(Time(0))
    }
}

impl AvpValue for Time {
    const MIN_LEN: usize = 4;
    #[inline]
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        let d: [u8; 4] = avp
            .data()
            .try_into()
            .map_err(|_| ValueError("a Time payload must be 4 bytes"))?;
        Ok(Time(u32::from_be_bytes(d)))
    }
    fn encode_value(&self, out: &mut BytesMut) {
        out.put_u32(self.0);
    }
    #[inline]
    fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
        crate::avp::put_fixed(out, code, flags, vendor, &self.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eras_around_2036() {
        // 2036-02-07 06:28:16 UTC is NTP 2^32, which is 0 on the wire.
        let wrap = (1i64 << 32) - NTP_TO_UNIX;
        assert_eq!(Time::from_unix_seconds(wrap), Some(Time(0)));
        assert_eq!(Time(0).unix_seconds(), wrap);
        assert_eq!(Time(0xffff_ffff).unix_seconds(), wrap - 1);
        // 2020-01-01 is in era 0 with the top bit set.
        let t = Time::from_unix_seconds(1_577_836_800).unwrap();
        assert!(t.0 & 0x8000_0000 != 0);
        assert_eq!(t.unix_seconds(), 1_577_836_800);
        assert_eq!(Time::from_unix_seconds(-100 * 365 * 86_400), None);
    }
}
