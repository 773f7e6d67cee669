//! `diameter serve ocs`: flags and configuration file of the online charging server.

use super::node::{
    peer_settings, print_admission, print_peers, resolve, NodeFlags, NodeIdentity, NodeKeys,
    PeerEntry, PeerSetting,
};
use super::signal;
use crate::cli::config::{load, ConfigFile};
use crate::cli::exit::{CliError, CliResult, OK};
use diameter_apps::admin::Target;
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::store::{EngineOptions, PgOptions};
use diameter_apps::ocs::{self, ServeOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The example configuration file as a literal, for `EXAMPLE` and the `concat!` of the
/// help text (one copy: the help shows exactly what `--check` parses).
macro_rules! example {
    () => {
        r#"    listen = "0.0.0.0:3868"
    host_ip_addresses = ["192.0.2.7"] # CER/CEA (default: the listen address, or the host's)
    origin_host = "ocs.example.net"
    origin_realm = "example.net"
    store = "sqlite://ocs.db"          # or postgres://user:pass@db/ocs
    accounts = "accounts.toml"
    tariffs = "tariffs.toml"
    auto_provision = 100               # balance of new subscribers, minor units
    auto_provision_limit = 100000      # accounts auto-provisioned at most (then 5030)
    max_known_sessions = 1048576       # sessions whose client is remembered (RAR/ASR)
    tcc = 3600                         # session supervision, seconds
    request_retention = 86400          # answers kept to recognise retransmissions, seconds
    validity_time = 1800               # Validity-Time of grants, seconds
    low_balance_threshold = 50         # direct debit leaves less: Low-Balance-Indication (TS 32.299)
    admin = "127.0.0.1:8080"           # operator actions: `diameter ocs reauth|abort`
    accept_any = false                 # true: any peer from anywhere (default: [[peers]], else loopback)
    tls_cert = "ocs.pem"               # optional TLS: certificate chain, key, CA (PEM)
    tls_key = "ocs.key"
    tls_ca = "ca.pem"
    io_threads = 2                     # threads serving connections (default: half the CPUs; 0: shared runtime)
    answer_timeout_ms = 4000           # store too slow: answer 3004 TOO_BUSY (E bit)
    pg_statement_timeout_ms = 3000     # PostgreSQL statement_timeout (also pg_lock_timeout_ms,
    pg_pool = 8                        #   pg_connect_timeout_ms, pg_pool_wait_ms)
    pg_groups = 2                      # PostgreSQL group transactions in flight (default: 1 for a
    pg_max_group = 256                 #   database on this machine, else 2), batches per group
    pg_transaction_timeout_ms = 5000   # the longest a group transaction (or store call) may take
    pg_threads = 1                     # threads driving the PostgreSQL connections
    engine_checkpoint_interval_ms = 1000 # embedded store: checkpoint into SQLite at least this
    engine_checkpoint_records = 100000 #   often, or after this many journal records
    engine_max_backlog = 2000000       # records not yet in SQLite before charges get 3004
    engine_journal_syncers = 4         # journal fdatasyncs in flight at most (also
    engine_journal_overlap_ms = 2      #   overlapping only once one has run this long)
    engine_journal_interval_us = 1000  # journal syncs start at least this far apart (0: at once)
    engine_outcome_bytes = 67108864    # saved answers kept in memory (older: read from SQLite)
    engine_filter_keys = 4194304       # recent request keys (older: SQLite, for T-flagged CCRs)
    engine_max_sessions = 1048576      # open sessions (about 850 bytes each); beyond: CCR-I 3004
    engine_sql_lookups_per_s = 2000    # old answers read from SQLite a second; beyond: 3004
                                       #   (a replayed or T-flagged CCR; 0: no bound)
    admin_token_file = "admin.token"   # bearer token (default: next to the SQLite store)
    metrics = "127.0.0.1:9100"         # optional Prometheus endpoint

    [[peers]]                          # optional; once listed, only [[peers]] may connect
    host = "dra.example.net"
    address = "10.0.0.2:3868"          # connect to it; omit to only accept it
    source = "10.0.0.0/24"             # optional: accept it only from this network
    tls = false                        # optional: plain TCP with this peer on a TLS server
    group = "dra"                      # optional: agents of one group front the same clients:
                                       #   a failover between them is charged once

    [[peers]]                          # a client that may send REFUND_ACCOUNT
    host = "smsc.example.net"
    refund = true
    lenient_requested_action = false   # true: its events without Requested-Action are
                                       #   direct debits (default: 5005 MISSING_AVP)"#
    };
}

/// An example configuration file, shown in help and in configuration errors.
pub const EXAMPLE: &str = example!();

/// Tariffs used when neither `--tariffs` nor `tariffs =` is given, so that a fresh
/// `diameter serve ocs --auto-provision 100` answers CCRs: data at 1 minor unit per MiB,
/// voice at 5 per started minute, events (service-specific units) at 1 each.
pub const DEMO_TARIFFS: &str = r#"
currency = 978
exponent = 2

[[tariff]]
name = "data"
unit = "total_octets"
block = 1048576
price = 1
default_quota = 10485760

[[tariff]]
name = "voice"
unit = "time"
block = 60
price = 5
default_quota = 300

[[tariff]]
name = "events"
unit = "service_specific"
block = 1
price = 1
default_quota = 1
"#;

/// Arguments of `diameter serve ocs`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!("\
Examples:
  diameter serve ocs --auto-provision 100
  diameter serve ocs --listen 127.0.0.1:3868 --origin-host ocs.example.net --store sqlite://ocs.db
  diameter serve ocs --config ocs.toml --check      # validate and show the settings
  diameter serve ocs --auto-provision 100 --admin 127.0.0.1:8080
  diameter ocs reauth 'pgw.example.net;1;1' --admin 127.0.0.1:8080   # RAR to the client

Configuration file (TOML; flags override it):
", example!()))]
pub struct OcsArgs {
    /// Listening address and identity.
    #[command(flatten)]
    pub node: NodeFlags,
    /// Account store URL: sqlite://FILE (embedded, the default: state in memory, a journal
    /// FILE.journal.*, SQLite as the store of record; sqlite://FILE?journal_dir=DIR keeps the
    /// journal in DIR, for example on a device of its own), sqlite+direct://FILE (SQL only,
    /// one transaction per group of CCRs) or postgres://...
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Accounts to load at start (file format of the OCS).
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Tariffs to rate with (TOML file of the OCS) [default: built-in demo tariffs: data
    /// 1 per MiB, voice 5 per minute, events 1 each, in minor units].
    #[arg(long, value_name = "FILE")]
    pub tariffs: Option<PathBuf>,
    /// Create unknown subscribers on their first request with this balance (minor units).
    #[arg(long, value_name = "AMOUNT")]
    pub auto_provision: Option<i64>,
    /// Serve the admin endpoint (HTTP) here: operator actions such as `diameter ocs
    /// reauth` send RARs and ASRs through it. A port alone means 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR:PORT", value_parser = super::admin::parse_addr)]
    pub admin: Option<SocketAddr>,
    /// The admin endpoint's bearer token file: read at start, or created with a new random
    /// token (mode 0600) when missing [default: admin.token next to the SQLite store, else
    /// in the working directory]. `diameter ocs ...` reads the same file.
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
    /// Benchmark baseline: answer every CCR 2001 granting the requested units, with no
    /// store and no charging (see `diameter bench --compare`).
    #[arg(long, hide = true)]
    pub stateless: bool,
}

/// The keys of the configuration file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OcsFile {
    listen: Option<toml::Spanned<String>>,
    host_ip_addresses: Option<Vec<toml::Spanned<String>>>,
    origin_host: Option<toml::Spanned<String>>,
    origin_realm: Option<toml::Spanned<String>>,
    store: Option<toml::Spanned<String>>,
    accounts: Option<PathBuf>,
    tariffs: Option<PathBuf>,
    auto_provision: Option<i64>,
    auto_provision_limit: Option<u64>,
    max_known_sessions: Option<usize>,
    tcc: Option<u64>,
    validity_time: Option<u32>,
    low_balance_threshold: Option<i64>,
    admin: Option<toml::Spanned<String>>,
    accept_any: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    io_threads: Option<usize>,
    answer_timeout_ms: Option<u64>,
    sweep_batch: Option<usize>,
    request_retention: Option<u64>,
    pg_pool: Option<usize>,
    pg_pool_wait_ms: Option<u64>,
    pg_connect_timeout_ms: Option<u64>,
    pg_statement_timeout_ms: Option<u64>,
    pg_lock_timeout_ms: Option<u64>,
    pg_groups: Option<usize>,
    pg_threads: Option<usize>,
    pg_max_group: Option<usize>,
    pg_transaction_timeout_ms: Option<u64>,
    engine_checkpoint_interval_ms: Option<u64>,
    engine_checkpoint_records: Option<u64>,
    engine_max_backlog: Option<u64>,
    engine_journal_syncers: Option<usize>,
    engine_journal_overlap_ms: Option<u64>,
    engine_journal_interval_us: Option<u64>,
    engine_outcome_bytes: Option<usize>,
    engine_filter_keys: Option<usize>,
    engine_sql_lookups_per_s: Option<u32>,
    engine_max_sessions: Option<usize>,
    admin_token_file: Option<PathBuf>,
    admin_allow_remote: Option<bool>,
    metrics: Option<toml::Spanned<String>>,
    #[serde(default)]
    peers: Vec<PeerEntry>,
}

/// The resolved settings of the OCS, handed to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsSettings {
    /// Where to listen and who we are.
    pub node: NodeIdentity,
    /// `host_ip_addresses`: the CER/CEA's Host-IP-Addresses (empty: derived from the
    /// listen address, see [`diameter_apps::host_addrs`]).
    pub host_ip_addresses: Vec<std::net::IpAddr>,
    /// Store URL; `None` is the embedded default.
    pub store: Option<String>,
    /// Accounts file to load.
    pub accounts: Option<PathBuf>,
    /// Tariffs file.
    pub tariffs: Option<PathBuf>,
    /// Balance for auto-provisioned subscribers, minor units.
    pub auto_provision: Option<i64>,
    /// `auto_provision_limit`: the most accounts auto-provisioned.
    pub auto_provision_limit: Option<u64>,
    /// `max_known_sessions`: the most sessions whose client is remembered.
    pub max_known_sessions: Option<usize>,
    /// Tcc session supervision, seconds.
    pub tcc: Option<u64>,
    /// Validity-Time of grants, seconds.
    pub validity_time: Option<u32>,
    /// `low_balance_threshold`: minor units under which a direct debit's CCA carries
    /// Low-Balance-Indication.
    pub low_balance_threshold: Option<i64>,
    /// Peers to connect to or accept.
    pub peers: Vec<PeerSetting>,
    /// `answer_timeout_ms`: a CCR whose store work takes longer is answered 3004.
    pub answer_timeout: Option<Duration>,
    /// `sweep_batch`: expired sessions closed per store transaction.
    pub sweep_batch: Option<usize>,
    /// `request_retention`: seconds a request's answer is kept to recognise a retransmission.
    pub request_retention: Option<u64>,
    /// `pg_*`: PostgreSQL pool size and timeouts.
    pub pg: PgOptions,
    /// `engine_*`: the embedded store's checkpoints, journal and memory bounds.
    pub engine: EngineOptions,
    /// The admin endpoint, if any.
    pub admin: Option<super::admin::AdminSettings>,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
}

impl OcsFile {
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

/// The OCS's default I/O threads: half the CPUs (at least one). Its journal and checkpoint
/// threads take about a third of its CPU, and I/O threads on every CPU contend for the
/// charging state's lock: on the README's 2-CPU VM one I/O thread served the same rate with
/// 15 instead of 18 µs of CPU per CCR at 40,000 CCR/s (and the stateless node 1.37 instead
/// of 1.53 µs per answer).
pub fn default_ocs_io_threads() -> usize {
    super::node::half_the_cpus()
}

/// Resolves flags over the configuration file.
pub fn settings(args: &OcsArgs) -> Result<OcsSettings, CliError> {
    let (file_keys, file): (OcsFile, Option<ConfigFile>) = match &args.config {
        Some(p) => {
            let (k, f) = load(p, EXAMPLE)?;
            (k, Some(f))
        }
        None => (OcsFile::default(), None),
    };
    let node = resolve(
        &args.node,
        &file_keys.node_keys(),
        file.as_ref(),
        "ocs.localdomain",
        default_ocs_io_threads(),
    )?;
    let store = match (&args.store, &file_keys.store) {
        (Some(s), _) => Some(check_store(s, None, None)?),
        (None, Some(s)) => Some(check_store(s.get_ref(), Some(s.span()), file.as_ref())?),
        _ => None,
    };
    let accounts = args.accounts.clone().or(file_keys.accounts);
    let tariffs = args.tariffs.clone().or(file_keys.tariffs);
    for (what, path) in [("accounts", &accounts), ("tariffs", &tariffs)] {
        if let Some(p) = path {
            if !p.is_file() {
                return Err(CliError::usage(format!(
                    "{what} file {} does not exist\n  = fix: give an existing file to --{what} (or `{what} =`)",
                    p.display()
                )));
            }
        }
    }
    for (key, v) in [
        ("answer_timeout_ms", file_keys.answer_timeout_ms),
        ("pg_pool_wait_ms", file_keys.pg_pool_wait_ms),
        ("pg_statement_timeout_ms", file_keys.pg_statement_timeout_ms),
        ("pg_lock_timeout_ms", file_keys.pg_lock_timeout_ms),
        ("pg_connect_timeout_ms", file_keys.pg_connect_timeout_ms),
        (
            "pg_transaction_timeout_ms",
            file_keys.pg_transaction_timeout_ms,
        ),
        (
            "engine_checkpoint_interval_ms",
            file_keys.engine_checkpoint_interval_ms,
        ),
    ] {
        if v == Some(0) {
            return Err(CliError::usage(format!(
                "{key} = 0 would fail every request\n  = fix: give a time in milliseconds above 0, or leave the key out for the default"
            )));
        }
    }
    for (key, v) in [
        (
            "engine_checkpoint_records",
            file_keys.engine_checkpoint_records,
        ),
        ("engine_max_backlog", file_keys.engine_max_backlog),
        (
            "engine_max_sessions",
            file_keys.engine_max_sessions.map(|v| v as u64),
        ),
        (
            "engine_journal_syncers",
            file_keys.engine_journal_syncers.map(|v| v as u64),
        ),
    ] {
        if v == Some(0) {
            return Err(CliError::usage(format!(
                "{key} = 0 would stop every charge\n  = fix: give a number above 0, or leave the key out for the default"
            )));
        }
    }
    let mut host_ip_addresses = Vec::new();
    for a in file_keys.host_ip_addresses.iter().flatten() {
        let ip = a.get_ref().parse::<std::net::IpAddr>().map_err(|_| {
            let msg = format!("host_ip_addresses: {:?} is not an IP address", a.get_ref());
            let fix = "write IPv4 or IPv6 addresses, such as [\"192.0.2.7\", \"2001:db8::7\"]";
            match &file {
                Some(f) => f.error(Some(a.span()), &msg, fix),
                None => CliError::usage(format!("{msg}\n  = fix: {fix}")),
            }
        })?;
        host_ip_addresses.push(ip);
    }
    Ok(OcsSettings {
        node: node.clone(),
        host_ip_addresses,
        store: store.clone(),
        accounts,
        tariffs,
        auto_provision: args.auto_provision.or(file_keys.auto_provision),
        auto_provision_limit: file_keys.auto_provision_limit,
        max_known_sessions: file_keys.max_known_sessions,
        tcc: file_keys.tcc,
        validity_time: file_keys.validity_time,
        low_balance_threshold: file_keys.low_balance_threshold,
        peers: match &file {
            Some(f) => peer_settings(&file_keys.peers, f, node.tls.is_some())?,
            None => Vec::new(),
        },
        answer_timeout: file_keys.answer_timeout_ms.map(Duration::from_millis),
        sweep_batch: file_keys.sweep_batch,
        request_retention: file_keys.request_retention,
        pg: {
            let d = PgOptions::default();
            let ms = |v: Option<u64>, def: Duration| v.map_or(def, Duration::from_millis);
            {
                let mut pg = d.clone();
                pg.pool = file_keys.pg_pool.unwrap_or(d.pool);
                pg.pool_wait = ms(file_keys.pg_pool_wait_ms, d.pool_wait);
                pg.connect_timeout = ms(file_keys.pg_connect_timeout_ms, d.connect_timeout);
                pg.statement_timeout = ms(file_keys.pg_statement_timeout_ms, d.statement_timeout);
                pg.lock_timeout = ms(file_keys.pg_lock_timeout_ms, d.lock_timeout);
                pg.groups = file_keys.pg_groups.unwrap_or(d.groups);
                pg.threads = file_keys.pg_threads.unwrap_or(d.threads).max(1);
                pg.max_group = file_keys.pg_max_group.unwrap_or(d.max_group).max(1);
                pg.transaction_timeout =
                    ms(file_keys.pg_transaction_timeout_ms, d.transaction_timeout);
                pg
            }
        },
        engine: {
            // Both structs are `#[non_exhaustive]`: start from the defaults and set each key.
            let mut e = EngineOptions::default();
            let ms = |v: Option<u64>, def: Duration| v.map_or(def, Duration::from_millis);
            e.checkpoint_interval = ms(
                file_keys.engine_checkpoint_interval_ms,
                e.checkpoint_interval,
            );
            e.checkpoint_records = file_keys
                .engine_checkpoint_records
                .unwrap_or(e.checkpoint_records);
            e.max_backlog = file_keys.engine_max_backlog.unwrap_or(e.max_backlog);
            e.journal_syncers = file_keys
                .engine_journal_syncers
                .unwrap_or(e.journal_syncers);
            e.journal_overlap_after =
                ms(file_keys.engine_journal_overlap_ms, e.journal_overlap_after);
            e.journal_sync_interval = file_keys
                .engine_journal_interval_us
                .map_or(e.journal_sync_interval, Duration::from_micros);
            e.limits.outcome_bytes = file_keys
                .engine_outcome_bytes
                .unwrap_or(e.limits.outcome_bytes);
            e.limits.filter_keys = file_keys.engine_filter_keys.unwrap_or(e.limits.filter_keys);
            e.sql_lookups_per_s = file_keys
                .engine_sql_lookups_per_s
                .unwrap_or(e.sql_lookups_per_s);
            e.limits.sessions = file_keys.engine_max_sessions.unwrap_or(e.limits.sessions);
            e
        },
        admin: super::admin::settings(
            args.admin,
            args.admin_token_file.as_ref(),
            args.admin_allow_remote,
            super::admin::AdminKeys {
                admin: &file_keys.admin,
                token_file: &file_keys.admin_token_file,
                allow_remote: file_keys.admin_allow_remote,
            },
            file.as_ref(),
            store.as_deref().unwrap_or(&ServeOptions::default().store),
        )?,
        metrics: args.metrics.or(super::admin::metrics_key(
            &file_keys.metrics,
            file.as_ref(),
        )?),
    })
}

/// Checks a store URL (sqlite: or postgres:), pointing into the file when it came from one.
pub fn check_store(
    url: &str,
    span: Option<std::ops::Range<usize>>,
    file: Option<&ConfigFile>,
) -> Result<String, CliError> {
    let supported = url.starts_with("sqlite:")
        || url.starts_with("sqlite+direct:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://");
    let (msg, fix) = match diameter_apps::ocs::store::check_url(url) {
        Ok(()) if supported => return Ok(url.to_owned()),
        Ok(()) => (
            format!("store {url:?} is not a supported URL"),
            "use sqlite://FILE (embedded) or postgres://USER:PASS@HOST/DB",
        ),
        Err(e) => (
            e.to_string(),
            "write sqlite://FILE?journal_dir=DIR, or no parameter",
        ),
    };
    Err(match (span, file) {
        (Some(sp), Some(f)) => f.error(Some(sp), &msg, fix),
        _ => CliError::usage(format!("{msg}\n  = fix: {fix}")),
    })
}

/// Runs `diameter serve ocs`.
pub fn run(args: &OcsArgs) -> CliResult {
    let s = settings(args)?;
    if args.check {
        println!("listen        {}", s.node.listen);
        let ips = match s.host_ip_addresses.as_slice() {
            [] => diameter_apps::host_addrs::host_ip_addresses(&[s.node.listen]),
            given => given.to_vec(),
        };
        let ips: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
        if ips.is_empty() {
            println!("host_ip       127.0.0.1 (no host address found)");
        } else {
            println!("host_ip       {}", ips.join(", "));
        }
        println!("origin_host   {}", s.node.origin_host);
        println!("origin_realm  {}", s.node.origin_realm);
        println!(
            "store         {}",
            diameter_apps::redact::store_url(&serve_options(&s).store)
        );
        // The files are loaded as the server would load them: a broken one fails here.
        if let Some(a) = &s.accounts {
            let file = diameter_apps::ocs::store::load_accounts_file(a).map_err(|e| {
                CliError::usage(format!(
                    "accounts file {}: {e}\n  = fix: see `diameter serve ocs --help` for its format",
                    a.display()
                ))
            })?;
            println!(
                "accounts      {} ({} accounts)",
                a.display(),
                file.accounts.len()
            );
        }
        match &s.tariffs {
            Some(t) => {
                let tariffs = Tariffs::load(t).map_err(|e| {
                    CliError::usage(format!(
                        "tariffs file {}: {}\n  = fix: see the tariffs format in the OCS documentation (`cargo doc`, diameter_apps::ocs::rating)",
                        t.display(),
                        e.0
                    ))
                })?;
                println!(
                    "tariffs       {} ({} tariffs)",
                    t.display(),
                    tariffs.tariffs.len()
                );
            }
            None => println!("tariffs       (built-in demo tariffs)"),
        }
        let o = serve_options(&s);
        if let Some(a) = s.auto_provision {
            println!(
                "auto_provision {a} (at most {} accounts)",
                o.auto_provision_limit
            );
        }
        println!("tcc           {} s", o.tcc.as_secs());
        println!("validity_time {} s", o.validity_time);
        println!("request_retention {} s", o.request_retention.as_secs());
        if let Some(l) = o.low_balance_threshold {
            println!("low_balance_threshold {l}");
        }
        if let Some(a) = &s.admin {
            println!("admin         {}", a.addr);
            println!("admin_token   {}", a.token_file.display());
        }
        if let Some(m) = s.metrics {
            println!("metrics       {m}");
        }
        print_admission(&s.node, &s.peers)?;
        println!("answer_timeout {} ms", o.answer_timeout.as_millis());
        let e = &o.engine;
        println!(
            "engine        checkpoint every {} ms or {} records, backlog {}, {} journal syncers (overlap after {} ms, {} µs apart), outcomes {} bytes, filter {} keys, {} sessions, {} SQL look-ups/s",
            e.checkpoint_interval.as_millis(),
            e.checkpoint_records,
            e.max_backlog,
            e.journal_syncers,
            e.journal_overlap_after.as_millis(),
            e.journal_sync_interval.as_micros(),
            e.limits.outcome_bytes,
            e.limits.filter_keys,
            e.limits.sessions,
            e.sql_lookups_per_s
        );
        print_peers(&s.peers);
        for p in s.peers.iter().filter(|p| p.refund) {
            println!("refund right  {}", p.host);
        }
        for p in s.peers.iter().filter(|p| p.lenient_requested_action) {
            println!("lenient Requested-Action {}", p.host);
        }
        return Ok(OK);
    }
    if args.stateless {
        return signal::runtime()?.block_on(serve_stateless(s));
    }
    signal::runtime()?.block_on(serve(s))
}

/// `--stateless`: the same node answering CCRs without charging, until a signal.
async fn serve_stateless(s: OcsSettings) -> CliResult {
    let mut opts = serve_options(&s);
    opts.tls = s.node.tls_config()?;
    s.node.announce_policy(&s.peers);
    let node = ocs::start_stateless(opts).await.map_err(|e| match e {
        ocs::Error::Io(e) => CliError::network(format!("cannot listen on {}: {e}", s.node.listen)),
        e => CliError::usage(format!("cannot start the stateless server: {e}")),
    })?;
    signal::announce("ocs", &node.local_addrs());
    if let Some(m) = node.metrics_addr() {
        println!("metrics on http://{m}/metrics");
    }
    signal::shutdown().await;
    node.stop(diameter_core::base::DisconnectCause::Rebooting)
        .await;
    Ok(OK)
}

/// The server's options from the resolved settings.
// `..defaults` keeps this compiling when the OCS grows options the CLI does not set yet.
pub fn serve_options(s: &OcsSettings) -> ServeOptions {
    let defaults = ServeOptions::default();
    {
        let mut o = ServeOptions::default();
        o.listen = s.node.listen;
        o.io_threads = s.node.io_threads;
        o.host_ip_addresses = s.host_ip_addresses.clone();
        o.origin_host = s.node.origin_host.clone();
        o.origin_realm = s.node.origin_realm.clone();
        o.store = s.store.clone().unwrap_or(defaults.store.clone());
        o.accounts = s.accounts.clone();
        o.tariffs_file = s.tariffs.clone();
        o.auto_provision = s.auto_provision;
        if let Some(limit) = s.auto_provision_limit {
            o.auto_provision_limit = limit;
        }
        if let Some(limit) = s.max_known_sessions {
            o.max_known_sessions = limit;
        }
        o.tariffs = match &s.tariffs {
            Some(_) => defaults.tariffs.clone(),
            None => Tariffs::parse(DEMO_TARIFFS).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the built-in demo tariffs do not parse");
                defaults.tariffs.clone()
            }),
        };
        o.tcc = s.tcc.map_or(defaults.tcc, std::time::Duration::from_secs);
        o.validity_time = s.validity_time.unwrap_or(defaults.validity_time);
        o.low_balance_threshold = s.low_balance_threshold;
        o.peers = s.peers.iter().filter_map(PeerSetting::to_config).collect();
        o.accept = s.node.accept_policy(&s.peers);
        o.refund_peers = s
            .peers
            .iter()
            .filter(|p| p.refund)
            .map(|p| p.host.clone())
            .collect();
        o.lenient_requested_action_peers = s
            .peers
            .iter()
            .filter(|p| p.lenient_requested_action)
            .map(|p| p.host.clone())
            .collect();
        o.peer_groups = s
            .peers
            .iter()
            .filter_map(|p| Some((p.host.clone(), p.group.clone()?)))
            .collect();
        o.answer_timeout = s.answer_timeout.unwrap_or(defaults.answer_timeout);
        o.sweep_batch = s.sweep_batch.unwrap_or(defaults.sweep_batch);
        o.request_retention = s
            .request_retention
            .map_or(defaults.request_retention, std::time::Duration::from_secs);
        o.pg = s.pg.clone();
        o.engine = s.engine;
        o.metrics = s.metrics;
        o
    }
}

async fn serve(s: OcsSettings) -> CliResult {
    let mut opts = serve_options(&s);
    opts.tls = s.node.tls_config()?;
    s.node.announce_policy(&s.peers);
    if s.tariffs.is_none() {
        tracing::warn!(
            "rating with the built-in demo tariffs (data 1 per MiB, voice 5 per minute, events 1 \
             each, minor units): give your own with --tariffs FILE or tariffs = \"FILE\""
        );
    }
    let handle = ocs::start(opts).await.map_err(|e| match e {
        ocs::Error::Io(e) => CliError::network(format!("cannot listen on {}: {e}", s.node.listen)),
        e => CliError::usage(format!("cannot start the online charging server: {e}")),
    })?;
    signal::announce("ocs", &handle.local_addrs());
    super::admin::serve_until_shutdown(handle, s.admin.as_ref(), Target::Ocs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tariffs_parse() {
        assert!(Tariffs::parse(DEMO_TARIFFS).is_ok());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        ocs: OcsArgs,
    }

    #[test]
    fn io_threads_default_to_half_the_cpus_unless_given() {
        use clap::Parser;
        let cli = Cli::parse_from(["ocs"]);
        let half = default_ocs_io_threads();
        assert!(half >= 1 && half <= crate::cli::serve::node::default_io_threads().max(1));
        assert_eq!(settings(&cli.ocs).unwrap().node.io_threads, half);
        let cli = Cli::parse_from(["ocs", "--io-threads", "3"]);
        assert_eq!(settings(&cli.ocs).unwrap().node.io_threads, 3);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ocs.toml");
        std::fs::write(&file, "io_threads = 0\n").unwrap();
        let cli = Cli::parse_from(["ocs", "--config", file.to_str().unwrap()]);
        assert_eq!(settings(&cli.ocs).unwrap().node.io_threads, 0);
    }

    #[test]
    fn refund_right_and_store_limits_from_the_file() {
        use clap::Parser;
        let dir = std::env::temp_dir().join(format!("ocs-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ocs.toml");
        std::fs::write(
            &file,
            "answer_timeout_ms = 1500\nsweep_batch = 50\nauto_provision_limit = 7\nmax_known_sessions = 9\nrequest_retention = 600\nlow_balance_threshold = 70\npg_pool = 3\npg_pool_wait_ms = 700\n\
             pg_statement_timeout_ms = 900\npg_lock_timeout_ms = 400\npg_connect_timeout_ms = 800\n\
             pg_groups = 3\npg_max_group = 64\npg_transaction_timeout_ms = 2500\npg_threads = 2\n\
             engine_checkpoint_interval_ms = 250\nengine_checkpoint_records = 5000\nengine_max_backlog = 90000\n\
             engine_journal_syncers = 2\nengine_journal_overlap_ms = 0\nengine_journal_interval_us = 300\n\
             engine_outcome_bytes = 1048576\n\
             engine_filter_keys = 1000\nengine_sql_lookups_per_s = 50\nengine_max_sessions = 5000\n\
             [[peers]]\nhost = \"smsc.example.net\"\nrefund = true\nlenient_requested_action = true\n\
             [[peers]]\nhost = \"pgw.example.net\"\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["ocs", "--config", file.to_str().unwrap()]);
        let o = serve_options(&settings(&cli.ocs).unwrap());
        assert_eq!(o.refund_peers, vec!["smsc.example.net".to_string()]);
        assert_eq!(
            o.lenient_requested_action_peers,
            vec!["smsc.example.net".to_string()]
        );
        assert_eq!(o.answer_timeout, Duration::from_millis(1500));
        assert_eq!(o.sweep_batch, 50);
        assert_eq!(o.auto_provision_limit, 7);
        assert_eq!(o.max_known_sessions, 9);
        assert_eq!(o.request_retention, Duration::from_secs(600));
        assert_eq!(o.low_balance_threshold, Some(70));
        assert_eq!(o.pg, {
            let mut pg = PgOptions::default();
            pg.pool = 3;
            pg.pool_wait = Duration::from_millis(700);
            pg.connect_timeout = Duration::from_millis(800);
            pg.statement_timeout = Duration::from_millis(900);
            pg.lock_timeout = Duration::from_millis(400);
            pg.groups = 3;
            pg.threads = 2;
            pg.max_group = 64;
            pg.transaction_timeout = Duration::from_millis(2500);
            pg
        });
        let mut engine = EngineOptions::default();
        engine.checkpoint_interval = Duration::from_millis(250);
        engine.checkpoint_records = 5000;
        engine.max_backlog = 90_000;
        engine.journal_syncers = 2;
        engine.journal_overlap_after = Duration::ZERO;
        engine.journal_sync_interval = Duration::from_micros(300);
        engine.limits.outcome_bytes = 1 << 20;
        engine.limits.filter_keys = 1000;
        engine.sql_lookups_per_s = 50;
        engine.limits.sessions = 5000;
        assert_eq!(o.engine, engine);
        // Without the file: nobody may refund, the documented defaults.
        let cli = Cli::parse_from(["ocs"]);
        let o = serve_options(&settings(&cli.ocs).unwrap());
        assert!(o.refund_peers.is_empty());
        assert_eq!(
            o.auto_provision_limit,
            diameter_apps::ocs::server::DEFAULT_AUTO_PROVISION_LIMIT
        );
        assert!(o.lenient_requested_action_peers.is_empty());
        assert!(o.host_ip_addresses.is_empty());
        assert_eq!(o.low_balance_threshold, None);
        assert_eq!(o.answer_timeout, ServeOptions::default().answer_timeout);
        assert_eq!(o.pg, PgOptions::default());
        assert_eq!(o.engine, EngineOptions::default());
        // A zero that would stop every charge is a usage error naming the key.
        std::fs::write(&file, "engine_max_backlog = 0\n").unwrap();
        let cli = Cli::parse_from(["ocs", "--config", file.to_str().unwrap()]);
        let e = settings(&cli.ocs).unwrap_err();
        assert!(format!("{e:?}").contains("engine_max_backlog"), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn host_ip_addresses_from_the_file() {
        use clap::Parser;
        let dir = std::env::temp_dir().join(format!("ocs-cli-ips-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ocs.toml");
        std::fs::write(
            &file,
            "host_ip_addresses = [\"192.0.2.7\", \"2001:db8::7\"]\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["ocs", "--config", file.to_str().unwrap()]);
        let o = serve_options(&settings(&cli.ocs).unwrap());
        let want: Vec<std::net::IpAddr> =
            vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        assert_eq!(o.host_ip_addresses, want);
        std::fs::write(&file, "host_ip_addresses = [\"ocs.example.net\"]\n").unwrap();
        let cli = Cli::parse_from(["ocs", "--config", file.to_str().unwrap()]);
        let err = settings(&cli.ocs).unwrap_err().to_string();
        assert!(err.contains("is not an IP address"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
