//! The 20-byte message header (RFC 6733 §3).

use crate::error::{DecodeError, ErrorKind};
use bytes::BytesMut;

/// Length of the Diameter message header in bytes.
pub const HEADER_LEN: usize = 20;

/// Command flag bits (RFC 6733 §3).
pub struct CommandFlags;

impl CommandFlags {
    /// R: the message is a request.
    pub const REQUEST: u8 = 0x80;
    /// P: the message may be proxied, relayed or redirected.
    pub const PROXIABLE: u8 = 0x40;
    /// E: the answer carries a protocol error.
    pub const ERROR: u8 = 0x20;
    /// T: the request is a possible retransmission.
    pub const RETRANSMIT: u8 = 0x10;
    /// Bits that must be zero.
    pub const RESERVED: u8 = 0x0f;
}

/// A decoded message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Protocol version, always 1.
    pub version: u8,
    /// Message length in bytes, header included (24 bits on the wire).
    pub length: u32,
    /// Command flags, see [`CommandFlags`].
    pub flags: u8,
    /// Command code (24 bits on the wire).
    pub command_code: u32,
    /// Application-Id.
    pub application_id: u32,
    /// Hop-by-Hop Identifier.
    pub hop_by_hop: u32,
    /// End-to-End Identifier.
    pub end_to_end: u32,
}

impl Header {
    /// A version-1 header with the given fields and a length to be filled in on encode.
    pub fn new(
        command_code: u32,
        application_id: u32,
        flags: u8,
        hop_by_hop: u32,
        end_to_end: u32,
    ) -> Self {
        Header {
            version: 1,
            length: HEADER_LEN as u32,
            flags,
            command_code,
            application_id,
            hop_by_hop,
            end_to_end,
        }
    }

    /// Whether the R bit is set.
    pub fn is_request(&self) -> bool {
        self.flags & CommandFlags::REQUEST != 0
    }
    /// Whether the P bit is set.
    pub fn is_proxiable(&self) -> bool {
        self.flags & CommandFlags::PROXIABLE != 0
    }
    /// Whether the E bit is set.
    pub fn is_error(&self) -> bool {
        self.flags & CommandFlags::ERROR != 0
    }
    /// Whether the T bit is set.
    pub fn is_retransmit(&self) -> bool {
        self.flags & CommandFlags::RETRANSMIT != 0
    }

    /// Parses the header fields from the first 20 bytes, without checking them.
    pub fn parse_unchecked(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN {
            return None;
        }
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Header {
            version: b[0],
            length: word(0) & 0x00ff_ffff,
            flags: b[4],
            command_code: word(4) & 0x00ff_ffff,
            application_id: word(8),
            hop_by_hop: word(12),
            end_to_end: word(16),
        })
    }

    /// Parses and checks a header: version (5011), length (5015) and flag bits (3008).
    /// `available` is the number of bytes present for this message.
    pub fn parse(b: &[u8], available: usize) -> Result<Header, DecodeError> {
        // `ok_or_else`: the error is boxed, so building it eagerly would allocate per message.
        let h = Header::parse_unchecked(b).ok_or_else(|| {
            DecodeError::new(ErrorKind::InvalidMessageLength {
                length: b.len() as u32,
                available,
            })
        })?;
        h.checked(available)
    }

    /// [`Header::parse`]'s checks of a header already read.
    #[inline]
    pub fn checked(self, available: usize) -> Result<Header, DecodeError> {
        if self.version != 1 {
            return Err(DecodeError::new(ErrorKind::UnsupportedVersion(
                self.version,
            )));
        }
        let len = self.length as usize;
        if len < HEADER_LEN || !len.is_multiple_of(4) || len != available {
            return Err(DecodeError::new(ErrorKind::InvalidMessageLength {
                length: self.length,
                available,
            }));
        }
        let bad_bits = self.flags & CommandFlags::RESERVED != 0
            || (self.is_request() && self.is_error())
            || (!self.is_request() && self.is_retransmit());
        if bad_bits {
            return Err(DecodeError::new(ErrorKind::InvalidHeaderBits(self.flags)));
        }
        Ok(self)
    }

    /// Writes the header; `length` is written as given.
    pub fn write(&self, out: &mut BytesMut) {
        // One copy of the whole header: five 4-byte writes each check the capacity.
        let words = [
            (u32::from(self.version) << 24) | (self.length & 0x00ff_ffff),
            (u32::from(self.flags) << 24) | (self.command_code & 0x00ff_ffff),
            self.application_id,
            self.hop_by_hop,
            self.end_to_end,
        ];
        let mut h = [0u8; HEADER_LEN];
        for (bytes, word) in h.chunks_exact_mut(4).zip(words) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&h);
    }
}
