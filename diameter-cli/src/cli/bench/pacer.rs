//! Open-loop pacing on tokio's timer, without the timer's rounding counted as latency.
//!
//! tokio's timer rounds a deadline up to its next millisecond tick, and its driver waits in
//! whole milliseconds too, so a sleep ends up to about 2 ms after its deadline. A request
//! slept until its due time would leave that late, and a paced run, which counts latency
//! from when a request was due, would report the delay as the server's latency (a stateless
//! server measured 1.2 ms at p50 that way, against 0.14 ms). A thread of its own with finer
//! sleeps fixed that but took 2.5 times the client's CPU (two wake-ups per request), which
//! on a small machine slows the server being measured. So a request waits until [`EARLY`]
//! before it is due, leaves between then and its due time, and its latency counts from the
//! earlier of the two: from when it left, unless the client itself held it up past its due
//! time. The same goes for a scenario step due after a think time.

use std::time::Duration;
use tokio::time::Instant;

/// How long before its due time a request's wait is set to end.
pub const EARLY: Duration = Duration::from_millis(2);

/// Waits until `due` is at most [`EARLY`] away; returns when the request's latency counts
/// from (see the module docs).
pub async fn until(due: Instant) -> Instant {
    tokio::time::sleep_until(due.checked_sub(EARLY).unwrap_or(due)).await;
    due.min(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_leaves_at_most_early_and_counts_from_then() {
        for ahead in [0, 1, 3, 10] {
            let due = Instant::now() + Duration::from_millis(ahead);
            let from = until(due).await;
            let now = Instant::now();
            assert!(now + EARLY >= due, "woke earlier than EARLY");
            assert!(from <= due && from <= now);
            assert!(from + EARLY >= due);
        }
    }

    #[tokio::test]
    async fn a_late_request_counts_from_its_due_time() {
        let due = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(until(due).await, due);
    }
}
