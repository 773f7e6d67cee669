//! Where a handler that answers at once encodes its answer: the end of the write buffer of
//! the connection the answer goes out on, so the answer is encoded once, in the place it
//! is written from.

use crate::header::{Header, HEADER_LEN};
use crate::message::RawMessage;
use crate::traits::Command;
use bytes::{Bytes, BytesMut};

/// The place for the answer to one request, given to [`super::Handler::call_routed`].
///
/// A handler whose answer is ready at once calls [`AnswerBuf::encode`] and returns
/// [`super::Routed::Encoded`]: the answer is encoded into the connection's write buffer
/// (after the answers before it in the same burst), under the request's Application-Id,
/// Hop-by-Hop and End-to-End ids. The node then sets the command code and flags as for
/// any answer, checks its size and counts it; no copy is made unless the answer is kept
/// for duplicate detection.
pub struct AnswerBuf<'a> {
    out: &'a mut BytesMut,
    request: Header,
    start: usize,
    written: bool,
}

impl<'a> AnswerBuf<'a> {
    /// An answer to the request with header `request`, to be appended to `out` (what
    /// `out` holds already is left alone).
    pub fn new(out: &'a mut BytesMut, request: Header) -> Self {
        let start = out.len();
        AnswerBuf {
            out,
            request,
            start,
            written: false,
        }
    }

    /// The header of the request being answered.
    pub fn request(&self) -> &Header {
        &self.request
    }

    /// Encodes `answer` (replacing one encoded before).
    pub fn encode<A: Command>(&mut self, answer: &A) {
        self.out.truncate(self.start);
        let h = &self.request;
        answer.encode_into(h.application_id, h.hop_by_hop, h.end_to_end, self.out);
        self.written = true;
    }

    /// Sets the E bit of the answer encoded (a protocol error, Result-Code 3xxx, whose
    /// answer is built as a typed one).
    pub fn set_error_bit(&mut self) {
        if self.written().is_some() {
            self.out[self.start + 4] |= crate::header::CommandFlags::ERROR;
        }
    }

    /// The answer encoded (header and AVPs), if any.
    pub fn written(&self) -> Option<&[u8]> {
        let answer = &self.out[self.start..];
        (self.written && answer.len() >= HEADER_LEN).then_some(answer)
    }

    /// Where the answer starts in the buffer.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The buffer, for the node to finish the answer in place.
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        self.out
    }

    /// Removes what was encoded.
    pub(crate) fn clear(&mut self) {
        self.out.truncate(self.start);
        self.written = false;
    }

    /// Takes the answer out as a message of its own (a copy), leaving the buffer as it was.
    pub(crate) fn take(&mut self) -> Option<RawMessage> {
        let answer = self.written().and_then(copy_message);
        self.clear();
        answer
    }
}

/// A message of its own copied from `encoded`, a whole encoded message (`None` if it is
/// shorter than a header).
pub(crate) fn copy_message(encoded: &[u8]) -> Option<RawMessage> {
    Header::parse_unchecked(encoded).map(|header| RawMessage {
        header,
        body: Bytes::copy_from_slice(&encoded[HEADER_LEN..]),
    })
}

/// The message encoded at `start` in `out`, taken out of it (a copy; `out` cut back).
pub(crate) fn take_message(out: &mut BytesMut, start: usize) -> Option<RawMessage> {
    let answer = copy_message(&out[start..]);
    out.truncate(start);
    answer
}
