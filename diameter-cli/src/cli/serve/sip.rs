//! `diameter serve sip`: flags and configuration file of the SIP AAA server.

use super::node::{
    default_io_threads, peer_settings, print_admission, print_peers, resolve, NodeFlags,
    NodeIdentity, NodeKeys, PeerEntry, PeerSetting,
};
use super::signal;
use crate::cli::config::{load, ConfigFile};
use crate::cli::exit::{CliError, CliResult, OK};
use diameter_apps::admin::Target;
use diameter_apps::sip::server::{ServerConfig, SipPeer};
use diameter_apps::sip::{self, ServeOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The example configuration file as a literal, for `EXAMPLE` and the `concat!` of the
/// help text (one copy: the help shows exactly what `--check` parses).
macro_rules! example {
    () => {
        r#"    listen = "0.0.0.0:3868"
    origin_host = "sip-aaa.example.net"
    origin_realm = "example.net"
    store = "sqlite://sip.db"          # or postgres://user:pass@db/sip
    users = "users.toml"
    admin = "127.0.0.1:8080"           # operator actions: `diameter sip deregister|push-profile`
    accept_any = false                 # true: any peer from anywhere (default: [[peers]], else loopback)
    tls_cert = "aaa.pem"               # optional TLS: certificate chain, key, CA (PEM)
    tls_key = "aaa.key"
    tls_ca = "ca.pem"
    io_threads = 2                     # threads serving connections (default: one per CPU; 0: shared runtime)
    auth_window = 600                  # s: a SAR (RE_)REGISTRATION needs an authentication this recent
    nonce_lifetime = 300               # s: how long a Digest nonce (single use) is accepted
    max_auth_items = 5                 # most challenges one MAA carries (SIP-Number-Auth-Items)
    authorization_lifetime = 3600      # s: for STATE_MAINTAINED sessions (0: not sent, no limit)
    auth_grace_period = 60             # s: after the lifetime, before the session ends
    max_sessions = 65536               # most STATE_MAINTAINED sessions kept (beyond: NO_STATE_MAINTAINED)
    max_session_bytes = 16777216       # most bytes of ids, hosts, users and AORs those sessions keep
    session_sweep_ms = 1000            # how often expired sessions are ended (at least 10)
    admin_token_file = "admin.token"   # bearer token (default: next to the SQLite store)
    metrics = "127.0.0.1:9100"         # optional Prometheus endpoint

    [[peers]]                          # once listed, only these SIP servers are served
    host = "sip1.example.net"          # (accepted, not dialled); the AAA server checks Digest
    [[peers]]
    host = "sip2.example.net"
    credentials = true                 # may receive Digest-HA1 and check responses itself
    [[peers]]                          # a peer to connect to (a relay)
    host = "dra.example.net"
    address = "10.0.0.2:3868"          # connect to it; omit to only accept it
    source = "10.0.0.0/24"             # optional: accept it only from this network
    tls = false                        # optional: plain TCP with this peer on a TLS server"#
    };
}

/// An example configuration file.
pub const EXAMPLE: &str = example!();

/// Arguments of `diameter serve sip`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!("\
Examples:
  diameter serve sip --users users.toml
  diameter serve sip --listen 127.0.0.1:3870 --origin-host aaa.example.net --users users.toml
  diameter serve sip --config sip.toml --check
  diameter serve sip --users users.toml --admin 127.0.0.1:8080
  diameter sip deregister alice@example.com --admin 127.0.0.1:8080   # RTR to its SIP server

Configuration file (TOML; flags override it):
", example!()))]
pub struct SipArgs {
    /// Listening address and identity.
    #[command(flatten)]
    pub node: NodeFlags,
    /// User store URL: sqlite://FILE (embedded, the default) or postgres://...
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Users and their credentials (file format of the SIP server).
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve the admin endpoint (HTTP) here: operator actions such as `diameter sip
    /// deregister` send RTRs and PPRs through it. A port alone means 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR:PORT", value_parser = super::admin::parse_addr)]
    pub admin: Option<SocketAddr>,
    /// The admin endpoint's bearer token file: read at start, or created with a new random
    /// token (mode 0600) when missing [default: admin.token next to the SQLite store, else
    /// in the working directory]. `diameter sip ...` reads the same file.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Let --admin listen on a non-loopback address (refused otherwise); the token then
    /// travels over plain HTTP.
    #[arg(long)]
    pub admin_allow_remote: bool,
    /// Serve Prometheus metrics over HTTP here (`GET /metrics`). A port alone means
    /// 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR:PORT", value_parser = super::admin::parse_addr)]
    pub metrics: Option<SocketAddr>,
    /// Only validate the configuration and print the resolved settings.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SipFile {
    listen: Option<toml::Spanned<String>>,
    origin_host: Option<toml::Spanned<String>>,
    origin_realm: Option<toml::Spanned<String>>,
    store: Option<toml::Spanned<String>>,
    users: Option<PathBuf>,
    admin: Option<toml::Spanned<String>>,
    auth_window: Option<u64>,
    nonce_lifetime: Option<u64>,
    max_auth_items: Option<u32>,
    authorization_lifetime: Option<u64>,
    auth_grace_period: Option<u64>,
    max_sessions: Option<usize>,
    max_session_bytes: Option<usize>,
    session_sweep_ms: Option<u64>,
    accept_any: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    io_threads: Option<usize>,
    admin_token_file: Option<PathBuf>,
    admin_allow_remote: Option<bool>,
    metrics: Option<toml::Spanned<String>>,
    #[serde(default)]
    peers: Vec<PeerEntry>,
}

/// The resolved settings of the SIP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSettings {
    /// Where to listen and who we are.
    pub node: NodeIdentity,
    /// Store URL; `None` is the embedded default.
    pub store: Option<String>,
    /// Users file.
    pub users: Option<PathBuf>,
    /// Peers to connect to or accept.
    pub peers: Vec<PeerSetting>,
    /// `auth_window = SECONDS`: how long after a user authenticated through a SIP server
    /// that server may register the user (`None`: the server's default, 600 s).
    pub auth_window: Option<u64>,
    /// `nonce_lifetime = SECONDS`: how long a Digest nonce is accepted (`None`: 300 s).
    pub nonce_lifetime: Option<u64>,
    /// `max_auth_items = N`: the most SIP-Auth-Data-Items one MAA carries (`None`: 5).
    pub max_auth_items: Option<u32>,
    /// `authorization_lifetime = SECONDS`: Authorization-Lifetime of STATE_MAINTAINED
    /// sessions, 0 for none (`None`: 3600 s).
    pub authorization_lifetime: Option<u64>,
    /// `auth_grace_period = SECONDS`: Auth-Grace-Period sent with it (`None`: 60 s).
    pub auth_grace_period: Option<u64>,
    /// `max_sessions = N`: the most STATE_MAINTAINED sessions kept (`None`: 65,536).
    pub max_sessions: Option<usize>,
    /// `max_session_bytes = N`: the most bytes those sessions keep (`None`: 16 MiB).
    pub max_session_bytes: Option<usize>,
    /// `session_sweep_ms = MS`: how often expired sessions are ended (`None`: 1000 ms;
    /// the server takes at least 10 ms).
    pub session_sweep_ms: Option<u64>,
    /// The admin endpoint, if any.
    pub admin: Option<super::admin::AdminSettings>,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
}

impl SipFile {
    fn node_keys(&self) -> NodeKeys {
        NodeKeys {
            listen: self.listen.clone(),
            origin_host: self.origin_host.clone(),
            origin_realm: self.origin_realm.clone(),
            accept_any: self.accept_any,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_ca: self.tls_ca.clone(),
            io_threads: self.io_threads,
        }
    }
}

/// Resolves flags over the configuration file.
pub fn settings(args: &SipArgs) -> Result<SipSettings, CliError> {
    let (keys, file): (SipFile, Option<ConfigFile>) = match &args.config {
        Some(p) => {
            let (k, f) = load(p, EXAMPLE)?;
            (k, Some(f))
        }
        None => (SipFile::default(), None),
    };
    let node = resolve(
        &args.node,
        &keys.node_keys(),
        file.as_ref(),
        "sip-aaa.localdomain",
        default_io_threads(),
    )?;
    let users = args.users.clone().or(keys.users);
    if let Some(u) = &users {
        if !u.is_file() {
            return Err(CliError::usage(format!(
                "users file {} does not exist\n  = fix: give an existing file to --users (or `users =`)",
                u.display()
            )));
        }
    }
    let store = match (&args.store, &keys.store) {
        (Some(s), _) => Some(super::ocs::check_store(s, None, None)?),
        (None, Some(s)) => Some(super::ocs::check_store(
            s.get_ref(),
            Some(s.span()),
            file.as_ref(),
        )?),
        _ => None,
    };
    let peers = match &file {
        Some(f) => peer_settings(&keys.peers, f, node.tls.is_some())?,
        None => Vec::new(),
    };
    for (name, v) in [
        ("auth_window", keys.auth_window),
        ("nonce_lifetime", keys.nonce_lifetime),
        ("max_auth_items", keys.max_auth_items.map(u64::from)),
    ] {
        if v == Some(0) {
            return Err(CliError::usage(format!(
                "{name} = 0 is not allowed\n  = fix: give a number above zero (seconds for auth_window and nonce_lifetime)"
            )));
        }
    }
    let admin = super::admin::settings(
        args.admin,
        args.admin_token_file.as_ref(),
        args.admin_allow_remote,
        super::admin::AdminKeys {
            admin: &keys.admin,
            token_file: &keys.admin_token_file,
            allow_remote: keys.admin_allow_remote,
        },
        file.as_ref(),
        store.as_deref().unwrap_or(&ServeOptions::default().store),
    )?;
    let metrics = args
        .metrics
        .or(super::admin::metrics_key(&keys.metrics, file.as_ref())?);
    Ok(SipSettings {
        node,
        store,
        users,
        peers,
        admin,
        auth_window: keys.auth_window,
        nonce_lifetime: keys.nonce_lifetime,
        max_auth_items: keys.max_auth_items,
        authorization_lifetime: keys.authorization_lifetime,
        auth_grace_period: keys.auth_grace_period,
        max_sessions: keys.max_sessions,
        max_session_bytes: keys.max_session_bytes,
        session_sweep_ms: keys.session_sweep_ms,
        metrics,
    })
}

/// Runs `diameter serve sip`.
pub fn run(args: &SipArgs) -> CliResult {
    let s = settings(args)?;
    if args.check {
        println!("listen        {}", s.node.listen);
        println!("origin_host   {}", s.node.origin_host);
        println!("origin_realm  {}", s.node.origin_realm);
        println!(
            "store         {}",
            diameter_apps::redact::store_url(&serve_options(&s).store)
        );
        if let Some(u) = &s.users {
            println!("users         {}", u.display());
        }
        if let Some(a) = &s.admin {
            println!("admin         {}", a.addr);
            println!("admin_token   {}", a.token_file.display());
        }
        if let Some(m) = s.metrics {
            println!("metrics       {m}");
        }
        print_admission(&s.node, &s.peers)?;
        let o = serve_options(&s);
        if let Some(cfg) = &o.server {
            println!("auth_window   {} s", cfg.auth_window.as_secs());
            println!("nonce_lifetime {} s", cfg.nonce_lifetime.as_secs());
            println!("max_auth_items {}", cfg.max_auth_items);
            match cfg.authorization_lifetime {
                Some(l) => println!("authorization_lifetime {} s", l.as_secs()),
                None => println!("authorization_lifetime none"),
            }
            println!("auth_grace_period {} s", cfg.auth_grace_period.as_secs());
            println!("max_sessions  {}", cfg.max_sessions);
            println!("max_session_bytes {}", cfg.max_session_bytes);
            println!("session_sweep {} ms", cfg.session_sweep.as_millis());
        }
        print_peers(&s.peers);
        for p in s.peers.iter().filter(|p| p.credentials) {
            println!("credentials   {} (receives Digest-HA1)", p.host);
        }
        return Ok(OK);
    }
    signal::runtime()?.block_on(serve(s))
}

/// The server's options from the resolved settings.
pub fn serve_options(s: &SipSettings) -> ServeOptions {
    let mut o = ServeOptions::default();
    o.listen = s.node.listen;
    o.io_threads = s.node.io_threads;
    o.origin_host = s.node.origin_host.clone();
    o.origin_realm = s.node.origin_realm.clone();
    if let Some(store) = &s.store {
        o.store = store.clone();
    }
    o.users = s.users.clone();
    o.peers = s.peers.iter().filter_map(PeerSetting::to_config).collect();
    o.sip_servers = s
        .peers
        .iter()
        .map(|p| SipPeer {
            host: p.host.to_ascii_lowercase(),
            credentials: p.credentials,
        })
        .collect();
    o.accept = s.node.accept_policy(&s.peers);
    o.tls = None; // set from the certificate files when serving
    o.server = Some(server_config(s));
    o.metrics = s.metrics;
    o
}

/// The SIP server's behaviour from the resolved settings (identity, windows; the peers
/// go in [`ServeOptions::sip_servers`]).
fn server_config(s: &SipSettings) -> ServerConfig {
    let mut cfg = ServerConfig::new(&s.node.origin_host, &s.node.origin_realm);
    if let Some(w) = s.auth_window {
        cfg.auth_window = Duration::from_secs(w);
    }
    if let Some(l) = s.nonce_lifetime {
        cfg.nonce_lifetime = Duration::from_secs(l);
    }
    if let Some(n) = s.max_auth_items {
        cfg.max_auth_items = n;
    }
    if let Some(l) = s.authorization_lifetime {
        cfg.authorization_lifetime = (l > 0).then(|| Duration::from_secs(l));
    }
    if let Some(g) = s.auth_grace_period {
        cfg.auth_grace_period = Duration::from_secs(g);
    }
    if let Some(n) = s.max_sessions {
        cfg.max_sessions = n;
    }
    if let Some(b) = s.max_session_bytes {
        cfg.max_session_bytes = b;
    }
    if let Some(ms) = s.session_sweep_ms {
        cfg.session_sweep = Duration::from_millis(ms.max(10));
    }
    cfg
}

async fn serve(s: SipSettings) -> CliResult {
    let mut opts = serve_options(&s);
    opts.tls = s.node.tls_config()?;
    s.node.announce_policy(&s.peers);
    let handle = sip::start(opts).await.map_err(|e| match e {
        sip::Error::Io(e) => CliError::network(format!("cannot listen on {}: {e}", s.node.listen)),
        e => CliError::usage(format!("cannot start the SIP server: {e}")),
    })?;
    signal::announce("sip", &handle.local_addrs());
    super::admin::serve_until_shutdown(handle, s.admin.as_ref(), Target::Sip).await
}
