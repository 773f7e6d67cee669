//! Nonces of the server's Digest challenges, and the record of who authenticated whom.
//!
//! A nonce is random (128 bits) and remembered with what it was issued for: the SIP server
//! (the admitted peer) that asked, the user (when known), realm, algorithm and qop. It is
//! single use: the first response that presents it consumes it, whatever the outcome, so a
//! captured response cannot be replayed and `nc` cannot be rewound. It expires after
//! [`super::ServerConfig::nonce_lifetime`]. A used or expired nonce is kept (as a tombstone)
//! for one more lifetime so that a right response to it is answered with a fresh challenge
//! marked `stale=true` (RFC 2617 §3.2.1: the user agent retries without asking its user)
//! rather than a rejection. At most [`super::ServerConfig::max_nonces`] nonces are kept; the
//! oldest go first.
//!
//! [`Authentications`] remembers, per (user, SIP server), when the user last authenticated
//! through that SIP server (a right response checked here, or Digest-HA1 handed to a SIP
//! server with the right to check it); a SAR REGISTRATION / RE_REGISTRATION needs one within
//! [`super::ServerConfig::auth_window`]. At most [`super::ServerConfig::max_authentications`]
//! are kept (expired first, then the oldest).
//!
//! Both take the time as an argument (milliseconds since the Unix epoch), so the logic runs
//! without a clock in tests.

use crate::sip::digest::{Algorithm, Challenge};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a nonce was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The SIP server (admitted peer, lowercase) the challenge went to.
    pub peer: String,
    /// The user it was for; `None` for a challenge before the user was known (a MAR for a
    /// non-REGISTER request without User-Name, answered 4013).
    pub user: Option<String>,
    /// The challenge (realm, algorithm, qop, opaque).
    pub challenge: Challenge,
    /// When it was issued (ms).
    pub at: u64,
    used: bool,
}

/// The state of a presented nonce.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented {
    /// Issued to this peer, not used, not expired: now used.
    Fresh(Issued),
    /// Issued to this peer but already used or expired: a right response gets a new
    /// challenge with `stale=true`.
    Stale(Issued),
    /// Not issued by this server, forgotten, or issued to another SIP server.
    Unknown,
}

struct NonceTable {
    map: HashMap<String, Issued>,
    order: VecDeque<(u64, String)>,
}

/// The nonces the server has issued.
pub(crate) struct Nonces {
    table: Mutex<NonceTable>,
    lifetime: u64,
    max: usize,
}

impl Nonces {
    /// Nonces valid for `lifetime`, at most `max` of them kept (at least 1).
    pub(crate) fn new(lifetime: Duration, max: usize) -> Self {
        Nonces {
            table: Mutex::new(NonceTable {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            lifetime: ms(lifetime),
            max: max.max(1),
        }
    }

    /// A new challenge for `realm` and `alg` (qop `auth`, a fresh nonce), remembered as
    /// issued to `peer` for `user` at `now`.
    pub(crate) fn issue(
        &self,
        now: u64,
        peer: &str,
        user: Option<&str>,
        realm: &str,
        alg: Algorithm,
        stale: bool,
    ) -> Challenge {
        let challenge = Challenge {
            stale,
            ..Challenge::new(realm, alg)
        };
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let keep_after = now.saturating_sub(self.lifetime.saturating_mul(2));
        while let Some((at, nonce)) = t.order.front().cloned() {
            if at >= keep_after && t.map.len() < self.max {
                break;
            }
            t.order.pop_front();
            t.map.remove(&nonce);
        }
        t.map.insert(
            challenge.nonce.clone(),
            Issued {
                peer: peer.to_string(),
                user: user.map(str::to_string),
                challenge: Challenge {
                    stale: false,
                    ..challenge.clone()
                },
                at: now,
                used: false,
            },
        );
        t.order.push_back((now, challenge.nonce.clone()));
        challenge
    }

    /// Looks a presented nonce up for `peer` at `now`, and marks it used when it was fresh.
    /// A nonce issued to another SIP server is [`Presented::Unknown`] and left as it is (a
    /// peer cannot spend another's nonces).
    pub(crate) fn present(&self, nonce: &str, peer: &str, now: u64) -> Presented {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = t.map.get_mut(nonce) else {
            return Presented::Unknown;
        };
        if e.peer != peer {
            return Presented::Unknown;
        }
        let expired = now.saturating_sub(e.at) >= self.lifetime;
        if e.used || expired {
            return Presented::Stale(e.clone());
        }
        e.used = true;
        Presented::Fresh(e.clone())
    }

    /// How many nonces are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map(|t| t.map.len()).unwrap_or(0)
    }
}

/// When each user last authenticated through each SIP server.
pub(crate) struct Authentications {
    map: Mutex<HashMap<(String, String), u64>>,
    window: u64,
    max: usize,
}

impl Authentications {
    /// Authentications valid for `window`, at most `max` (at least 1) kept.
    pub(crate) fn new(window: Duration, max: usize) -> Self {
        Authentications {
            map: Mutex::new(HashMap::new()),
            window: ms(window),
            max: max.max(1),
        }
    }

    /// Records that `user` authenticated through `peer` at `now`.
    pub(crate) fn record(&self, user: &str, peer: &str, now: u64) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let key = (user.to_string(), peer.to_string());
        if !m.contains_key(&key) && m.len() >= self.max {
            let window = self.window;
            m.retain(|_, at| now.saturating_sub(*at) < window);
            while m.len() >= self.max {
                let Some(oldest) = m.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
                else {
                    break;
                };
                m.remove(&oldest);
            }
        }
        m.insert(key, now);
    }

    /// Whether `user` authenticated through `peer` within the window before `now`.
    pub(crate) fn recent(&self, user: &str, peer: &str, now: u64) -> bool {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(user.to_string(), peer.to_string()))
            .is_some_and(|at| *at <= now && now - *at < self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_bound_to_peer_and_expiring() {
        let n = Nonces::new(Duration::from_secs(60), 100);
        let c = n.issue(
            1_000,
            "sip2",
            Some("alice"),
            "example.com",
            Algorithm::Md5,
            false,
        );
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(n.present(&c.nonce, "sip3", 2_000), Presented::Unknown);
        let Presented::Fresh(i) = n.present(&c.nonce, "sip2", 2_000) else {
            panic!("fresh")
        };
        assert_eq!(i.user.as_deref(), Some("alice"));
        assert_eq!(i.challenge.nonce, c.nonce);
        assert!(matches!(
            n.present(&c.nonce, "sip2", 2_001),
            Presented::Stale(_)
        ));
        assert_eq!(n.present("00", "sip2", 2_000), Presented::Unknown);

        let c = n.issue(1_000, "sip2", None, "example.com", Algorithm::Md5, false);
        assert!(matches!(
            n.present(&c.nonce, "sip2", 61_000),
            Presented::Stale(_)
        ));
    }

    #[test]
    fn bounded_and_pruned() {
        let n = Nonces::new(Duration::from_secs(1), 3);
        let first = n.issue(0, "p", None, "r", Algorithm::Md5, false);
        for _ in 0..10 {
            n.issue(0, "p", None, "r", Algorithm::Md5, false);
        }
        assert_eq!(n.len(), 3);
        assert_eq!(n.present(&first.nonce, "p", 0), Presented::Unknown);
        // Two lifetimes later everything old is dropped.
        n.issue(5_000, "p", None, "r", Algorithm::Md5, false);
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn authentications_window_and_bound() {
        let a = Authentications::new(Duration::from_secs(10), 2);
        a.record("alice", "sip2", 1_000);
        assert!(a.recent("alice", "sip2", 10_999));
        assert!(!a.recent("alice", "sip2", 11_000));
        assert!(!a.recent("alice", "sip3", 2_000));
        assert!(!a.recent("bob", "sip2", 2_000));
        a.record("bob", "sip2", 2_000);
        a.record("carol", "sip2", 3_000);
        assert!(!a.recent("alice", "sip2", 3_000), "oldest evicted");
        assert!(a.recent("bob", "sip2", 3_000) && a.recent("carol", "sip2", 3_000));
    }
}
