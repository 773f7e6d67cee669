//! A bound on the embedded store's look-ups of saved outcomes in SQLite.
//!
//! Such a look-up (a probe of every run, [`super::key_runs`]) costs about a hundred
//! microseconds, some ten times a whole CCR. Only a duplicate whose answer has left memory,
//! or a T-flagged request past the key filter, needs one, so a peer that replays old
//! requests, or sets the T flag on everything, could otherwise take the node's CPU. The
//! budget is a token bucket over the requests' own clock (no clock of its own): `per_s`
//! look-ups a second, up to one second's worth at once. A request that needs a look-up
//! beyond it is refused before anything is charged (answered 3004, so the client sends it
//! again later or elsewhere).

/// Look-ups a second by default ([`super::EngineOptions::sql_lookups_per_s`]): about a
/// fifth of a core.
pub const DEFAULT_SQL_LOOKUPS_PER_S: u32 = 2_000;

/// Thousandths of a look-up, so that every millisecond adds a whole number of them.
const MILLI: u64 = 1_000;

/// The token bucket (see the module docs).
#[derive(Debug)]
pub(super) struct LookupBudget {
    per_s: u32,
    /// Thousandths of a look-up left.
    left: u64,
    /// The time `left` was last brought up to date (ms).
    at_ms: i64,
}

impl LookupBudget {
    /// A full bucket of `per_s` look-ups a second; 0: no bound.
    pub fn new(per_s: u32) -> LookupBudget {
        LookupBudget {
            per_s,
            left: Self::full(per_s),
            at_ms: i64::MIN,
        }
    }

    fn full(per_s: u32) -> u64 {
        u64::from(per_s) * MILLI
    }

    /// Refills for the time since the last call (a clock that went back adds nothing).
    fn refill(&mut self, now_ms: i64) {
        if self.at_ms == i64::MIN {
            self.at_ms = now_ms;
            return;
        }
        let elapsed = u64::try_from(now_ms.saturating_sub(self.at_ms)).unwrap_or(0);
        if elapsed > 0 {
            let added = elapsed.saturating_mul(u64::from(self.per_s));
            self.left = self.left.saturating_add(added).min(Self::full(self.per_s));
            self.at_ms = now_ms;
        }
    }

    /// Whether a look-up may be made now, without taking it.
    pub fn allows(&mut self, now_ms: i64) -> bool {
        self.refill(now_ms);
        self.per_s == 0 || self.left >= MILLI
    }

    /// Takes one look-up; `false` when the budget is spent.
    pub fn take(&mut self, now_ms: i64) -> bool {
        if !self.allows(now_ms) {
            return false;
        }
        if self.per_s > 0 {
            self.left -= MILLI;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_worth_at_once_then_the_rate() {
        let mut b = LookupBudget::new(10);
        let taken = (0..50).filter(|_| b.take(1_000)).count();
        assert_eq!(taken, 10, "one second's worth at once");
        assert!(!b.allows(1_000));
        // 100 ms later: one more.
        assert!(!b.take(1_099));
        assert!(b.take(1_100));
        assert!(!b.take(1_100));
        // A long pause refills to one second's worth, not more.
        assert_eq!((0..50).filter(|_| b.take(60_000)).count(), 10);
    }

    #[test]
    fn a_clock_going_back_adds_nothing_and_zero_is_no_bound() {
        let mut b = LookupBudget::new(1);
        assert!(b.take(5_000));
        assert!(!b.take(4_000));
        assert!(!b.take(5_999));
        assert!(b.take(6_000));
        let mut free = LookupBudget::new(0);
        assert!((0..10_000).all(|_| free.take(0)));
    }
}
