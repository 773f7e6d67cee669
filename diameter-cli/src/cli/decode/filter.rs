//! Which messages `diameter decode` prints: `--command`, `--session`, `--result-code`,
//! `--peer`. Several values of one option are alternatives; different options must all match.

use super::tree::MessageNode;
use super::value::Value;
use crate::cli::pcap::Meta;
use diameter_core::dictionary::Dictionary;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// One `--command` value: a command code, and whether only requests or answers match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandFilter {
    /// The command code.
    pub code: u32,
    /// `Some(true)`: requests only (`CCR`), `Some(false)`: answers only (`CCA`).
    pub request: Option<bool>,
}

impl CommandFilter {
    /// Parses `272`, `CCR`, `CCA`, `CC`, `Credit-Control`, `Credit-Control-Request`
    /// (case-insensitive).
    pub fn parse(dict: &Dictionary, s: &str) -> Result<Self, String> {
        if let Ok(code) = s.parse() {
            return Ok(CommandFilter {
                code,
                request: None,
            });
        }
        let lower = s.to_ascii_lowercase();
        for c in dict.commands {
            let (name, short) = (c.name.to_ascii_lowercase(), c.short.to_ascii_lowercase());
            let request = if lower == name || lower == short {
                None
            } else if lower == format!("{short}r") || lower == format!("{name}-request") {
                Some(true)
            } else if lower == format!("{short}a") || lower == format!("{name}-answer") {
                Some(false)
            } else {
                continue;
            };
            return Ok(CommandFilter {
                code: c.code,
                request,
            });
        }
        Err(format!(
            "--command {s}: not a command code or a known command name (such as CCR, 272)"
        ))
    }

    fn matches(&self, m: &MessageNode) -> bool {
        m.header.command_code == self.code
            && self.request.is_none_or(|r| r == m.header.is_request())
    }
}

/// One `--peer` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerFilter {
    /// An address and port: sender or receiver.
    Socket(SocketAddr),
    /// An address, any port.
    Ip(IpAddr),
    /// A DiameterIdentity: the Origin-Host a peer sent from its address.
    Host(String),
}

impl PeerFilter {
    /// Parses `10.0.0.1:3868`, `[::1]:3868`, `10.0.0.1` or a host name.
    pub fn parse(s: &str) -> Self {
        if let Ok(a) = s.parse() {
            PeerFilter::Socket(a)
        } else if let Ok(ip) = s.parse() {
            PeerFilter::Ip(ip)
        } else {
            PeerFilter::Host(s.to_ascii_lowercase())
        }
    }
}

/// The filters of one run.
#[derive(Debug, Default)]
pub struct Filters {
    /// `--command` values.
    pub commands: Vec<CommandFilter>,
    /// `--session` values.
    pub sessions: Vec<String>,
    /// `--result-code` values.
    pub result_codes: Vec<u32>,
    /// `--peer` values.
    pub peers: Vec<PeerFilter>,
    /// Origin-Host last seen from each address, for host names in `--peer`.
    hosts: HashMap<SocketAddr, String>,
}

/// Addresses whose Origin-Host is remembered for `--peer NAME`; past it, no new ones.
const MAX_HOSTS: usize = 100_000;

impl Filters {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.sessions.is_empty()
            && self.result_codes.is_empty()
            && self.peers.is_empty()
    }

    /// Whether a message passes; also learns the sender's Origin-Host.
    pub fn pass(&mut self, m: &MessageNode, meta: Option<&Meta>) -> bool {
        if let (Some(meta), Some(host)) = (meta, text_avp(m, 264)) {
            if self.hosts.len() < MAX_HOSTS || self.hosts.contains_key(&meta.src) {
                self.hosts.insert(meta.src, host.to_ascii_lowercase());
            }
        }
        let any = |empty: bool, hit: &dyn Fn() -> bool| empty || hit();
        any(self.commands.is_empty(), &|| {
            self.commands.iter().any(|c| c.matches(m))
        }) && any(self.sessions.is_empty(), &|| {
            text_avp(m, 263).is_some_and(|s| self.sessions.iter().any(|x| x == s))
        }) && any(self.result_codes.is_empty(), &|| {
            m.result_code()
                .is_some_and(|rc| self.result_codes.contains(&rc))
        }) && any(self.peers.is_empty(), &|| {
            meta.is_some_and(|meta| self.peers.iter().any(|p| self.peer_matches(p, meta)))
        })
    }

    fn peer_matches(&self, p: &PeerFilter, meta: &Meta) -> bool {
        let ends = [meta.src, meta.dst];
        match p {
            PeerFilter::Socket(a) => ends.contains(a),
            PeerFilter::Ip(ip) => ends.iter().any(|e| e.ip() == *ip),
            PeerFilter::Host(h) => ends
                .iter()
                .any(|e| self.hosts.get(e).is_some_and(|x| x == h)),
        }
    }
}

/// The text of a top-level base AVP (vendor 0).
fn text_avp(m: &MessageNode, code: u32) -> Option<&str> {
    m.avps.iter().find_map(|a| match &a.value {
        Value::Text(t) if a.code == code && a.vendor == 0 => Some(t.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_and_codes() {
        let d = &diameter::dict::DICTIONARY;
        let f = |s| CommandFilter::parse(d, s).expect(s);
        assert_eq!(
            f("272"),
            CommandFilter {
                code: 272,
                request: None
            }
        );
        assert_eq!(
            f("ccr"),
            CommandFilter {
                code: 272,
                request: Some(true)
            }
        );
        assert_eq!(
            f("CCA"),
            CommandFilter {
                code: 272,
                request: Some(false)
            }
        );
        assert_eq!(
            f("Credit-Control"),
            CommandFilter {
                code: 272,
                request: None
            }
        );
        assert_eq!(
            f("Capabilities-Exchange-Answer"),
            CommandFilter {
                code: 257,
                request: Some(false)
            }
        );
        assert!(CommandFilter::parse(d, "XYZ").is_err());
    }

    #[test]
    fn peers() {
        assert_eq!(
            PeerFilter::parse("10.0.0.1:3868"),
            PeerFilter::Socket("10.0.0.1:3868".parse().expect("addr"))
        );
        assert_eq!(
            PeerFilter::parse("::1"),
            PeerFilter::Ip("::1".parse().expect("ip"))
        );
        assert_eq!(
            PeerFilter::parse("Client.Example"),
            PeerFilter::Host("client.example".into())
        );
    }
}
