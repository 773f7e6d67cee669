//! Requests whose handler is still running, with the retransmissions (T flag) waiting for
//! that answer instead of running the handler again (RFC 6733 §6.2.3 for a duplicate that
//! arrives before the answer is cached). Sans-IO: a waiter is whatever the driver uses to
//! hand an answer over (a channel), given back by [`InFlight::finish`].

use crate::dedup::request_key;
use crate::fast_map::FastMap;
use crate::message::RawMessage;
use bytes::Bytes;

/// The mark of one request in flight, returned by [`InFlight::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InFlightKey((u64, u32));

/// What [`InFlight::join`] did with a retransmission.
#[derive(Debug, PartialEq, Eq)]
pub enum Joined<W> {
    /// It waits for the answer in progress.
    Waiting,
    /// Nothing (or another host's request) is in flight under its key, or too many
    /// wait already: handle it on its own. The waiter is given back.
    Alone(W),
}

/// The table of requests in flight, by duplicate-detection key (Origin-Host, End-to-End).
#[derive(Debug)]
pub struct InFlight<W> {
    entries: FastMap<(u64, u32), (Bytes, Vec<W>)>,
    max_waiters: usize,
}

impl<W> InFlight<W> {
    /// A table letting at most `max_waiters` retransmissions wait on one request
    /// (further ones run the handler).
    pub fn new(max_waiters: usize) -> Self {
        InFlight {
            entries: FastMap::default(),
            max_waiters,
        }
    }

    /// Marks `request` as in flight. `None` when it has no Origin-Host or is already in
    /// flight (the first one's answer serves both).
    pub fn start(&mut self, request: &RawMessage) -> Option<InFlightKey> {
        let (key, host) = request_key(request)?;
        if self.entries.contains_key(&key) {
            return None;
        }
        self.entries
            .insert(key, (request.body.slice_ref(host), Vec::new()));
        Some(InFlightKey(key))
    }

    /// A retransmission of a request maybe in flight: queue `waiter` for its answer.
    pub fn join(&mut self, request: &RawMessage, waiter: W) -> Joined<W> {
        let Some((key, host)) = request_key(request) else {
            return Joined::Alone(waiter);
        };
        match self.entries.get_mut(&key) {
            Some((first, waiters))
                if first.eq_ignore_ascii_case(host) && waiters.len() < self.max_waiters =>
            {
                waiters.push(waiter);
                Joined::Waiting
            }
            _ => Joined::Alone(waiter),
        }
    }

    /// Whether [`InFlight::join`] would queue a waiter for this retransmission.
    pub fn would_wait(&self, request: &RawMessage) -> bool {
        let Some((key, host)) = request_key(request) else {
            return false;
        };
        self.entries.get(&key).is_some_and(|(first, waiters)| {
            first.eq_ignore_ascii_case(host) && waiters.len() < self.max_waiters
        })
    }

    /// The request's handler is done (answered or not): clears the mark and gives back
    /// the waiters, to hand the answer to (each with its own Hop-by-Hop id).
    pub fn finish(&mut self, key: InFlightKey) -> Vec<W> {
        self.entries
            .remove(&key.0)
            .map(|(_, w)| w)
            .unwrap_or_default()
    }

    /// Whether retransmissions wait for the answer of the request marked `key`.
    pub fn has_waiters(&self, key: InFlightKey) -> bool {
        self.entries.get(&key.0).is_some_and(|(_, w)| !w.is_empty())
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::avp;
    use crate::fields::str_avp;
    use crate::header::{CommandFlags, Header};

    fn req(host: &str, e2e: u32, t: bool) -> RawMessage {
        let flags = CommandFlags::REQUEST | if t { CommandFlags::RETRANSMIT } else { 0 };
        RawMessage::from_avps(
            Header::new(272, 4, flags, 7, e2e),
            &[str_avp(avp::ORIGIN_HOST, host)],
        )
    }

    #[test]
    fn retransmissions_wait_for_the_first_answer() {
        let mut t = InFlight::new(2);
        let key = t.start(&req("c.net", 1, false)).unwrap();
        assert_eq!(t.start(&req("C.NET", 1, false)), None, "already in flight");
        assert_eq!(t.join(&req("C.net", 1, true), 10), Joined::Waiting);
        assert_eq!(t.join(&req("c.net", 1, true), 11), Joined::Waiting);
        assert_eq!(
            t.join(&req("c.net", 1, true), 12),
            Joined::Alone(12),
            "bounded"
        );
        assert_eq!(t.join(&req("c.net", 2, true), 13), Joined::Alone(13));
        assert_eq!(t.join(&req("d.net", 1, true), 14), Joined::Alone(14));
        assert_eq!(t.finish(key), vec![10, 11]);
        assert!(t.is_empty());
        assert_eq!(t.join(&req("c.net", 1, true), 15), Joined::Alone(15));
    }

    #[test]
    fn no_origin_host_no_mark() {
        let mut t: InFlight<u8> = InFlight::new(4);
        let bare = RawMessage::from_avps(Header::new(272, 4, CommandFlags::REQUEST, 1, 1), &[]);
        assert_eq!(t.start(&bare), None);
        assert_eq!(t.join(&bare, 1), Joined::Alone(1));
    }
}
