//! `diameter serve acct`: flags and configuration file of the accounting server (CDF).

use super::node::{
    default_io_threads, peer_settings, print_admission, print_peers, resolve, NodeFlags,
    NodeIdentity, NodeKeys, PeerEntry, PeerSetting,
};
use super::signal;
use crate::cli::config::{load, ConfigFile};
use crate::cli::exit::{CliError, CliResult, OK};
use diameter_apps::acct::serve::{self, RecordsSink, ServeOptions};
use diameter_apps::acct::server::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The example configuration file as a literal, for `EXAMPLE` and the `concat!` of the
/// help text (one copy: the help shows exactly what `--check` parses).
macro_rules! example {
    () => {
        r#"    listen = "0.0.0.0:3868"
    origin_host = "cdf.example.net"
    origin_realm = "example.net"
    store = "sqlite://acct.db"         # embedded record store (created on first start)
    records = "records.jsonl"          # one JSON line per closed session ("-": stdout)
    interim_interval = 300             # s: Acct-Interim-Interval told to clients (0: none)
    accept_any = false                 # true: any peer from anywhere (default: [[peers]], else loopback)
    tls_cert = "cdf.pem"               # optional TLS: certificate chain, key, CA (PEM)
    tls_key = "cdf.key"
    tls_ca = "ca.pem"
    io_threads = 2                     # threads serving connections (default: one per CPU; 0: shared runtime)
    metrics = "127.0.0.1:9100"         # optional Prometheus endpoint

    [[peers]]
    host = "sbc.example.net"           # accepted; add address = "IP:PORT" to dial it"#
    };
}

/// An example configuration file.
pub const EXAMPLE: &str = example!();

/// Arguments of `diameter serve acct`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!("\
Examples:
  diameter serve acct --records -
  diameter serve acct --listen 127.0.0.1:3870 --store sqlite://acct.db --records cdr.jsonl
  diameter serve acct --config acct.toml --check

Configuration file (TOML; flags override it):
", example!()))]
pub struct AcctArgs {
    /// Listening address and identity.
    #[command(flatten)]
    pub node: NodeFlags,
    /// Record store URL: sqlite://FILE or postgresql://USER@HOST/DB (several nodes on one
    /// database) [default: sqlite://./acct.db].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Write one JSON line per closed accounting session here ("-": standard output).
    #[arg(long, value_name = "FILE")]
    pub records: Option<String>,
    /// Acct-Interim-Interval (seconds) told to clients in answers to START/INTERIM
    /// records (0: no interim records) [default: the client's choice].
    #[arg(long, value_name = "SECONDS")]
    pub interim_interval: Option<u32>,
    /// Answer every ACR with success and store nothing (a benchmark baseline).
    #[arg(long)]
    pub stateless: bool,
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
struct AcctFile {
    listen: Option<toml::Spanned<String>>,
    origin_host: Option<toml::Spanned<String>>,
    origin_realm: Option<toml::Spanned<String>>,
    store: Option<toml::Spanned<String>>,
    records: Option<String>,
    interim_interval: Option<u32>,
    accept_any: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    io_threads: Option<usize>,
    metrics: Option<toml::Spanned<String>>,
    #[serde(default)]
    peers: Vec<PeerEntry>,
}

/// The resolved settings of the accounting server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctSettings {
    /// Where to listen and who we are.
    pub node: NodeIdentity,
    /// Store URL (sqlite://FILE or postgresql://…).
    pub store: String,
    /// Where charging records are written.
    pub records: RecordsSink,
    /// `interim_interval = SECONDS` told to clients (`None`: the client's choice).
    pub interim_interval: Option<u32>,
    /// Peers to connect to or accept.
    pub peers: Vec<PeerSetting>,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Store nothing (`--stateless`).
    pub stateless: bool,
}

fn check_store(
    url: &str,
    span: Option<std::ops::Range<usize>>,
    file: Option<&ConfigFile>,
) -> Result<String, CliError> {
    if url.starts_with("sqlite://") || diameter_apps::acct::store::is_postgres_url(url) {
        return Ok(url.to_owned());
    }
    let msg = format!(
        "store {:?} is not a supported URL",
        diameter_apps::redact::store_url(url)
    );
    let fix = "use sqlite://FILE or postgresql://USER@HOST/DB";
    Err(match (span, file) {
        (Some(sp), Some(f)) => f.error(Some(sp), &msg, fix),
        _ => CliError::usage(format!("{msg}\n  = fix: {fix}")),
    })
}

/// Resolves flags over the configuration file.
pub fn settings(args: &AcctArgs) -> Result<AcctSettings, CliError> {
    let (keys, file): (AcctFile, Option<ConfigFile>) = match &args.config {
        Some(p) => {
            let (k, f) = load(p, EXAMPLE)?;
            (k, Some(f))
        }
        None => (AcctFile::default(), None),
    };
    let node_keys = NodeKeys {
        listen: keys.listen.clone(),
        origin_host: keys.origin_host.clone(),
        origin_realm: keys.origin_realm.clone(),
        accept_any: keys.accept_any,
        tls_cert: keys.tls_cert.clone(),
        tls_key: keys.tls_key.clone(),
        tls_ca: keys.tls_ca.clone(),
        io_threads: keys.io_threads,
    };
    let node = resolve(
        &args.node,
        &node_keys,
        file.as_ref(),
        "cdf.localdomain",
        default_io_threads(),
    )?;
    let store = match (&args.store, &keys.store) {
        (Some(s), _) => check_store(s, None, None)?,
        (None, Some(s)) => check_store(s.get_ref(), Some(s.span()), file.as_ref())?,
        _ => ServeOptions::default().store,
    };
    let records = match args.records.clone().or(keys.records) {
        None => RecordsSink::None,
        Some(r) if r == "-" => RecordsSink::Stdout,
        Some(r) => RecordsSink::File(r.into()),
    };
    let peers = match &file {
        Some(f) => peer_settings(&keys.peers, f, node.tls.is_some())?,
        None => Vec::new(),
    };
    let metrics = args
        .metrics
        .or(super::admin::metrics_key(&keys.metrics, file.as_ref())?);
    Ok(AcctSettings {
        node,
        store,
        records,
        interim_interval: args.interim_interval.or(keys.interim_interval),
        peers,
        metrics,
        stateless: args.stateless,
    })
}

/// The server's options from the resolved settings.
pub fn serve_options(s: &AcctSettings) -> ServeOptions {
    let mut server = ServerConfig::new(&s.node.origin_host, &s.node.origin_realm);
    server.interim_interval = s.interim_interval;
    let mut o = ServeOptions::default();
    o.listen = s.node.listen;
    o.io_threads = s.node.io_threads;
    o.origin_host = s.node.origin_host.clone();
    o.origin_realm = s.node.origin_realm.clone();
    o.store = s.store.clone();
    o.records = s.records.clone();
    o.peers = s.peers.iter().filter_map(PeerSetting::to_config).collect();
    o.accept = s.node.accept_policy(&s.peers);
    o.tls = None; // set from the certificate files when serving
    o.metrics = s.metrics;
    o.server = Some(server);
    o.stateless = s.stateless;
    o
}

/// Runs `diameter serve acct`.
pub fn run(args: &AcctArgs) -> CliResult {
    let s = settings(args)?;
    if args.check {
        println!("listen        {}", s.node.listen);
        println!("origin_host   {}", s.node.origin_host);
        println!("origin_realm  {}", s.node.origin_realm);
        println!(
            "store         {}",
            diameter_apps::redact::store_url(&s.store)
        );
        match &s.records {
            RecordsSink::None => {}
            RecordsSink::Stdout => println!("records       stdout"),
            RecordsSink::File(p) => println!("records       {}", p.display()),
        }
        if let Some(i) = s.interim_interval {
            println!("interim_interval {i} s");
        }
        if let Some(m) = s.metrics {
            println!("metrics       {m}");
        }
        print_admission(&s.node, &s.peers)?;
        print_peers(&s.peers);
        return Ok(OK);
    }
    signal::runtime()?.block_on(run_server(s))
}

async fn run_server(s: AcctSettings) -> CliResult {
    let mut opts = serve_options(&s);
    opts.tls = s.node.tls_config()?;
    s.node.announce_policy(&s.peers);
    let handle = serve::start(opts).await.map_err(|e| match e {
        serve::Error::Io(e) => {
            CliError::network(format!("cannot listen on {}: {e}", s.node.listen))
        }
        e => CliError::usage(format!("cannot start the accounting server: {e}")),
    })?;
    signal::announce("acct", &handle.local_addrs());
    if let Some(m) = handle.node.metrics_addr() {
        println!("metrics on http://{m}/metrics");
    }
    signal::shutdown().await;
    handle.stop().await;
    Ok(OK)
}
