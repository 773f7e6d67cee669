//! `--admin ADDR` / `admin = "ADDR"` of the servers: where the admin endpoint listens
//! (see [`diameter_apps::admin`]), its token file (`--admin-token-file` / `admin_token_file =`,
//! by default `admin.token` next to the SQLite store), whether it may bind a non-loopback
//! address (`--admin-allow-remote` / `admin_allow_remote = true`), and starting it next to
//! the server. Also `--metrics ADDR` / `metrics = "ADDR"`.

use crate::cli::config::ConfigFile;
use crate::cli::exit::{CliError, CliResult, OK};
use diameter_apps::admin::{self, token, AdminConfig, AdminServer, Target};
use diameter_apps::{ocs, sip};
use diameter_core::base::DisconnectCause;
use diameter_core::node::Node;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The resolved settings of the admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The token file: read, or created with a new token at start.
    pub token_file: PathBuf,
    /// Whether a non-loopback `addr` was explicitly allowed.
    pub allow_remote: bool,
}

/// The admin keys of a server's configuration file.
pub struct AdminKeys<'a> {
    /// `admin = "ADDR:PORT"`.
    pub admin: &'a Option<toml::Spanned<String>>,
    /// `admin_token_file = "PATH"`.
    pub token_file: &'a Option<PathBuf>,
    /// `admin_allow_remote = true`.
    pub allow_remote: Option<bool>,
}

/// Resolves the admin flags over the file's keys. `store` is the server's store URL (the
/// token file's default directory). A non-loopback address without `allow_remote` is a
/// usage error.
pub fn settings(
    addr_flag: Option<SocketAddr>,
    token_flag: Option<&PathBuf>,
    allow_flag: bool,
    keys: AdminKeys<'_>,
    file: Option<&ConfigFile>,
    store: &str,
) -> Result<Option<AdminSettings>, CliError> {
    let Some(addr) = resolve(addr_flag, keys.admin, file)? else {
        return Ok(None);
    };
    let allow_remote = allow_flag || keys.allow_remote.unwrap_or(false);
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(CliError::usage(format!(
            "the admin endpoint would listen on {addr}, which is not a loopback address\n  \
             = fix: use 127.0.0.1:PORT (or [::1]:PORT), or expose it on purpose with \
             --admin-allow-remote (`admin_allow_remote = true`); its bearer token then \
             travels over plain HTTP"
        )));
    }
    let token_file = token_flag
        .or(keys.token_file.as_ref())
        .cloned()
        .unwrap_or_else(|| token::default_path(store));
    Ok(Some(AdminSettings {
        addr,
        token_file,
        allow_remote,
    }))
}

/// Parses an optional `metrics = "ADDR:PORT"` key (a bare port means 127.0.0.1:PORT).
pub fn metrics_key(
    key: &Option<toml::Spanned<String>>,
    file: Option<&ConfigFile>,
) -> Result<Option<SocketAddr>, CliError> {
    match (key, file) {
        (Some(m), Some(f)) => parse_addr(m.get_ref()).map(Some).map_err(|_| {
            f.error(
                Some(m.span()),
                &format!("metrics = {:?} is not an address and port", m.get_ref()),
                "write it as \"ADDR:PORT\", for example \"127.0.0.1:9100\"",
            )
        }),
        _ => Ok(None),
    }
}

/// Parses an admin address: `ADDR:PORT`, or a bare `PORT` meaning 127.0.0.1:PORT
/// (loopback). Used as a clap value parser.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    t.parse().map_err(|_| {
        format!("{text:?} is not an address and port such as 127.0.0.1:8080 (or a port alone)")
    })
}

/// The admin address from the flag or else the configuration file's `admin =` key.
pub fn resolve(
    flag: Option<SocketAddr>,
    key: &Option<toml::Spanned<String>>,
    file: Option<&ConfigFile>,
) -> Result<Option<SocketAddr>, CliError> {
    match (flag, key, file) {
        (Some(a), _, _) => Ok(Some(a)),
        (None, Some(s), Some(f)) => parse_addr(s.get_ref()).map(Some).map_err(|_| {
            f.error(
                Some(s.span()),
                &format!("admin = {:?} is not an address and port", s.get_ref()),
                "write it as \"ADDR:PORT\", for example \"127.0.0.1:8080\"",
            )
        }),
        _ => Ok(None),
    }
}

/// Reads (or creates) the token, starts the admin endpoint and prints `admin listening on
/// ADDR`, then `admin token in PATH`.
pub async fn start(s: &AdminSettings, target: Target) -> Result<AdminServer, CliError> {
    let (tok, created) = load_token(&s.token_file)?;
    let mut config = AdminConfig::new(tok);
    config.allow_remote = s.allow_remote;
    let addr = s.addr;
    let server = admin::start(addr, target, config).await.map_err(|e| {
        CliError::network(format!(
            "cannot listen on {addr} for the admin endpoint: {e}\n  = fix: pick a free port for --admin"
        ))
    })?;
    super::signal::announce("admin", &[server.local_addr()]);
    let what = if created {
        "new admin token"
    } else {
        "admin token"
    };
    println!("{what} in {}", s.token_file.display());
    Ok(server)
}

fn load_token(path: &Path) -> Result<(String, bool), CliError> {
    token::load_or_create(path).map_err(|e| {
        CliError::usage(format!(
            "admin token: {e}\n  = fix: give --admin-token-file (`admin_token_file =`) a \
             writable path, or a file holding a token of {} or more visible characters",
            token::MIN_LEN
        ))
    })
}

/// A running server that the admin endpoint acts on.
pub trait Served: Send + Sync + Sized + 'static {
    /// Its Diameter node.
    fn node(&self) -> &Node;
    /// Stops the server's own tasks, then its node.
    fn stop(self) -> impl Future<Output = ()> + Send;
}

impl Served for ocs::OcsHandle {
    fn node(&self) -> &Node {
        &self.node
    }
    fn stop(self) -> impl Future<Output = ()> + Send {
        ocs::OcsHandle::stop(self)
    }
}

impl Served for sip::SipHandle {
    fn node(&self) -> &Node {
        &self.node
    }
    fn stop(self) -> impl Future<Output = ()> + Send {
        sip::SipHandle::stop(self)
    }
}

/// Serves until a shutdown signal: starts the admin endpoint when `settings` ask for it
/// (acting on the server through `target`), prints where the metrics are, then stops the
/// endpoint and the server.
pub async fn serve_until_shutdown<S: Served>(
    server: S,
    settings: Option<&AdminSettings>,
    target: impl FnOnce(Arc<S>) -> Target,
) -> CliResult {
    let server = Arc::new(server);
    let admin = match settings {
        Some(a) => match start(a, target(server.clone())).await {
            Ok(a) => Some(a),
            Err(e) => {
                stop(server).await;
                return Err(e);
            }
        },
        None => None,
    };
    if let Some(m) = server.node().metrics_addr() {
        println!("metrics on http://{m}/metrics");
    }
    super::signal::shutdown().await;
    if let Some(a) = admin {
        a.stop().await;
    }
    stop(server).await;
    Ok(OK)
}

/// Stops the server once the admin endpoint let go of it (if a request still holds it,
/// its node alone).
async fn stop<S: Served>(server: Arc<S>) {
    match Arc::try_unwrap(server) {
        Ok(s) => s.stop().await,
        Err(s) => s.node().stop(DisconnectCause::Rebooting).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_allow_remote() {
        let none = None;
        let keys = || AdminKeys {
            admin: &none,
            token_file: &None,
            allow_remote: None,
        };
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        assert!(settings(Some(any), None, false, keys(), None, "sqlite://./ocs.db").is_err());
        let s = settings(Some(any), None, true, keys(), None, "sqlite://d/ocs.db")
            .expect("allowed")
            .expect("admin");
        assert_eq!(s.token_file, PathBuf::from("d/admin.token"));
        let lo: SocketAddr = "[::1]:8080".parse().expect("addr");
        let given = PathBuf::from("/etc/t");
        let s = settings(Some(lo), Some(&given), false, keys(), None, "x")
            .expect("loopback")
            .expect("admin");
        assert_eq!((s.token_file, s.allow_remote), (given, false));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("8080"),
            Ok("127.0.0.1:8080".parse().expect("addr"))
        );
        assert_eq!(parse_addr("[::1]:0"), Ok("[::1]:0".parse().expect("addr")));
        assert!(parse_addr("localhost").is_err());
    }
}
