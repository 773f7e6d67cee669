//! Running the accounting server (a Charging Data Function) on the transport of
//! `diameter-core` (`diameter serve acct`).
//!
//! [`start`] opens the record store, starts a [`Node`] that advertises
//! Acct-Application-Id 3 and answers each ACR: sequence checks by an [`AcctServer`], then
//! the record is committed (grouped with concurrent ones, [`GroupCommit`]) before the ACA
//! is sent; a session that closes is written as one JSON line to the records sink. With
//! [`ServeOptions::stateless`] nothing is checked or stored (a baseline for benchmarks).

use super::server::{AcctServer, ServerConfig, Verdict};
use super::store::{self as records, GroupCommit, Stored, DEFAULT_MAX_GROUP};
use diameter::dict::base_rfc6733::{result_code as rc, Aca, Acr};
use diameter_core::node::{typed, Handler, HandlerFuture, Node, PeerConfig, TlsConfig};
use diameter_core::peer::AcceptPolicy;
use diameter_core::{Command, RawMessage};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use super::APPLICATION_ID;

/// Where merged charging records go, one JSON object per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordsSink {
    /// Nowhere (only the store).
    None,
    /// Standard output.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
}

/// Settings of [`start`]; `ServeOptions::default()` gives the documented defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Where to listen (default `0.0.0.0:3868`).
    pub listen: SocketAddr,
    /// Threads serving connections, each a single-threaded runtime (default 0: the
    /// runtime that starts the server; see `NodeBuilder::io_threads`).
    pub io_threads: usize,
    /// Origin-Host (default `cdf.localdomain`).
    pub origin_host: String,
    /// Origin-Realm (default `localdomain`).
    pub origin_realm: String,
    /// Store URL: `sqlite://PATH` (default `sqlite://./acct.db`, created on first start)
    /// or `postgresql://…` (several nodes on one database).
    pub store: String,
    /// Where closed sessions' charging records are written (default none).
    pub records: RecordsSink,
    /// Peers to connect to.
    pub peers: Vec<PeerConfig>,
    /// Who may connect (default: loopback only).
    pub accept: AcceptPolicy,
    /// TLS for every connection (default none).
    pub tls: Option<TlsConfig>,
    /// Serve Prometheus metrics here (default none).
    pub metrics: Option<SocketAddr>,
    /// Checks and answers (Acct-Interim-Interval, realtime mode, duplicate memory); its
    /// identity fields are replaced by `origin_host` / `origin_realm`.
    pub server: Option<ServerConfig>,
    /// Most ACRs committed in one transaction (default 256).
    pub max_group: usize,
    /// Answer every ACR with success and store nothing (a benchmark baseline; default false).
    pub stateless: bool,
    /// At start, how many bytes at the end of the records file are searched for lines
    /// written before a crash but not marked written (default 8 MiB; see
    /// [`super::export`]).
    pub records_recheck_bytes: u64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 3868)),
            io_threads: 0,
            origin_host: "cdf.localdomain".into(),
            origin_realm: "localdomain".into(),
            store: "sqlite://./acct.db".into(),
            records: RecordsSink::None,
            peers: Vec::new(),
            accept: AcceptPolicy::default(),
            tls: None,
            metrics: None,
            server: None,
            max_group: DEFAULT_MAX_GROUP,
            stateless: false,
            records_recheck_bytes: super::export::DEFAULT_RECHECK_BYTES,
        }
    }
}

/// Errors of [`start`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed to open.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// Writing the records left unwritten by a crash failed.
    #[error(transparent)]
    Export(#[from] super::export::ExportError),
    /// The store URL is not supported.
    #[error("unsupported store URL {0} (use sqlite://FILE or postgresql://…)")]
    StoreUrl(String),
    /// Binding or running the node failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running accounting server.
pub struct AcctHandle {
    /// The Diameter node.
    pub node: Node,
    retransmissions: Arc<AtomicU64>,
}

impl AcctHandle {
    /// The addresses the node listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.node.local_addrs()
    }

    /// How many ACRs arrived with the T flag (retransmissions: failover or storage).
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions.load(Ordering::Relaxed)
    }

    /// Stops the node.
    pub async fn stop(self) {
        self.node
            .stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
    }
}

struct Cdf {
    checks: Mutex<AcctServer>,
    store: Option<GroupCommit>,
    sink: Mutex<Option<Box<dyn Write + Send>>>,
}

impl Cdf {
    fn handle(&self, acr: &Acr, now_ms: i64) -> Aca {
        let lock = || self.checks.lock().unwrap_or_else(|e| e.into_inner());
        let Some(store) = &self.store else {
            return lock().answer(acr, rc::DIAMETER_SUCCESS, None);
        };
        // The verdict is taken first: a guard held across the match would deadlock below.
        let verdict = lock().check(acr);
        match verdict {
            Verdict::Accept | Verdict::Duplicate => {}
            Verdict::Reject {
                result_code,
                avp_code,
            } => return lock().answer(acr, result_code, Some(avp_code)),
        }
        match store.apply(acr.clone(), now_ms) {
            Ok(Stored::New(Some(record))) => {
                let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
                let written = match sink.as_mut() {
                    Some(w) => {
                        let line = super::export::line(&record);
                        w.write_all(line.as_bytes()).and_then(|_| w.flush())
                    }
                    None => Ok(()),
                };
                drop(sink);
                match written {
                    // Marked after the line reached the file: a crash before the mark
                    // writes it again, once, at the next start (`export::recover`).
                    Ok(()) => store.mark_exported(&record.session_id),
                    Err(e) => tracing::warn!(error = %e, "acct: cannot write a charging record"),
                }
                lock().answer(acr, rc::DIAMETER_SUCCESS, None)
            }
            Ok(_) => lock().answer(acr, rc::DIAMETER_SUCCESS, None),
            Err(e) => {
                tracing::warn!(error = %e, "acct: record not stored");
                let mut checks = lock();
                checks.forget(acr);
                checks.answer(acr, rc::DIAMETER_OUT_OF_SPACE, None)
            }
        }
    }
}

/// A handler that counts requests with the T flag, then runs `inner`.
struct CountRetransmissions<H> {
    inner: H,
    count: Arc<AtomicU64>,
}

impl<H: Handler> Handler for CountRetransmissions<H> {
    fn decodes_request(&self) -> bool {
        self.inner.decodes_request()
    }

    fn call(&self, request: RawMessage) -> HandlerFuture {
        if request.header.is_retransmit() {
            self.count.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                end_to_end = request.header.end_to_end,
                "acct: ACR with the T flag"
            );
        }
        self.inner.call(request)
    }

    /// Only first transmissions come here (a retransmission is the node agent's to route).
    fn call_routed(
        &self,
        request: RawMessage,
        local: &diameter_core::routing::LocalNode<'_>,
        out: &mut diameter_core::node::AnswerBuf<'_>,
    ) -> diameter_core::node::Routed {
        self.inner.call_routed(request, local, out)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts the accounting server and returns at once (see the module docs).
pub async fn start(opts: ServeOptions) -> Result<AcctHandle, Error> {
    let store = if opts.stateless {
        None
    } else {
        let url = opts.store.clone();
        if !url.starts_with("sqlite://") && !records::is_postgres_url(&url) {
            return Err(Error::StoreUrl(crate::redact::store_url(&url)));
        }
        let max_group = opts.max_group;
        let node = opts.origin_host.clone();
        let sink = opts.records.clone();
        let recheck = opts.records_recheck_bytes;
        let store = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let mut store = records::open_url(&url, &node)?;
            let n = super::export::recover(&mut store, &sink, recheck)?;
            if n > 0 {
                tracing::warn!(
                    records = n,
                    "acct: wrote the charging records a crash left unwritten"
                );
            }
            Ok(store)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        Some(GroupCommit::new(store, max_group))
    };
    let sink: Option<Box<dyn Write + Send>> = match &opts.records {
        RecordsSink::None => None,
        RecordsSink::Stdout => Some(Box::new(std::io::stdout())),
        RecordsSink::File(p) => Some(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        )),
    };
    let mut cfg = opts
        .server
        .clone()
        .unwrap_or_else(|| ServerConfig::new(&opts.origin_host, &opts.origin_realm));
    cfg.origin_host = opts.origin_host.clone();
    cfg.origin_realm = opts.origin_realm.clone();
    let cdf = Arc::new(Cdf {
        checks: Mutex::new(AcctServer::new(cfg)),
        store,
        sink: Mutex::new(sink),
    });
    let handler = cdf.clone();
    let retransmissions = Arc::new(AtomicU64::new(0));
    let acr_handler = CountRetransmissions {
        count: retransmissions.clone(),
        inner: typed(move |acr: Acr| {
            let cdf = handler.clone();
            async move {
                let fallback = cdf.checks.lock().unwrap_or_else(|e| e.into_inner()).answer(
                    &acr,
                    rc::DIAMETER_UNABLE_TO_COMPLY,
                    None,
                );
                tokio::task::spawn_blocking(move || cdf.handle(&acr, now_ms()))
                    .await
                    .unwrap_or(fallback)
            }
        }),
    };
    let mut builder = Node::builder()
        .origin_host(opts.origin_host.clone())
        .origin_realm(opts.origin_realm.clone())
        .product_name("diameter-rs cdf")
        .acct_application(APPLICATION_ID)
        .listen(opts.listen)
        .io_threads(opts.io_threads)
        .handler(Acr::APPLICATION_ID, Acr::CODE, acr_handler);
    for peer in opts.peers {
        builder = builder.peer(peer);
    }
    builder = builder.accept_policy(opts.accept);
    if let Some(tls) = opts.tls {
        builder = builder.tls(tls);
    }
    if let Some(m) = opts.metrics {
        builder = builder.metrics(m);
    }
    let node = builder.build().await?;
    tracing::info!(addrs = ?node.local_addrs(), store = %crate::redact::store_url(&opts.store), "acct: serving");
    Ok(AcctHandle {
        node,
        retransmissions,
    })
}
