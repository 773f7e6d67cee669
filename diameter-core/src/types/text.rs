//! UTF8String and the string-like derived types, kept as shared bytes (no copy on decode).

use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::{Bytes, BytesMut};
use std::fmt;

/// A UTF8String (RFC 6733 §4.3.1): bytes checked to be UTF-8 once, on decode or creation.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8String(Bytes);

impl Utf8String {
    /// Wraps bytes after checking they are UTF-8.
    pub fn from_bytes(b: Bytes) -> Result<Self, ValueError> {
        std::str::from_utf8(&b).map_err(|_| ValueError("not valid UTF-8"))?;
        Ok(Utf8String(b))
    }
    /// A string known at compile time (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Utf8String(Bytes::from_static(s.as_bytes()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        // The constructors only accept valid UTF-8; this cannot fail, but never panic.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl From<&str> for Utf8String {
    fn from(s: &str) -> Self {
        Utf8String(Bytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for Utf8String {
    fn from(s: String) -> Self {
        Utf8String(Bytes::from(s))
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
    #[inline]
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        std::str::from_utf8(avp.data()).map_err(|_| ValueError("not valid UTF-8"))?;
        Ok(Utf8String(avp.data_bytes()))
    }
    #[inline]
    fn encode_value(&self, out: &mut BytesMut) {
        out.extend_from_slice(&self.0);
    }
}

/// Defines a newtype over [`Utf8String`] with an extra check on decode.
macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
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
            #[inline]
            fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
                let s = Utf8String::decode_value(avp)?;
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(s.as_str())?;
                Ok($name(s))
            }
            #[inline]
            fn encode_value(&self, out: &mut BytesMut) {
                self.0.encode_value(out)
            }
        }
    };
}

text_newtype!(
    /// A DiameterIdentity (RFC 6733 §4.3.1): the FQDN or realm of a Diameter node.
    DiameterIdentity,
    |s| {
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if ok { Ok(()) } else { Err(ValueError("a DiameterIdentity must be a non-empty FQDN or realm")) }
    }
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
