//! Duplicate detection (RFC 6733 §6.2.3 and §9.4): a request with the T flag whose
//! (Origin-Host, End-to-End id) was already answered gets the cached answer again,
//! without running the application twice. The cache is bounded in entries, bytes and
//! age, and holds keys and copies of answers in buffers of its own: never a request's
//! buffer (a slice of a request would keep the whole request alive).

use crate::base::avp;
use crate::header::Header;
use crate::message::RawMessage;
use bytes::Bytes;
use std::collections::HashMap;
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

/// The duplicate-detection key of a request and its Origin-Host as received (borrowed:
/// no reference count is taken on the request's buffer).
pub(crate) fn request_key(request: &RawMessage) -> Option<((u64, u32), &[u8])> {
    let host = crate::fields::find_data(request, avp::ORIGIN_HOST)?;
    Some(((host_hash(host), request.header.end_to_end), host))
}

/// Where a cached answer is in its generation's arena, and its header.
#[derive(Clone, Copy)]
struct Entry {
    at: Instant,
    header: Header,
    /// The Origin-Host as received, then the answer's body, from `start` in the arena.
    start: usize,
    host_len: usize,
    body_len: usize,
}

/// Bookkeeping bytes counted per entry besides the host and the answer body.
const ENTRY_OVERHEAD: usize = 96;

/// Half of the cache: an index and one buffer holding its hosts and answers back to back,
/// so that saving an answer allocates nothing once the buffer has grown, and a whole
/// generation is forgotten at once (no eviction per message, no tombstones in the index).
struct Generation {
    started: Instant,
    index: HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>,
    arena: Vec<u8>,
    bytes: usize,
}

impl Generation {
    fn new(now: Instant) -> Self {
        Generation {
            started: now,
            index: HashMap::default(),
            arena: Vec::new(),
            bytes: 0,
        }
    }

    /// Empties it for reuse (its memory is kept).
    fn clear(&mut self, now: Instant) {
        self.started = now;
        self.index.clear();
        self.arena.clear();
        self.bytes = 0;
    }

    fn host(&self, e: &Entry) -> &[u8] {
        &self.arena[e.start..e.start + e.host_len]
    }

    fn body(&self, e: &Entry) -> &[u8] {
        let from = e.start + e.host_len;
        &self.arena[from..from + e.body_len]
    }
}

/// A bounded cache of recent answers keyed by (Origin-Host, End-to-End id).
///
/// Two generations: answers go into the current one; when it holds half the entries or
/// half the bytes, or is older than the time to live, the previous one is forgotten and
/// the current one becomes the previous. Each answer is therefore kept for at least half
/// the bounds, and never served after its time to live.
pub struct DuplicateCache {
    current: Generation,
    previous: Generation,
    capacity: usize,
    ttl: Duration,
    max_bytes: usize,
}

impl std::fmt::Debug for DuplicateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplicateCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("bytes", &self.bytes())
            .field("max_bytes", &self.max_bytes)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl DuplicateCache {
    /// Keeps at most `capacity` answers, each for `ttl`, in at most 16 MiB.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let now = Instant::now();
        DuplicateCache {
            current: Generation::new(now),
            previous: Generation::new(now),
            capacity,
            ttl,
            max_bytes: 16 << 20,
        }
    }

    /// The same cache keeping at most `max_bytes` of answers and keys (each entry is
    /// counted as its Origin-Host, its answer body and a fixed overhead; an answer larger
    /// than half of it is not kept).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn key(request: &RawMessage) -> Option<(Key, &[u8])> {
        request_key(request)
    }

    /// Entries of one generation: half the capacity (the whole of it when that is 1,
    /// and then the previous generation is not kept).
    fn generation_entries(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    /// Forgets the previous generation; the current one becomes it.
    fn rotate(&mut self, now: Instant) {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear(now);
        if self.capacity < 2 {
            self.previous.clear(now);
        }
    }

    /// The cached answer for a retransmitted request (T flag set), with the request's
    /// Hop-by-Hop id; `None` for first transmissions and unknown requests.
    pub fn lookup(&mut self, now: Instant, request: &RawMessage) -> Option<RawMessage> {
        if !request.header.is_retransmit() {
            return None;
        }
        let (key, host) = Self::key(request)?;
        let (generation, entry) = [&self.current, &self.previous]
            .into_iter()
            .find_map(|g| Some((g, *g.index.get(&key)?)))?;
        if now.saturating_duration_since(entry.at) >= self.ttl
            || !generation.host(&entry).eq_ignore_ascii_case(host)
        {
            return None;
        }
        let mut answer = RawMessage {
            header: entry.header,
            body: Bytes::copy_from_slice(generation.body(&entry)),
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
        let half_bytes = self.max_bytes / 2;
        if size > half_bytes {
            return;
        }
        if self.current.index.len() >= self.generation_entries()
            || self.current.bytes + size > half_bytes
            || now.saturating_duration_since(self.current.started) >= self.ttl
        {
            self.rotate(now);
        }
        let g = &mut self.current;
        let entry = Entry {
            at: now,
            header: answer.header,
            start: g.arena.len(),
            host_len: host.len(),
            body_len: answer.body.len(),
        };
        g.arena.extend_from_slice(host);
        g.arena.extend_from_slice(&answer.body);
        // A second answer for the same key in this generation replaces the first in the
        // index; its bytes stay counted until the generation goes.
        g.index.insert(key, entry);
        g.bytes += size;
    }

    /// Bytes the cached entries account for (at most the configured bound).
    pub fn bytes(&self) -> usize {
        self.current.bytes + self.previous.bytes
    }

    /// Number of cached answers (an answer replaced in the current generation may still be
    /// counted in the previous one).
    pub fn len(&self) -> usize {
        self.current.index.len() + self.previous.index.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn generations_keep_each_answer_for_half_the_bounds_and_go_by_age() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(8, Duration::from_secs(10));
        let put = |c: &mut DuplicateCache, at: Instant, e: u32| {
            c.insert(at, &req(e, e, false), &req(e, e, false))
        };
        for e in 0..8 {
            put(&mut c, t0, e);
        }
        assert_eq!(c.len(), 8);
        assert!((0..8).all(|e| c.lookup(t0, &req(e, 1, true)).is_some()));
        // The ninth starts a generation: the oldest four go, at once.
        put(&mut c, t0, 8);
        assert!(c.lookup(t0, &req(0, 1, true)).is_none());
        assert!(c.lookup(t0, &req(4, 1, true)).is_some());
        assert_eq!(c.len(), 5);
        // After the time to live a new generation starts whatever its size: a quiet cache
        // does not hold old answers.
        let later = t0 + Duration::from_secs(11);
        put(&mut c, later, 9);
        assert_eq!(c.len(), 2);
        assert!(c.lookup(later, &req(8, 1, true)).is_none(), "expired");
        assert!(c.lookup(later, &req(9, 1, true)).is_some());
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
