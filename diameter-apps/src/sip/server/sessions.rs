//! The STATE_MAINTAINED sessions the server keeps (RFC 6733 §8.9–8.11, RFC 4740 §7.1):
//! which SIP server a session belongs to, the AORs its SAR assigned, and when it ends
//! (Authorization-Lifetime + Auth-Grace-Period after the last successful answer).
//! Bounded in count and bytes. Sans-IO: times are milliseconds since the epoch, passed in.

use std::collections::HashMap;

/// One kept session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptSession {
    /// Origin-Host of the SIP server that opened it (lowercase): only it may end it, and an
    /// ASR goes to it.
    pub peer: String,
    /// Its Origin-Realm (Destination-Realm of an ASR).
    pub realm: String,
    /// The user.
    pub user: String,
    /// The AORs the session's SAR assigned (released when the session ends).
    pub aors: Vec<String>,
    /// When the session ends without re-authorization (ms since the epoch; `None`: never).
    pub ends_at: Option<u64>,
}

impl KeptSession {
    fn bytes(&self, session_id: &str) -> usize {
        session_id.len()
            + self.peer.len()
            + self.realm.len()
            + self.user.len()
            + self.aors.iter().map(String::len).sum::<usize>()
    }
}

/// The table of kept sessions, keyed by Session-Id.
#[derive(Debug)]
pub(crate) struct Sessions {
    max_sessions: usize,
    max_bytes: usize,
    bytes: usize,
    map: HashMap<String, KeptSession>,
}

impl Sessions {
    /// A table of at most `max_sessions` sessions and `max_bytes` bytes of ids and names.
    pub fn new(max_sessions: usize, max_bytes: usize) -> Self {
        Sessions {
            max_sessions,
            max_bytes,
            bytes: 0,
            map: HashMap::new(),
        }
    }

    /// Keeps (or renews) a session. `false` when the table is full: the session is not
    /// kept (the caller then answers NO_STATE_MAINTAINED, RFC 6733 §8.11).
    pub fn put(&mut self, session_id: &str, session: KeptSession) -> bool {
        let old = self.map.get(session_id).map(|s| s.bytes(session_id));
        let new = session.bytes(session_id);
        let bytes = self.bytes - old.unwrap_or(0) + new;
        if bytes > self.max_bytes || (old.is_none() && self.map.len() >= self.max_sessions) {
            return false;
        }
        self.bytes = bytes;
        self.map.insert(session_id.to_string(), session);
        true
    }

    /// The session, if kept.
    pub fn get(&self, session_id: &str) -> Option<&KeptSession> {
        self.map.get(session_id)
    }

    /// Forgets a session and returns it.
    pub fn take(&mut self, session_id: &str) -> Option<KeptSession> {
        let s = self.map.remove(session_id)?;
        self.bytes -= s.bytes(session_id);
        Some(s)
    }

    /// Removes and returns the sessions that ended at or before `now`.
    pub fn take_expired(&mut self, now: u64) -> Vec<(String, KeptSession)> {
        let ids: Vec<String> = self
            .map
            .iter()
            .filter(|(_, s)| s.ends_at.is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| self.take(&id).map(|s| (id, s)))
            .collect()
    }

    /// Whether a kept session of `peer` still holds `aor`.
    pub fn holds(&self, aor: &str, peer: &str) -> bool {
        self.map
            .values()
            .any(|s| s.peer == peer && s.aors.iter().any(|a| a == aor))
    }

    /// The number of kept sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(aor: &str, ends_at: Option<u64>) -> KeptSession {
        KeptSession {
            peer: "sip1".into(),
            realm: "example.com".into(),
            user: "alice".into(),
            aors: vec![aor.into()],
            ends_at,
        }
    }

    #[test]
    fn sessions_expire_at_their_deadline_only() {
        let mut t = Sessions::new(10, 10_000);
        assert!(t.put("a", session("sip:a", Some(100))));
        assert!(t.put("b", session("sip:b", Some(200))));
        assert!(t.put("c", session("sip:c", None)));
        assert!(t.take_expired(99).is_empty());
        let gone = t.take_expired(100);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, "a");
        // Renewing moves the deadline.
        assert!(t.put("b", session("sip:b", Some(300))));
        assert!(t.take_expired(299).is_empty());
        assert_eq!(t.take_expired(u64::MAX).len(), 1);
        assert_eq!(t.len(), 1, "a session without lifetime never expires");
    }

    #[test]
    fn the_table_is_bounded_in_count_and_bytes() {
        let mut t = Sessions::new(2, 10_000);
        assert!(t.put("a", session("sip:a", None)));
        assert!(t.put("b", session("sip:b", None)));
        assert!(!t.put("c", session("sip:c", None)), "count bound");
        assert!(
            t.put("b", session("sip:b", Some(1))),
            "renewal of a kept one"
        );
        t.take("a");
        assert!(t.put("c", session("sip:c", None)));

        let one = session("sip:a", None).bytes("a");
        let mut t = Sessions::new(100, 2 * one);
        assert!(t.put("a", session("sip:a", None)));
        assert!(t.put("b", session("sip:b", None)));
        assert!(!t.put("c", session("sip:c", None)), "byte bound");
        t.take("a");
        assert!(t.put("c", session("sip:c", None)), "bytes are given back");
        assert!(t.holds("sip:c", "sip1") && !t.holds("sip:a", "sip1"));
    }
}
