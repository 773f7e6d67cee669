//! Running the OCS on the transport of `diameter-core` (`diameter serve ocs`).
//!
//! [`serve`] opens the store, loads the accounts and tariffs, starts a
//! [`diameter_core::node::Node`] that answers CCRs (Application-Id 4, command 272) with a
//! [`ChargingServer`], runs the Tcc sweep, and returns when the process gets Ctrl-C.
//! [`start`] does the same and hands back an [`OcsHandle`] instead (tests, the CLI's
//! operator actions: [`OcsHandle::re_auth`] sends a RAR, [`OcsHandle::abort`] an ASR).
//!
//! With the embedded store ([`store::Engine`], `sqlite://`) a CCR is charged in memory on
//! the node's task and answered once the journal's group `fdatasync` holding its record
//! is done ([`store::Store::charge`]): no thread hand-off. Other stores' calls are blocking
//! and run on tokio's blocking pool; with a store that commits groups (`sqlite+direct://`),
//! a [`store::GroupCommit`] committer runs the charges of concurrent CCRs in one
//! transaction and one fsync; each CCR is answered once that commit is durable. The requesting peer is the
//! identity of the peer connection ([`diameter_core::node::request_peer`]), never the
//! request's Origin-Host AVP. A CCR whose store work does not finish within
//! [`ServeOptions::answer_timeout`], or fails temporarily, is answered 3004
//! DIAMETER_TOO_BUSY with the E bit, so that the client fails over.

use super::metrics::{MeteredStore, OcsMetrics};
use super::rating::{RatingConfigError, Tariffs};
use super::server::{
    success_answer, ChargingServer, ReAuthScope, ServerConfig, CREDIT_CONTROL_APPLICATION_ID,
};
use super::store::{self, PgOptions, StoreError};
use diameter::dict::base_rfc6733::{result_code as base_rc, Asa, Raa};
use diameter::dict::dcca_rfc4006::{
    Cca, Ccr, GrantedServiceUnit, MultipleServicesCreditControl, RequestedServiceUnit,
};
use diameter_core::node::NodeBuilder;
use diameter_core::node::{
    decode_routed, AnswerBuf, Handler, HandlerFuture, Node, PeerConfig, Reply, RequestError,
    Routed, TlsConfig,
};
use diameter_core::peer::{AcceptPolicy, VendorApp};
use diameter_core::routing::LocalNode;
use diameter_core::{Boxed, Command, CommandFlags, DiameterIdentity, Header, RawMessage};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Settings of [`serve`]; `ServeOptions::default()` gives the documented defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Where to listen (default `0.0.0.0:3868`).
    pub listen: SocketAddr,
    /// Threads serving connections, each a single-threaded runtime (default 0: the
    /// runtime that starts the server; see `NodeBuilder::io_threads`).
    pub io_threads: usize,
    /// Host-IP-Addresses of the CER/CEA (default empty: the listen address, or, for a
    /// wildcard one, the host's interface addresses; see [`crate::host_addrs`]).
    pub host_ip_addresses: Vec<IpAddr>,
    /// Origin-Host (default `ocs.localdomain`).
    pub origin_host: String,
    /// Origin-Realm (default `localdomain`).
    pub origin_realm: String,
    /// Store URL: `sqlite://PATH` (default `sqlite://./ocs.db`), `postgres://...`.
    pub store: String,
    /// Accounts file to load on start (see [`store::AccountsFile`]).
    pub accounts: Option<PathBuf>,
    /// Tariffs file (see [`super::rating`]); without one, every service is rated with
    /// [`ServeOptions::tariffs`].
    pub tariffs_file: Option<PathBuf>,
    /// Tariffs used when there is no file (default: none, so every request is 5031).
    pub tariffs: Tariffs,
    /// Create unknown subscribers with this balance (minor units).
    pub auto_provision: Option<i64>,
    /// The most accounts auto-provisioning creates in this process (default 100,000,
    /// [`super::server::ServerConfig::auto_provision_limit`]).
    pub auto_provision_limit: u64,
    /// The most open sessions whose client this server remembers, for RAR/ASR (default
    /// 1 Mi, [`super::server::ServerConfig::max_known_sessions`]).
    pub max_known_sessions: usize,
    /// Tcc session supervision (default 3600 s).
    pub tcc: Duration,
    /// Validity-Time of grants (default 1800 s).
    pub validity_time: u32,
    /// Peers to connect to (clients that expect the OCS to connect, or relays).
    pub peers: Vec<PeerConfig>,
    /// Who may connect (default: peers on loopback only; list the peers, with their
    /// source networks, to serve a network).
    pub accept: AcceptPolicy,
    /// TLS for every connection (default none); peers' certificates must name their
    /// Origin-Host.
    pub tls: Option<TlsConfig>,
    /// Peers (Origin-Host of the peer connection) that may send REFUND_ACCOUNT (default:
    /// none; `refund = true` on a `[[peers]]` entry).
    pub refund_peers: Vec<String>,
    /// Peers whose CCR-EVENT without Requested-Action is read as DIRECT_DEBITING (default:
    /// none, such a request gets 5005 DIAMETER_MISSING_AVP; `lenient_requested_action =
    /// true` on a `[[peers]]` entry).
    pub lenient_requested_action_peers: Vec<String>,
    /// (peer, group): agents that front the same clients share the ownership of sessions
    /// and saved answers (default none; `group = "NAME"` on `[[peers]]` entries; see
    /// [`crate::ocs::server::ServerConfig::peer_groups`]).
    pub peer_groups: Vec<(String, String)>,
    /// A direct debit's CCA carries Low-Balance-Indication YES when the available balance
    /// left is below this (minor units; default none: never; see
    /// [`ServerConfig::low_balance_threshold`]).
    pub low_balance_threshold: Option<i64>,
    /// The longest a CCR waits for its store work; then it is answered 3004
    /// DIAMETER_TOO_BUSY (E bit) and the client fails over (default 4 s, below the usual
    /// client Tx timer). The work itself finishes or fails in the background, and its
    /// idempotency key makes a retransmission to another node see the same outcome.
    pub answer_timeout: Duration,
    /// PostgreSQL pool size and timeouts (see [`PgOptions`]).
    pub pg: PgOptions,
    /// Expired sessions the Tcc sweep closes per store transaction (default 500).
    pub sweep_batch: usize,
    /// How long a request's answer is kept to recognise a retransmission (default one day).
    /// On disk, about 220 bytes per CCR with its ledger rows in the embedded store.
    pub request_retention: Duration,
    /// Serve the node's Prometheus metrics over HTTP here (default none; see
    /// [`diameter_core::node::NodeBuilder::metrics`]).
    pub metrics: Option<SocketAddr>,
    /// The most CCRs committed together by the group committer of a store that supports
    /// it (SQLite; default 256; 1 = one transaction per CCR). Every answer still waits
    /// for the commit that holds its charge.
    pub max_group: usize,
    /// Settings of the embedded store (`sqlite://`): checkpoint interval and size, memory
    /// bounds of the saved outcomes, journal syncers (see [`store::EngineOptions`]).
    pub engine: store::EngineOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 3868)),
            io_threads: 0,
            host_ip_addresses: Vec::new(),
            origin_host: "ocs.localdomain".into(),
            origin_realm: "localdomain".into(),
            store: "sqlite://./ocs.db".into(),
            accounts: None,
            tariffs_file: None,
            tariffs: Tariffs::default(),
            auto_provision: None,
            auto_provision_limit: super::server::DEFAULT_AUTO_PROVISION_LIMIT,
            max_known_sessions: super::server::DEFAULT_MAX_KNOWN_SESSIONS,
            tcc: Duration::from_secs(3600),
            validity_time: 1800,
            peers: Vec::new(),
            accept: AcceptPolicy::default(),
            tls: None,
            refund_peers: Vec::new(),
            lenient_requested_action_peers: Vec::new(),
            peer_groups: Vec::new(),
            low_balance_threshold: None,
            answer_timeout: Duration::from_secs(4),
            pg: PgOptions::default(),
            sweep_batch: 500,
            request_retention: Duration::from_secs(86_400),
            metrics: None,
            max_group: store::group::DEFAULT_MAX_GROUP,
            engine: store::EngineOptions::default(),
        }
    }
}

/// Errors of [`serve`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed (or the accounts file is bad).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tariffs file is bad.
    #[error(transparent)]
    Rating(#[from] RatingConfigError),
    /// Binding or running the node failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A request to a client failed.
    #[error("request: {0}")]
    Request(#[from] RequestError),
    /// The session is unknown to this node (no RAR/ASR target).
    #[error("unknown session {0}")]
    UnknownSession(String),
}

/// A running OCS.
pub struct OcsHandle {
    /// The Diameter node.
    pub node: Node,
    /// The charging server behind it.
    pub server: Arc<ChargingServer>,
    /// The OCS's own metrics, when [`ServeOptions::metrics`] is set.
    pub metrics: Option<Arc<OcsMetrics>>,
    /// The Tcc sweep and the metrics' gauge refresh.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OcsHandle {
    /// The addresses the node listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.node.local_addrs()
    }

    /// Operator action: sends a RAR (AUTHORIZE_ONLY) for a session and returns the RAA; the
    /// client then sends a CCR-U.
    pub async fn re_auth(&self, session_id: &str) -> Result<Raa, Error> {
        self.re_auth_for(session_id, &ReAuthScope::default()).await
    }

    /// Operator action: a RAR for only what `scope` names (RFC 8506 §5.5: one
    /// sub-session, credit pool, service or rating group); returns the RAA.
    pub async fn re_auth_for(&self, session_id: &str, scope: &ReAuthScope) -> Result<Raa, Error> {
        let rar = self
            .server
            .re_auth_request_for(session_id, scope)
            .ok_or_else(|| Error::UnknownSession(session_id.into()))?;
        Ok(self.node.send(&rar, CREDIT_CONTROL_APPLICATION_ID).await?)
    }

    /// Operator action: sends an ASR for a session and returns the ASA; the client then ends
    /// the session with a CCR-T.
    pub async fn abort(&self, session_id: &str) -> Result<Asa, Error> {
        let asr = self
            .server
            .abort_session_request(session_id)
            .ok_or_else(|| Error::UnknownSession(session_id.into()))?;
        Ok(self.node.send(&asr, CREDIT_CONTROL_APPLICATION_ID).await?)
    }

    /// Stops the node and the Tcc sweep.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.node
            .stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}

/// Starts the OCS and returns at once (see the module docs).
pub async fn start(opts: ServeOptions) -> Result<OcsHandle, Error> {
    let url = opts.store.clone();
    let accounts = opts.accounts.clone();
    let pg = opts.pg.clone();
    let engine = opts.engine;
    let max_group = opts.max_group;
    // With an endpoint, the store's commits (groups) and failures are recorded.
    let metrics = opts.metrics.map(|_| Arc::new(OcsMetrics::new()));
    let metered = metrics.clone();
    let store = blocking(move || {
        let mut store = store::open_with_engine(&url, &pg, &engine)?;
        if let Some(m) = metered {
            store = Arc::new(MeteredStore::new(store, m));
        }
        if store.groups() && max_group > 1 {
            // Group commit: CCRs that arrive during a commit share the next one.
            store = Arc::new(store::GroupCommit::new(store, max_group)?);
        }
        if let Some(path) = accounts {
            let file = store::load_accounts_file(&path)?;
            let n = store::load_accounts(store.as_ref(), &file)?;
            tracing::info!(accounts = n, file = %path.display(), "ocs: accounts loaded");
        }
        Ok(store)
    })
    .await?;
    let tariffs = match &opts.tariffs_file {
        Some(path) => Tariffs::load(path)?,
        None => opts.tariffs.clone(),
    };
    let mut config = ServerConfig::new(&opts.origin_host, &opts.origin_realm);
    config.auto_provision = opts.auto_provision;
    config.auto_provision_limit = opts.auto_provision_limit;
    config.max_known_sessions = opts.max_known_sessions;
    config.tcc = opts.tcc;
    config.validity_time = opts.validity_time;
    config.sweep_batch = opts.sweep_batch;
    config.request_retention = opts.request_retention;
    config.refund_peers = opts
        .refund_peers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    config.low_balance_threshold = opts.low_balance_threshold;
    config.lenient_requested_action_peers = opts
        .lenient_requested_action_peers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    config.peer_groups = opts
        .peer_groups
        .iter()
        .map(|(h, g)| (h.to_ascii_lowercase(), g.clone()))
        .collect();
    if !config.refund_peers.is_empty() {
        tracing::info!(peers = ?config.refund_peers, "ocs: peers with the refund right");
    }
    if !config.peer_groups.is_empty() {
        tracing::info!(groups = ?config.peer_groups, "ocs: peer groups (sessions and saved answers shared)");
    }
    // An I/O thread that has charged all it read tells the store: its journal syncs what
    // it holds at once rather than wait out its pacing interval for charges not coming.
    let idle_store = store.clone();
    let server = Arc::new(ChargingServer::new(store, tariffs, config));

    let mut builder = Node::builder()
        .origin_host(opts.origin_host.clone())
        .origin_realm(opts.origin_realm.clone())
        .product_name("diameter-rs ocs")
        .listen(opts.listen)
        .io_threads(opts.io_threads)
        .on_io_idle(move || idle_store.producers_idle())
        .handler(
            CREDIT_CONTROL_APPLICATION_ID,
            <Ccr as Command>::CODE,
            CcrHandler {
                server: server.clone(),
                timeout: opts.answer_timeout,
                metrics: metrics.clone(),
            },
        );
    builder = advertise(builder, &opts);
    for peer in opts.peers {
        builder = builder.peer(peer);
    }
    builder = builder.accept_policy(opts.accept);
    if let Some(tls) = opts.tls {
        builder = builder.tls(tls);
    }
    if let (Some(addr), Some(m)) = (opts.metrics, &metrics) {
        builder = with_metrics(builder, addr);
        let m = m.clone();
        builder = builder.metrics_registry(move |r| m.register(r));
    }
    let node = builder.build().await?;
    let mut tasks = vec![tokio::spawn(sweep(server.clone(), opts.tcc))];
    if let Some(m) = &metrics {
        tasks.push(tokio::spawn(refresh_gauges(server.clone(), m.clone())));
    }
    tracing::info!(addrs = ?node.local_addrs(), store = %crate::redact::store_url(&opts.store), "ocs: serving");
    Ok(OcsHandle {
        node,
        server,
        metrics,
        tasks,
    })
}

/// The 3GPP vendor id (TS 29.230), for Supported-Vendor-Id.
pub const TGPP_VENDOR_ID: u32 = 10_415;

/// What the OCS advertises in its CER/CEA besides Auth-Application-Id 4 (RFC 4006):
/// Supported-Vendor-Id 10415 (it understands the TS 32.299 AVPs), the
/// Vendor-Specific-Application-Id {Vendor-Id 10415, Auth-Application-Id 4} that 3GPP Ro/Gy
/// clients look for (TS 32.299 §6.1), and the Host-IP-Addresses of `opts`.
fn advertise(mut builder: NodeBuilder, opts: &ServeOptions) -> NodeBuilder {
    builder = builder
        .auth_application(CREDIT_CONTROL_APPLICATION_ID)
        .supported_vendor(TGPP_VENDOR_ID)
        .vendor_application(VendorApp {
            vendor_id: TGPP_VENDOR_ID,
            auth: Some(CREDIT_CONTROL_APPLICATION_ID),
            acct: None,
        });
    let ips = if opts.host_ip_addresses.is_empty() {
        crate::host_addrs::host_ip_addresses(&[opts.listen])
    } else {
        opts.host_ip_addresses.clone()
    };
    for ip in ips {
        builder = builder.host_ip_address(ip);
    }
    builder
}

/// The node's metrics endpoint, labelling the dictionaries' Result-Codes (4012
/// CREDIT_LIMIT_REACHED, ...).
fn with_metrics(
    builder: diameter_core::node::NodeBuilder,
    addr: SocketAddr,
) -> diameter_core::node::NodeBuilder {
    builder.metrics(addr).metrics_result_codes(
        diameter::dict::DICTIONARY
            .result_codes
            .iter()
            .map(|r| r.value),
    )
}

/// Starts a node that answers CCRs like the OCS but without charging: every CCR is
/// decoded and answered 2001 with, per Multiple-Services-Credit-Control, the requested
/// units granted, and nothing is stored. The baseline of the OCS's benchmark (`diameter
/// serve ocs --stateless`, `diameter bench --compare`): the same node, transport and
/// codec, no charging path. Uses the node settings of `opts` (listen, identity, peers,
/// admission, TLS, metrics) and ignores the store and tariffs.
pub async fn start_stateless(opts: ServeOptions) -> Result<Node, Error> {
    let mut builder = Node::builder()
        .origin_host(opts.origin_host.clone())
        .origin_realm(opts.origin_realm.clone())
        .product_name("diameter-rs ocs (stateless)")
        .listen(opts.listen)
        .io_threads(opts.io_threads)
        .handler(
            CREDIT_CONTROL_APPLICATION_ID,
            <Ccr as Command>::CODE,
            StatelessHandler {
                origin_host: opts.origin_host.as_str().into(),
                origin_realm: opts.origin_realm.as_str().into(),
            },
        );
    builder = advertise(builder, &opts);
    for peer in opts.peers {
        builder = builder.peer(peer);
    }
    builder = builder.accept_policy(opts.accept);
    if let Some(tls) = opts.tls {
        builder = builder.tls(tls);
    }
    if let Some(addr) = opts.metrics {
        builder = with_metrics(builder, addr);
    }
    let node = builder.build().await?;
    tracing::info!(addrs = ?node.local_addrs(), "ocs: serving statelessly (no charging)");
    Ok(node)
}

/// The handler of [`start_stateless`].
struct StatelessHandler {
    /// Built once: an answer clones them instead of building them from text.
    origin_host: DiameterIdentity,
    origin_realm: DiameterIdentity,
}

fn granted(r: &RequestedServiceUnit) -> Boxed<GrantedServiceUnit> {
    Boxed::new(GrantedServiceUnit {
        cc_time: r.cc_time,
        cc_total_octets: r.cc_total_octets,
        cc_input_octets: r.cc_input_octets,
        cc_output_octets: r.cc_output_octets,
        cc_service_specific_units: r.cc_service_specific_units,
        ..Default::default()
    })
}

impl Handler for StatelessHandler {
    /// `Ccr::decode` walks every AVP and a bad one is answered as RFC 6733 prescribes
    /// (`echoing`), so the transport checks only the header: one walk per CCR.
    fn decodes_request(&self) -> bool {
        true
    }

    /// The answer is made from the request alone: a retransmission gets the same one.
    fn answers_retransmissions(&self) -> bool {
        true
    }

    fn call(&self, request: RawMessage) -> HandlerFuture {
        let result = match Ccr::decode(&request) {
            Ok(ccr) => Ok(self.answer(&ccr, request.header)),
            Err(e) => Err(e.echoing(Ccr::ANSWER_ECHO)),
        };
        Box::pin(async move { result })
    }

    /// The destination is taken from the decoded CCR: one walk of the request. The
    /// answer is encoded straight into the connection's write buffer.
    fn call_routed(
        &self,
        request: RawMessage,
        local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        let mut ccr = Ccr::default();
        match decode_routed(&request, local, &mut ccr) {
            Ok(proxy_info) => {
                out.encode(&self.cca(&ccr));
                Routed::Encoded { proxy_info }
            }
            Err(routed) => routed,
        }
    }
}

impl StatelessHandler {
    /// Success, with every unit requested granted, as a message.
    fn answer(&self, ccr: &Ccr, h: Header) -> RawMessage {
        self.cca(ccr)
            .to_message(h.application_id, h.hop_by_hop, h.end_to_end)
    }

    /// Success, with every unit requested granted.
    fn cca(&self, ccr: &Ccr) -> Cca {
        let mut cca = success_answer(ccr, &self.origin_host, &self.origin_realm);
        cca.granted_service_unit = ccr.requested_service_unit.as_deref().map(granted);
        cca.multiple_services_credit_control = ccr
            .multiple_services_credit_control
            .iter()
            .map(|m| MultipleServicesCreditControl {
                rating_group: m.rating_group,
                service_identifier: m.service_identifier.clone(),
                result_code: Some(base_rc::DIAMETER_SUCCESS),
                granted_service_unit: m.requested_service_unit.as_deref().map(granted),
                ..Default::default()
            })
            .collect();
        cca
    }
}

/// Refreshes the open-sessions and reserved-amount gauges from the store, at the pace of
/// [`super::metrics::next_refresh`].
async fn refresh_gauges(server: Arc<ChargingServer>, metrics: Arc<OcsMetrics>) {
    loop {
        let s = server.clone();
        let started = Instant::now();
        if let Ok(Ok(t)) = tokio::task::spawn_blocking(move || s.store().totals()).await {
            metrics.totals(t);
        }
        tokio::time::sleep(super::metrics::next_refresh(started.elapsed())).await;
    }
}

/// Runs the OCS until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), Error> {
    let handle = start(opts).await?;
    tokio::signal::ctrl_c().await?;
    handle.stop().await;
    Ok(())
}

/// The CCR handler: decodes, charges on the blocking pool within the answer timeout, and
/// sets the E bit on a protocol-error answer (3004).
struct CcrHandler {
    server: Arc<ChargingServer>,
    timeout: Duration,
    metrics: Option<Arc<OcsMetrics>>,
}

impl Handler for CcrHandler {
    /// `Ccr::decode` walks every AVP and a bad one is answered as RFC 6733 prescribes
    /// (`echoing`), so the transport checks only the header: one walk per CCR.
    fn decodes_request(&self) -> bool {
        true
    }

    fn call(&self, request: RawMessage) -> HandlerFuture {
        match Ccr::decode(&request) {
            Ok(ccr) => self.charge(Box::new(ccr), request.header),
            Err(e) => {
                let e = e.echoing(Ccr::ANSWER_ECHO);
                Box::pin(async move { Err(e) })
            }
        }
    }

    /// The destination is taken from the decoded CCR (one walk), and checked before any
    /// charge. The CCA, once charged, is encoded straight into the connection's write
    /// buffer ([`CcaReply`]).
    fn call_routed(
        &self,
        request: RawMessage,
        local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        let mut ccr = Box::<Ccr>::default();
        match decode_routed(&request, local, &mut *ccr) {
            Ok(proxy_info) => {
                let marked = request.header.flags & CommandFlags::RETRANSMIT != 0;
                if self.charged_now(&ccr, marked, out) {
                    return Routed::Encoded { proxy_info };
                }
                let charged = self.charged(ccr);
                Routed::Deferred {
                    answer: Box::pin(async move {
                        Ok(Box::new(CcaReply(charged.await)) as Box<dyn Reply>)
                    }),
                    proxy_info,
                }
            }
            Err(routed) => routed,
        }
    }
}

/// A CCA for the node to encode in place, with the E bit for a protocol error (3xxx).
struct CcaReply(Box<Cca>);

impl Reply for CcaReply {
    fn encode_into(&self, out: &mut AnswerBuf<'_>) {
        out.encode(&*self.0);
        if diameter_core::result_code::is_protocol_error(self.0.result_code) {
            out.set_error_bit();
        }
    }
}

impl CcrHandler {
    /// Charges the CCR and answers it, as a message.
    fn charge(&self, ccr: Box<Ccr>, h: Header) -> HandlerFuture {
        let charged = self.charged(ccr);
        Box::pin(async move {
            let cca = charged.await;
            let mut msg = cca.to_message(h.application_id, h.hop_by_hop, h.end_to_end);
            if diameter_core::result_code::is_protocol_error(cca.result_code) {
                msg.header.flags |= CommandFlags::ERROR;
            }
            Ok(msg)
        })
    }

    /// Charges the CCR at once when the store can ([`ChargingServer::charge_now`]) and
    /// encodes the CCA into `out`, held until the charge is durable (group commit: the
    /// answers of a burst leave together after the journal sync that holds them). No
    /// answer timeout applies to this wait: the store's own limits (its backlog) answer
    /// 3004 to new charges instead. `false`: nothing was charged. `marked`: the request
    /// has the T flag (a possible duplicate).
    fn charged_now(&self, ccr: &Ccr, marked: bool, out: &mut AnswerBuf<'_>) -> bool {
        // The identity of the admitted peer connection; no identity, no rights.
        let peer = diameter_core::node::request_peer().unwrap_or_default();
        let now = SystemTime::now();
        let Some((cca, durable)) = self.server.charge_now(ccr, &peer, marked, now) else {
            return false;
        };
        if let Some(m) = &self.metrics {
            m.ccr(cca.cc_request_type, cca.result_code);
        }
        CcaReply(cca).encode_into(out);
        if let Some(durable) = durable {
            // A charge that does not become durable failed its journal, which says so
            // once; the node logs the burst it withholds.
            out.hold_until(Box::pin(async move { durable.await.is_ok() }));
        }
        true
    }

    /// Charges the CCR; the CCA.
    fn charged(&self, ccr: Box<Ccr>) -> impl std::future::Future<Output = Box<Cca>> + Send {
        let (server, timeout) = (self.server.clone(), self.timeout);
        let metrics = self.metrics.clone();
        async move {
            // The identity of the admitted peer connection; no identity, no rights.
            let peer = diameter_core::node::request_peer().unwrap_or_default();
            let cca = answer(server, ccr, peer, timeout).await;
            if let Some(m) = &metrics {
                m.ccr(cca.cc_request_type, cca.result_code);
            }
            cca
        }
    }
}

async fn answer(
    server: Arc<ChargingServer>,
    ccr: Box<Ccr>,
    peer: Arc<str>,
    timeout: Duration,
) -> Box<Cca> {
    // The error answers are built only when needed (not for every CCR).
    let (session_id, kind, number) = (
        ccr.session_id.clone(),
        ccr.cc_request_type,
        ccr.cc_request_number,
    );
    let fallback = |result_code: u32| Cca {
        session_id: session_id.clone(),
        result_code,
        origin_host: server.config().origin_host.as_str().into(),
        origin_realm: server.config().origin_realm.as_str().into(),
        auth_application_id: CREDIT_CONTROL_APPLICATION_ID,
        cc_request_type: kind,
        cc_request_number: number,
        ..Default::default()
    };
    // Look-ups in memory and the charge awaited where possible: no thread hand-off.
    let work = server.handle_ccr_shared(ccr, &peer, SystemTime::now());
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(cca)) => cca,
        Ok(Err(_)) => Box::new(fallback(base_rc::DIAMETER_UNABLE_TO_COMPLY)), // the handler panicked
        Err(_) => {
            tracing::warn!(session = %session_id, ?timeout, "ocs: store too slow, answered 3004");
            Box::new(fallback(base_rc::DIAMETER_TOO_BUSY))
        }
    }
}

/// The Tcc sweep: every Tcc/4 (at most 30 s, at least 1 s).
async fn sweep(server: Arc<ChargingServer>, tcc: Duration) {
    let period = (tcc / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let s = server.clone();
        match tokio::task::spawn_blocking(move || s.expire_sessions(SystemTime::now())).await {
            Ok(Ok(closed)) if !closed.is_empty() => {
                tracing::info!(sessions = closed.len(), "ocs: Tcc expired sessions closed");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "ocs: Tcc sweep failed"),
            _ => {}
        }
    }
}
