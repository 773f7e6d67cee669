//! AVP headers, the borrowed AVP view used while decoding, and AVP writers.

use crate::error::{DecodeError, ErrorKind};
use crate::types::InlineBytes;
use bytes::{Bytes, BytesMut};

/// AVP flag bits (RFC 6733 §4.1).
pub struct AvpFlags;

impl AvpFlags {
    /// V: a Vendor-Id field follows the header.
    pub const VENDOR: u8 = 0x80;
    /// M: the receiver must understand the AVP.
    pub const MANDATORY: u8 = 0x40;
    /// P: reserved for end-to-end security (deprecated by RFC 6733).
    pub const PROTECTED: u8 = 0x20;
    /// Bits that must be zero.
    pub const RESERVED: u8 = 0x1f;
}

/// Number of padding bytes after `len` bytes to reach a 4-byte boundary.
#[inline]
pub fn padding(len: usize) -> usize {
    (4 - (len & 3)) & 3
}

/// One AVP inside a buffer, borrowed: no copy and no reference count until asked for.
#[derive(Clone, Copy, Debug)]
pub struct AvpRef<'a> {
    buf: &'a Bytes,
    start: usize,
    header_len: usize,
    len: usize,
    /// AVP code.
    pub code: u32,
    /// AVP flags, see [`AvpFlags`].
    pub flags: u8,
    /// Vendor-Id, 0 when the V bit is clear.
    pub vendor: u32,
}

impl<'a> AvpRef<'a> {
    /// The payload, without header and padding.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buf[self.start + self.header_len..self.start + self.len]
    }
    /// The payload as a shared slice of the message buffer (no copy).
    #[inline]
    pub fn data_bytes(&self) -> Bytes {
        self.buf
            .slice(self.start + self.header_len..self.start + self.len)
    }
    /// Writes the payload into `slot` in place (see [`InlineBytes::set_from_slice_of`]).
    #[inline]
    pub fn data_into(&self, slot: &mut InlineBytes) {
        slot.set_from_slice_of(
            self.buf,
            self.start + self.header_len..self.start + self.len,
        )
    }
    /// The whole AVP, header included, padding excluded.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        &self.buf[self.start..self.start + self.len]
    }
    /// The whole AVP, header included, padding excluded, as a shared slice (no copy).
    #[inline]
    pub fn raw_bytes(&self) -> Bytes {
        self.buf.slice(self.start..self.start + self.len)
    }
    /// Whether the M bit is set.
    #[inline]
    pub fn is_mandatory(&self) -> bool {
        self.flags & AvpFlags::MANDATORY != 0
    }
    /// An owned copy of this AVP (shares the buffer).
    #[inline]
    pub fn to_raw(&self) -> RawAvp {
        RawAvp {
            code: self.code,
            flags: self.flags,
            vendor: self.vendor,
            data: self.data_bytes(),
        }
    }
    /// The AVPs inside this AVP's payload, for grouped AVPs.
    #[inline]
    pub fn children(&self) -> AvpIter<'a> {
        // In range: an AVP lies inside a buffer that `AvpIter::new` limited to `u32`.
        AvpIter::span(
            self.buf,
            (self.start + self.header_len) as u32,
            (self.start + self.len) as u32,
        )
    }
    /// The error for an invalid value of this AVP, with this AVP as Failed-AVP.
    #[cold]
    pub fn invalid_value(self, name: &'static str, reason: &'static str) -> DecodeError {
        DecodeError::with_avp(
            ErrorKind::InvalidAvpValue { name, reason },
            self.raw_bytes(),
        )
    }
}

/// Iterates over the AVPs of a message body or grouped payload, checking each header.
///
/// Yields 5014 for a length below the header size or past the end, and 3009 for reserved
/// flag bits; after an error the iterator ends.
///
/// The position and the end are `u32` halves of one word (a Diameter message is at most
/// 2^24 bytes), so the iterator is a pair of scalars that the generated decoders receive in
/// two registers. Passed through memory, reading it back stalled on store forwarding.
#[derive(Clone, Debug)]
pub struct AvpIter<'a> {
    buf: &'a Bytes,
    /// `pos | end << 32`.
    span: u64,
}

impl<'a> AvpIter<'a> {
    /// Iterates over all of `buf` (its first 4 GiB, far beyond any Diameter message).
    pub fn new(buf: &'a Bytes) -> Self {
        AvpIter::span(buf, 0, u32::try_from(buf.len()).unwrap_or(u32::MAX))
    }

    #[inline(always)]
    fn span(buf: &'a Bytes, pos: u32, end: u32) -> Self {
        AvpIter {
            buf,
            span: u64::from(pos) | u64::from(end) << 32,
        }
    }

    #[inline(always)]
    fn pos(&self) -> usize {
        self.span as u32 as usize
    }

    #[inline(always)]
    fn end(&self) -> usize {
        (self.span >> 32) as usize
    }

    /// Bytes left to walk.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.end() - self.pos()
    }

    #[inline(always)]
    fn set_pos(&mut self, pos: usize) {
        self.span = (self.span & !u64::from(u32::MAX)) | pos as u64;
    }

    fn fail(&mut self, err: DecodeError) -> Option<Result<AvpRef<'a>, DecodeError>> {
        self.set_pos(self.end());
        Some(Err(err))
    }
}

impl<'a> AvpIter<'a> {
    /// The error for the AVP header at `self.pos`: 5014 for a bad length, 3009 for
    /// reserved flag bits. Kept out of line so that `next` stays small and inlined.
    #[cold]
    #[inline(never)]
    fn bad_header(&mut self) -> Option<Result<AvpRef<'a>, DecodeError>> {
        let b = &self.buf[self.pos()..self.end()];
        let word = |i: usize| {
            b.get(i..i + 4)
                .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        };
        let code = word(0);
        if b.len() < 8 {
            let err = ErrorKind::InvalidAvpLength {
                code,
                vendor: 0,
                length: b.len() as u32,
            };
            let failed = RawAvp::new(code, 0, 0, Bytes::new()).to_bytes();
            return self.fail(DecodeError::with_avp(err, failed));
        }
        let flags = b[4];
        let len = (word(4) & 0x00ff_ffff) as usize;
        let header_len = if flags & AvpFlags::VENDOR != 0 { 12 } else { 8 };
        let vendor = if header_len == 12 { word(8) } else { 0 };
        if len < header_len || len > b.len() || b.len() < header_len {
            // Failed-AVP: the header with whatever payload is present (RFC 6733 §7.5).
            let have = b
                .len()
                .min(len.max(header_len))
                .max(header_len.min(b.len()));
            let data = if have > header_len {
                Bytes::copy_from_slice(&b[header_len..have])
            } else {
                Bytes::new()
            };
            let failed = RawAvp::new(code, flags, vendor, data).to_bytes();
            let err = ErrorKind::InvalidAvpLength {
                code,
                vendor,
                length: len as u32,
            };
            return self.fail(DecodeError::with_avp(err, failed));
        }
        let avp = self.buf.slice(self.pos()..self.pos() + len);
        self.fail(DecodeError::with_avp(
            ErrorKind::InvalidAvpBits { code, flags },
            avp,
        ))
    }
}

impl<'a> AvpIter<'a> {
    /// The well-formed AVP at the current position, without moving; `None` at the end or
    /// at a malformed header.
    #[inline(always)]
    fn peek_valid(&self) -> Option<AvpRef<'a>> {
        let b = self.buf.get(self.pos()..self.end())?;
        if b.len() < 8 {
            return None;
        }
        let code = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let flags = b[4];
        let len = (u32::from_be_bytes([0, b[5], b[6], b[7]])) as usize;
        let (header_len, vendor) = if flags & AvpFlags::VENDOR == 0 {
            (8, 0)
        } else if b.len() >= 12 {
            (12, u32::from_be_bytes([b[8], b[9], b[10], b[11]]))
        } else {
            return None;
        };
        if len < header_len || len > b.len() || flags & AvpFlags::RESERVED != 0 {
            return None;
        }
        Some(AvpRef {
            buf: self.buf,
            start: self.pos(),
            header_len,
            len,
            code,
            flags,
            vendor,
        })
    }

    #[inline(always)]
    fn advance(&mut self, avp: &AvpRef<'a>) {
        // The last AVP may omit its padding only if nothing follows; otherwise skip it
        // (the length rounded up to a multiple of 4).
        self.set_pos((self.pos() + ((avp.len + 3) & !3)).min(self.end()));
    }

    /// The next AVP, or `None` at the end or at a malformed header; [`AvpIter::finish`]
    /// then tells which. The decoders' hot path: no `Result` to build per AVP.
    #[inline(always)]
    pub fn next_avp(&mut self) -> Option<AvpRef<'a>> {
        let avp = self.peek_valid()?;
        self.advance(&avp);
        Some(avp)
    }

    /// After [`AvpIter::next_avp`] returned `None`: `Ok` at the end of the payload, or the
    /// error (5014, 3009) of the malformed header where it stopped.
    ///
    /// Takes the iterator by value: a decoder that lent it out by reference would have to
    /// keep it in memory, and reload its position through memory on every AVP.
    #[inline]
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.pos() >= self.end() {
            return Ok(());
        }
        self.finish_malformed()
    }

    #[cold]
    #[inline(never)]
    fn finish_malformed(mut self) -> Result<(), DecodeError> {
        match self.bad_header() {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<AvpRef<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos() >= self.end() {
            return None;
        }
        match self.next_avp() {
            Some(avp) => Some(Ok(avp)),
            None => self.bad_header(),
        }
    }
}

/// An owned AVP whose payload is kept raw: AVPs no dictionary knows, Failed-AVP contents,
/// and the `*[ AVP ]` part of a grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAvp {
    /// AVP code.
    pub code: u32,
    /// AVP flags; the V bit is set on encode when `vendor` is not 0 (and kept, with a
    /// Vendor-Id field of 0, when an AVP was received that way).
    pub flags: u8,
    /// Vendor-Id, 0 for none.
    pub vendor: u32,
    /// The payload, without padding.
    pub data: Bytes,
}

impl RawAvp {
    /// An AVP with the given header fields and payload.
    pub fn new(code: u32, flags: u8, vendor: u32, data: Bytes) -> Self {
        RawAvp {
            code,
            flags,
            vendor,
            data,
        }
    }

    /// Encoded length without padding.
    pub fn len(&self) -> usize {
        self.header_len() + self.data.len()
    }

    /// Whether this is an AVP received with the V bit and a Vendor-Id of 0, which
    /// [`put_header`] (V exactly when the vendor is not 0) would not give back.
    fn vendor_zero(&self) -> bool {
        self.vendor == 0 && self.flags & AvpFlags::VENDOR != 0
    }

    fn header_len(&self) -> usize {
        if self.vendor_zero() {
            12
        } else {
            header_len(self.vendor)
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Appends the AVP with padding.
    pub fn encode(&self, out: &mut BytesMut) {
        if self.vendor_zero() {
            let len = (12 + self.data.len()) as u32;
            let mut h = [0u8; 12];
            h[..4].copy_from_slice(&self.code.to_be_bytes());
            h[4..8].copy_from_slice(
                &((u32::from(self.flags) << 24) | (len & 0x00ff_ffff)).to_be_bytes(),
            );
            out.extend_from_slice(&h);
        } else {
            put_header(out, self.code, self.flags, self.vendor, self.data.len());
        }
        out.extend_from_slice(&self.data);
        put_padding(out, padding(self.data.len()));
    }

    /// The AVP encoded without trailing padding (the form kept in Failed-AVP errors).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len() + 3);
        self.encode(&mut out);
        out.truncate(self.len());
        out.freeze()
    }

    /// Parses the payload as a grouped AVP's children.
    pub fn children(&self) -> AvpIter<'_> {
        AvpIter::new(&self.data)
    }
}

#[inline]
fn header_len(vendor: u32) -> usize {
    if vendor != 0 {
        12
    } else {
        8
    }
}

/// Writes an AVP header for a payload of `data_len` bytes; sets V when `vendor` is not 0.
#[inline]
pub fn put_header(out: &mut BytesMut, code: u32, flags: u8, vendor: u32, data_len: usize) {
    let hl = header_len(vendor);
    // One copy of a fixed-size array: much cheaper than three 4-byte writes.
    out.extend_from_slice(&header_bytes(code, flags, vendor, hl + data_len)[..hl]);
}

/// The header of an AVP of `len` bytes in all, with the V bit set exactly when there is a
/// Vendor-Id; its first [`header_len`] bytes are the header.
#[inline(always)]
fn header_bytes(code: u32, flags: u8, vendor: u32, len: usize) -> [u8; 12] {
    let first = (u32::from(flag_bits(flags, vendor)) << 24) | (len as u32 & 0x00ff_ffff);
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&code.to_be_bytes());
    h[4..8].copy_from_slice(&first.to_be_bytes());
    h[8..].copy_from_slice(&vendor.to_be_bytes());
    h
}

/// Writes a whole AVP whose payload of 4 or 8 bytes is known: header and payload in one
/// copy, no length to fill in afterwards, no padding.
#[inline]
pub fn put_fixed(out: &mut BytesMut, code: u32, flags: u8, vendor: u32, data: &[u8]) {
    debug_assert!(data.len() == 4 || data.len() == 8);
    let hl = header_len(vendor);
    let len = hl + data.len();
    let mut avp = [0u8; 20];
    avp[..12].copy_from_slice(&header_bytes(code, flags, vendor, len));
    avp[hl..len].copy_from_slice(data);
    out.extend_from_slice(&avp[..len]);
}

/// Writes a whole AVP whose payload is `data`: the header with its length first, then the
/// payload and its padding, room for all of it reserved once.
#[inline]
pub fn put_bytes(out: &mut BytesMut, code: u32, flags: u8, vendor: u32, data: &[u8]) {
    out.reserve(header_len(vendor) + data.len() + 3);
    put_header(out, code, flags, vendor, data.len());
    out.extend_from_slice(data);
    put_padding(out, padding(data.len()));
}

/// The V bit set exactly when there is a Vendor-Id.
#[inline]
fn flag_bits(flags: u8, vendor: u32) -> u8 {
    if vendor != 0 {
        flags | AvpFlags::VENDOR
    } else {
        flags & !AvpFlags::VENDOR
    }
}

/// Appends `n` (0 to 3) zero bytes of padding.
#[inline]
pub fn put_padding(out: &mut BytesMut, n: usize) {
    if n != 0 {
        out.extend_from_slice(&[0u8; 3][..n]);
    }
}

/// Writes an AVP whose payload is produced by `body`, filling in the length afterwards
/// (so nested lengths are computed once, while writing) and padding the end.
#[inline]
pub fn put_with(
    out: &mut BytesMut,
    code: u32,
    flags: u8,
    vendor: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    let start = out.len();
    put_header(out, code, flags, vendor, 0);
    body(out);
    let len = out.len() - start;
    let len_field = &mut out[start + 5..start + 8];
    len_field.copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    put_padding(out, padding(len));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writers that know the payload before the header give the bytes of the general
    /// one (header, length filled in afterwards, padding), with and without a vendor.
    #[test]
    fn header_first_writers_match_the_general_one() {
        let general = |vendor: u32, flags: u8, data: &[u8]| {
            let mut out = BytesMut::new();
            put_with(&mut out, 263, flags, vendor, |o| o.extend_from_slice(data));
            out
        };
        for vendor in [0, 10415] {
            for flags in [0x40, 0x80 | 0x40, 0x80] {
                for data in [&b"abcd"[..], b"12345678"] {
                    let mut fixed = BytesMut::new();
                    put_fixed(&mut fixed, 263, flags, vendor, data);
                    assert_eq!(fixed, general(vendor, flags, data));
                }
                for data in [&b""[..], b"a", b"abcde", b"client.a.net;1;2"] {
                    let mut out = BytesMut::from(&b"xy"[..]);
                    put_bytes(&mut out, 263, flags, vendor, data);
                    assert_eq!(&out[2..], &general(vendor, flags, data)[..]);
                    assert_eq!(out.len() % 4, 2, "padded to a multiple of 4");
                }
            }
        }
    }

    /// Found by the `roundtrip` fuzz target: an AVP with the V bit and a Vendor-Id of 0,
    /// kept raw (an AVP the grammar does not name), was re-encoded without V and without
    /// the Vendor-Id field, so a relayed message changed.
    #[test]
    fn raw_avp_with_v_bit_and_vendor_zero_round_trips() {
        // Code 1048, flags V, length 16, Vendor-Id 0, payload 4 bytes.
        let wire = Bytes::from_static(&[0, 0, 4, 24, 0x80, 0, 0, 16, 0, 0, 0, 0, 0x28, 0, 0xaf, 0]);
        let mut it = AvpIter::new(&wire);
        let raw = it.next_avp().expect("an AVP").to_raw();
        assert_eq!((raw.code, raw.flags, raw.vendor), (1048, 0x80, 0));
        assert_eq!(raw.len(), 16);
        assert_eq!(raw.to_bytes(), wire);
        // The usual cases are unchanged: V follows the vendor.
        let plain = RawAvp::new(1, 0x40, 0, Bytes::from_static(b"ab"));
        assert_eq!(plain.to_bytes().len(), 10);
        let vendor = RawAvp::new(1, 0x40, 10415, Bytes::from_static(b"ab"));
        assert_eq!(vendor.to_bytes()[4], 0xc0);
    }
}
