//! Where a handler that answers at once encodes its answer: the end of the write buffer of
//! the connection the answer goes out on, so the answer is encoded once, in the place it
//! is written from.

use crate::header::{Header, HEADER_LEN};
use crate::message::RawMessage;
use crate::traits::Command;
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::pin::Pin;

/// What an answer written in place waits for before it may leave
/// ([`AnswerBuf::hold_until`]): `true` once it may, `false` if it never may (it is
/// withheld: the request goes unanswered, and the client retransmits).
pub type Release = Pin<Box<dyn Future<Output = bool> + Send>>;

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
    release: Option<Release>,
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
            release: None,
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

    /// Holds the answer until `release` resolves: it is written with the rest of its
    /// connection's burst, and that burst leaves only once every answer in it is
    /// released. For an answer that reports what must be durable first, such as a charge
    /// in a group commit: one wait per burst, not a task per request. An answer that is
    /// not released (`false`) is never sent, nor is the rest of its burst. A source that
    /// makes releases ready on a thread of its own (a journal's syncer) can wake them inside
    /// [`super::release_from_here`]: the answers then leave from that thread, without
    /// waiting for the connection's I/O thread.
    pub fn hold_until(&mut self, release: Release) {
        self.release = Some(release);
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

    /// Appends the request's Proxy-Info AVPs to the answer encoded, unless it has its own
    /// (RFC 6733 §6.7.3, the rule of [`crate::answer::echo_proxy_info`]), and sets the
    /// answer's length.
    pub(crate) fn echo_proxy_info(&mut self, request: &RawMessage) {
        let Some(answer) = self.written() else {
            return;
        };
        let proxies = crate::answer::proxy_info_to_echo(request, &answer[HEADER_LEN..]);
        if proxies.is_empty() {
            return;
        }
        crate::answer::put_avps(self.out, &proxies);
        let len = (self.out.len() - self.start) as u32;
        self.out[self.start + 1..self.start + 4].copy_from_slice(&len.to_be_bytes()[1..]);
    }

    /// What the answer waits for before it may leave, if anything.
    pub(crate) fn take_release(&mut self) -> Option<Release> {
        self.release.take()
    }

    /// Removes what was encoded (and what it waited for).
    pub(crate) fn clear(&mut self) {
        self.out.truncate(self.start);
        self.written = false;
        self.release = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::{AvpFlags, AvpIter, RawAvp};
    use crate::base::avp;
    use crate::error::DecodeError;
    use crate::traits::{AvpGroup, DecodeCtx};

    /// An answer of one Result-Code AVP.
    #[derive(Default)]
    struct Answer;

    impl AvpGroup for Answer {
        fn decode_into(&mut self, _: AvpIter<'_>, _: &mut DecodeCtx) -> Result<(), DecodeError> {
            Ok(())
        }
        fn encode_avps(&self, out: &mut BytesMut) {
            crate::avp::put_fixed(
                out,
                avp::RESULT_CODE,
                AvpFlags::MANDATORY,
                0,
                &2001u32.to_be_bytes(),
            );
        }
    }

    impl Command for Answer {
        const CODE: u32 = 272;
        const APPLICATION_ID: u32 = 4;
        const REQUEST: bool = false;
        const PROXIABLE: bool = true;
        const SHORT_NAME: &'static str = "CCA";
    }

    fn proxy_info(host: &str) -> RawAvp {
        let mut inner = BytesMut::new();
        RawAvp::new(280, AvpFlags::MANDATORY, 0, Bytes::from(host.to_owned())).encode(&mut inner);
        RawAvp::new(33, AvpFlags::MANDATORY, 0, Bytes::from_static(b"state")).encode(&mut inner);
        RawAvp::new(avp::PROXY_INFO, AvpFlags::MANDATORY, 0, inner.freeze())
    }

    fn request(proxies: &[RawAvp]) -> RawMessage {
        let header = Header::new(272, 4, crate::header::CommandFlags::REQUEST, 1, 2);
        let session = RawAvp::new(263, AvpFlags::MANDATORY, 0, Bytes::from_static(b"s;1"));
        let avps: Vec<RawAvp> = std::iter::once(session)
            .chain(proxies.iter().cloned())
            .collect();
        RawMessage::from_avps(header, &avps)
    }

    /// The AVPs of the answer encoded after `prefix` in `out`, with its header's length.
    fn answer_in(out: &BytesMut, prefix: usize) -> (u32, Vec<(u32, Bytes)>) {
        let header = Header::parse_unchecked(&out[prefix..]).unwrap();
        let body = Bytes::copy_from_slice(&out[prefix + HEADER_LEN..]);
        let avps = AvpIter::new(&body)
            .map(|a| a.unwrap())
            .map(|a| (a.code, a.data_bytes()));
        (header.length, avps.collect())
    }

    #[test]
    fn proxy_info_is_echoed_in_place_after_the_answer() {
        let proxies = [proxy_info("relay1.a.net"), proxy_info("relay2.a.net")];
        let mut out = BytesMut::from(&b"earlier!"[..]);
        let mut buf = AnswerBuf::new(&mut out, request(&proxies).header);
        buf.encode(&Answer);
        buf.echo_proxy_info(&request(&proxies));
        assert_eq!(&out[..8], b"earlier!");
        let (length, avps) = answer_in(&out, 8);
        assert_eq!(length as usize, out.len() - 8);
        let codes: Vec<u32> = avps.iter().map(|a| a.0).collect();
        assert_eq!(codes, [avp::RESULT_CODE, avp::PROXY_INFO, avp::PROXY_INFO]);
        assert_eq!(avps[1].1, proxies[0].data);
        assert_eq!(avps[2].1, proxies[1].data);
    }

    #[test]
    fn an_answer_with_its_own_proxy_info_or_a_request_without_is_left_alone() {
        let mut out = BytesMut::new();
        let mut buf = AnswerBuf::new(&mut out, request(&[]).header);
        buf.encode(&Answer);
        let before = buf.written().unwrap().to_vec();
        buf.echo_proxy_info(&request(&[]));
        assert_eq!(buf.written().unwrap(), &before[..]);

        // The handler echoed it itself (one Proxy-Info of its choosing).
        let own = proxy_info("own.a.net");
        let mut answer = BytesMut::new();
        Answer.encode_into(4, 1, 2, &mut answer);
        own.encode(&mut answer);
        let len = answer.len() as u32;
        answer[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        let mut out = BytesMut::new();
        let mut buf = AnswerBuf::new(&mut out, request(&[]).header);
        buf.out.extend_from_slice(&answer);
        buf.written = true;
        buf.echo_proxy_info(&request(&[proxy_info("relay.a.net")]));
        assert_eq!(&out[..], &answer[..]);
    }
}
