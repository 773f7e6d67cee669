//! Duplicate detection (RFC 6733 §6.2.3 and §9.4): a request with the T flag whose
//! (Origin-Host, End-to-End id) was already answered gets the cached answer again,
//! without running the application twice. The cache is bounded in size and age.

use crate::fields::origin_host;
use crate::message::RawMessage;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

type Key = (String, u32);

/// A bounded cache of recent answers keyed by (Origin-Host, End-to-End id).
#[derive(Debug)]
pub struct DuplicateCache {
    answers: HashMap<Key, (Instant, RawMessage)>,
    order: VecDeque<(Instant, Key)>,
    capacity: usize,
    ttl: Duration,
}

impl DuplicateCache {
    /// Keeps at most `capacity` answers, each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        DuplicateCache {
            answers: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    fn key(request: &RawMessage) -> Option<Key> {
        let host = origin_host(request)?.to_ascii_lowercase();
        Some((host, request.header.end_to_end))
    }

    fn purge(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < self.ttl && self.order.len() <= self.capacity {
                break;
            }
            if let Some((t, k)) = self.order.pop_front() {
                if self.answers.get(&k).is_some_and(|(at, _)| *at == t) {
                    self.answers.remove(&k);
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
        let key = Self::key(request)?;
        let (_, answer) = self.answers.get(&key)?;
        let mut answer = answer.clone();
        answer.header.hop_by_hop = request.header.hop_by_hop;
        Some(answer)
    }

    /// Remembers the answer to a request.
    pub fn insert(&mut self, now: Instant, request: &RawMessage, answer: &RawMessage) {
        if self.capacity == 0 {
            return;
        }
        let Some(key) = Self::key(request) else {
            return;
        };
        self.answers.insert(key.clone(), (now, answer.clone()));
        self.order.push_back((now, key));
        self.purge(now);
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
}
