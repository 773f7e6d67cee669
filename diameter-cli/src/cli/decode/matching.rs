//! Request/answer matching in a capture: an answer belongs to the request that went the other
//! way between the same two addresses with the same Hop-by-Hop and End-to-End Identifiers.

use super::tree::MessageNode;
use crate::cli::pcap::Meta;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Requests remembered for matching by default; the oldest are forgotten past it.
pub const DEFAULT_MAX_OUTSTANDING: usize = 100_000;

/// The request an answer belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerTo {
    /// Frame of the request.
    pub frame: u64,
    /// Time from the request to the answer, in nanoseconds.
    pub nanos: i128,
}

impl AnswerTo {
    /// The response time in seconds.
    pub fn seconds(&self) -> f64 {
        self.nanos as f64 / 1e9
    }
}

type Key = (SocketAddr, SocketAddr, u32, u32);

/// Requests waiting for their answers.
#[derive(Debug)]
pub struct Matcher {
    waiting: HashMap<Key, (u64, (i64, u32))>,
    order: VecDeque<Key>,
    max: usize,
}

impl Matcher {
    /// A matcher that remembers at most `max` unanswered requests.
    pub fn new(max: usize) -> Self {
        Matcher {
            waiting: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    /// Records a request, or finds the request an answer belongs to.
    pub fn see(&mut self, msg: &MessageNode, meta: &Meta) -> Option<AnswerTo> {
        let h = &msg.header;
        if h.is_request() {
            let key = (meta.src, meta.dst, h.hop_by_hop, h.end_to_end);
            // A retransmission keeps the first send's time, as tshark does.
            if self.max > 0 && !self.waiting.contains_key(&key) {
                while self.waiting.len() >= self.max {
                    match self.order.pop_front() {
                        Some(old) => {
                            self.waiting.remove(&old);
                        }
                        None => break,
                    }
                }
                self.waiting.insert(key, (meta.frame, meta.time));
                self.order.push_back(key);
            }
            return None;
        }
        let key = (meta.dst, meta.src, h.hop_by_hop, h.end_to_end);
        let (frame, (sec, nsec)) = self.waiting.remove(&key)?;
        if self.order.len() > 2 * self.waiting.len() + 64 {
            let waiting = &self.waiting;
            self.order.retain(|k| waiting.contains_key(k));
        }
        let nanos = (i128::from(meta.time.0) - i128::from(sec)) * 1_000_000_000
            + i128::from(meta.time.1)
            - i128::from(nsec);
        Some(AnswerTo { frame, nanos })
    }

    /// Requests still waiting for an answer.
    pub fn unanswered(&self) -> usize {
        self.waiting.len()
    }
}
