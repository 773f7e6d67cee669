//! Duplicate detection (RFC 6733 §6.2.3 and §9.4): a request with the T flag whose
//! (Origin-Host, End-to-End id) was already answered gets the cached answer again,
//! without running the application twice. The cache is bounded in entries, bytes and
//! age, and holds keys and compact copies of answers: never a request's buffer (a slice
//! of a request would keep the whole request alive).

use crate::base::avp;
use crate::header::Header;
use crate::message::RawMessage;
use bytes::Bytes;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// (case-insensitive hash of the Origin-Host, End-to-End id). Two hosts with the same
/// hash share a slot: the entry keeps its host and a lookup for the other one misses.
type Key = (u64, u32);

/// The key is already a hash: mixing it once more is enough (no SipHash per message).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// FNV-1a over the ASCII-lowercased bytes.
fn host_hash(host: &[u8]) -> u64 {
    host.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The duplicate-detection key of a request and its Origin-Host as received.
pub(crate) fn request_key(request: &RawMessage) -> Option<((u64, u32), Bytes)> {
    let host = request.find(avp::ORIGIN_HOST, 0)?.data;
    Some(((host_hash(&host), request.header.end_to_end), host))
}

struct Cached {
    at: Instant,
    /// The answer's header.
    header: Header,
    /// A copy of the Origin-Host as received followed by the answer's body, in one
    /// buffer of its own (one allocation per answer saved).
    buf: Bytes,
    /// Where the answer's body starts in `buf`.
    host_len: usize,
}

/// Bookkeeping bytes counted per entry besides the host and the answer body.
const ENTRY_OVERHEAD: usize = 96;

impl Cached {
    fn bytes(&self) -> usize {
        self.buf.len() + ENTRY_OVERHEAD
    }

    fn host(&self) -> &[u8] {
        &self.buf[..self.host_len]
    }
}

/// A bounded cache of recent answers keyed by (Origin-Host, End-to-End id).
pub struct DuplicateCache {
    answers: HashMap<Key, Cached, BuildHasherDefault<KeyHasher>>,
    order: VecDeque<(Instant, Key)>,
    capacity: usize,
    ttl: Duration,
    max_bytes: usize,
    bytes: usize,
}

impl std::fmt::Debug for DuplicateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplicateCache")
            .field("len", &self.answers.len())
            .field("capacity", &self.capacity)
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl DuplicateCache {
    /// Keeps at most `capacity` answers, each for `ttl`, in at most 16 MiB.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        DuplicateCache {
            answers: HashMap::default(),
            order: VecDeque::new(),
            capacity,
            ttl,
            max_bytes: 16 << 20,
            bytes: 0,
        }
    }

    /// The same cache keeping at most `max_bytes` of answers and keys (each entry is
    /// counted as its Origin-Host, its answer body and a fixed overhead).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn key(request: &RawMessage) -> Option<(Key, Bytes)> {
        request_key(request)
    }

    fn purge(&mut self, now: Instant) {
        while let Some(&(t, k)) = self.order.front() {
            if now.saturating_duration_since(t) < self.ttl
                && self.order.len() <= self.capacity
                && self.bytes <= self.max_bytes
            {
                break;
            }
            self.order.pop_front();
            if let Entry::Occupied(e) = self.answers.entry(k) {
                if e.get().at == t {
                    self.bytes -= e.remove().bytes();
                }
            }
        }
    }

    /// The cached answer for a retransmitted request (T flag set), with the request's
    /// Hop-by-Hop id; `None` for first transmissions and unknown requests.
    pub fn lookup(&mut self, now: Instant, request: &RawMessage) -> Option<RawMessage> {
        if !request.header.is_retransmit() {
            return None;
        }
        self.purge(now);
        let (key, host) = Self::key(request)?;
        let cached = self.answers.get(&key)?;
        if !cached.host().eq_ignore_ascii_case(&host) {
            return None;
        }
        let mut answer = RawMessage {
            header: cached.header,
            body: cached.buf.slice(cached.host_len..),
        };
        answer.header.hop_by_hop = request.header.hop_by_hop;
        Some(answer)
    }

    /// Remembers the answer to a request.
    pub fn insert(&mut self, now: Instant, request: &RawMessage, answer: &RawMessage) {
        if self.capacity == 0 {
            return;
        }
        let Some((key, host)) = Self::key(request) else {
            return;
        };
        let size = host.len() + answer.body.len() + ENTRY_OVERHEAD;
        if size > self.max_bytes {
            return;
        }
        let mut buf = Vec::with_capacity(host.len() + answer.body.len());
        buf.extend_from_slice(&host);
        buf.extend_from_slice(&answer.body);
        let cached = Cached {
            at: now,
            header: answer.header,
            buf: Bytes::from(buf),
            host_len: host.len(),
        };
        self.bytes += size;
        if let Some(old) = self.answers.insert(key, cached) {
            self.bytes -= old.bytes();
        }
        self.order.push_back((now, key));
        self.purge(now);
    }

    /// Bytes the cached entries account for (at most the configured bound).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::avp;
    use crate::fields::str_avp;
    use crate::header::{CommandFlags, Header};

    fn req(e2e: u32, hbh: u32, t: bool) -> RawMessage {
        let flags = CommandFlags::REQUEST | if t { CommandFlags::RETRANSMIT } else { 0 };
        RawMessage::from_avps(
            Header::new(272, 4, flags, hbh, e2e),
            &[str_avp(avp::ORIGIN_HOST, "c.example")],
        )
    }

    #[test]
    fn retransmission_gets_cached_answer() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(2, Duration::from_secs(10));
        let r = req(7, 1, false);
        let mut a = r.clone();
        a.header.flags = 0;
        assert!(c.lookup(t0, &r).is_none());
        c.insert(t0, &r, &a);
        assert!(c.lookup(t0, &r).is_none(), "no T flag: not a duplicate");
        let again = c.lookup(t0, &req(7, 99, true)).unwrap();
        assert_eq!(again.header.hop_by_hop, 99);
        assert!(
            c.lookup(t0 + Duration::from_secs(11), &req(7, 99, true))
                .is_none(),
            "expired"
        );
    }

    #[test]
    fn host_compares_case_insensitively_and_other_hosts_miss() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(8, Duration::from_secs(10));
        let r = req(7, 1, false);
        c.insert(t0, &r, &r);
        let flags = CommandFlags::REQUEST | CommandFlags::RETRANSMIT;
        let upper = RawMessage::from_avps(
            Header::new(272, 4, flags, 5, 7),
            &[str_avp(avp::ORIGIN_HOST, "C.Example")],
        );
        assert!(c.lookup(t0, &upper).is_some());
        let other = RawMessage::from_avps(
            Header::new(272, 4, flags, 5, 7),
            &[str_avp(avp::ORIGIN_HOST, "d.example")],
        );
        assert!(c.lookup(t0, &other).is_none());
    }

    #[test]
    fn bounded() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(2, Duration::from_secs(10));
        for e in 0..5 {
            let r = req(e, e, false);
            c.insert(t0, &r, &r);
        }
        assert_eq!(c.len(), 2);
        assert!(c.lookup(t0, &req(4, 0, true)).is_some());
        assert!(c.lookup(t0, &req(0, 0, true)).is_none());
    }

    fn big(e2e: u32, size: usize) -> RawMessage {
        RawMessage::from_avps(
            Header::new(272, 4, CommandFlags::REQUEST, e2e, e2e),
            &[
                str_avp(avp::ORIGIN_HOST, "c.example"),
                crate::avp::RawAvp::new(999, 0, 0, Bytes::from(vec![7u8; size])),
            ],
        )
    }

    #[test]
    fn bounded_in_bytes_and_keeps_no_request_buffer() {
        let t0 = Instant::now();
        let max = 64 * 1024;
        let mut c = DuplicateCache::new(1000, Duration::from_secs(10)).with_max_bytes(max);
        for e in 0..100 {
            // A large request answered by a small answer: only the answer is kept.
            let r = big(e, 100_000);
            let a = RawMessage::from_avps(r.header, &[str_avp(avp::ORIGIN_HOST, "s")]);
            c.insert(t0, &r, &a);
            assert!(c.bytes() <= max);
        }
        assert_eq!(c.len(), 100, "small answers all fit");
        assert!(c.lookup(t0, &req(99, 1, true)).is_some());
        // Answers of 20 KB: only the newest few fit in 64 KiB.
        for e in 100..120 {
            let r = big(e, 20_000);
            c.insert(t0, &r, &r);
            assert!(c.bytes() <= max, "{} > {max}", c.bytes());
        }
        assert!(c.lookup(t0, &req(119, 1, true)).is_some());
        assert!(c.lookup(t0, &req(100, 1, true)).is_none());
        // An answer larger than the whole bound is not cached.
        let r = big(500, 100_000);
        c.insert(t0, &r, &r);
        assert!(c.lookup(t0, &req(500, 1, true)).is_none());
        assert!(c.bytes() <= max);
    }

    #[test]
    fn cached_answer_does_not_share_the_request_buffer() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(10, Duration::from_secs(10));
        let r = big(1, 10_000);
        c.insert(t0, &r, &r);
        let again = c.lookup(t0, &req(1, 2, true)).unwrap();
        assert_eq!(again.body, r.body);
        assert_ne!(again.body.as_ptr(), r.body.as_ptr());
    }
}
