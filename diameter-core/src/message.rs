//! Whole messages, untyped: the header plus the body kept as shared bytes.

use crate::avp::{AvpIter, RawAvp};
use crate::error::{DecodeError, ErrorKind};
use crate::header::{Header, HEADER_LEN};
use crate::walk;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Limits against hostile input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted message, in bytes.
    pub max_message_len: u32,
    /// Deepest accepted nesting of grouped AVPs. Default 16.
    pub max_depth: u32,
    /// Most AVPs in one message: the top level when a message is framed, every level
    /// when it is decoded as a typed command. More is answered 5009
    /// DIAMETER_AVP_OCCURS_TOO_MANY_TIMES with the first AVP over the limit as
    /// Failed-AVP. Default 4096.
    pub max_avps: u32,
    /// Most occurrences of one repeated member of a grammar (a `*[ X ]` entry) in one
    /// grouped AVP or command, whatever the grammar allows; more is answered 5009 with
    /// the first AVP over the limit as Failed-AVP. With [`Limits::max_avps`] it keeps
    /// what a typed decode allocates proportionate to the input. Default 256.
    pub max_repeat: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: 1 << 20,
            max_depth: 16,
            max_avps: 4096,
            max_repeat: 256,
        }
    }
}

/// A message with its body undecoded: what relays forward and what typed decoding starts from.
///
/// Encoding a decoded `RawMessage` reproduces its input byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The header; `length` is recomputed on encode.
    pub header: Header,
    /// The AVPs, each padded, as on the wire.
    pub body: Bytes,
}

impl RawMessage {
    /// Checks the header (5011, 5015, 3008), every top-level AVP header (5014, 3009) and
    /// their number ([`Limits::max_avps`], 5009), then keeps the bytes without copying.
    pub fn decode(bytes: Bytes, limits: &Limits) -> Result<RawMessage, DecodeError> {
        let msg = RawMessage::decode_header(bytes, limits)?;
        msg.check_avps(limits)?;
        Ok(msg)
    }

    /// Checks every top-level AVP header (5014, 3009) and their number
    /// ([`Limits::max_avps`], 5009): what [`RawMessage::decode`] adds to
    /// [`RawMessage::decode_header`]. A message a typed decoder reads in full needs no
    /// such walk beforehand; one handled raw, relayed or redirected does.
    pub fn check_avps(&self, limits: &Limits) -> Result<(), DecodeError> {
        let mut count = 0u32;
        for avp in self.avps() {
            let avp = avp?;
            count += 1;
            if count > limits.max_avps {
                return Err(crate::traits::too_many_avps(avp, limits.max_avps));
            }
        }
        Ok(())
    }

    /// Checks only the header (5011, 5015, 3008) and keeps the body unread. Typed decoding
    /// checks every AVP header itself, so this is the fast path in front of it.
    pub fn decode_header(bytes: Bytes, limits: &Limits) -> Result<RawMessage, DecodeError> {
        // The header is read once: its length against the limit, then its other checks.
        let header = match Header::parse_unchecked(&bytes) {
            Some(h) if h.length > limits.max_message_len => {
                return Err(DecodeError::new(ErrorKind::MessageTooLarge {
                    length: h.length,
                    max: limits.max_message_len,
                }));
            }
            Some(h) => h.checked(bytes.len())?,
            None => Header::parse(&bytes, bytes.len())?,
        };
        // Advancing the handle we own takes no reference count, unlike slicing it.
        let mut body = bytes;
        body.advance(HEADER_LEN);
        Ok(RawMessage { header, body })
    }

    /// The top-level AVPs.
    pub fn avps(&self) -> AvpIter<'_> {
        AvpIter::new(&self.body)
    }

    /// The first top-level AVP with this code and vendor, if any.
    pub fn find(&self, code: u32, vendor: u32) -> Option<RawAvp> {
        self.avps()
            .flatten()
            .find(|a| a.code == code && a.vendor == vendor)
            .map(|a| a.to_raw())
    }

    /// Appends the encoded message.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut h = self.header;
        h.length = (HEADER_LEN + self.body.len()) as u32;
        h.write(out);
        out.put_slice(&self.body);
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.body.len());
        self.encode(&mut out);
        out.freeze()
    }

    /// A message built from a header and AVPs.
    pub fn from_avps(header: Header, avps: &[RawAvp]) -> RawMessage {
        let mut body = BytesMut::with_capacity(avps.iter().map(|a| a.len() + 3).sum());
        for a in avps {
            a.encode(&mut body);
        }
        RawMessage {
            header,
            body: body.freeze(),
        }
    }

    /// Adds an AVP at the end of the body (for example Route-Record when relaying).
    pub fn push(&mut self, avp: &RawAvp) {
        self.append(avp.len() + 3, |body| avp.encode(body));
    }

    /// Adds an AVP of `data` with the M bit and no vendor at the end of the body, as
    /// [`RawMessage::push`] does without building the AVP first (Route-Record on every
    /// relayed request).
    pub fn push_mandatory(&mut self, code: u32, data: &[u8]) {
        self.append(12 + data.len() + 3, |body| {
            crate::avp::put_bytes(body, code, crate::avp::AvpFlags::MANDATORY, 0, data)
        });
    }

    /// The body again with what `write` adds (at most `extra` bytes) at its end.
    fn append(&mut self, extra: usize, write: impl FnOnce(&mut BytesMut)) {
        let mut body = BytesMut::with_capacity(self.body.len() + extra);
        body.put_slice(&self.body);
        write(&mut body);
        self.body = body.freeze();
    }
}

/// Reads the length of the next message in a stream buffer.
///
/// `Ok(None)` means more bytes are needed. An error means the stream cannot be framed
/// (bad version or length) and the connection should be answered, then closed.
pub fn frame_len(buf: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
    walk::frame_len(buf, limits.max_message_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::{AvpFlags, RawAvp};
    use crate::header::{CommandFlags, Header};

    #[test]
    fn push_mandatory_adds_the_same_bytes_as_push() {
        let h = Header::new(272, 4, CommandFlags::REQUEST, 7, 9);
        let first = RawAvp::new(263, AvpFlags::MANDATORY, 0, Bytes::from_static(b"s;1"));
        for value in ["a", "dra.example.net", "four"] {
            let mut built = RawMessage::from_avps(h, std::slice::from_ref(&first));
            built.push(&RawAvp::new(
                282,
                AvpFlags::MANDATORY,
                0,
                Bytes::copy_from_slice(value.as_bytes()),
            ));
            let mut direct = RawMessage::from_avps(h, std::slice::from_ref(&first));
            direct.push_mandatory(282, value.as_bytes());
            assert_eq!(direct.body, built.body, "{value}");
            assert_eq!(direct.body.len() % 4, 0);
        }
    }
}
