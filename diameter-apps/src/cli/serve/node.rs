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
