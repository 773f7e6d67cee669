//! Running the SIP AAA server on the transport of `diameter-core` (`diameter serve sip`).
//!
//! [`serve`] opens the store (the file is created on first start), loads the users file,
//! starts a [`diameter_core::node::Node`] that advertises Auth-Application-Id 6 and answers
//! UAR, MAR, SAR, LIR and STR with a [`Server`], and returns when the process gets Ctrl-C.
//! [`start`] does the same and hands back a [`SipHandle`] instead (tests, and the operator
//! actions of the CLI: [`SipHandle::deregister`] sends RTRs, [`SipHandle::push_profile`]
//! PPRs, [`SipHandle::abort_session`] an ASR). STR ends a kept STATE_MAINTAINED session, and
//! a task ends the expired ones (see [`crate::sip::server`]). Store calls are blocking and run on tokio's blocking pool.
//!
//! Each request is handled for the peer the node admitted it from
//! ([`diameter_core::node::request_peer`]): only [`ServeOptions::sip_servers`] are served
//! when any are listed, and only those with the credentials right get Digest-HA1 (see
//! [`crate::sip::server`]).

use super::client::SipResult;
use super::server::{Caller, Server, ServerConfig, ServerError, SipPeer, APPLICATION_ID};
use super::store::{self, AccountingInfo, StoreError, UserData};
use diameter::dict::base_rfc6733::{result_code as base, Asa, Sta, Str};
use diameter::dict::sip_rfc4740::{
    Lia, Lir, Maa, Mar, Ppa, Rta, Saa, Sar, SipReasonCode, Uaa, Uar,
};
use diameter_core::node::{typed, Node, PeerConfig, RequestError, TlsConfig};
use diameter_core::peer::AcceptPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Settings of [`serve`]; `ServeOptions::default()` gives the documented defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Where to listen (default `0.0.0.0:3868`).
    pub listen: SocketAddr,
    /// Threads serving connections, each a single-threaded runtime (default 0: the
    /// runtime that starts the server; see `NodeBuilder::io_threads`).
    pub io_threads: usize,
    /// Origin-Host (default `sip-aaa.localdomain`).
    pub origin_host: String,
    /// Origin-Realm (default `localdomain`).
    pub origin_realm: String,
    /// Store URL: `sqlite://PATH` (default `sqlite://./sip.db`, created on first start; it
    /// may be the OCS's file), `postgres://...` for several nodes.
    pub store: String,
    /// Users file to load on start (see [`store::UsersFile`]).
    pub users: Option<PathBuf>,
    /// Peers to connect to (SIP servers that expect the AAA server to connect, or relays).
    pub peers: Vec<PeerConfig>,
    /// The SIP servers allowed to send UAR, MAR, SAR and LIR, with their rights (the
    /// `[[peers]]` of the configuration file; `credentials = true` gives Digest-HA1). Empty
    /// (the default): every peer the node admits is served and none gets Digest-HA1. When
    /// not empty it replaces [`ServerConfig::peers`] of `server`.
    pub sip_servers: Vec<SipPeer>,
    /// Who may connect (default: peers on loopback only; list the SIP servers, with their
    /// source networks, to serve a network).
    pub accept: AcceptPolicy,
    /// TLS for every connection (default none); peers' certificates must name their
    /// Origin-Host.
    pub tls: Option<TlsConfig>,
    /// Serve the node's Prometheus metrics over HTTP here (default none; see
    /// [`diameter_core::node::NodeBuilder::metrics`]).
    pub metrics: Option<SocketAddr>,
    /// Server behaviour (Digest algorithm, who checks the response, ...); its identity
    /// fields are replaced by `origin_host` / `origin_realm`.
    pub server: Option<ServerConfig>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 3868)),
            io_threads: 0,
            origin_host: "sip-aaa.localdomain".into(),
            origin_realm: "localdomain".into(),
            store: "sqlite://./sip.db".into(),
            users: None,
            peers: Vec::new(),
            sip_servers: Vec::new(),
            accept: AcceptPolicy::default(),
            tls: None,
            metrics: None,
            server: None,
        }
    }
}

/// Errors of [`serve`] and of the operator actions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed (or the users file is bad).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An operator action failed (unknown user, user not served).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Binding or running the node failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A request to a SIP server failed.
    #[error("request: {0}")]
    Request(#[from] RequestError),
    /// No kept STATE_MAINTAINED session has this Session-Id.
    #[error("no session {0}")]
    UnknownSession(String),
}

/// A running SIP AAA server.
pub struct SipHandle {
    /// The Diameter node.
    pub node: Node,
    /// The handlers and the store behind it.
    pub server: Arc<Server>,
    sweep: tokio::task::JoinHandle<()>,
}

async fn blocking<T: Send + 'static, E: From<std::io::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(std::io::Error::other(e.to_string())))?
}

impl SipHandle {
    /// The addresses the node listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.node.local_addrs()
    }

    /// Operator action: deregisters `aors` of a user (all when empty) with an RTR to each
    /// serving SIP server; applies each RTA and returns its result.
    pub async fn deregister(
        &self,
        user_name: &str,
        aors: &[&str],
        reason: SipReasonCode,
        info: Option<&str>,
    ) -> Result<Vec<SipResult>, Error> {
        let (s, u) = (self.server.clone(), user_name.to_string());
        let aors: Vec<String> = aors.iter().map(|a| a.to_string()).collect();
        let info = info.map(str::to_string);
        let rtrs = blocking(move || {
            let aors: Vec<&str> = aors.iter().map(String::as_str).collect();
            s.build_rtr(&u, &aors, reason, info.as_deref())
                .map_err(Error::from)
        })
        .await?;
        let mut out = Vec::new();
        for rtr in rtrs {
            let rta: Rta = self.node.send(&rtr, APPLICATION_ID).await?;
            let s = self.server.clone();
            let code = blocking(move || s.on_rta(&rtr, &rta).map_err(Error::from)).await?;
            out.push(SipResult::from(code));
        }
        Ok(out)
    }

    /// Operator action: stores a new profile and accounting servers and pushes them with a
    /// PPR to each serving SIP server. A SIP server that answers TOO_MUCH_DATA gets an RTR
    /// (SIP_SERVER_CHANGE) so that the user is moved to another server.
    pub async fn push_profile(
        &self,
        user_name: &str,
        profile: Vec<UserData>,
        accounting: AccountingInfo,
    ) -> Result<Vec<SipResult>, Error> {
        let (s, u) = (self.server.clone(), user_name.to_string());
        let pprs = blocking(move || {
            s.push_profile(&u, &profile, &accounting)
                .map_err(Error::from)
        })
        .await?;
        let mut out = Vec::new();
        for ppr in pprs {
            let ppa: Ppa = self.node.send(&ppr, APPLICATION_ID).await?;
            out.push(SipResult::from(ppa.result_code));
            let s = self.server.clone();
            let rtr = blocking(move || s.on_ppa(&ppr, &ppa).map_err(Error::from)).await?;
            if let Some(rtr) = rtr {
                let rta: Rta = self.node.send(&rtr, APPLICATION_ID).await?;
                let s = self.server.clone();
                blocking(move || s.on_rta(&rtr, &rta).map_err(Error::from)).await?;
            }
        }
        Ok(out)
    }

    /// Operator action: asks the SIP server of a kept STATE_MAINTAINED session to end it
    /// with an ASR (RFC 6733 §8.5) and returns the ASA's result. The session, and its
    /// registrations, end when that SIP server's STR arrives (or at expiry).
    pub async fn abort_session(&self, session_id: &str) -> Result<SipResult, Error> {
        let asr = self
            .server
            .build_asr(session_id)
            .ok_or_else(|| Error::UnknownSession(session_id.to_string()))?;
        let asa: Asa = self.node.send(&asr, APPLICATION_ID).await?;
        Ok(SipResult::from(asa.result_code))
    }

    /// Stops the node and the session sweep.
    pub async fn stop(self) {
        self.sweep.abort();
        self.node
            .stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
    }
}

/// Runs a handler on the blocking pool, for the peer the node admitted the request from;
/// a panic there answers DIAMETER_UNABLE_TO_COMPLY.
macro_rules! route {
    ($builder:expr, $server:expr, $req:ty, $ans:ident, $method:ident) => {{
        let server = $server.clone();
        $builder.typed_handler(move |req: $req| {
            let server = server.clone();
            let caller = Caller::from_node();
            async move {
                let fallback = $ans {
                    session_id: req.session_id.clone(),
                    auth_application_id: APPLICATION_ID,
                    auth_session_state: req.auth_session_state,
                    result_code: base::DIAMETER_UNABLE_TO_COMPLY,
                    origin_host: server.config().origin_host.as_str().into(),
                    origin_realm: server.config().origin_realm.as_str().into(),
                    ..Default::default()
                };
                tokio::task::spawn_blocking(move || server.$method(&caller, &req))
                    .await
                    .unwrap_or(fallback)
            }
        })
    }};
}

/// Starts the SIP AAA server and returns at once (see the module docs).
pub async fn start(opts: ServeOptions) -> Result<SipHandle, Error> {
    let url = opts.store.clone();
    let users = opts.users.clone();
    let store = blocking(move || {
        let store = store::open(&url)?;
        if let Some(path) = users {
            let file = store::load_users_file(&path)?;
            let n = store::load_users(store.as_ref(), &file)?;
            tracing::info!(users = n, file = %path.display(), "sip: users loaded");
        }
        Ok::<_, Error>(store)
    })
    .await?;
    let mut cfg = opts
        .server
        .clone()
        .unwrap_or_else(|| ServerConfig::new(&opts.origin_host, &opts.origin_realm));
    cfg.origin_host = opts.origin_host.clone();
    cfg.origin_realm = opts.origin_realm.clone();
    if !opts.sip_servers.is_empty() {
        cfg.peers = opts.sip_servers.clone();
    }
    let server = Arc::new(Server::new(cfg, store));

    let builder = Node::builder()
        .origin_host(opts.origin_host.clone())
        .origin_realm(opts.origin_realm.clone())
        .product_name("diameter-rs sip-aaa")
        .auth_application(APPLICATION_ID)
        .listen(opts.listen)
        .io_threads(opts.io_threads);
    let builder = route!(builder, server, Uar, Uaa, handle_uar);
    let builder = route!(builder, server, Mar, Maa, handle_mar);
    let builder = route!(builder, server, Sar, Saa, handle_sar);
    let mut builder = route!(builder, server, Lir, Lia, handle_lir);
    let str_server = server.clone();
    builder = builder.handler(
        APPLICATION_ID,
        <Str as diameter_core::Command>::CODE,
        typed(move |req: Str| {
            let server = str_server.clone();
            let caller = Caller::from_node();
            async move {
                let fallback = Sta {
                    session_id: req.session_id.clone(),
                    result_code: base::DIAMETER_UNABLE_TO_COMPLY,
                    origin_host: server.config().origin_host.as_str().into(),
                    origin_realm: server.config().origin_realm.as_str().into(),
                    ..Default::default()
                };
                tokio::task::spawn_blocking(move || server.handle_str(&caller, &req))
                    .await
                    .unwrap_or(fallback)
            }
        }),
    );
    for peer in opts.peers {
        builder = builder.peer(peer);
    }
    builder = builder.accept_policy(opts.accept);
    if let Some(tls) = opts.tls {
        builder = builder.tls(tls);
    }
    if let Some(m) = opts.metrics {
        // Label the RTR and PPR this server sends, and the dictionaries' Result-Codes.
        builder = builder
            .metrics(m)
            .metrics_commands([
                <diameter::dict::sip_rfc4740::Rtr as diameter_core::Command>::CODE,
                <diameter::dict::sip_rfc4740::Ppr as diameter_core::Command>::CODE,
            ])
            .metrics_result_codes(
                diameter::dict::DICTIONARY
                    .result_codes
                    .iter()
                    .map(|r| r.value),
            );
    }
    let node = builder.build().await?;
    tracing::info!(addrs = ?node.local_addrs(), store = %crate::redact::store_url(&opts.store), "sip: serving");
    let sweep = tokio::spawn(sweep_sessions(server.clone()));
    Ok(SipHandle {
        node,
        server,
        sweep,
    })
}

/// Ends expired sessions every [`ServerConfig::session_sweep`].
async fn sweep_sessions(server: Arc<Server>) {
    let every = server
        .config()
        .session_sweep
        .max(std::time::Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = server.clone();
        let now = std::time::SystemTime::now();
        match tokio::task::spawn_blocking(move || s.expire_sessions(now)).await {
            Ok(Err(e)) => tracing::error!(error = %e, "sip: session expiry failed"),
            Err(e) => tracing::error!(error = %e, "sip: session expiry panicked"),
            Ok(Ok(_)) => {}
        }
    }
}

/// Runs the SIP AAA server until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), Error> {
    let handle = start(opts).await?;
    tokio::signal::ctrl_c().await?;
    handle.stop().await;
    Ok(())
}
