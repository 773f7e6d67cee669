//! Open-loop pacing with sub-millisecond precision.
//!
//! tokio's timer rounds every sleep up to its next millisecond tick, so a request due at t
//! would leave between t and t + 1 ms, and a paced run, which counts latency from when a
//! request was due, would report that lateness as the server's latency (a stateless server
//! measured 1.2 ms at p50 that way). A [`Pacer`] instead releases request slots from its
//! own OS thread, which sleeps with the kernel's high-resolution timers (tens of µs).

use super::schedule;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The longest the pacer thread sleeps at once, so that it notices a stop soon.
const MAX_NAP: Duration = Duration::from_millis(5);

/// Releases one permit per request slot at the slot's due time (see the module docs);
/// stops at the deadline or when dropped, and then every wait returns `false`.
pub struct Pacer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the pacer thread and the waiting tasks share.
struct Shared {
    permits: Semaphore,
    stop: AtomicBool,
    /// Slots taken so far, released or not.
    taken: AtomicU64,
    /// Slots released in all, once the pacer has stopped (`u64::MAX` until then).
    released: AtomicU64,
}

impl Pacer {
    /// Starts releasing slots: slot n at `start + arrival(n, rate, ramp)`, until `deadline`.
    pub fn start(
        start: Instant,
        deadline: Instant,
        rate: f64,
        ramp: Duration,
    ) -> std::io::Result<Pacer> {
        let shared = Arc::new(Shared {
            permits: Semaphore::new(0),
            stop: AtomicBool::new(false),
            taken: AtomicU64::new(0),
            released: AtomicU64::new(u64::MAX),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || release(&s, start, deadline, |n| schedule::arrival(n, rate, ramp)))?;
        Ok(Pacer {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits for the next released slot; `false` once every released slot is taken and
    /// the pacer has stopped.
    pub async fn wait(&self) -> bool {
        let s = &self.shared;
        match s.permits.acquire().await {
            Ok(p) => p.forget(),
            Err(_) => return false,
        }
        // Once stopped, the pacer adds permits that only wake the waiters: the first
        // `released` slots taken are the real ones.
        s.taken.fetch_add(1, Ordering::SeqCst) < s.released.load(Ordering::SeqCst)
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pacer thread: sleeps until the next slot is due, releases every slot due by then in
/// one go, and at the deadline or on a stop records how many it released and wakes every
/// waiter.
fn release(s: &Shared, start: Instant, deadline: Instant, arrival: impl Fn(u64) -> Duration) {
    let mut next = 0u64;
    while !s.stop.load(Ordering::Relaxed) {
        let due = start + arrival(next);
        if due >= deadline {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).min(MAX_NAP));
            continue;
        }
        let mut released = 0;
        while start + arrival(next) <= now && released < Semaphore::MAX_PERMITS {
            next += 1;
            released += 1;
        }
        s.permits.add_permits(released);
    }
    s.released.store(next, Ordering::SeqCst);
    s.permits.add_permits(Semaphore::MAX_PERMITS / 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_come_at_the_rate_and_stop_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(200);
        let pacer = Pacer::start(start, deadline, 500.0, Duration::ZERO).unwrap();
        let mut slots = 0;
        while pacer.wait().await {
            slots += 1;
            // Never ahead of the schedule: slot n is due at n × 2 ms.
            let due = start + Duration::from_millis(2 * (slots - 1));
            assert!(Instant::now() >= due, "slot {slots} came early");
        }
        // 100 slots are due in 200 ms, the first at the start.
        assert_eq!(slots, 100);
        assert!(Instant::now() >= deadline - Duration::from_millis(2));
    }

    #[tokio::test]
    async fn dropping_the_pacer_ends_its_waits() {
        let start = Instant::now();
        let pacer =
            Pacer::start(start, start + Duration::from_secs(60), 1.0, Duration::ZERO).unwrap();
        assert!(pacer.wait().await, "the first slot is due at once");
        let shared = pacer.shared.clone();
        drop(pacer);
        assert_eq!(shared.released.load(Ordering::SeqCst), 1);
        let again = Pacer {
            shared,
            thread: None,
        };
        assert!(!again.wait().await);
        assert!(!again.wait().await);
    }

    #[tokio::test]
    async fn slots_released_before_the_stop_are_still_taken() {
        let start = Instant::now();
        let pacer = Pacer::start(
            start,
            start + Duration::from_millis(50),
            1000.0,
            Duration::ZERO,
        )
        .unwrap();
        // Nobody waits until the pacer has released all 50 slots and stopped.
        std::thread::sleep(Duration::from_millis(80));
        let mut slots = 0;
        while pacer.wait().await {
            slots += 1;
        }
        assert_eq!(slots, 50);
    }
}
