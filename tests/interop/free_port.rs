//! A free port for tests, shared by `tests/interop` and the OCS tests' helpers
//! (`diameter-apps/tests/ocs_common`), which include this file with `#[path]`.

/// A port on 127.0.0.1 that nothing listens on now (released again: the caller binds it).
/// It is drawn at random outside the kernel's ephemeral range (from 10,000 up to the range,
/// or above it): a port from that range, once released, can be taken at once by any
/// outgoing connection of another test running in parallel (seen as AddrInUse in CI). Two
/// tests may still draw the same port, about one chance in 20,000 per pair; tests that start
/// our own servers let them bind port 0 instead.
pub fn free_port() -> u16 {
    let range: Vec<u32> = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .map(|r| {
            r.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (low, high) = match range[..] {
        [low, high] => (low, high),
        _ => (32_768, 60_999),
    };
    // Ports outside the range: [10000, low) and (high, 65535].
    let below = low.saturating_sub(10_000);
    let above = 65_535u32.saturating_sub(high.max(9_999));
    if below + above < 1_000 {
        // No room outside the range: any port the kernel has free.
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
    }
    for _ in 0..1_000 {
        use std::hash::{BuildHasher, Hasher};
        let draw = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let n = (draw % u64::from(below + above)) as u32;
        let port = if n < below {
            10_000 + n
        } else {
            high.max(9_999) + 1 + (n - below)
        };
        if std::net::TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port outside {low}-{high} on 127.0.0.1");
}
