//! Byte storage for decoded text: short payloads copied inline, long ones shared.
//!
//! Most Diameter text (realms, host names, short Session-Ids, MCC-MNC, APNs) is a few dozen
//! bytes. Copying that into the value costs less than sharing the message buffer, which
//! takes an atomic reference-count increment on decode and a decrement on drop.

use bytes::Bytes;
use std::hash::{Hash, Hasher};

/// Payloads up to this many bytes are stored inline (the type is 48 bytes in all).
pub const INLINE_CAPACITY: usize = 46;

/// Immutable bytes: inline up to [`INLINE_CAPACITY`], otherwise a shared [`Bytes`].
#[derive(Clone)]
pub struct InlineBytes(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_CAPACITY] },
    Shared(Bytes),
}

impl InlineBytes {
    /// No bytes.
    pub const fn new() -> Self {
        InlineBytes(Repr::Inline {
            len: 0,
            buf: [0; INLINE_CAPACITY],
        })
    }

    /// Static bytes, shared without a copy.
    pub const fn from_static(b: &'static [u8]) -> Self {
        InlineBytes(Repr::Shared(Bytes::from_static(b)))
    }

    /// Copies `b` inline when it fits; otherwise copies it into a new shared buffer.
    #[inline]
    pub fn copy_from_slice(b: &[u8]) -> Self {
        Self::inline(b).unwrap_or_else(|| InlineBytes(Repr::Shared(Bytes::copy_from_slice(b))))
    }

    /// Copies `b` inline when it fits; otherwise keeps the shared buffer (no copy).
    #[inline]
    pub fn from_bytes(b: Bytes) -> Self {
        Self::inline(&b).unwrap_or(InlineBytes(Repr::Shared(b)))
    }

    /// Sets `self` to `whole[range]`: copied inline when it fits, otherwise shared with
    /// `whole` (no copy). Written in place, so the decoders fill a field without moving a
    /// value around.
    #[inline(always)]
    pub fn set_from_slice_of(&mut self, whole: &Bytes, range: std::ops::Range<usize>) {
        let len = range.len();
        if len > INLINE_CAPACITY {
            *self = InlineBytes(Repr::Shared(whole.slice(range)));
            return;
        }
        if let Repr::Shared(_) = self.0 {
            *self = Self::new();
        }
        if let Repr::Inline { len: l, buf } = &mut self.0 {
            // Copy a whole buffer's worth when the source has it (a fixed-size copy the
            // compiler turns into a few vector moves); bytes past `len` are never read.
            match whole.get(range.start..range.start + INLINE_CAPACITY) {
                Some(window) => buf.copy_from_slice(window),
                None => buf[..len].copy_from_slice(&whole[range]),
            }
            *l = len as u8;
        }
    }

    #[inline]
    fn inline(b: &[u8]) -> Option<Self> {
        if b.len() > INLINE_CAPACITY {
            return None;
        }
        let mut buf = [0; INLINE_CAPACITY];
        buf[..b.len()].copy_from_slice(b);
        Some(InlineBytes(Repr::Inline {
            len: b.len() as u8,
            buf,
        }))
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Shared(b) => b,
        }
    }

    /// The bytes as [`Bytes`] (a copy for inline storage, a shared handle otherwise).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Repr::Shared(b) => b.clone(),
        }
    }
}

impl Default for InlineBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for InlineBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for InlineBytes {}

impl PartialOrd for InlineBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InlineBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.as_slice().escape_ascii())
    }
}

impl Hash for InlineBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bytes_are_inline_and_long_ones_shared() {
        let short = InlineBytes::from_bytes(Bytes::from_static(b"operator.net"));
        assert!(matches!(short.0, Repr::Inline { len: 12, .. }));
        assert_eq!(short.as_slice(), b"operator.net");

        let long_text = [b'a'; INLINE_CAPACITY + 1];
        let whole = Bytes::copy_from_slice(&long_text);
        let mut long = InlineBytes::new();
        long.set_from_slice_of(&whole, 0..whole.len());
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(long.as_slice(), &long_text[..]);
    }

    #[test]
    fn equality_and_order_follow_the_bytes_not_the_storage() {
        let text = b"pgw1.operator.net";
        let inline = InlineBytes::copy_from_slice(text);
        let shared = InlineBytes::from_static(text);
        assert_eq!(inline, shared);
        assert_eq!(inline.cmp(&shared), std::cmp::Ordering::Equal);
        assert!(InlineBytes::copy_from_slice(b"a") < InlineBytes::from_static(b"b"));
        assert_eq!(std::mem::size_of::<InlineBytes>(), 48);
        assert_eq!(std::mem::size_of::<Option<InlineBytes>>(), 48);
    }

    #[test]
    fn set_in_place_replaces_the_old_value() {
        let whole = Bytes::from_static(b"xxorigin.example.comyy");
        let mut b = InlineBytes::new();
        b.set_from_slice_of(&whole, 2..20);
        assert_eq!(b.as_slice(), b"origin.example.com");
        b.set_from_slice_of(&whole, 20..22);
        assert_eq!(b.as_slice(), b"yy");
        let long = Bytes::from(vec![b'z'; 100]);
        b.set_from_slice_of(&long, 0..100);
        assert_eq!(b.as_slice(), &long[..]);
        b.set_from_slice_of(&whole, 0..2);
        assert_eq!(b.as_slice(), b"xx");
    }

    #[test]
    fn exactly_full_inline_buffer() {
        let text = [b'x'; INLINE_CAPACITY];
        let b = InlineBytes::copy_from_slice(&text);
        assert!(matches!(b.0, Repr::Inline { .. }));
        assert_eq!(b.as_slice(), &text[..]);
        assert_eq!(b.to_bytes(), Bytes::copy_from_slice(&text));
    }
}
