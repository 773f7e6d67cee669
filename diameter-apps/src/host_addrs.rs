//! The Host-IP-Addresses a server advertises in its CER/CEA (RFC 6733 §5.3.5).
//!
//! A server bound to a specific address advertises that address. One bound to a wildcard
//! (`0.0.0.0`, `::`) is reachable on every address of the host, so it advertises those:
//! the addresses of its network interfaces, without loopback and link-local ones (a peer
//! on another host cannot use them); `0.0.0.0` takes the IPv4 ones, `::` (dual-stack) all.
//! Only when the host has no other address is loopback advertised.

use std::net::{IpAddr, SocketAddr};

/// The addresses to advertise for `listen`, given the host's interface addresses
/// `interfaces` (pure: see [`host_ip_addresses`] for the host's own).
pub fn advertised(listen: &[SocketAddr], interfaces: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut push = |ip: IpAddr| {
        if !out.contains(&ip) {
            out.push(ip);
        }
    };
    for addr in listen {
        let ip = addr.ip();
        if !ip.is_unspecified() {
            push(ip);
            continue;
        }
        let family_ok = |i: &IpAddr| ip.is_ipv6() || i.is_ipv4();
        let usable: Vec<IpAddr> = interfaces
            .iter()
            .copied()
            .filter(|i| family_ok(i) && !i.is_unspecified())
            .collect();
        let reachable: Vec<IpAddr> = usable
            .iter()
            .copied()
            .filter(|i| !i.is_loopback() && !is_link_local(i))
            .collect();
        let chosen = if reachable.is_empty() {
            usable.into_iter().filter(|i| i.is_loopback()).collect()
        } else {
            reachable
        };
        for i in chosen {
            push(i);
        }
    }
    out
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The addresses to advertise for `listen` on this host (see the module docs). When the
/// interfaces cannot be read, a wildcard contributes nothing (the node then falls back to
/// its default, the loopback address) and a warning is logged.
pub fn host_ip_addresses(listen: &[SocketAddr]) -> Vec<IpAddr> {
    let interfaces = if listen.iter().any(|a| a.ip().is_unspecified()) {
        match if_addrs::get_if_addrs() {
            Ok(list) => list.iter().map(|i| i.ip()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the host's addresses for Host-IP-Address");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    advertised(listen, &interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|x| x.parse().unwrap()).collect()
    }

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_specific_address_is_advertised_as_it_is() {
        let host = ips(&["127.0.0.1", "192.0.2.7"]);
        assert_eq!(
            advertised(&[at("127.0.0.1:3868")], &host),
            ips(&["127.0.0.1"])
        );
    }

    #[test]
    fn a_wildcard_advertises_the_hosts_reachable_addresses() {
        let host = ips(&[
            "127.0.0.1",
            "192.0.2.7",
            "169.254.1.1",
            "10.1.1.1",
            "::1",
            "fe80::1",
            "2001:db8::7",
        ]);
        assert_eq!(
            advertised(&[at("0.0.0.0:3868")], &host),
            ips(&["192.0.2.7", "10.1.1.1"])
        );
        assert_eq!(
            advertised(&[at("[::]:3868")], &host),
            ips(&["192.0.2.7", "10.1.1.1", "2001:db8::7"])
        );
        // A wildcard and a specific one: no duplicates.
        assert_eq!(
            advertised(&[at("0.0.0.0:3868"), at("10.1.1.1:3869")], &host),
            ips(&["192.0.2.7", "10.1.1.1"])
        );
    }

    #[test]
    fn a_host_with_only_loopback_advertises_loopback() {
        let host = ips(&["127.0.0.1", "::1"]);
        assert_eq!(
            advertised(&[at("0.0.0.0:3868")], &host),
            ips(&["127.0.0.1"])
        );
        assert!(advertised(&[at("0.0.0.0:3868")], &[]).is_empty());
    }

    #[test]
    fn this_host_lists_something_for_a_wildcard() {
        // Every test machine has at least a loopback interface.
        assert!(!host_ip_addresses(&[at("0.0.0.0:0")]).is_empty());
    }
}
