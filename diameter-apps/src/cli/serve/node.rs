//! Flags and config keys every server shares: where to listen and who we are.

use crate::cli::config::ConfigFile;
use crate::cli::exit::CliError;
use diameter_core::DiameterIdentity;
use std::net::SocketAddr;

/// The default listening address (RFC 6733 port).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:3868";

/// Flags shared by the servers; each overrides the configuration file.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeFlags {
    /// Address and port to listen on [default: 0.0.0.0:3868].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Our Origin-Host (DiameterIdentity, an FQDN).
    #[arg(long, value_name = "FQDN")]
    pub origin_host: Option<String>,
    /// Our Origin-Realm.
    #[arg(long, value_name = "REALM")]
    pub origin_realm: Option<String>,
}

/// The resolved identity and address of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Listening address.
    pub listen: SocketAddr,
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
}

/// The same keys as written in a configuration file, with their places.
#[derive(Debug, Clone, Default)]
pub struct NodeKeys {
    /// `listen = "ADDR:PORT"`.
    pub listen: Option<toml::Spanned<String>>,
    /// `origin_host = "FQDN"`.
    pub origin_host: Option<toml::Spanned<String>>,
    /// `origin_realm = "REALM"`.
    pub origin_realm: Option<toml::Spanned<String>>,
}

/// Merges flags over file keys over defaults, checking each value.
pub fn resolve(
    flags: &NodeFlags,
    keys: &NodeKeys,
    file: Option<&ConfigFile>,
    default_host: &str,
) -> Result<NodeIdentity, CliError> {
    let listen = match (flags.listen, &keys.listen, file) {
        (Some(a), _, _) => a,
        (None, Some(s), Some(f)) => s.get_ref().parse().map_err(|_| {
            f.error(
                Some(s.span()),
                &format!("listen = {:?} is not an address and port", s.get_ref()),
                "write it as \"ADDR:PORT\", for example \"0.0.0.0:3868\" or \"[::1]:3868\"",
            )
        })?,
        _ => DEFAULT_LISTEN
            .parse()
            .map_err(|_| CliError::usage("bad default address"))?,
    };
    let ident = |flag: &Option<String>,
                 key: &Option<toml::Spanned<String>>,
                 name: &str,
                 default: &str|
     -> Result<String, CliError> {
        let (value, span) = match (flag, key) {
            (Some(v), _) => (v.clone(), None),
            (None, Some(s)) => (s.get_ref().clone(), Some(s.span())),
            (None, None) => (default.to_owned(), None),
        };
        if DiameterIdentity::new(value.as_str()).is_err() {
            let msg = format!("{name} {value:?} is not a DiameterIdentity");
            let fix = "use an FQDN or realm: letters, digits, '-', '.' and '_' only, such as ocs.example.net";
            return Err(match (span, file) {
                (Some(sp), Some(f)) => f.error(Some(sp), &msg, fix),
                _ => CliError::usage(format!("{msg}\n  = fix: {fix}")),
            });
        }
        Ok(value)
    };
    let origin_host = ident(
        &flags.origin_host,
        &keys.origin_host,
        "origin_host",
        default_host,
    )?;
    let default_realm = origin_host
        .split_once('.')
        .map(|(_, r)| r.to_owned())
        .unwrap_or_else(|| "localdomain".into());
    let origin_realm = ident(
        &flags.origin_realm,
        &keys.origin_realm,
        "origin_realm",
        &default_realm,
    )?;
    Ok(NodeIdentity {
        listen,
        origin_host,
        origin_realm,
    })
}

/// A `[[peers]]` entry of a configuration file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's Origin-Host.
    pub host: toml::Spanned<String>,
    /// Where to connect; absent to only accept it.
    pub address: Option<toml::Spanned<String>>,
    /// Accept this peer only from this source address or network (`"10.0.0.11"`,
    /// `"10.0.0.0/24"`, `"::1"`).
    pub source: Option<toml::Spanned<String>>,
    /// Whether connections with this peer use TLS (default: the server's TLS setting).
    pub tls: Option<bool>,
    /// OCS: the peer may send REFUND_ACCOUNT (default false).
    pub refund: Option<bool>,
    /// SIP AAA: the peer may receive Digest-HA1 credentials (default false).
    pub credentials: Option<bool>,
}

/// A configured peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSetting {
    /// Its Origin-Host.
    pub host: String,
    /// Where to connect; `None` to only accept it.
    pub address: Option<SocketAddr>,
    /// The source address or network it must connect from, as written.
    pub source: Option<String>,
    /// TLS with this peer (`None`: the server's setting).
    pub tls: Option<bool>,
    /// The right to refund (OCS).
    pub refund: bool,
    /// The right to receive Digest-HA1 (SIP AAA).
    pub credentials: bool,
}

impl PeerSetting {
    /// The diameter-core peer to connect to, for entries with an address.
    pub fn to_config(&self) -> Option<diameter_core::node::PeerConfig> {
        self.address
            .map(|a| diameter_core::node::PeerConfig::new(self.host.clone(), a))
    }
}

/// Checks `[[peers]]` entries: identities, duplicates and addresses.
pub fn peer_settings(
    entries: &[PeerEntry],
    file: &ConfigFile,
) -> Result<Vec<PeerSetting>, CliError> {
    let mut peers: Vec<PeerSetting> = Vec::new();
    for p in entries {
        let host = p.host.get_ref();
        if DiameterIdentity::new(host.as_str()).is_err() {
            return Err(file.error(
                Some(p.host.span()),
                &format!("peer host {host:?} is not a DiameterIdentity"),
                "use the peer's Origin-Host, an FQDN such as ocs1.example.net",
            ));
        }
        if peers.iter().any(|q| q.host.eq_ignore_ascii_case(host)) {
            return Err(file.error(
                Some(p.host.span()),
                &format!("peer {host:?} is defined twice"),
                "keep one [[peers]] entry per host",
            ));
        }
        let address = match &p.address {
            Some(a) => Some(a.get_ref().parse::<SocketAddr>().map_err(|_| {
                file.error(
                    Some(a.span()),
                    &format!("address {:?} is not an address and port", a.get_ref()),
                    "write it as \"ADDR:PORT\", for example \"10.0.0.11:3868\"",
                )
            })?),
            None => None,
        };
        peers.push(PeerSetting {
            host: host.clone(),
            address,
            source: p.source.as_ref().map(|s| s.get_ref().clone()),
            tls: p.tls,
            refund: p.refund.unwrap_or(false),
            credentials: p.credentials.unwrap_or(false),
        });
    }
    Ok(peers)
}

/// Prints the peers for `--check`.
pub fn print_peers(peers: &[PeerSetting]) {
    for p in peers {
        let addr = p
            .address
            .map_or("(accept only)".to_owned(), |a| a.to_string());
        println!("peer          {} {addr}", p.host);
    }
}
