//! Incoming connections before their CER (RFC 6733 §5.6.1): the logic that reads the
//! first message, checks it is a CER from an allowed peer at an allowed address, and hands
//! it to the peer's state machine as R-Conn-CER. Sans-IO: the caller gives the remote
//! address of the connection.

use super::capabilities::{cea, Capabilities};
use crate::base::command;
use crate::fields::same_identity;
use crate::message::RawMessage;
use crate::result_code as rc;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Which peers may connect to this node.
///
/// The default, [`AcceptPolicy::LoopbackOnly`], accepts a peer only when its connection
/// comes from a loopback address (127.0.0.0/8, ::1), so a node started without any
/// configuration is not open to the network. An allow-list names the peers (by
/// Origin-Host, each optionally tied to a source address or network); everyone else gets
/// a CEA with 3010 DIAMETER_UNKNOWN_PEER. [`AcceptPolicy::AnyPeer`] opens the node to
/// every peer with a valid CER (RFC 6733 leaves this to local policy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AcceptPolicy {
    /// Any peer with a valid CER that connects from a loopback address.
    #[default]
    LoopbackOnly,
    /// Any peer with a valid CER, from anywhere.
    AnyPeer,
    /// Only these peers (Origin-Hosts compared ignoring ASCII case), from anywhere unless
    /// the entry names a source.
    AllowList(Vec<AllowedPeer>),
}

/// One entry of an [`AcceptPolicy::AllowList`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedPeer {
    /// The peer's Origin-Host.
    pub host: String,
    /// The address or network it must connect from (`None`: any).
    pub source: Option<SourceNet>,
    /// On a node with TLS, the peer may also connect over plain TCP (default false: a
    /// TLS node takes only TLS connections). No effect on a node without TLS.
    pub plain: bool,
}

impl AllowedPeer {
    /// A peer accepted from any address.
    pub fn new(host: impl Into<String>) -> Self {
        AllowedPeer {
            host: host.into(),
            source: None,
            plain: false,
        }
    }

    /// May connect over plain TCP to a node with TLS.
    pub fn plain(mut self) -> Self {
        self.plain = true;
        self
    }

    /// Accepted only from this address or network.
    pub fn from_source(mut self, source: SourceNet) -> Self {
        self.source = Some(source);
        self
    }
}

impl From<&str> for AllowedPeer {
    fn from(host: &str) -> Self {
        AllowedPeer::new(host)
    }
}

impl From<String> for AllowedPeer {
    fn from(host: String) -> Self {
        AllowedPeer::new(host)
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/24`, `2001:db8::/32`), or one
/// address (`10.0.0.11`, `::1`, a /32 or /128). IPv4-mapped IPv6 addresses
/// (`::ffff:10.0.0.11`) match as the IPv4 address they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a [`SourceNet`] did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or network (ADDR or ADDR/PREFIX)")]
pub struct SourceNetError(pub String);

impl SourceNet {
    /// The network of `addr` with `prefix` bits (at most 32 for IPv4, 128 for IPv6); bits
    /// after the prefix are ignored.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(SourceNet { addr, prefix })
    }

    /// The address, when the network is a single address (a /32 or /128).
    pub fn single_address(&self) -> Option<IpAddr> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        (self.prefix == max).then_some(self.addr)
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[whole] & mask) == (b[whole] & mask)
}

impl FromStr for SourceNet {
    type Err = SourceNetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SourceNetError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let canonical = addr.to_canonical();
        let prefix = match prefix {
            None => {
                if canonical.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(p) => {
                let p: u8 = p.trim().parse().map_err(|_| err())?;
                // A mapped IPv6 network (`::ffff:10.0.0.0/120`) becomes its IPv4 network.
                if addr.is_ipv6() && canonical.is_ipv4() {
                    p.checked_sub(96).ok_or_else(err)?
                } else {
                    p
                }
            }
        };
        SourceNet::new(canonical, prefix).ok_or_else(err)
    }
}

impl fmt::Display for SourceNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The outcome of [`AcceptPolicy::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The peer may connect. `source_bound` tells that the policy tied its identity to
    /// the source address (an allow-list entry with a source).
    Admitted {
        /// The source address was checked against the peer's entry.
        source_bound: bool,
    },
    /// Refused (3010), with the reason to log and put in Error-Message.
    Refused(&'static str),
}

impl AcceptPolicy {
    /// Whether a peer with this Origin-Host may connect from `remote`.
    pub fn admit(&self, origin_host: &str, remote: IpAddr) -> Admission {
        match self {
            AcceptPolicy::AnyPeer => Admission::Admitted {
                source_bound: false,
            },
            AcceptPolicy::LoopbackOnly if remote.to_canonical().is_loopback() => {
                Admission::Admitted {
                    source_bound: false,
                }
            }
            AcceptPolicy::LoopbackOnly => {
                Admission::Refused("only peers on the loopback interface are accepted")
            }
            AcceptPolicy::AllowList(peers) => {
                let mut listed = false;
                for p in peers.iter().filter(|p| same_identity(&p.host, origin_host)) {
                    listed = true;
                    match p.source {
                        None => {
                            return Admission::Admitted {
                                source_bound: false,
                            }
                        }
                        Some(net) if net.contains(remote) => {
                            return Admission::Admitted { source_bound: true }
                        }
                        Some(_) => {}
                    }
                }
                if listed {
                    Admission::Refused("peer connects from an address not allowed for it")
                } else {
                    Admission::Refused("peer not in the allow-list")
                }
            }
        }
    }

    /// The single source addresses the allow-list binds peers to: connections from them
    /// may use the slots reserved for configured peers.
    pub fn reserved_sources(&self) -> Vec<IpAddr> {
        match self {
            AcceptPolicy::AllowList(peers) => peers
                .iter()
                .filter_map(|p| p.source.as_ref()?.single_address())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a peer with this Origin-Host may connect without TLS to a node that has
    /// TLS: only allow-list entries marked [`AllowedPeer::plain()`].
    pub fn allows_plain(&self, origin_host: &str) -> bool {
        match self {
            AcceptPolicy::AllowList(peers) => peers
                .iter()
                .any(|p| p.plain && same_identity(&p.host, origin_host)),
            _ => false,
        }
    }

    /// Whether some peer may connect without TLS (see [`AcceptPolicy::allows_plain`]).
    pub fn any_plain(&self) -> bool {
        matches!(self, AcceptPolicy::AllowList(peers) if peers.iter().any(|p| p.plain))
    }

    /// Whether a peer with this Origin-Host may connect from `remote`.
    pub fn allows(&self, origin_host: &str, remote: IpAddr) -> bool {
        matches!(self.admit(origin_host, remote), Admission::Admitted { .. })
    }
}

/// Why an incoming connection was refused, and the CEA to send before closing, if any.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The answer to send before closing; `None` when the first message was not a CER.
    pub answer: Option<RawMessage>,
    /// The Result-Code (0 when nothing is answered).
    pub result_code: u32,
}

/// A CEA refusing the CER with 3010 DIAMETER_UNKNOWN_PEER.
pub fn unknown_peer(local: &Capabilities, cer: &RawMessage, text: &str) -> Rejection {
    let code = rc::DIAMETER_UNKNOWN_PEER;
    Rejection {
        answer: Some(cea(local, &cer.header, code, Some(text), None)),
        result_code: code,
    }
}

/// An admitted CER: the peer's capabilities and how its identity was established.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// The capabilities read from the CER.
    pub caps: Capabilities,
    /// The accept policy tied the peer to its source address.
    pub source_bound: bool,
}

/// Checks the first message of a connection accepted from `remote`. `Ok` gives the peer's
/// capabilities; the caller then passes the CER to that peer's state machine. A CER
/// carrying this node's own Origin-Host is refused (3010) whatever the policy.
pub fn check_incoming(
    local: &Capabilities,
    policy: &AcceptPolicy,
    first: &RawMessage,
    remote: IpAddr,
) -> Result<Admitted, Rejection> {
    let h = &first.header;
    if h.command_code != command::CAPABILITIES_EXCHANGE || !h.is_request() {
        return Err(Rejection {
            answer: None,
            result_code: 0,
        });
    }
    let caps = match Capabilities::parse(first) {
        Ok(c) => c,
        Err(e) => {
            let text = e.kind.to_string();
            let answer = cea(
                local,
                h,
                e.result_code(),
                Some(&text),
                e.failed_avp.as_ref(),
            );
            return Err(Rejection {
                answer: Some(answer),
                result_code: e.result_code(),
            });
        }
    };
    if same_identity(&caps.origin_host, &local.origin_host) {
        return Err(unknown_peer(
            local,
            first,
            "the CER claims this node's own identity",
        ));
    }
    match policy.admit(&caps.origin_host, remote) {
        Admission::Admitted { source_bound } => Ok(Admitted { caps, source_bound }),
        Admission::Refused(text) => Err(unknown_peer(local, first, text)),
    }
}

/// Whether a new connection from `remote` may claim the identity of a peer this node
/// dials at `dialled` (RFC 6733 §5.6.4).
///
/// A configured peer is dialled at its address, and redialled after Tc while closed.
/// While we dial it (Wait-Conn-Ack, Wait-I-CEA), a CER with its Origin-Host starts an
/// election whose winner drops the connection we opened; while it is closed, the CER
/// would open it in R-Open and stop the redialling. So a connection may claim a dialled
/// peer only if it comes from the address we dial or its identity is `vouched` for (a
/// TLS certificate for that Origin-Host, or an allow-list entry tying the peer to a
/// source that matched); otherwise anyone who knows the peer's name could replace it.
/// Peers that are only accepted (`dialled` is `None`) are left to the state machine,
/// which refuses a second connection while the first is open (R-Reject).
pub fn may_contend(dialled: Option<IpAddr>, remote: IpAddr, vouched: bool) -> bool {
    match dialled {
        None => true,
        Some(d) => vouched || d.to_canonical() == remote.to_canonical(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_address_sources_are_reserved() {
        let net = |s: &str| s.parse::<SourceNet>().unwrap();
        let policy = AcceptPolicy::AllowList(vec![
            AllowedPeer::new("a").from_source(net("10.0.0.7")),
            AllowedPeer::new("b").from_source(net("10.0.0.0/24")),
            AllowedPeer::new("c").from_source(net("2001:db8::1/128")),
            AllowedPeer::new("d"),
        ]);
        let want: Vec<IpAddr> = vec!["10.0.0.7".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        assert_eq!(policy.reserved_sources(), want);
        assert!(AcceptPolicy::LoopbackOnly.reserved_sources().is_empty());
    }

    #[test]
    fn source_nets_parse_and_match() {
        let n: SourceNet = "10.0.0.0/24".parse().unwrap();
        assert!(n.contains(ip("10.0.0.200")));
        assert!(!n.contains(ip("10.0.1.1")));
        assert!(n.contains(ip("::ffff:10.0.0.7")), "mapped IPv4");
        assert!(!n.contains(ip("::1")));
        let one: SourceNet = "192.0.2.1".parse().unwrap();
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let v6: SourceNet = "2001:db8::/33".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:7fff::1")));
        assert!(!v6.contains(ip("2001:db8:8000::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let mapped: SourceNet = "::ffff:10.1.0.0/112".parse().unwrap();
        assert!(mapped.contains(ip("10.1.2.3")));
        let any: SourceNet = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(ip("203.0.113.9")));
        assert_eq!(n.to_string(), "10.0.0.0/24");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.1/",
            "::ffff:1.2.3.4/90",
        ] {
            assert!(bad.parse::<SourceNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_accepts_loopback_only() {
        let p = AcceptPolicy::default();
        assert!(p.allows("anyone.example.net", ip("127.0.0.1")));
        assert!(p.allows("anyone.example.net", ip("127.3.2.1")));
        assert!(p.allows("anyone.example.net", ip("::1")));
        assert!(p.allows("anyone.example.net", ip("::ffff:127.0.0.1")));
        assert!(!p.allows("anyone.example.net", ip("10.0.0.1")));
        assert!(!p.allows("anyone.example.net", ip("2001:db8::1")));
        assert!(AcceptPolicy::AnyPeer.allows("anyone.example.net", ip("203.0.113.1")));
    }

    #[test]
    fn allow_list_checks_host_then_source() {
        let p = AcceptPolicy::AllowList(vec![
            AllowedPeer::new("pgw.example.net").from_source("10.0.0.0/24".parse().unwrap()),
            "dra.example.net".into(),
        ]);
        assert_eq!(
            p.admit("PGW.example.net", ip("10.0.0.9")),
            Admission::Admitted { source_bound: true }
        );
        assert!(!p.allows("pgw.example.net", ip("10.0.1.9")));
        assert!(
            !p.allows("pgw.example.net", ip("127.0.0.1")),
            "listed: loopback is not enough"
        );
        assert_eq!(
            p.admit("dra.example.net", ip("198.51.100.1")),
            Admission::Admitted {
                source_bound: false
            }
        );
        assert!(!p.allows("other.example.net", ip("127.0.0.1")));
    }

    #[test]
    fn a_cer_with_our_own_identity_is_refused() {
        let local = Capabilities {
            origin_host: "server.example.net".into(),
            origin_realm: "example.net".into(),
            auth_applications: vec![4],
            ..Default::default()
        };
        let mut me = local.clone();
        me.origin_host = "SERVER.example.net".into();
        let cer = super::super::capabilities::cer(&me, 1, 1);
        let rej = check_incoming(&local, &AcceptPolicy::AnyPeer, &cer, ip("127.0.0.1"));
        assert_eq!(rej.unwrap_err().result_code, rc::DIAMETER_UNKNOWN_PEER);
    }

    #[test]
    fn impostor_cannot_claim_a_dialled_peer() {
        let known = Some(ip("10.0.0.11"));
        assert!(!may_contend(known, ip("10.9.9.9"), false));
        assert!(may_contend(known, ip("10.0.0.11"), false));
        assert!(may_contend(known, ip("::ffff:10.0.0.11"), false));
        assert!(may_contend(known, ip("10.9.9.9"), true), "vouched");
        assert!(may_contend(None, ip("10.9.9.9"), false), "accept-only peer");
    }
}
