//! A Diameter node over tokio: listeners, one task per peer driving the sans-IO
//! [`crate::agent::PeerAgent`] (the peer's state machine, pending requests, back-pressure,
//! DPR drain), request handlers and a client side, around the node-wide sans-IO
//! [`crate::agent::Agent`] (routing across peers, duplicate detection, relaying and
//! failover). The protocol decisions are the agents'; this module reads, feeds them,
//! writes and sleeps until their deadline.
//!
//! Who may connect is [`NodeBuilder::accept_policy`]: by default peers on the loopback
//! interface only; an allow-list names the peers (each optionally tied to a source
//! network), and a CER claiming a peer the node dials is taken only from that peer's
//! address (or with a certificate naming it). A node forwards requests meant for other
//! hosts only when it is an agent ([`NodeBuilder::agent`], or routes); other nodes answer
//! them with 3002/3003.
//!
//! With the `tls` feature, [`NodeBuilder::tls`] and [`PeerConfig::tls`] run the node's
//! connections over TLS (RFC 6733 §13). [`NodeBuilder::metrics`] serves counters in
//! the OpenMetrics text format (Prometheus); [`Node::metrics_text`] renders them without a
//! listener. Their labels are bounded whatever peers send (see
//! [`NodeBuilder::metrics_commands`]).
//!
//! Bounds against hostile peers (all in [`NodeLimits`] and [`Limits`], see their
//! defaults): connection slots in all, per source address and reserved for configured
//! peers; a CER timeout; a message timeout against slow drips; a write queue bounded in
//! bytes and a write timeout, after which the connection is reset and freed; a cap on
//! AVPs per message and per repeated member (5009); answers above the maximum message
//! size replaced by 5012; a duplicate cache bounded in entries and bytes; and a DPR (ours
//! or the peer's) that lets answers in flight go out first, within a drain timeout.
//! [`Node::resource_usage`] shows what is held.
//!
//! Tracing: each peer task runs in a `peer` span (`host`); each received request is
//! handled in a `request` span and each sent request lives in a `request` span, both with
//! `hop_by_hop`, `end_to_end`, `application` and `command` fields (debug level).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use diameter_core::node::{Node, PeerConfig};
//! let server = Node::builder()
//!     .origin_host("server.example.net").origin_realm("example.net")
//!     .auth_application(4)
//!     .listen("127.0.0.1:0".parse()?)
//!     .handler(4, 272, |req| async move { req })
//!     .build().await?;
//! let client = Node::builder()
//!     .origin_host("client.example.net").origin_realm("example.net")
//!     .auth_application(4)
//!     .peer(PeerConfig::new("server.example.net", server.local_addrs()[0]))
//!     .build().await?;
//! client.wait_peer("server.example.net", std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod answer_buf;
mod builder;
mod dispatch;
mod handler;
mod held;
mod metrics;
mod peer_task;
mod shards;
mod slots;

pub use crate::agent::FailoverPolicy;
#[cfg(feature = "tls")]
pub use crate::transport::tls::TlsConfig;
pub use answer_buf::{AnswerBuf, Release};
pub use builder::NodeBuilder;
pub(crate) use dispatch::decode_limits;
pub use dispatch::request_peer;
pub use handler::{
    decode_routed, self_deduplicating, typed, Handler, HandlerFuture, Reply, ReplyFuture, Routed,
};
pub use held::{polling_held_releases, release_from_here};
/// Certificate and key types of [`TlsConfig`] (from rustls).
#[cfg(feature = "tls")]
pub use rustls::pki_types;
pub use shards::on_io_thread;

use crate::agent::{Agent, NodeAction, RouteError};
use crate::base::DisconnectCause;
use crate::error::DecodeError;
use crate::fields::result_code;
use crate::header::CommandFlags;
use crate::ids::{EndToEndIds, SessionIds};
use crate::message::{Limits, RawMessage};
use crate::peer::{AcceptPolicy, Capabilities, DownReason, PeerSettings};
use crate::traits::Command;
use peer_task::{PeerCmd, PeerHandle, Responder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

/// A peer this node connects to.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerConfig {
    /// The peer's Origin-Host.
    pub host: String,
    /// Where to connect (IPv4 or IPv6).
    pub addr: SocketAddr,
    /// Timers and reconnect policy.
    pub settings: PeerSettings,
    /// TLS for connections to this peer, in place of the node's [`NodeBuilder::tls`].
    #[cfg(feature = "tls")]
    pub tls: Option<TlsConfig>,
    /// Connect to this peer over plain TCP even when the node has TLS.
    #[cfg(feature = "tls")]
    pub plain: bool,
}

impl PeerConfig {
    /// A peer at `addr` with default settings.
    pub fn new(host: impl Into<String>, addr: SocketAddr) -> Self {
        PeerConfig {
            host: host.into(),
            addr,
            settings: PeerSettings::default(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            plain: false,
        }
    }

    /// Connects to this peer over plain TCP, even when the node has TLS.
    #[cfg(feature = "tls")]
    pub fn plain(mut self) -> Self {
        self.plain = true;
        self.tls = None;
        self
    }

    /// Connects to this peer over TLS with these certificates (the node's own TLS
    /// configuration applies otherwise). The server certificate is verified against
    /// `host`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// With these settings (`initiate` is forced on).
    pub fn settings(mut self, settings: PeerSettings) -> Self {
        self.settings = settings;
        self
    }
}

/// Things that happen to a node, for applications that want to know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A peer completed its capabilities exchange.
    PeerUp {
        /// Its Origin-Host.
        host: String,
    },
    /// The watchdog suspects a peer.
    PeerSuspect {
        /// Its Origin-Host.
        host: String,
    },
    /// A peer is no longer open.
    PeerDown {
        /// Its Origin-Host.
        host: String,
        /// Why.
        reason: DownReason,
    },
    /// A pending request was re-sent to another peer (or failed, under
    /// [`FailoverPolicy::FailFast`]).
    Failover {
        /// The peer that failed.
        from: String,
        /// The request's End-to-End id.
        end_to_end: u32,
    },
}

/// Why a request got no answer.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No answer in time.
    #[error("request timed out")]
    Timeout,
    /// No open peer can take the request: 3002 (no peer up) or 3003 (realm not served).
    #[error("no route for the request (result code {0})")]
    NoRoute(u32),
    /// The peer failed while the request was pending (and failover did not apply).
    #[error("peer {0} failed with the request pending")]
    PeerFailed(String),
    /// The peer has too many requests pending (3004).
    #[error("too many pending requests")]
    TooBusy,
    /// The answer carries a protocol error (E bit); the answer is included.
    #[error("protocol error {result_code} in answer")]
    Protocol {
        /// The Result-Code.
        result_code: u32,
        /// The answer.
        answer: Box<RawMessage>,
    },
    /// The answer did not decode as the expected command.
    #[error("answer does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The node is shutting down.
    #[error("node stopped")]
    Stopped,
}

/// Limits and timers of a node: what a hostile or broken peer can cost it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeLimits {
    /// Message size, nesting and AVP count limits (see [`Limits`] for their defaults).
    pub limits: Limits,
    /// Requests in flight per peer, each way; beyond it inbound requests get 3004 and
    /// outbound ones [`RequestError::TooBusy`]. Default 1024.
    pub max_pending_per_peer: usize,
    /// Accepted connections open at once, counting those still before their CER;
    /// further ones are closed at once. Default 256.
    pub max_inbound_connections: usize,
    /// Of [`NodeLimits::max_inbound_connections`], the slots only connections from the
    /// address of a configured peer (or a [`NodeBuilder::reserved_source`]) may take, so
    /// that a flood of unknown connections cannot lock configured peers out. Default 16.
    pub reserved_connections: usize,
    /// Accepted connections open at once from one source IP address. Default 16.
    pub max_connections_per_ip: usize,
    /// Bytes queued for writing per connection. A peer that does not read fills it; the
    /// connection is then closed at once (socket reset, queue freed, peer marked down).
    /// A single message always fits an empty queue; the default holds four messages of
    /// the default maximum size. Answers held until their release
    /// ([`AnswerBuf::hold_until`]) count against it too. Default 4 MiB.
    pub write_queue_bytes: usize,
    /// A write that makes no progress for this long closes the connection the same way.
    /// Default 10 s.
    pub write_timeout: Duration,
    /// TCP_USER_TIMEOUT on every connection (Linux): data sent and not acknowledged for
    /// this long resets the connection in the kernel. Zero leaves the system default.
    /// Default 30 s.
    pub tcp_user_timeout: Duration,
    /// TCP keepalive idle time on every connection (probes follow every third of it);
    /// `None` turns keepalive off. Default 60 s.
    pub tcp_keepalive: Option<Duration>,
    /// Time an accepted connection has to complete TLS and send its CER; also the time
    /// to connect to a configured peer. Default 5 s.
    pub cer_timeout: Duration,
    /// A message whose first bytes arrived this long ago and that is still incomplete
    /// closes the connection (a peer dripping bytes holds nothing for long). Default 30 s.
    pub message_timeout: Duration,
    /// Default time a request waits for its answer. Default 10 s.
    pub request_timeout: Duration,
    /// After a DPR from a peer (or [`Node::stop`] / [`Node::stop_peer`] here), how long
    /// answers to its requests still being handled may take before the DPA (or our DPR)
    /// goes out and the connection closes. Meanwhile new requests from that peer get
    /// 3004 DIAMETER_TOO_BUSY and no request is routed to it. Default 4 s (below the 5 s
    /// DPA timeout of [`PeerSettings`]).
    pub dpr_drain_timeout: Duration,
    /// Answers kept for duplicate detection, and for how long. Default 4096, 60 s.
    pub duplicate_cache: (usize, Duration),
    /// Bytes of answers (and their keys) the duplicate cache keeps at most; an answer
    /// larger than this is not cached. Default 16 MiB.
    pub duplicate_cache_bytes: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            limits: Limits::default(),
            max_pending_per_peer: 1024,
            max_inbound_connections: 256,
            reserved_connections: 16,
            max_connections_per_ip: 16,
            write_queue_bytes: 4 << 20,
            write_timeout: Duration::from_secs(10),
            tcp_user_timeout: Duration::from_secs(30),
            tcp_keepalive: Some(Duration::from_secs(60)),
            cer_timeout: Duration::from_secs(5),
            message_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            dpr_drain_timeout: Duration::from_secs(4),
            duplicate_cache: (4096, Duration::from_secs(60)),
            duplicate_cache_bytes: 16 << 20,
        }
    }
}

/// What a node holds right now, for monitoring and tests ([`Node::resource_usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// Bytes queued for writing on all connections and not yet written.
    pub queued_write_bytes: usize,
    /// Accepted connections holding a slot (their reader or writer still runs).
    pub inbound_connections: usize,
    /// Answers in the duplicate cache.
    pub duplicate_cache_entries: usize,
    /// Bytes the duplicate cache accounts for.
    pub duplicate_cache_bytes: usize,
}

pub(crate) struct Inner {
    pub(crate) caps: Arc<Capabilities>,
    pub(crate) limits: NodeLimits,
    pub(crate) accept: AcceptPolicy,
    pub(crate) responder_settings: PeerSettings,
    pub(crate) handlers: handler::HandlerTable,
    /// The peer tasks, by lowercase Origin-Host (for commands; routing reads the agent).
    pub(crate) peers: RwLock<crate::fast_map::FastMap<String, PeerHandle>>,
    /// The node-wide protocol logic: routing across peers, duplicates, failover.
    pub(crate) agent: Mutex<Agent<PeerHandle, Responder>>,
    /// The agent's configuration: its routing decision needs no lock.
    pub(crate) agent_config: Arc<crate::agent::AgentConfig>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) next_conn: AtomicU64,
    e2e: Mutex<EndToEndIds>,
    sessions: Mutex<SessionIds>,
    local_addrs: Vec<SocketAddr>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    metrics_addr: Option<SocketAddr>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::transport::tls::TlsSetup>,
    pub(crate) tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Bytes queued for writing on every connection.
    pub(crate) queued_bytes: Arc<AtomicUsize>,
    /// Inbound connection slots.
    pub(crate) slots: Arc<slots::ConnSlots>,
    /// The threads connections run on ([`NodeBuilder::io_threads`]); none: the runtime
    /// that built the node.
    pub(crate) shards: Option<shards::Shards>,
}

/// A running Diameter node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<Inner>,
}

impl Inner {
    pub(crate) fn conn_options(
        &self,
        identity: Option<crate::transport::IdentityCheck>,
    ) -> crate::transport::ConnOptions {
        crate::transport::ConnOptions {
            limits: self.limits.limits,
            local: self.caps.clone(),
            queue_bytes: self.limits.write_queue_bytes,
            queued_total: self.queued_bytes.clone(),
            write_timeout: self.limits.write_timeout,
            message_timeout: self.limits.message_timeout,
            identity,
            // The requests that typed handlers decode in full, or, on an agent, every
            // application request (its routing walk checks it): one walk, framing skips them.
            header_only: crate::transport::HeaderOnly {
                requests: self.agent_config.checks_when_routing(),
                listed: self.agent_config.header_only.as_slice().into(),
            },
        }
    }

    pub(crate) fn socket_options(&self) -> crate::transport::SocketOptions {
        crate::transport::SocketOptions {
            user_timeout: self.limits.tcp_user_timeout,
            keepalive: self.limits.tcp_keepalive,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Node {
    /// Starts building a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// The addresses the listeners are bound to (with the real ports when 0 was asked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner.local_addrs.clone()
    }

    /// The capabilities this node advertises.
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.caps
    }

    /// The address of the metrics endpoint, when [`NodeBuilder::metrics`] was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr
    }

    /// The node's metrics in the OpenMetrics text format (what the metrics endpoint
    /// serves).
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.render()
    }

    /// What the node holds right now: queued write bytes, connection slots, duplicate
    /// cache size.
    pub fn resource_usage(&self) -> ResourceUsage {
        let (entries, bytes) = {
            let agent = lock(&self.inner.agent);
            let cache = agent.duplicate_cache();
            (cache.len(), cache.bytes())
        };
        ResourceUsage {
            queued_write_bytes: self.inner.queued_bytes.load(Ordering::Acquire),
            inbound_connections: self.inner.slots.in_use(),
            duplicate_cache_entries: entries,
            duplicate_cache_bytes: bytes,
        }
    }

    /// Node events (peer up/down, failover).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// A new Session-Id (RFC 6733 §8.8).
    pub fn new_session_id(&self) -> String {
        lock(&self.inner.sessions).next(None)
    }

    /// A new End-to-End id.
    pub fn next_end_to_end(&self) -> u32 {
        lock(&self.inner.e2e).next()
    }

    /// The Origin-Hosts of the peers in the node's table (lowercase): configured peers,
    /// and peers that connected to us while their connection lasts.
    pub fn peers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .peers
            .read()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether the peer with this Origin-Host is open and its watchdog OKAY.
    pub fn is_peer_available(&self, host: &str) -> bool {
        self.peer(host).is_some_and(|p| p.status.available())
    }

    /// Waits until the peer is available, at most `limit`; returns whether it is.
    pub async fn wait_peer(&self, host: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.is_peer_available(host) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.is_peer_available(host)
    }

    /// Sends DPR with `cause` to every peer and stops reconnecting.
    pub async fn stop(&self, cause: DisconnectCause) {
        let peers: Vec<PeerHandle> = self
            .inner
            .peers
            .read()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        for p in peers {
            let _ = p.tx.send(PeerCmd::Stop(cause)).await;
        }
    }

    /// Sends DPR with `cause` to one peer.
    pub async fn stop_peer(&self, host: &str, cause: DisconnectCause) {
        if let Some(p) = self.peer(host) {
            let _ = p.tx.send(PeerCmd::Stop(cause)).await;
        }
    }

    /// Stops every task of the node at once, without DPR, as a crash would: listeners
    /// close and peers see their connections drop. For tests and emergency stops.
    pub fn abort(&self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        if let Some(s) = &self.inner.shards {
            s.stop();
        }
        let hosts: Vec<String> = match self.inner.peers.write() {
            Ok(mut peers) => peers.drain().map(|(h, _)| h).collect(),
            Err(_) => Vec::new(),
        };
        self.with_agent(|a| {
            for h in hosts {
                a.input(crate::agent::PeerChange::PeerDown(h));
            }
        });
    }

    pub(crate) fn track(&self, task: tokio::task::AbortHandle) {
        lock(&self.inner.tasks).push(task);
    }

    /// Spawns a connection's or a peer's task: on the node's I/O threads when it has them
    /// (the caller's own when it is one), else on the current runtime.
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner.shards {
            Some(s) => s.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    pub(crate) fn peer(&self, host: &str) -> Option<PeerHandle> {
        self.inner
            .peers
            .read()
            .ok()?
            .get(&host.to_ascii_lowercase())
            .cloned()
    }

    /// Sends a request and waits for its answer, with the node's request timeout.
    ///
    /// The peer is chosen by Destination-Host (if it is a peer), else by the routing table
    /// entry for Destination-Realm and Application-Id, else among open peers of that
    /// realm supporting the application. An End-to-End id of 0 is replaced by a fresh one.
    /// If the peer fails with the request pending, it is re-sent with the T flag to
    /// another peer (see [`FailoverPolicy`]).
    pub async fn request(&self, msg: RawMessage) -> Result<RawMessage, RequestError> {
        self.request_with_timeout(msg, self.inner.limits.request_timeout)
            .await
    }

    /// [`Node::request`] with an explicit timeout.
    ///
    /// The agent of the peer the request is sent to ends it at its deadline with
    /// [`RequestError::Timeout`], as it does every pending request; so no timer of its own
    /// is armed per request (one cost less per request). If that peer stopped reporting
    /// altogether, the node agent's tick ends the request at most a second late.
    pub async fn request_with_timeout(
        &self,
        mut msg: RawMessage,
        timeout: Duration,
    ) -> Result<RawMessage, RequestError> {
        msg.header.flags |= CommandFlags::REQUEST;
        if msg.header.end_to_end == 0 {
            msg.header.end_to_end = self.next_end_to_end();
        }
        let span = tracing::debug_span!(
            "request",
            application = msg.header.application_id,
            command = msg.header.command_code,
            end_to_end = msg.header.end_to_end,
            hop_by_hop = tracing::field::Empty,
        );
        let deadline = Instant::now() + timeout;
        let (tx, rx) = oneshot::channel();
        tracing::Instrument::instrument(
            async move {
                self.with_agent(|a| {
                    a.request(
                        Instant::now().into_std(),
                        msg,
                        deadline.into_std(),
                        Responder::App(tx),
                    )
                });
                match rx.await {
                    Err(_) => Err(RequestError::Stopped),
                    Ok(r) => r,
                }
            },
            span,
        )
        .await
    }

    /// Sends a typed request under `application_id` and decodes the typed answer.
    /// An answer with the E bit is returned as [`RequestError::Protocol`].
    pub async fn send<Req: Command, Ans: Command>(
        &self,
        req: &Req,
        application_id: u32,
    ) -> Result<Ans, RequestError> {
        self.send_with(req, application_id, SendOptions::default())
            .await
    }

    /// [`Node::send`] with per-request [`SendOptions`] (e.g. the T flag on a request
    /// resent from storage or after an application-level failover).
    pub async fn send_with<Req: Command, Ans: Command>(
        &self,
        req: &Req,
        application_id: u32,
        options: SendOptions,
    ) -> Result<Ans, RequestError> {
        let mut msg = req.to_message(application_id, 0, self.next_end_to_end());
        if options.retransmit {
            msg.header.flags |= CommandFlags::RETRANSMIT;
        }
        let answer = self.request(msg).await?;
        if answer.header.is_error() {
            let result_code = result_code(&answer).unwrap_or(0);
            return Err(RequestError::Protocol {
                result_code,
                answer: Box::new(answer),
            });
        }
        Ok(Ans::decode_with(&answer, &self.inner.limits.limits)?)
    }

    /// Runs `f` on the node agent, then performs the actions it queued (with the lock
    /// released).
    pub(crate) fn with_agent<R>(
        &self,
        f: impl FnOnce(&mut Agent<PeerHandle, Responder>) -> R,
    ) -> R {
        // Most calls queue at most one action: it is taken without a `Vec` (no
        // allocation); the rest, if any, are collected.
        let (r, first, rest) = {
            let mut agent = lock(&self.inner.agent);
            let r = f(&mut agent);
            let first = agent.poll_action();
            let rest: Vec<_> = match first {
                Some(_) => std::iter::from_fn(|| agent.poll_action()).collect(),
                None => Vec::new(),
            };
            (r, first, rest)
        };
        for a in first.into_iter().chain(rest) {
            self.perform(a);
        }
        r
    }

    /// Performs one action of the node agent.
    fn perform(&self, action: NodeAction<PeerHandle, Responder>) {
        match action {
            NodeAction::Send {
                peer,
                id,
                msg,
                deadline,
            } => {
                let cmd = PeerCmd::Request {
                    msg,
                    id,
                    deadline: Instant::from_std(deadline),
                    span: peer_task::request_span(),
                };
                if peer.tx.try_send(cmd).is_err() {
                    // The peer task's queue is full (or it is gone): the next peer.
                    let now = Instant::now().into_std();
                    self.with_agent(|a| {
                        a.peer_result(now, id, Err(crate::agent::Failure::TooBusy))
                    });
                }
            }
            NodeAction::Reply(to, answer) => to.reply(self, answer),
            NodeAction::Answered(to, result) => to.answered(result.map_err(|e| match e {
                RouteError::NoRoute(code) => RequestError::NoRoute(code),
                RouteError::TooBusy => RequestError::TooBusy,
                RouteError::Timeout => RequestError::Timeout,
                RouteError::PeerFailed(host) => RequestError::PeerFailed(host),
            })),
            NodeAction::Failover { from, end_to_end } => {
                let _ = self
                    .inner
                    .events
                    .send(NodeEvent::Failover { from, end_to_end });
            }
        }
    }
}

/// How often at most the node agent's timer sleeps: its deadlines are a bound for
/// requests whose peer never reports (the peer's own agent times them out first), so
/// they are checked at this granularity rather than re-armed on every request.
const AGENT_TICK: Duration = Duration::from_secs(1);

/// Drives the node agent's clock: requests routed to peers whose peer never reported
/// end at their deadline (at most [`AGENT_TICK`] late).
pub(crate) async fn agent_timer(node: std::sync::Weak<Inner>) {
    loop {
        let wake = {
            let Some(inner) = node.upgrade() else {
                return;
            };
            let tick = Instant::now() + AGENT_TICK;
            let next = lock(&inner.agent).poll_timeout().map(Instant::from_std);
            next.map_or(tick, |t| t.min(tick))
        };
        tokio::time::sleep_until(wake).await;
        let Some(inner) = node.upgrade() else {
            return;
        };
        let now = Instant::now().into_std();
        Node { inner }.with_agent(|a| a.handle_timeout(now));
    }
}

/// Per-request options of [`Node::send_with`]; `SendOptions::default()` is what
/// [`Node::send`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Set the T flag (RFC 6733 §3): the request may have been received before, e.g. an
    /// accounting record delivered from storage or resent to a secondary server
    /// (default false).
    pub retransmit: bool,
}

impl SendOptions {
    /// Options with the T flag set.
    pub fn retransmission() -> Self {
        SendOptions { retransmit: true }
    }
}

/// What the peer task publishes about its peer.
#[derive(Debug)]
pub(crate) struct PeerStatus {
    pub(crate) host: String,
    available: std::sync::atomic::AtomicBool,
}

impl PeerStatus {
    pub(crate) fn new(host: String) -> Self {
        PeerStatus {
            host,
            available: Default::default(),
        }
    }
    pub(crate) fn available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }
    pub(crate) fn set_available(&self, v: bool) {
        self.available.store(v, Ordering::Release);
    }
}
