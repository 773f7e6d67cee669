//! `diameter serve relay`: a relay, proxy or redirect agent driven by a TOML routing table.

use super::node::{
    half_the_cpus, peer_settings, print_admission, print_peers, resolve, NodeFlags, NodeIdentity,
    NodeKeys, PeerEntry, PeerSetting,
};
use super::signal;
use crate::cli::config::{load, ConfigFile};
use crate::cli::exit::{CliError, CliResult, OK};
use diameter_core::base::{app, DisconnectCause};
use diameter_core::node::Node;
use diameter_core::routing::{Route, RouteAction, RoutingTable};
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Spanned;

/// The example configuration file as a literal, for `EXAMPLE` and the `concat!` of the
/// help text (one copy: the help shows exactly what `--check` parses).
macro_rules! example {
    () => {
        r#"    listen = "0.0.0.0:3868"
    origin_host = "dra.example.net"
    origin_realm = "example.net"
    accept_any = false              # true: any peer from anywhere (default: [[peers]], else loopback)
    metrics = "127.0.0.1:9100"      # optional Prometheus endpoint
    tls_cert = "dra.pem"            # optional TLS: certificate chain, key, CA (PEM)
    tls_key = "dra.key"
    tls_ca = "ca.pem"
    io_threads = 2                  # threads serving connections (default: half the CPUs; 0: shared runtime)

    [[peers]]
    host = "ocs1.example.net"       # the peer's Origin-Host
    address = "10.0.0.11:3868"      # connect to it; omit to only accept it
    source = "10.0.0.0/24"          # optional: accept it only from this network
    tls = false                     # optional: plain TCP with this peer on a TLS relay

    [[routes]]
    realm = "ocs.example.net"       # Destination-Realm; omit for the default route
    application = 4                 # optional Application-Id
    action = "relay"                # relay | proxy | redirect | local
    servers = ["ocs1.example.net"]  # peers by Origin-Host, in order of preference"#
    };
}

/// An example configuration file, shown in help and in configuration errors.
pub const EXAMPLE: &str = example!();

/// Arguments of `diameter serve relay`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!("\
Examples:
  diameter serve relay --config dra.toml
  diameter serve relay --config dra.toml --listen 127.0.0.1:3868 --check

Configuration file (TOML; flags override it):
", example!()))]
pub struct RelayArgs {
    /// Listening address and identity.
    #[command(flatten)]
    pub node: NodeFlags,
    /// Configuration file with peers and the routing table (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only validate the configuration and print the resolved routing table.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayFile {
    listen: Option<Spanned<String>>,
    origin_host: Option<Spanned<String>>,
    origin_realm: Option<Spanned<String>>,
    accept_any: Option<bool>,
    metrics: Option<Spanned<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    io_threads: Option<usize>,
    #[serde(default)]
    peers: Vec<PeerEntry>,
    #[serde(default)]
    routes: Vec<RouteEntry>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    realm: Option<Spanned<String>>,
    application: Option<u32>,
    action: Action,
    #[serde(default)]
    servers: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Relay,
    Proxy,
    Redirect,
    Local,
}

/// The resolved settings of the relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Where to listen and who we are.
    pub node: NodeIdentity,
    /// The peers.
    pub peers: Vec<PeerSetting>,
    /// The routing table for diameter-core's router.
    pub table: RoutingTable,
    /// The routes, in file order.
    pub routes: Vec<Route>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
}

/// The relay's default I/O threads: half the CPUs (at least one). Unlike a server's, a
/// relay's work crosses connections: a request read on a client's connection is written
/// on the server's, which is on another thread for most clients once there are several,
/// and each such hand-off wakes that thread. On a 2-CPU VM shared with the load client
/// and the responder, one thread relayed at 4.4–6.8 µs of CPU per answer where two took
/// 6.0–8.6 µs (four alternated pairs, `bench --relay-compare`'s setup).
pub fn default_relay_io_threads() -> usize {
    half_the_cpus()
}

/// Reads and checks the configuration, building the routing table.
pub fn settings(args: &RelayArgs) -> Result<RelaySettings, CliError> {
    let (f, file): (RelayFile, ConfigFile) = load(&args.config, EXAMPLE)?;
    let keys = NodeKeys {
        listen: f.listen.clone(),
        origin_host: f.origin_host.clone(),
        origin_realm: f.origin_realm.clone(),
        accept_any: f.accept_any,
        tls_cert: f.tls_cert.clone(),
        tls_key: f.tls_key.clone(),
        tls_ca: f.tls_ca.clone(),
        io_threads: f.io_threads,
    };
    let node = resolve(
        &args.node,
        &keys,
        Some(&file),
        "dra.localdomain",
        default_relay_io_threads(),
    )?;
    let peers = peer_settings(&f.peers, &file, node.tls.is_some())?;
    let mut table = RoutingTable::new();
    let mut routes = Vec::new();
    for r in &f.routes {
        for s in &r.servers {
            if !peers
                .iter()
                .any(|p| p.host.eq_ignore_ascii_case(s.get_ref()))
            {
                let known: Vec<&str> = peers.iter().map(|p| p.host.as_str()).collect();
                return Err(file.error(
                    Some(s.span()),
                    &format!("server {:?} is not a configured peer", s.get_ref()),
                    &format!(
                        "add a [[peers]] entry with host = {:?}, or use a configured peer ({})",
                        s.get_ref(),
                        if known.is_empty() {
                            "none yet".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        let action = match r.action {
            Action::Relay => RouteAction::Relay,
            Action::Proxy => RouteAction::Proxy,
            Action::Redirect => RouteAction::Redirect,
            Action::Local => RouteAction::Local,
        };
        if matches!(action, RouteAction::Redirect) && r.servers.is_empty() {
            let span = r.realm.as_ref().map(|x| x.span());
            return Err(file.error(
                span,
                "a redirect route needs servers to name in Redirect-Host",
                "add servers = [\"host\", ...] to the route",
            ));
        }
        let servers: Vec<String> = r.servers.iter().map(|s| s.get_ref().clone()).collect();
        let mut route = match &r.realm {
            Some(realm) => Route::realm(realm.get_ref().clone(), action, servers),
            None => Route::default_route(action, servers),
        };
        if let Some(app) = r.application {
            route = route.application(app);
        }
        table.add(route.clone());
        routes.push(route);
    }
    let metrics = match &f.metrics {
        Some(m) => Some(m.get_ref().parse::<SocketAddr>().map_err(|_| {
            file.error(
                Some(m.span()),
                &format!("metrics = {:?} is not an address and port", m.get_ref()),
                "write it as \"ADDR:PORT\", for example \"127.0.0.1:9100\"",
            )
        })?),
        None => None,
    };
    Ok(RelaySettings {
        node,
        peers,
        table,
        routes,
        metrics,
    })
}

/// Runs `diameter serve relay`.
pub fn run(args: &RelayArgs) -> CliResult {
    let s = settings(args)?;
    if args.check {
        println!("listen        {}", s.node.listen);
        println!("origin_host   {}", s.node.origin_host);
        println!("origin_realm  {}", s.node.origin_realm);
        print_admission(&s.node, &s.peers)?;
        print_peers(&s.peers);
        for r in &s.routes {
            let realm = r.realm.as_deref().unwrap_or("*");
            let app = r.application_id.map_or("*".to_owned(), |a| a.to_string());
            println!(
                "route         realm={realm} app={app} {:?} -> [{}]",
                r.action,
                r.servers.join(", ")
            );
        }
        return Ok(OK);
    }
    signal::runtime()?.block_on(serve(s))
}

async fn serve(s: RelaySettings) -> CliResult {
    let mut b = Node::builder()
        .origin_host(s.node.origin_host.clone())
        .origin_realm(s.node.origin_realm.clone())
        .product_name("diameter-rs relay")
        .auth_application(app::RELAY)
        .agent(true)
        .listen(s.node.listen)
        .io_threads(s.node.io_threads)
        .accept_policy(s.node.accept_policy(&s.peers));
    if let Some(tls) = s.node.tls_config()? {
        b = b.tls(tls);
    }
    s.node.announce_policy(&s.peers);
    if let Some(m) = s.metrics {
        // A relay forwards any application: label what the dictionaries know (a bounded
        // set); codes from elsewhere are counted under `other`.
        let dict = &diameter::dict::DICTIONARY;
        b = b
            .metrics(m)
            .metrics_applications(dict.applications.iter().map(|a| a.id))
            .metrics_commands(dict.commands.iter().map(|c| c.code))
            .metrics_result_codes(dict.result_codes.iter().map(|r| r.value));
    }
    for p in s.peers.iter().filter_map(PeerSetting::to_config) {
        b = b.peer(p);
    }
    for r in &s.routes {
        b = b.route(r.clone());
    }
    let node = b
        .build()
        .await
        .map_err(|e| CliError::network(format!("cannot listen on {}: {e}", s.node.listen)))?;
    signal::announce("relay", &node.local_addrs());
    if let Some(m) = node.metrics_addr() {
        println!("metrics on http://{m}/metrics");
    }
    tracing::info!(
        peers = s.peers.len(),
        routes = s.routes.len(),
        "relay: serving"
    );
    signal::shutdown().await;
    node.stop(DisconnectCause::Rebooting).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    node.abort();
    Ok(OK)
}
