//! Authorization-Lifetime and Auth-Grace-Period of a STATE_MAINTAINED session (RFC 6733
//! §8.9, §8.10; RFC 4740 §6.7) as seen by the client: re-authorize a little before the
//! lifetime ends; after lifetime + grace the session is over. Sans-IO: `now` is passed in.

use std::time::{Duration, Instant};

/// Where a session stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// Authorized; nothing to do.
    Valid,
    /// Re-authorize now (the lifetime is about to end, or was 0).
    Reauthorize,
    /// The lifetime ended; the grace period runs. Still re-authorize.
    Grace,
    /// Lifetime and grace period are over: the session has ended.
    Ended,
}

/// The deadlines of one authorization, from an answer's Authorization-Lifetime and
/// Auth-Grace-Period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthTimer {
    reauth_at: Option<Instant>,
    expires_at: Option<Instant>,
    ends_at: Option<Instant>,
}

impl AuthTimer {
    /// The timer of an answer received at `now`. No lifetime, or all ones, means no
    /// re-authorization is expected (the timer never fires). Re-authorization is due
    /// `margin` before the lifetime ends (at most half the lifetime early).
    pub fn new(lifetime: Option<u32>, grace: Option<u32>, margin: Duration, now: Instant) -> Self {
        let Some(lifetime) = lifetime.filter(|l| *l != u32::MAX) else {
            return AuthTimer {
                reauth_at: None,
                expires_at: None,
                ends_at: None,
            };
        };
        let lifetime = Duration::from_secs(lifetime.into());
        let grace = Duration::from_secs(grace.unwrap_or(0).into());
        let early = margin.min(lifetime / 2);
        AuthTimer {
            reauth_at: Some(now + (lifetime - early)),
            expires_at: Some(now + lifetime),
            ends_at: Some(now + lifetime + grace),
        }
    }

    /// Where the session stands at `now`.
    pub fn state(&self, now: Instant) -> Authorization {
        let past = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        if past(self.ends_at) {
            Authorization::Ended
        } else if past(self.expires_at) {
            Authorization::Grace
        } else if past(self.reauth_at) {
            Authorization::Reauthorize
        } else {
            Authorization::Valid
        }
    }

    /// When the state changes next after `now` (None: never).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        [self.reauth_at, self.expires_at, self.ends_at]
            .into_iter()
            .flatten()
            .find(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn reauthorize_before_expiry_then_grace_then_end() {
        let t0 = Instant::now();
        let t = AuthTimer::new(Some(100), Some(20), 10 * S, t0);
        assert_eq!(t.state(t0), Authorization::Valid);
        assert_eq!(t.next_deadline(t0), Some(t0 + 90 * S));
        assert_eq!(t.state(t0 + 89 * S), Authorization::Valid);
        assert_eq!(t.state(t0 + 90 * S), Authorization::Reauthorize);
        assert_eq!(t.state(t0 + 100 * S), Authorization::Grace);
        assert_eq!(t.next_deadline(t0 + 100 * S), Some(t0 + 120 * S));
        assert_eq!(t.state(t0 + 119 * S), Authorization::Grace);
        assert_eq!(t.state(t0 + 120 * S), Authorization::Ended);
        assert_eq!(t.next_deadline(t0 + 120 * S), None);
    }

    #[test]
    fn a_renewed_answer_moves_the_deadlines() {
        let t0 = Instant::now();
        let first = AuthTimer::new(Some(100), Some(20), 10 * S, t0);
        let renewed = AuthTimer::new(Some(100), Some(20), 10 * S, t0 + 90 * S);
        assert_eq!(first.state(t0 + 150 * S), Authorization::Ended);
        assert_eq!(renewed.state(t0 + 150 * S), Authorization::Valid);
    }

    #[test]
    fn special_values() {
        let t0 = Instant::now();
        // No lifetime, or all ones: never.
        for l in [None, Some(u32::MAX)] {
            let t = AuthTimer::new(l, Some(5), S, t0);
            assert_eq!(t.state(t0 + 1_000_000 * S), Authorization::Valid);
            assert_eq!(t.next_deadline(t0), None);
        }
        // Zero: re-authorize at once; without grace it has ended.
        let t = AuthTimer::new(Some(0), None, S, t0);
        assert_eq!(t.state(t0), Authorization::Ended);
        let t = AuthTimer::new(Some(0), Some(5), S, t0);
        assert_eq!(t.state(t0), Authorization::Grace);
        // The margin is at most half the lifetime.
        let t = AuthTimer::new(Some(4), None, 60 * S, t0);
        assert_eq!(t.state(t0 + S), Authorization::Valid);
        assert_eq!(t.state(t0 + 2 * S), Authorization::Reauthorize);
    }
}
