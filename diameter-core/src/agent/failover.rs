//! Failover of one request across peers (RFC 6733 §5.5.4, RFC 3539 §5.4): when the peer
//! it is pending on fails, the request is sent again, with the T flag, to another peer
//! chosen by [`crate::routing::select`] for the same target, skipping the peers already
//! tried — or it fails, by policy, when its deadline has passed or the tries are used up.

use crate::fields::same_identity;
use crate::header::CommandFlags;
use crate::message::RawMessage;
use std::sync::Arc;
use std::time::Instant;

/// What to do with requests pending on a peer that fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverPolicy {
    /// Re-send to another peer for the same realm and application, with the T flag.
    #[default]
    Resend,
    /// Fail the request at once.
    FailFast,
}

/// Peers a request may be sent to in all, the first one included.
pub const MAX_ATTEMPTS: usize = 8;

/// The tries of one request.
#[derive(Clone, Debug)]
pub struct Attempts {
    policy: FailoverPolicy,
    /// The peer a relayed request came from: never sent back there.
    from: Option<Arc<str>>,
    /// The peers tried, or that could not take it: not tried again.
    tried: Vec<Arc<str>>,
    sent: usize,
}

impl Attempts {
    /// A request not sent yet; `from` is the Origin-Host of the peer a relayed request
    /// came from (never sent back there). Shared, so that a request costs no copy of it.
    pub fn new(policy: FailoverPolicy, from: Option<Arc<str>>) -> Self {
        Attempts {
            policy,
            from,
            tried: Vec::new(),
            sent: 0,
        }
    }

    /// Whether selecting the next peer skips `host` (compared ignoring ASCII case).
    pub fn excludes(&self, host: &str) -> bool {
        self.from
            .iter()
            .chain(&self.tried)
            .any(|e| same_identity(e.as_bytes(), host))
    }

    /// Whether another try is allowed (counts it).
    pub fn try_next(&mut self) -> bool {
        if self.sent >= MAX_ATTEMPTS {
            return false;
        }
        self.sent += 1;
        true
    }

    /// The peer `host` could not take the request (too busy, or without its
    /// application): not tried again, and the request was not sent (no T flag).
    pub fn skip(&mut self, host: Arc<str>) {
        self.tried.push(host);
    }

    /// The peer `host` failed with the request pending: whether to send it again
    /// elsewhere. If so the request gets the T flag (a retransmission, RFC 6733 §3).
    pub fn failed(
        &mut self,
        host: Arc<str>,
        now: Instant,
        deadline: Instant,
        msg: &mut RawMessage,
    ) -> bool {
        if self.policy == FailoverPolicy::FailFast || now >= deadline {
            return false;
        }
        self.tried.push(host);
        msg.header.flags |= CommandFlags::RETRANSMIT;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;
    use std::time::Duration;

    fn msg() -> RawMessage {
        RawMessage::from_avps(Header::new(272, 4, CommandFlags::REQUEST, 1, 1), &[])
    }

    #[test]
    fn resend_marks_t_and_skips_the_failed_peers() {
        let t0 = Instant::now();
        let due = t0 + Duration::from_secs(5);
        let mut m = msg();
        let mut a = Attempts::new(FailoverPolicy::Resend, Some("Client.net".into()));
        assert!(a.excludes("client.net") && !a.excludes("srv1.net"));
        assert!(a.try_next());
        assert!(a.failed("SRV1.net".into(), t0, due, &mut m));
        assert!(m.header.is_retransmit());
        assert!(a.excludes("client.net") && a.excludes("srv1.NET"));
        assert!(!a.excludes("srv2.net"));
        // Past the deadline: no more tries.
        assert!(!a.failed("srv2.net".into(), due, due, &mut m));
    }

    #[test]
    fn fail_fast_and_bounded_tries() {
        let t0 = Instant::now();
        let mut m = msg();
        let mut a = Attempts::new(FailoverPolicy::FailFast, None);
        assert!(a.try_next());
        assert!(!a.failed("srv1.net".into(), t0, t0 + Duration::from_secs(5), &mut m));
        assert!(!m.header.is_retransmit());
        let mut b = Attempts::new(FailoverPolicy::Resend, None);
        assert_eq!((0..20).filter(|_| b.try_next()).count(), MAX_ATTEMPTS);
    }
}
