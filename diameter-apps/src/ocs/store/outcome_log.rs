//! The recent saved outcomes of the engine's memory state, in the order saved: their
//! bytes copied into chunks, each outcome found by its sequence number.
//!
//! Saving an outcome appends to the last chunk; evicting the oldest only moves the log's
//! start, and a chunk goes (to be reused) once every outcome in it is gone. So neither
//! touches memory written long ago: a map of individually allocated outcomes cost a few
//! cache misses per charge to evict its oldest entry and free its strings.

use super::AccountId;
use std::collections::VecDeque;

/// Bytes of a chunk (an outcome longer than this gets a chunk of its own).
const CHUNK: usize = 256 << 10;

/// Bytes before an outcome's key in its chunk: account, time saved, key length.
const HEADER: usize = 8 + 8 + 4;

/// Where an outcome's bytes are: its chunk (counted from the first ever) and range.
#[derive(Clone, Copy, Debug)]
struct Loc {
    chunk: u64,
    offset: u32,
    len: u32,
}

/// One saved outcome, as read from the log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Saved<'a> {
    pub(crate) account: AccountId,
    pub(crate) at: i64,
    pub(crate) key: &'a [u8],
    pub(crate) outcome: &'a [u8],
}

/// Saved outcomes with sequence numbers `first_seq..next_seq`, oldest first.
#[derive(Default)]
pub(crate) struct OutcomeLog {
    chunks: VecDeque<Vec<u8>>,
    /// The number of `chunks[0]` counted from the first chunk ever.
    first_chunk: u64,
    /// One emptied chunk kept for reuse.
    spare: Option<Vec<u8>>,
    locs: VecDeque<Loc>,
    first_seq: u64,
}

impl OutcomeLog {
    /// Sizes the index of outcomes for `n` of them, so that it never grows while charging.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.locs.reserve(n.saturating_sub(self.locs.len()));
    }

    /// The sequence number of the oldest outcome held (the next one's when empty).
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The sequence number the next outcome gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.first_seq + self.locs.len() as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.locs.len()
    }

    /// Whether outcome `seq` is held.
    pub(crate) fn holds(&self, seq: u64) -> bool {
        seq >= self.first_seq && seq < self.next_seq()
    }

    /// Appends an outcome; returns its sequence number.
    pub(crate) fn push(&mut self, account: AccountId, at: i64, key: &str, outcome: &str) -> u64 {
        let len = HEADER + key.len() + outcome.len();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.capacity() - c.len() >= len);
        if !fits {
            let chunk = match self.spare.take() {
                Some(c) if len <= c.capacity() => c,
                _ => Vec::with_capacity(len.max(CHUNK)),
            };
            self.chunks.push_back(chunk);
        }
        let number = self.first_chunk + self.chunks.len() as u64 - 1;
        let chunk = self.chunks.back_mut().expect("a chunk was just ensured");
        let offset = chunk.len();
        chunk.extend_from_slice(&account.to_le_bytes());
        chunk.extend_from_slice(&at.to_le_bytes());
        chunk.extend_from_slice(&(key.len() as u32).to_le_bytes());
        chunk.extend_from_slice(key.as_bytes());
        chunk.extend_from_slice(outcome.as_bytes());
        self.locs.push_back(Loc {
            chunk: number,
            offset: offset as u32,
            len: len as u32,
        });
        self.next_seq() - 1
    }

    /// Outcome `seq`, if held.
    pub(crate) fn get(&self, seq: u64) -> Option<Saved<'_>> {
        if !self.holds(seq) {
            return None;
        }
        let loc = self.locs[(seq - self.first_seq) as usize];
        let chunk = &self.chunks[(loc.chunk - self.first_chunk) as usize];
        let bytes = &chunk[loc.offset as usize..(loc.offset + loc.len) as usize];
        let (account, rest) = bytes.split_at(8);
        let (at, rest) = rest.split_at(8);
        let (key_len, rest) = rest.split_at(4);
        let key_len = u32::from_le_bytes(key_len.try_into().unwrap_or_default()) as usize;
        let (key, outcome) = rest.split_at(key_len);
        Some(Saved {
            account: i64::from_le_bytes(account.try_into().unwrap_or_default()),
            at: i64::from_le_bytes(at.try_into().unwrap_or_default()),
            key,
            outcome,
        })
    }

    /// The bytes of the oldest outcome's key and text (without reading them).
    pub(crate) fn first_len(&self) -> Option<usize> {
        self.locs.front().map(|l| l.len as usize - HEADER)
    }

    /// The oldest outcome held.
    pub(crate) fn first(&self) -> Option<Saved<'_>> {
        self.get(self.first_seq)
    }

    /// Drops the oldest outcome (freeing the chunks no outcome is left in).
    pub(crate) fn pop_first(&mut self) {
        if self.locs.pop_front().is_none() {
            return;
        }
        self.first_seq += 1;
        // Chunks before the new oldest outcome's are empty; the last one stays for appending.
        let keep_from = self
            .locs
            .front()
            .map_or(self.first_chunk + self.chunks.len() as u64 - 1, |l| l.chunk);
        while self.first_chunk < keep_from {
            let Some(mut c) = self.chunks.pop_front() else {
                break;
            };
            self.first_chunk += 1;
            if c.capacity() < 2 * CHUNK {
                c.clear();
                self.spare = Some(c);
            }
        }
    }

    /// Drops the newest outcome (a charge rolled back).
    pub(crate) fn pop_last(&mut self) {
        if let Some(loc) = self.locs.pop_back() {
            if let Some(c) = self.chunks.back_mut() {
                c.truncate(loc.offset as usize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_read_back_by_sequence_and_chunks_are_reused() {
        let mut log = OutcomeLog::default();
        let big = "x".repeat(CHUNK + 10);
        let mut seqs = Vec::new();
        for n in 0..20_000i64 {
            let key = format!("session-{n};1;{n}");
            let outcome = if n == 7 {
                big.clone()
            } else {
                format!("2001;{n}")
            };
            seqs.push(log.push(n, n * 10, &key, &outcome));
        }
        assert_eq!(seqs, (0..20_000).collect::<Vec<u64>>());
        let s = log.get(7).unwrap();
        assert_eq!((s.account, s.at, s.key), (7, 70, &b"session-7;1;7"[..]));
        assert_eq!(
            s.outcome.len(),
            CHUNK + 10,
            "an outcome larger than a chunk"
        );
        let s = log.get(19_999).unwrap();
        assert_eq!(s.outcome, b"2001;19999");
        assert!(log.get(20_000).is_none());
        let chunks = log.chunks.len();
        assert!(chunks >= 3);
        for _ in 0..19_000 {
            log.pop_first();
        }
        assert!(log.get(18_999).is_none());
        assert_eq!(log.first().unwrap().key, b"session-19000;1;19000");
        assert!(log.chunks.len() < chunks, "emptied chunks are freed");
        // A rolled-back outcome leaves no trace: the next one takes its place and number.
        let seq = log.push(1, 1, "rolled-back", "3004");
        log.pop_last();
        assert_eq!(log.push(2, 2, "kept", "2001"), seq);
        assert_eq!(log.get(seq).unwrap().key, b"kept");
        while log.len() > 0 {
            log.pop_first();
        }
        assert_eq!(log.chunks.len(), 1, "the last chunk stays for appending");
        assert_eq!(log.push(3, 3, "after", "2001"), seq + 1);
        assert_eq!(log.first().unwrap().key, b"after");
    }
}
