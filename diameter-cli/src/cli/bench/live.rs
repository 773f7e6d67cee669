//! One request's exchange and the live counters of a run: the progress bar's totals and
//! the current `--interval`'s figures.

use super::stats::Stats;
use diameter_core::fields::result_code;
use diameter_core::node::{Node, RequestError};
use diameter_core::RawMessage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What one request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer with this Result-Code (0: none), after this long from when it was due.
    Answer(u32, Duration),
    /// No answer in time.
    Timeout,
    /// The request failed otherwise.
    Error,
}

impl Outcome {
    /// An answer with a 2xxx Result-Code.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Answer(rc, _) if (2000..3000).contains(rc))
    }
}

/// Sends `msg` and waits for its answer; latency counts from `due`, the time the request
/// was scheduled, not when it left (so waiting for a free slot shows).
pub async fn exchange(node: &Node, msg: RawMessage, timeout: Duration, due: Instant) -> Outcome {
    let result = match node.request_with_timeout(msg, timeout).await {
        Err(RequestError::Protocol { answer, .. }) => Ok(*answer),
        other => other,
    };
    match result {
        Ok(answer) => Outcome::Answer(
            result_code(&answer).unwrap_or(0),
            Instant::now().saturating_duration_since(due),
        ),
        Err(RequestError::Timeout) => Outcome::Timeout,
        Err(_) => Outcome::Error,
    }
}

/// Counters shared by every worker of a run.
pub struct Live {
    /// Answers so far.
    pub answered: AtomicU64,
    /// Timeouts and errors so far.
    pub failed: AtomicU64,
    /// The current interval's figures, when `--interval` is set.
    pub interval: Option<Mutex<Stats>>,
}

impl Live {
    /// Counters, with interval figures or not.
    pub fn new(intervals: bool) -> Live {
        Live {
            answered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            interval: intervals.then(|| Mutex::new(Stats::new())),
        }
    }

    /// Counts a request sent, in `s` and the interval.
    pub fn sent(&self, s: &mut Stats) {
        s.sent += 1;
        if let Some(Ok(mut i)) = self.interval.as_ref().map(Mutex::lock) {
            i.sent += 1;
        }
    }

    /// Counts a request's outcome, in `s`, the interval and the totals.
    pub fn done(&self, s: &mut Stats, o: &Outcome) {
        apply(s, o);
        if let Some(Ok(mut i)) = self.interval.as_ref().map(Mutex::lock) {
            apply(&mut i, o);
        }
        let counter = match o {
            Outcome::Answer(..) => &self.answered,
            _ => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the interval's figures, leaving empty ones.
    pub fn take_interval(&self) -> Option<Stats> {
        let mut i = self.interval.as_ref()?.lock().ok()?;
        Some(std::mem::take(&mut *i))
    }
}

fn apply(s: &mut Stats, o: &Outcome) {
    match o {
        Outcome::Answer(rc, latency) => s.answer(*rc, *latency),
        Outcome::Timeout => s.timeouts += 1,
        Outcome::Error => s.errors += 1,
    }
}
