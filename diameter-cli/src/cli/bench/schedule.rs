//! Open-loop arrival times: when the n-th request (or flow) is due, at a target rate
//! reached by a linear ramp-up. Pure: no clock, the caller adds the start time.

use std::time::Duration;

/// The offset from the start at which arrival `n` (0-based) is due, at `rate` per second
/// reached linearly over `ramp` (zero: the full rate from the start).
///
/// During the ramp the rate at time t is `rate * t / ramp`, so `rate * t² / (2 * ramp)`
/// arrivals are due by t; after it, `rate` per second.
pub fn arrival(n: u64, rate: f64, ramp: Duration) -> Duration {
    let n = n as f64;
    let ramp_s = ramp.as_secs_f64();
    let during_ramp = rate * ramp_s / 2.0;
    let secs = if n < during_ramp {
        (2.0 * n * ramp_s / rate).sqrt()
    } else {
        ramp_s + (n - during_ramp) / rate
    };
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_ramp_arrivals_are_evenly_spaced() {
        assert_eq!(arrival(0, 100.0, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            arrival(50, 100.0, Duration::ZERO),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn the_ramp_sends_half_as_many_then_the_full_rate() {
        let ramp = Duration::from_secs(2);
        // 100/s ramped over 2 s: 100 arrivals in the ramp, the first ones sparse.
        let first = arrival(1, 100.0, ramp).as_secs_f64();
        assert!((first - 0.2).abs() < 1e-9, "{first}");
        assert!((arrival(100, 100.0, ramp).as_secs_f64() - 2.0).abs() < 1e-9);
        assert!((arrival(200, 100.0, ramp).as_secs_f64() - 3.0).abs() < 1e-9);
        // Gaps shrink during the ramp.
        let gap = |n| arrival(n + 1, 100.0, ramp) - arrival(n, 100.0, ramp);
        assert!(gap(5) > gap(50));
    }
}
