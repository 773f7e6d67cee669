//! What a connection's writer is handed: the messages of a burst, written with vectored
//! writes. An answer given at once is encoded straight into the burst's buffer
//! ([`Burst::buffer`]); another small message is copied next to the one before it (one
//! buffer for a burst of small answers); a body larger than [`COPIED_BODY`] is written
//! from where it was encoded (or received, on a relay), never copied.

use crate::header::HEADER_LEN;
use crate::message::RawMessage;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io::IoSlice;

/// Buffers in the order they are written.
pub(crate) type Chunks = Vec<Bytes>;

/// Bodies up to this size are copied next to their header: cheaper than a buffer of their
/// own in the write (measured on a stateless server, whose answers are about 150 bytes:
/// every body as its own buffer cost 4% more CPU per answer).
pub(crate) const COPIED_BODY: usize = 512;

/// Initial size of a burst's buffer of headers and small bodies.
const BUFFER: usize = 4096;

/// Buffers given to one `writev`, at most (Linux takes up to 1,024).
pub(crate) const MAX_IOV: usize = 128;

/// The messages of a burst for one connection, not yet handed to its writer.
#[derive(Debug, Default)]
pub(crate) struct Burst {
    /// Buffers complete so far.
    chunks: Chunks,
    /// Headers, small bodies and answers encoded in place, after the last of `chunks`.
    tail: BytesMut,
    /// Bytes in `chunks`.
    chunked: usize,
}

impl Burst {
    /// Appends a message: its header, then its body (copied when small).
    pub(crate) fn push(&mut self, msg: RawMessage) {
        let mut h = msg.header;
        h.length = (HEADER_LEN + msg.body.len()) as u32;
        h.write(self.buffer());
        if msg.body.len() <= COPIED_BODY {
            self.tail.put_slice(&msg.body);
        } else {
            let head = self.tail.split().freeze();
            self.chunked += head.len() + msg.body.len();
            self.chunks.push(head);
            self.chunks.push(msg.body);
        }
    }

    /// The buffer the next message goes to: whole messages appended to it are written in
    /// order after the ones pushed before.
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        if self.tail.capacity() == 0 {
            self.tail = BytesMut::with_capacity(BUFFER);
        }
        &mut self.tail
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.chunked + self.tail.len()
    }

    /// The buffers, for the write queue (no allocation for a burst of small messages).
    pub(crate) fn into_chunks(self) -> impl Iterator<Item = Bytes> {
        let tail = Some(self.tail).filter(|t| !t.is_empty());
        self.chunks.into_iter().chain(tail.map(BytesMut::freeze))
    }
}

/// Fills `iov` with the first buffers of `chunks`; returns how many.
pub(crate) fn slices<'a>(chunks: &'a [Bytes], iov: &mut [IoSlice<'a>; MAX_IOV]) -> usize {
    let n = chunks.len().min(MAX_IOV);
    for (slot, c) in iov.iter_mut().zip(&chunks[..n]) {
        *slot = IoSlice::new(c);
    }
    n
}

/// Drops the first `written` bytes of `chunks` (whole buffers, then part of the next).
pub(crate) fn advance(chunks: &mut Chunks, mut written: usize) {
    let whole = chunks
        .iter()
        .take_while(|c| {
            let done = c.len() <= written;
            if done {
                written -= c.len();
            }
            done
        })
        .count();
    chunks.drain(..whole);
    if written > 0 {
        if let Some(c) = chunks.first_mut() {
            c.advance(written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;

    fn msg(body: &'static [u8], hop_by_hop: u32) -> RawMessage {
        RawMessage {
            header: Header::new(272, 4, 0, hop_by_hop, 9),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn a_burst_is_its_messages_with_large_bodies_not_copied() {
        let large: &'static [u8] = &[7; COPIED_BODY + 4];
        let small: &'static [u8] = &[1, 2, 3, 4, 0, 0, 0, 8];
        let msgs = [msg(small, 1), msg(&[], 2), msg(large, 3), msg(small, 4)];
        let expected: Vec<u8> = msgs.iter().flat_map(|m| m.to_bytes()).collect();
        let mut burst = Burst::default();
        let [first, rest @ ..] = msgs;
        burst.push(first);
        // An answer encoded in place, between pushed messages.
        let in_place = msg(small, 5).to_bytes();
        burst.buffer().put_slice(&in_place);
        for m in rest {
            burst.push(m);
        }
        let expected = [&expected[..28], &in_place[..], &expected[28..]].concat();
        assert_eq!(burst.len(), expected.len());
        let chunks: Chunks = burst.into_chunks().collect();
        // The first two messages and the third's header; the large body as it was; the
        // last message.
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), large.as_ptr());
        assert_eq!(chunks.concat(), expected);
    }

    #[test]
    fn advancing_drops_written_buffers_and_the_written_part_of_the_next() {
        let mut chunks: Chunks = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"de"),
            Bytes::from_static(b"fgh"),
        ];
        advance(&mut chunks, 0);
        assert_eq!(chunks.concat(), b"abcdefgh");
        advance(&mut chunks, 4);
        assert_eq!(
            chunks,
            [Bytes::from_static(b"e"), Bytes::from_static(b"fgh")]
        );
        advance(&mut chunks, 1);
        assert_eq!(chunks, [Bytes::from_static(b"fgh")]);
        advance(&mut chunks, 3);
        assert!(chunks.is_empty());
    }

    #[test]
    fn at_most_max_iov_buffers_go_to_one_write() {
        let chunks: Chunks = (0..MAX_IOV + 5).map(|_| Bytes::from_static(b"x")).collect();
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        assert_eq!(slices(&chunks, &mut iov), MAX_IOV);
        assert_eq!(slices(&chunks[MAX_IOV..], &mut iov), 5);
    }
}
