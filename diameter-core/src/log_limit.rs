//! A bound on how often one kind of log line is written.
//!
//! A failure that hits every request or connection (a store refusing charges while its
//! checkpoint catches up, at 100,000 CCR/s; a host opening connections in a loop) must not
//! write a line for each: one 300 s overload of the OCS wrote 1.5 GB of the same warning.
//! [`LogLimit`] lets the first occurrence through, then at most one per interval, and says
//! how many it held back in between, so the log still tells how many there were.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one kind of log line through at most once per interval (see the module docs).
#[derive(Debug)]
pub struct LogLimit {
    start: Instant,
    interval_us: u64,
    /// Microseconds after `start` before which occurrences are held back.
    next_us: AtomicU64,
    /// Occurrences held back since the last one let through.
    held: AtomicU64,
}

impl LogLimit {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        LogLimit {
            start: Instant::now(),
            interval_us: u64::try_from(interval.as_micros()).unwrap_or(u64::MAX),
            next_us: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// An occurrence now: `Some(held back before it)` when it is to be logged.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    /// An occurrence at `now` (not before the limit was made).
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let now_us = u64::try_from(now.saturating_duration_since(self.start).as_micros())
            .unwrap_or(u64::MAX);
        let next = self.next_us.load(Ordering::Relaxed);
        let due = now_us >= next;
        let claimed = due
            && self
                .next_us
                .compare_exchange(
                    next,
                    now_us.saturating_add(self.interval_us),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if claimed {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_then_one_per_interval_with_the_count_held_back() {
        let limit = LogLimit::new(Duration::from_secs(1));
        let t0 = limit.start;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(limit.allow_at(at(0)), Some(0));
        assert_eq!(limit.allow_at(at(10)), None);
        assert_eq!(limit.allow_at(at(999)), None);
        assert_eq!(limit.allow_at(at(1_000)), Some(2));
        assert_eq!(limit.allow_at(at(1_500)), None);
        assert_eq!(limit.allow_at(at(5_000)), Some(1));
        assert_eq!(limit.allow_at(at(5_001)), None);
    }

    #[test]
    fn threads_let_one_line_through_per_interval() {
        let limit = std::sync::Arc::new(LogLimit::new(Duration::from_secs(3600)));
        let passed: u64 = (0..4)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || {
                    (0..1_000).filter(|_| limit.allow().is_some()).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(passed, 1);
        assert_eq!(limit.held.load(Ordering::Relaxed), 3_999);
    }
}
