//! Flags and config keys every server shares: where to listen and who we are.

use crate::cli::config::ConfigFile;
use crate::cli::exit::CliError;
use diameter_core::node::TlsConfig;
use diameter_core::peer::{AcceptPolicy, AllowedPeer, SourceNet};
use diameter_core::DiameterIdentity;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Accept any peer with a valid CER, from any address. Without it, only the
    /// `[[peers]]` of the configuration file are accepted, or, when there are none, peers
    /// connecting from loopback (127.0.0.0/8, ::1); others get 3010 DIAMETER_UNKNOWN_PEER.
    #[arg(long)]
    pub accept_any: bool,
    /// This node's TLS certificate chain (PEM). With --tls-key and --tls-ca, every
    /// connection uses TLS and each peer's certificate must name its Origin-Host.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The certificate authorities peers' certificates must chain to (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Threads serving connections, each a single-threaded runtime (thread per core); 0
    /// serves them on the process's shared multi-threaded runtime [default: one per CPU].
    #[arg(long, value_name = "N")]
    pub io_threads: Option<usize>,
}

/// The TLS files of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Trusted certificate authorities (PEM).
    pub ca: PathBuf,
}

impl TlsFiles {
    /// Reads the files.
    pub fn load(&self) -> Result<TlsConfig, CliError> {
        TlsConfig::from_pem_files(&self.cert, &self.key, &self.ca).map_err(|e| {
            CliError::usage(format!(
                "cannot load the TLS files: {e}\n  = fix: give a PEM certificate chain to --tls-cert, its private key to --tls-key and the CA certificates to --tls-ca"
            ))
        })
    }
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
    /// Accept any peer (`--accept-any`, `accept_any = true`).
    pub accept_any: bool,
    /// TLS for every connection, when configured.
    pub tls: Option<TlsFiles>,
    /// Threads serving connections (`--io-threads`, `io_threads`; 0: the shared runtime).
    pub io_threads: usize,
}

impl NodeIdentity {
    /// Who may connect: anyone with `accept_any`; else the `[[peers]]` (with or without an
    /// address, each restricted to its `source`); with no peers, loopback peers only.
    pub fn accept_policy(&self, peers: &[PeerSetting]) -> AcceptPolicy {
        if self.accept_any {
            AcceptPolicy::AnyPeer
        } else if peers.is_empty() {
            AcceptPolicy::LoopbackOnly
        } else {
            AcceptPolicy::AllowList(peers.iter().map(PeerSetting::to_allowed).collect())
        }
    }

    /// Logs what the policy means, with a warning when it is open to anyone.
    pub fn announce_policy(&self, peers: &[PeerSetting]) {
        match self.accept_policy(peers) {
            AcceptPolicy::AnyPeer => tracing::warn!(
                "accept_any: any peer that sends a valid CER is accepted, from any address, under the Origin-Host it claims"
            ),
            AcceptPolicy::LoopbackOnly => tracing::info!(
                "no [[peers]] configured: only peers connecting from loopback are accepted"
            ),
            AcceptPolicy::AllowList(list) => {
                tracing::info!(peers = list.len(), "only the configured [[peers]] are accepted")
            }
        }
    }

    /// Loads the TLS files, if any.
    pub fn tls_config(&self) -> Result<Option<TlsConfig>, CliError> {
        self.tls.as_ref().map(TlsFiles::load).transpose()
    }
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
    /// `accept_any = true|false`.
    pub accept_any: Option<bool>,
    /// `tls_cert = "FILE"`.
    pub tls_cert: Option<PathBuf>,
    /// `tls_key = "FILE"`.
    pub tls_key: Option<PathBuf>,
    /// `tls_ca = "FILE"`.
    pub tls_ca: Option<PathBuf>,
    /// `io_threads = N`.
    pub io_threads: Option<usize>,
}

/// Merges flags over file keys over defaults, checking each value. The defaults that
/// differ by command are the Origin-Host and the I/O threads (for most, one per CPU:
/// [`default_io_threads`]).
pub fn resolve(
    flags: &NodeFlags,
    keys: &NodeKeys,
    file: Option<&ConfigFile>,
    default_host: &str,
    default_io_threads: usize,
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
    let cert = flags.tls_cert.clone().or_else(|| keys.tls_cert.clone());
    let key = flags.tls_key.clone().or_else(|| keys.tls_key.clone());
    let ca = flags.tls_ca.clone().or_else(|| keys.tls_ca.clone());
    let tls = match (cert, key, ca) {
        (Some(cert), Some(key), Some(ca)) => Some(TlsFiles { cert, key, ca }),
        (None, None, None) => None,
        _ => {
            return Err(CliError::usage(
                "TLS needs a certificate, its key and the CA certificates\n  = fix: give all of --tls-cert, --tls-key and --tls-ca (or tls_cert, tls_key and tls_ca), or none",
            ))
        }
    };
    for (path, what) in tls.iter().flat_map(|t| {
        [
            (&t.cert, "tls_cert"),
            (&t.key, "tls_key"),
            (&t.ca, "tls_ca"),
        ]
    }) {
        if !path.is_file() {
            return Err(CliError::usage(format!(
                "{what} file {} does not exist\n  = fix: give an existing PEM file to --{}",
                path.display(),
                what.replace('_', "-")
            )));
        }
    }
    Ok(NodeIdentity {
        listen,
        origin_host,
        origin_realm,
        accept_any: flags.accept_any || keys.accept_any.unwrap_or(false),
        tls,
        io_threads: flags
            .io_threads
            .or(keys.io_threads)
            .unwrap_or(default_io_threads),
    })
}

/// Thread per core: one I/O thread per CPU the process may use.
pub fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Half the CPUs the process may use, at least one: the I/O threads of the commands whose
/// work does not stay on one connection's thread (`serve ocs`, `serve relay`).
pub fn half_the_cpus() -> usize {
    (default_io_threads() / 2).max(1)
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
    /// Whether connections with this peer use TLS (default: the server's TLS setting;
    /// `false` lets it connect, and be dialled, over plain TCP on a TLS server).
    pub tls: Option<bool>,
    /// OCS: the peer may send REFUND_ACCOUNT (default false).
    pub refund: Option<bool>,
    /// SIP AAA: the peer may receive Digest-HA1 credentials (default false).
    pub credentials: Option<bool>,
    /// OCS: a CCR-EVENT of this peer without Requested-Action is a direct debit
    /// (default false: 5005 DIAMETER_MISSING_AVP, RFC 8506 §8.3).
    pub lenient_requested_action: Option<bool>,
    /// OCS: agents in one group front the same clients: they share the ownership of
    /// sessions and the saved answers of requests, so a failover between them is charged
    /// once (default: none).
    pub group: Option<toml::Spanned<String>>,
}

/// A configured peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSetting {
    /// Its Origin-Host.
    pub host: String,
    /// Where to connect; `None` to only accept it.
    pub address: Option<SocketAddr>,
    /// The source address or network it must connect from.
    pub source: Option<SourceNet>,
    /// TLS with this peer (`None`: the server's setting).
    pub tls: Option<bool>,
    /// The right to refund (OCS).
    pub refund: bool,
    /// The right to receive Digest-HA1 (SIP AAA).
    pub credentials: bool,
    /// An event without Requested-Action is a direct debit (OCS).
    pub lenient_requested_action: bool,
    /// The group of agents it belongs to (OCS).
    pub group: Option<String>,
}

impl PeerSetting {
    /// The diameter-core peer to connect to, for entries with an address (over plain TCP
    /// with `tls = false`).
    pub fn to_config(&self) -> Option<diameter_core::node::PeerConfig> {
        let config = diameter_core::node::PeerConfig::new(self.host.clone(), self.address?);
        Some(if self.tls == Some(false) {
            config.plain()
        } else {
            config
        })
    }

    /// The accept policy's entry for this peer.
    pub fn to_allowed(&self) -> AllowedPeer {
        let mut p = AllowedPeer::new(self.host.clone());
        p.source = self.source;
        p.plain = self.tls == Some(false);
        p
    }
}

/// Checks `[[peers]]` entries: identities, duplicates, addresses and sources; `tls` is
/// whether the server has TLS (`tls = true` on a peer needs it).
pub fn peer_settings(
    entries: &[PeerEntry],
    file: &ConfigFile,
    tls: bool,
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
        let source = match &p.source {
            Some(s) => Some(s.get_ref().parse::<SourceNet>().map_err(|_| {
                file.error(
                    Some(s.span()),
                    &format!("source {:?} is not an address or network", s.get_ref()),
                    "write an address or a network, for example \"10.0.0.11\", \"10.0.0.0/24\" or \"2001:db8::/32\"",
                )
            })?),
            None => None,
        };
        if p.tls == Some(true) && !tls {
            return Err(file.error(
                Some(p.host.span()),
                &format!("peer {host:?} has tls = true but the server has no TLS certificate"),
                "give tls_cert, tls_key and tls_ca (or --tls-cert, --tls-key and --tls-ca), or remove tls = true",
            ));
        }
        peers.push(PeerSetting {
            host: host.clone(),
            address,
            source,
            tls: p.tls,
            refund: p.refund.unwrap_or(false),
            credentials: p.credentials.unwrap_or(false),
            lenient_requested_action: p.lenient_requested_action.unwrap_or(false),
            group: match &p.group {
                Some(g) if g.get_ref().trim().is_empty() => {
                    return Err(file.error(
                        Some(g.span()),
                        &format!("peer {host:?} has an empty group"),
                        "name the group its fellow agents share, for example group = \"dra\"",
                    ))
                }
                g => g.as_ref().map(|g| g.get_ref().clone()),
            },
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
        let source = p.source.map(|s| format!(" from {s}")).unwrap_or_default();
        let tls = match p.tls {
            Some(true) => " tls",
            Some(false) => " plain",
            None => "",
        };
        let group = p
            .group
            .as_ref()
            .map(|g| format!(" group {g}"))
            .unwrap_or_default();
        println!("peer          {} {addr}{source}{tls}{group}", p.host);
    }
}

/// Prints who may connect and the TLS files (loading them, so that bad PEM is reported),
/// for `--check`.
pub fn print_admission(node: &NodeIdentity, peers: &[PeerSetting]) -> Result<(), CliError> {
    node.tls_config()?;
    let accept = match node.accept_policy(peers) {
        AcceptPolicy::AnyPeer => "any peer (accept_any)",
        AcceptPolicy::LoopbackOnly => "loopback peers only",
        AcceptPolicy::AllowList(_) => "the [[peers]] only",
    };
    println!("accept        {accept}");
    match node.io_threads {
        0 => println!("io_threads    0 (connections on the shared runtime)"),
        n => println!("io_threads    {n} (one single-threaded runtime each)"),
    }
    if let Some(t) = &node.tls {
        println!(
            "tls           cert {} key {} ca {}",
            t.cert.display(),
            t.key.display(),
            t.ca.display()
        );
    }
    Ok(())
}
