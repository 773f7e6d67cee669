//! UTF8String and the string-like derived types: short text copied inline, long text
//! shared with the message buffer (see [`InlineBytes`]).

use super::inline_bytes::InlineBytes;
use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::{Bytes, BytesMut};
use std::fmt;

/// A UTF8String (RFC 6733 §4.3.1): bytes checked to be UTF-8 once, on decode or creation.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8String(InlineBytes);

impl Utf8String {
    /// Wraps bytes after checking they are UTF-8.
    pub fn from_bytes(b: Bytes) -> Result<Self, ValueError> {
        check_utf8(&b)?;
        Ok(Utf8String(InlineBytes::from_bytes(b)))
    }
    /// A string known at compile time (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Utf8String(InlineBytes::from_static(s.as_bytes()))
    }
    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the field is private and every constructor takes a `str` or checks
        // the bytes with `check_utf8`, so they are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.0.as_slice()) }
    }
    /// The raw bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
    /// The raw bytes as [`Bytes`].
    pub fn to_bytes(&self) -> Bytes {
        self.0.to_bytes()
    }
}

impl From<&str> for Utf8String {
    fn from(s: &str) -> Self {
        Utf8String(InlineBytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for Utf8String {
    fn from(s: String) -> Self {
        Utf8String(InlineBytes::from_bytes(Bytes::from(s)))
    }
}
impl std::ops::Deref for Utf8String {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}
impl fmt::Debug for Utf8String {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for Utf8String {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl PartialEq<str> for Utf8String {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Utf8String {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl AvpValue for Utf8String {
    #[inline(always)]
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        let mut s = Utf8String::default();
        Self::decode_to(avp, &mut s)?;
        Ok(s)
    }
    #[inline(always)]
    fn decode_to(avp: &AvpRef<'_>, slot: &mut Self) -> Result<(), ValueError> {
        check_utf8(avp.data())?;
        avp.data_into(&mut slot.0);
        Ok(())
    }
    #[inline]
    fn encode_value(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.as_bytes());
    }
    #[inline]
    fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
        crate::avp::put_bytes(out, code, flags, vendor, self.as_bytes());
    }
}

/// Checks UTF-8, with a fast path for ASCII (almost all Diameter text is ASCII; the std
/// ASCII check runs a word at a time, the full UTF-8 check does not for short strings).
#[inline]
fn check_utf8(bytes: &[u8]) -> Result<(), ValueError> {
    if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(ValueError("not valid UTF-8"))
    }
}

/// Whether a byte may appear in a DiameterIdentity: letters, digits, `-`, `.`, `_`.
const fn identity_byte_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_';
        b += 1;
    }
    table
}
static IDENTITY_BYTES: [bool; 256] = identity_byte_table();

/// Checks a DiameterIdentity: a non-empty FQDN or realm (ASCII, so also valid UTF-8).
#[inline(always)]
fn check_identity(bytes: &[u8]) -> Result<(), ValueError> {
    // A fold without early exit: no branch per byte, and the loop unrolls.
    let valid = bytes
        .iter()
        .fold(true, |ok, &b| ok & IDENTITY_BYTES[b as usize]);
    if !bytes.is_empty() && valid {
        Ok(())
    } else {
        Err(ValueError(
            "a DiameterIdentity must be a non-empty FQDN or realm",
        ))
    }
}

/// Defines a newtype over [`Utf8String`] with an extra check on decode and in `new`:
/// `ascii CHECK` for a check of the bytes that admits ASCII only (a decode then needs no
/// UTF-8 check before it), else a check of the text.
macro_rules! text_newtype {
    (@type $(#[$doc:meta])* $name:ident, $check:expr, $ascii:expr) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Utf8String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
            /// Checks and wraps a string.
            pub fn new(s: impl Into<Utf8String>) -> Result<Self, ValueError> {
                let s = s.into();
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(s.as_str())?;
                Ok($name(s))
            }
        }
        impl From<&str> for $name {
            /// Wraps without checking; use [`Self::new`] for text from outside.
            fn from(s: &str) -> Self {
                $name(Utf8String::from(s))
            }
        }
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AvpValue for $name {
            #[inline(always)]
            fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
                let mut v = $name::default();
                Self::decode_to(avp, &mut v)?;
                Ok(v)
            }
            #[inline(always)]
            fn decode_to(avp: &AvpRef<'_>, slot: &mut Self) -> Result<(), ValueError> {
                // A constant: the compiler keeps one of the two paths.
                let ascii: Option<fn(&[u8]) -> Result<(), ValueError>> = $ascii;
                if let Some(ascii) = ascii {
                    ascii(avp.data())?;
                    avp.data_into(&mut (slot.0).0);
                    return Ok(());
                }
                Utf8String::decode_to(avp, &mut slot.0)?;
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(slot.as_str())
            }
            #[inline]
            fn encode_value(&self, out: &mut BytesMut) {
                self.0.encode_value(out)
            }
            #[inline]
            fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
                self.0.encode_avp(out, code, flags, vendor)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, ascii $check:path) => {
        text_newtype!(@type $(#[$doc])* $name, |s| $check(s.as_bytes()), Some($check));
    };
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        text_newtype!(@type $(#[$doc])* $name, $check, None);
    };
}

text_newtype!(
    /// A DiameterIdentity (RFC 6733 §4.3.1): the FQDN or realm of a Diameter node.
    DiameterIdentity,
    ascii check_identity
);

text_newtype!(
    /// An IPFilterRule (RFC 6733 §4.3.1), such as `permit in ip from any to 10.0.0.1`.
    IpFilterRule,
    |s| {
        let mut words = s.split_ascii_whitespace();
        let action = words.next();
        let dir = words.next();
        let ok = matches!(action, Some("permit" | "deny")) && matches!(dir, Some("in" | "out"));
        if ok { Ok(()) } else { Err(ValueError("an IPFilterRule starts with permit|deny in|out")) }
    }
);

text_newtype!(
    /// A QoSFilterRule (RFC 6733 §4.3.1), such as `tag 5 in ip from any to any`.
    QosFilterRule,
    |s| {
        let ok = matches!(s.split_ascii_whitespace().next(), Some("tag" | "meter"));
        if ok { Ok(()) } else { Err(ValueError("a QoSFilterRule starts with tag or meter")) }
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::{AvpIter, RawAvp};

    fn decode<V: AvpValue>(data: &[u8]) -> Result<V, ValueError> {
        let wire = RawAvp::new(264, 0x40, 0, Bytes::copy_from_slice(data)).to_bytes();
        let avp = AvpIter::new(&wire).next_avp().expect("an AVP");
        V::decode_value(&avp)
    }

    /// A DiameterIdentity is decoded from ASCII letters, digits, `-`, `.` and `_` only, and
    /// is never empty; its check of the raw bytes stands in for the UTF-8 check.
    #[test]
    fn diameter_identities_are_checked_on_decode() {
        for ok in ["a", "host.example-1.net", "A_B.c", "x".repeat(300).as_str()] {
            let id: DiameterIdentity = decode(ok.as_bytes()).unwrap();
            assert_eq!(id.as_str(), ok);
        }
        for bad in [
            &b""[..],
            b"a b",
            b"a/b",
            "h\u{e9}te".as_bytes(),
            b"\xff",
            b"a\0",
        ] {
            assert!(decode::<DiameterIdentity>(bad).is_err(), "{bad:?}");
        }
        // A UTF8String takes what an identity does not, but not invalid UTF-8.
        assert_eq!(
            decode::<Utf8String>("h\u{e9}te".as_bytes()).unwrap(),
            "h\u{e9}te"
        );
        assert!(decode::<Utf8String>(b"\xff").is_err());
    }
}
