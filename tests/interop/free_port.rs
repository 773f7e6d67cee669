//! A free port for tests, shared by `tests/interop` and the OCS tests' helpers
//! (`diameter-apps/tests/ocs_common`), which include this file with `#[path]`.

/// A port on 127.0.0.1 that nothing listens on now (released again: the caller binds it).
/// It is drawn at random below the kernel's ephemeral range: a port from that range, once
/// released, can be taken at once by any outgoing connection of another test running in
/// parallel (seen as AddrInUse in CI). Two tests may still draw the same port, about one
/// chance in 20,000 per pair.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low < 11_000 {
        // No room below the range: any port the kernel has free.
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
    }
    let span = u64::from(low - 10_000);
    for _ in 0..1_000 {
        use std::hash::{BuildHasher, Hasher};
        let draw = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = 10_000 + (draw % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {low} on 127.0.0.1");
}
