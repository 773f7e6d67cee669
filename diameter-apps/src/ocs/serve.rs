//! Running the OCS on the transport of `diameter-core` (`diameter serve ocs`).
//!
//! [`serve`] opens the store, loads the accounts and tariffs, starts a
//! [`diameter_core::node::Node`] that answers CCRs (Application-Id 4, command 272) with a
//! [`ChargingServer`], runs the Tcc sweep, and returns when the process gets Ctrl-C.
//! [`start`] does the same and hands back an [`OcsHandle`] instead (tests, the CLI's
//! operator actions: [`OcsHandle::re_auth`] sends a RAR, [`OcsHandle::abort`] an ASR).
//!
//! Store calls are blocking and run on tokio's blocking pool.

use super::rating::{RatingConfigError, Tariffs};
use super::server::{ChargingServer, ServerConfig, CREDIT_CONTROL_APPLICATION_ID};
use super::store::{self, StoreError};
use diameter::dict::base_rfc6733::{result_code as base_rc, Asa, Raa};
use diameter::dict::dcca_rfc4006::{Cca, Ccr};
use diameter_core::node::{Node, PeerConfig, RequestError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Settings of [`serve`]; `ServeOptions::default()` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen (default `0.0.0.0:3868`).
    pub listen: SocketAddr,
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
    /// Tcc session supervision (default 3600 s).
    pub tcc: Duration,
    /// Validity-Time of grants (default 1800 s).
    pub validity_time: u32,
    /// Peers to connect to (clients that expect the OCS to connect, or relays).
    pub peers: Vec<PeerConfig>,
    /// Serve the node's Prometheus metrics over HTTP here (default none; see
    /// [`diameter_core::node::NodeBuilder::metrics`]).
    pub metrics: Option<SocketAddr>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 3868)),
            origin_host: "ocs.localdomain".into(),
            origin_realm: "localdomain".into(),
            store: "sqlite://./ocs.db".into(),
            accounts: None,
            tariffs_file: None,
            tariffs: Tariffs::default(),
            auto_provision: None,
            tcc: Duration::from_secs(3600),
            validity_time: 1800,
            peers: Vec::new(),
            metrics: None,
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
    sweeper: tokio::task::JoinHandle<()>,
}

impl OcsHandle {
    /// The addresses the node listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.node.local_addrs()
    }

    /// Operator action: sends a RAR (AUTHORIZE_ONLY) for a session and returns the RAA; the
    /// client then sends a CCR-U.
    pub async fn re_auth(&self, session_id: &str) -> Result<Raa, Error> {
        let rar = self
            .server
            .re_auth_request(session_id)
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
        self.sweeper.abort();
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
    let store = blocking(move || {
        let store = store::open(&url)?;
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
    config.tcc = opts.tcc;
    config.validity_time = opts.validity_time;
    let server = Arc::new(ChargingServer::new(store, tariffs, config));

    let handler_server = server.clone();
    let mut builder = Node::builder()
        .origin_host(opts.origin_host.clone())
        .origin_realm(opts.origin_realm.clone())
        .product_name("diameter-rs ocs")
        .auth_application(CREDIT_CONTROL_APPLICATION_ID)
        .listen(opts.listen)
        .typed_handler(move |ccr: Ccr| {
            let server = handler_server.clone();
            async move { answer(server, ccr).await }
        });
    for peer in opts.peers {
        builder = builder.peer(peer);
    }
    if let Some(m) = opts.metrics {
        // Label the dictionaries' Result-Codes (4012 CREDIT_LIMIT_REACHED, ...).
        builder = builder.metrics(m).metrics_result_codes(
            diameter::dict::DICTIONARY
                .result_codes
                .iter()
                .map(|r| r.value),
        );
    }
    let node = builder.build().await?;
    let sweeper = tokio::spawn(sweep(server.clone(), opts.tcc));
    tracing::info!(addrs = ?node.local_addrs(), store = %opts.store, "ocs: serving");
    Ok(OcsHandle {
        node,
        server,
        sweeper,
    })
}

/// Runs the OCS until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), Error> {
    let handle = start(opts).await?;
    tokio::signal::ctrl_c().await?;
    handle.stop().await;
    Ok(())
}

async fn answer(server: Arc<ChargingServer>, ccr: Ccr) -> Cca {
    let fallback = Cca {
        session_id: ccr.session_id.clone(),
        result_code: base_rc::DIAMETER_UNABLE_TO_COMPLY,
        origin_host: server.config().origin_host.as_str().into(),
        origin_realm: server.config().origin_realm.as_str().into(),
        auth_application_id: CREDIT_CONTROL_APPLICATION_ID,
        cc_request_type: ccr.cc_request_type,
        cc_request_number: ccr.cc_request_number,
        ..Default::default()
    };
    tokio::task::spawn_blocking(move || server.handle_ccr(ccr, SystemTime::now()))
        .await
        .unwrap_or(fallback)
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
