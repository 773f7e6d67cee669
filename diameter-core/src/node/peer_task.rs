//! One task per peer: pumps the sans-IO [`PeerAgent`] (the peer's state machine, its
//! pending requests, back-pressure and DPR drain) over the peer's connections, and hands
//! the requests it delivers to the dispatcher. Protocol decisions are the agent's; this
//! file reads, feeds, writes and sleeps until the agent's deadline.

use super::answer_buf::{copy_message, take_message};
use super::dispatch::{self, Later, Routing, Started};
use super::held::{Flushed, HeldBursts, Left, Outgoing};
use super::metrics::Direction;
use super::{Node, NodeEvent, PeerStatus, RequestError};
use crate::agent::{
    Action, AgentLimits, Event, Failure, InFlightKey, Inbound, Notice, PeerAgent, PeerChange,
    RequestId,
};
use crate::base::DisconnectCause;
use crate::header::HEADER_LEN;
use crate::message::RawMessage;
use crate::peer::{Capabilities, ConnId, Peer, PeerEvent, PeerSettings};
use crate::routing::Decision;
use crate::transport::{self, ConnEvent, ConnHandle};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Where the node agent hands an outcome over.
pub(crate) enum Responder {
    /// A request of the application ([`Node::request`]) waits on this channel.
    App(oneshot::Sender<Result<RawMessage, RequestError>>),
    /// A request received from a peer (relayed, or a retransmission that waited): its
    /// answer goes back to that peer's task, with no task or channel of its own.
    Peer {
        /// The task of the peer it came from (told even if this is dropped unanswered).
        origin: Unanswered,
        /// When it was received.
        received: Instant,
        /// Its Command-Code, for the metrics.
        command: u32,
    },
}

impl Responder {
    /// The answer to a request received from a peer goes back to it.
    pub(crate) fn reply(self, node: &Node, answer: RawMessage) {
        match self {
            Responder::App(tx) => {
                let _ = tx.send(Ok(answer));
            }
            Responder::Peer {
                origin,
                received,
                command,
            } => {
                answer_metrics(node, command, &answer, received);
                origin.answer(answer);
            }
        }
    }

    /// The outcome of a request of the application.
    pub(crate) fn answered(self, result: Result<RawMessage, RequestError>) {
        if let Responder::App(tx) = self {
            let _ = tx.send(result);
        }
    }
}

/// The sender's span for a request this task sends: it gives the task's debug and trace
/// events about the request their context. Capturing it costs a registry look-up and a
/// reference count per request, so it is taken only when those events are on.
pub(super) fn request_span() -> tracing::Span {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::Span::current()
    } else {
        tracing::Span::none()
    }
}

/// Counts an answer to a request received at `received`.
fn answer_metrics(node: &Node, command: u32, answer: &RawMessage, received: Instant) {
    answer_metrics_at(node, command, answer, received, Instant::now());
}

/// Counts an answer to a request received at `received`, sent at `now`.
fn answer_metrics_at(
    node: &Node,
    command: u32,
    answer: &RawMessage,
    received: Instant,
    now: Instant,
) {
    let code = crate::fields::result_code(answer);
    code_metrics_at(node, command, code, received, now);
}

/// Counts an answer with Result-Code `code` to a request received at `received`, sent at
/// `now`.
fn code_metrics_at(node: &Node, command: u32, code: Option<u32>, received: Instant, now: Instant) {
    tracing::trace!(result_code = code, "answered");
    let elapsed = Some(now.saturating_duration_since(received));
    node.inner
        .metrics
        .answer(Direction::In, command, code, elapsed);
}

/// A request its handler answered at once, waiting for the end of the burst: the node
/// agent then takes every such answer under one lock.
struct AnsweredInline {
    request: RawMessage,
    answer: Option<RawMessage>,
    command: u32,
    received: Instant,
    /// The answer is written already (encoded in place); `answer` is its copy for the
    /// duplicate cache.
    written: bool,
}

/// An answer encoded in place, to count at the end of the burst.
struct WrittenInline {
    command: u32,
    result_code: Option<u32>,
    received: Instant,
}

/// Tells the node agent when a handler task ends, answered or not (it panicked), so
/// that the retransmissions waiting for its answer are let go.
struct HandlerGuard {
    node: Node,
    request: RawMessage,
    key: Option<InFlightKey>,
    done: bool,
}

impl HandlerGuard {
    /// The handler answered: the answer to send (cut to size, saved for duplicates).
    fn done(mut self, answer: RawMessage) -> Option<RawMessage> {
        self.done = true;
        let now = Instant::now().into_std();
        let (request, key) = (&self.request, self.key);
        self.node
            .with_agent(|a| a.handler_done(now, request, key, Some(answer)))
    }

    /// The handler gave a typed answer, which the peer task finishes: the request and its
    /// mark go with it.
    fn hand_over(mut self) -> (RawMessage, Option<InFlightKey>) {
        self.done = true;
        (self.request.clone(), self.key)
    }
}

/// A handler's typed answer that came after a wait, for the peer task to encode in place
/// ([`PeerTask::reply`]).
pub(crate) struct DeferredReply {
    reply: Box<dyn super::Reply>,
    request: RawMessage,
    key: Option<InFlightKey>,
    proxy_info: bool,
    received: Instant,
}

impl DeferredReply {
    /// The peer task is gone: the answer, encoded into a buffer of its own, only to the
    /// node agent (duplicate cache, retransmissions that waited).
    fn detached(self, node: &Node) {
        let mut out = bytes::BytesMut::new();
        let answer = match dispatch::encode_reply(
            node,
            &self.request,
            &*self.reply,
            self.proxy_info,
            &mut out,
        ) {
            // Held: not saved before it is released (a handler that holds its answers
            // answers retransmissions itself).
            Ok((_, Some(_))) => None,
            Ok((start, None)) => take_message(&mut out, start),
            Err(answer) => Some(answer),
        };
        let now = std::time::Instant::now();
        node.with_agent(|a| a.handler_done(now, &self.request, self.key, answer));
    }
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        if !self.done {
            let now = Instant::now().into_std();
            let (request, key) = (&self.request, self.key);
            self.node
                .with_agent(|a| a.handler_done(now, request, key, None));
        }
    }
}

/// Commands to a peer task.
pub(crate) enum PeerCmd {
    /// Send a request and report its answer.
    Request {
        msg: RawMessage,
        /// The node agent's mark, reported back with the outcome.
        id: RequestId,
        deadline: Instant,
        /// The sender's `request` span, completed with the Hop-by-Hop id.
        span: tracing::Span,
    },
    /// Send the answer to a request this peer sent.
    Answer(RawMessage),
    /// Encode a handler's typed answer into the connection's write buffer and send it.
    Reply(Box<DeferredReply>),
    /// R-Conn-CER from the acceptor.
    Incoming {
        conn: ConnHandle,
        cer: RawMessage,
        caps: Box<Capabilities>,
        /// The address the connection comes from.
        remote: std::net::IpAddr,
        /// A certificate or the accept policy's source check vouches for the identity.
        vouched: bool,
    },
    /// A connection's reader reports.
    Conn(ConnId, ConnEvent),
    /// The outcome of a connection attempt.
    Connected(Option<ConnHandle>),
    /// Send DPR and close.
    Stop(DisconnectCause),
    /// A handler task ended without an answer (it panicked).
    Unanswered,
}

/// Tells the peer task when a handler task ends without an answer, so that its count
/// of answers in flight stays right.
pub(crate) struct Unanswered(Option<mpsc::Sender<PeerCmd>>);

impl Unanswered {
    /// The answer is on its way: nothing to report.
    fn answered(mut self) {
        self.0 = None;
    }

    /// Hands the answer to the peer task (waiting for room in its queue only when it
    /// is full).
    fn answer(mut self, answer: RawMessage) {
        let Some(tx) = self.0.take() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(cmd)) = tx.try_send(PeerCmd::Answer(answer)) {
            let guard = Unanswered(Some(tx.clone()));
            tokio::spawn(async move {
                if tx.send(cmd).await.is_ok() {
                    guard.answered();
                }
            });
        }
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.try_send(PeerCmd::Unanswered);
        }
    }
}

/// The node's handle on a peer task.
#[derive(Clone)]
pub(crate) struct PeerHandle {
    pub(crate) tx: mpsc::Sender<PeerCmd>,
    pub(crate) status: Arc<PeerStatus>,
}

struct Pending {
    id: RequestId,
    sent: Instant,
    span: tracing::Span,
}

struct PeerTask {
    node: Node,
    agent: PeerAgent<Pending>,
    addr: Option<SocketAddr>,
    status: Arc<PeerStatus>,
    conns: HashMap<ConnId, ConnHandle, std::hash::BuildHasherDefault<IdHasher>>,
    tx: mpsc::Sender<PeerCmd>,
    connecting: Option<tokio::task::JoinHandle<()>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::TlsSetup>,
    /// Messages to send per connection until the end of the current burst of commands:
    /// one write queue entry (one write) per burst.
    out: Vec<Outgoing<WrittenInline>>,
    /// The clock, read once per wake-up (a burst of commands or a timer).
    now: Instant,
    /// The peer's Origin-Host, shared with the requests it sends.
    from: Arc<str>,
    /// The same, lowercase: what its requests' handlers see as their peer.
    from_lowercase: Arc<str>,
    /// Answers of handlers that answered at once, for the node agent at the end of the
    /// burst ([`PeerTask::finish_inline`]).
    inline: Vec<AnsweredInline>,
    /// Answers encoded in place in this burst, to count at its end.
    written: Vec<WrittenInline>,
    /// Bursts waiting for their answers' releases ([`super::AnswerBuf::hold_until`]).
    held: HeldBursts<WrittenInline>,
}

/// Hashes a connection id (unique, a counter) with one multiplication: the look-up of
/// the connection each message goes out on needs no SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing: the counter's bits spread to the top bits the table uses.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// Commands handled before the queued messages are flushed to the writers.
const BURST: usize = 256;

/// Starts the task of a peer and registers it in the node. `addr` is where to connect for
/// configured peers; accepted-only peers have none.
pub(crate) fn spawn_peer(
    node: &Node,
    host: &str,
    addr: Option<SocketAddr>,
    settings: PeerSettings,
    #[cfg(feature = "tls")] tls: Option<crate::transport::tls::TlsSetup>,
) -> PeerHandle {
    let inner = &node.inner;
    let (tx, rx) = mpsc::channel(inner.limits.max_pending_per_peer.max(16) * 2);
    let status = Arc::new(PeerStatus::new(host.to_owned()));
    let seed = inner.next_conn.fetch_add(1, Ordering::Relaxed) ^ seed_from_clock();
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let initiate = settings.initiate && addr.is_some();
    let peer = Peer::new(
        inner.caps.clone(),
        PeerSettings {
            initiate,
            ..settings
        },
        seed,
        clock,
    );
    let limits = AgentLimits {
        max_pending: inner.limits.max_pending_per_peer,
        drain_timeout: inner.limits.dpr_drain_timeout,
    };
    let task = PeerTask {
        node: node.clone(),
        agent: PeerAgent::new(peer, inner.caps.clone(), addr.map(|a| a.ip()), limits),
        addr,
        status: status.clone(),
        conns: HashMap::default(),
        tx: tx.clone(),
        connecting: None,
        #[cfg(feature = "tls")]
        tls,
        out: Vec::new(),
        now: Instant::now(),
        from: host.into(),
        from_lowercase: host.to_ascii_lowercase().into(),
        inline: Vec::new(),
        written: Vec::new(),
        held: HeldBursts::new({
            let node = node.clone();
            Box::new(move |written: &[WrittenInline], sent| {
                for w in written {
                    code_metrics_at(&node, w.command, w.result_code, w.received, sent);
                }
            })
        }),
    };
    let handle = PeerHandle { tx, status };
    if let Ok(mut peers) = inner.peers.write() {
        match peers.entry(host.to_ascii_lowercase()) {
            // Two connections claimed an unknown peer at once: the first one's task
            // takes both (and its state machine refuses the second).
            std::collections::hash_map::Entry::Occupied(e) if addr.is_none() => {
                return e.get().clone();
            }
            e => {
                e.insert_entry(handle.clone());
            }
        }
    }
    let span = tracing::info_span!("peer", host = %host);
    let task = node.spawn(tracing::Instrument::instrument(
        task.run(rx, initiate),
        span,
    ));
    node.track(task.abort_handle());
    handle
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

impl PeerTask {
    async fn run(mut self, mut rx: mpsc::Receiver<PeerCmd>, start: bool) {
        if start {
            self.feed(Event::Start);
        }
        loop {
            self.flush();
            let wake = self.agent.poll_timeout().map(Instant::from_std);
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        self.now = Instant::now();
                        self.command(cmd);
                        // Take what else is queued before writing, so that a burst of
                        // requests or answers leaves in one write.
                        for _ in 1..BURST {
                            match rx.try_recv() {
                                Ok(cmd) => self.command(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                _ = sleep => {
                    self.now = Instant::now();
                    self.feed(Event::Timeout);
                }
                done = std::future::poll_fn(|cx| self.held.poll_released(cx)),
                    if !self.held.is_empty() => {
                    self.now = Instant::now();
                    self.send_released(done);
                }
            }
            self.finish_inline();
            if self.agent.is_unused() {
                self.flush();
                self.remove();
                return;
            }
        }
    }

    /// Takes this peer out of the node's table, if the entry is still this task's.
    fn remove(&mut self) {
        self.agent.fail_pending();
        self.act();
        if let Ok(mut peers) = self.node.inner.peers.write() {
            let key = self.status.host.to_ascii_lowercase();
            if peers
                .get(&key)
                .is_some_and(|p| Arc::ptr_eq(&p.status, &self.status))
            {
                peers.remove(&key);
                self.node.inner.metrics.peer_removed(&key);
                drop(peers);
                self.node.with_agent(|a| a.input(PeerChange::PeerDown(key)));
                tracing::debug!("unconfigured peer removed");
                return;
            }
        }
        tracing::debug!("unconfigured peer removed");
    }

    /// Feeds the agent and performs what it asks.
    fn feed(&mut self, event: Event) {
        self.agent.handle(self.now.into_std(), event);
        self.act();
    }

    fn command(&mut self, cmd: PeerCmd) {
        match cmd {
            PeerCmd::Request {
                msg,
                id,
                deadline,
                span,
            } => self.send_request(msg, id, deadline, span),
            PeerCmd::Answer(msg) => self.feed(Event::Answer(msg)),
            PeerCmd::Reply(d) => self.reply(*d),
            PeerCmd::Incoming {
                conn,
                cer,
                caps,
                remote,
                vouched,
            } => {
                let id = self.add_conn(conn);
                self.feed(Event::Incoming {
                    conn: id,
                    cer,
                    caps,
                    remote,
                    vouched,
                });
            }
            PeerCmd::Conn(id, ConnEvent::Message(m)) => self.feed(Event::Received(id, m)),
            PeerCmd::Conn(id, ConnEvent::Messages(batch)) => {
                for m in batch {
                    self.feed(Event::Received(id, m));
                }
            }
            PeerCmd::Conn(id, ConnEvent::Closed) => {
                self.remove_conn(id);
                self.feed(Event::Closed(id));
            }
            PeerCmd::Connected(Some(conn)) => {
                self.connecting = None;
                let id = self.add_conn(conn);
                self.feed(Event::Connected(id));
            }
            PeerCmd::Connected(None) => {
                self.connecting = None;
                self.feed(Event::ConnectFailed);
            }
            PeerCmd::Stop(cause) => self.feed(Event::Stop(cause)),
            PeerCmd::Unanswered => self.feed(Event::Unanswered),
        }
    }

    fn send_request(
        &mut self,
        msg: RawMessage,
        id: RequestId,
        deadline: Instant,
        span: tracing::Span,
    ) {
        let (app, cmd) = (msg.header.application_id, msg.header.command_code);
        let pending = Pending {
            id,
            sent: self.now,
            span: span.clone(),
        };
        match self.agent.send_request(msg, deadline.into_std(), pending) {
            Ok(hbh) => {
                self.node.inner.metrics.request(Direction::Out, app, cmd);
                span.record("hop_by_hop", hbh);
                span.in_scope(|| tracing::trace!("request sent"));
                self.act();
            }
            Err((p, failure)) => self.answered(p, Err(failure)),
        }
    }

    /// Performs the agent's actions.
    fn act(&mut self) {
        while let Some(action) = self.agent.poll_action() {
            match action {
                Action::Connect => self.connect(),
                Action::CancelConnect => {
                    if let Some(c) = self.connecting.take() {
                        c.abort();
                    }
                }
                Action::Send(id, msg) => self.queue_send(id, msg),
                Action::Close(id) => {
                    // What is queued for it still goes out before the writer closes, held
                    // answers once released.
                    self.flush_conn(id);
                    if !self.held.close_after(id) {
                        self.remove_conn(id);
                    }
                }
                Action::Handle(msg) => self.handle_request(msg),
                Action::Answered(p, result) => self.answered(p, result),
                Action::Peer(e) => self.event(e),
                // Leaving: no new requests are routed to this peer.
                Action::Draining => {
                    self.status.set_available(false);
                    let host = self.status.host.clone();
                    self.node
                        .with_agent(|a| a.input(PeerChange::PeerUnavailable(host)));
                }
                Action::Notice(n) => self.notice(n),
            }
        }
    }

    /// The outcome of a request sent on this peer goes to the node agent (which fails
    /// it over to another peer when this one failed).
    fn answered(&mut self, p: Pending, result: Result<RawMessage, Failure>) {
        match &result {
            Ok(msg) => {
                let code = crate::fields::result_code(msg);
                let elapsed = Some(self.now.saturating_duration_since(p.sent));
                let metrics = &self.node.inner.metrics;
                metrics.answer(Direction::Out, msg.header.command_code, code, elapsed);
                p.span
                    .in_scope(|| tracing::trace!(result_code = code, "answer received"));
            }
            Err(Failure::Timeout) => p.span.in_scope(|| tracing::debug!("request timed out")),
            Err(_) => {}
        }
        let now = self.now.into_std();
        self.node.with_agent(|a| a.peer_result(now, p.id, result));
    }

    fn notice(&mut self, n: Notice) {
        match n {
            Notice::ContendRefused(remote) => {
                tracing::warn!(%remote, "CER claims a dialled peer from another address, refused")
            }
            Notice::DrainStarted { in_flight, by_peer } => {
                if by_peer {
                    tracing::info!(
                        in_flight,
                        "DPR received: new requests refused, answers in flight go out first"
                    );
                } else {
                    tracing::info!(
                        in_flight,
                        "stopping: new requests refused, answers in flight go out first"
                    );
                }
            }
            Notice::DrainTimedOut(in_flight) => {
                tracing::info!(in_flight, "answers still in flight at the drain deadline")
            }
            Notice::Busy(h) => {
                let metrics = &self.node.inner.metrics;
                metrics.request(Direction::In, h.application_id, h.command_code);
                metrics.answer(
                    Direction::In,
                    h.command_code,
                    Some(crate::result_code::DIAMETER_TOO_BUSY),
                    Some(std::time::Duration::ZERO),
                );
            }
            Notice::Stray(hop_by_hop) => {
                tracing::debug!(hop_by_hop, "answer matches no pending request")
            }
            Notice::Dropped(e) => tracing::debug!("message dropped: {e}"),
        }
    }

    /// Appends a message to the connection's burst.
    fn queue_send(&mut self, id: ConnId, msg: RawMessage) {
        if !self.conns.contains_key(&id) {
            return;
        }
        let burst = &mut burst_of(&mut self.out, id).burst;
        burst.push(msg);
        if burst.len() >= transport::WRITE_BATCH {
            self.flush_full(id);
        }
    }

    /// Hands a burst that reached [`transport::WRITE_BATCH`] to its writer before the end
    /// of the burst of commands; answers written in place in it are saved for duplicate
    /// detection first, as they are when it ends.
    fn flush_full(&mut self, id: ConnId) {
        if self.inline.iter().any(|d| d.written) {
            self.finish_inline();
        }
        self.flush_conn(id);
    }

    /// Hands one connection's batch to its writer. A full write queue means the peer does
    /// not read: the connection is closed rather than stalling the node (the watchdog
    /// and failover take over). Returns whether the connection was closed.
    fn flush_conn(&mut self, id: ConnId) -> bool {
        let Some(i) = self.out.iter().position(|o| o.conn == id) else {
            return false;
        };
        let out = self.out.swap_remove(i);
        if out.burst.len() == 0 {
            // Opened for an answer that was not encoded in place after all.
            return false;
        }
        match self
            .held
            .push_or_send(out, self.node.inner.limits.write_queue_bytes)
        {
            Flushed::Sent | Flushed::Held => false,
            Flushed::OverBound { held } => {
                tracing::warn!(
                    held,
                    "answers held past the write queue bound, closing connection"
                );
                self.close_conn(id)
            }
            Flushed::Failed(e) => self.close_refused(id, e),
        }
    }

    /// Takes connection `conn` in: its handle here, its queue for the held bursts.
    fn add_conn(&mut self, conn: ConnHandle) -> ConnId {
        let id = conn.id;
        self.held.add_conn(id, conn.queue.sink());
        self.conns.insert(id, conn);
        id
    }

    /// Lets connection `id` go, dropping its held bursts; the handle returned (dropped, it
    /// closes the connection once what is queued is written).
    fn remove_conn(&mut self, id: ConnId) -> Option<ConnHandle> {
        self.held.drop_conn(id);
        self.conns.remove(&id)
    }

    /// Closes connection `id`, whose write queue refused a burst (see
    /// [`PeerTask::close_conn`]).
    fn close_refused(&mut self, id: ConnId, e: transport::QueueError) -> bool {
        tracing::warn!(?e, "write queue full or writer gone, closing connection");
        self.close_conn(id)
    }

    /// Closes connection `id` (dropping its held bursts) and reports it to the agent,
    /// whose actions the caller's loop performs. Returns `true`.
    fn close_conn(&mut self, id: ConnId) -> bool {
        if let Some(c) = self.remove_conn(id) {
            c.kill();
        }
        self.agent.handle(self.now.into_std(), Event::Closed(id));
        true
    }

    /// Acts on what became of the bursts released (sent or withheld by
    /// [`HeldBursts::poll_released`] or a direct release): a connection whose queue refused
    /// one closes, one the agent closed meanwhile closes after its last one.
    fn send_released(&mut self, done: Vec<(ConnId, Left)>) {
        for (conn, left) in done {
            let close = match left {
                Left::Sent { close } => close,
                Left::Withheld { bytes, close } => {
                    tracing::warn!(
                        bytes,
                        "answers withheld: what they report did not become durable"
                    );
                    close
                }
                Left::Failed(e) => {
                    if self.close_refused(conn, e) {
                        self.act();
                    }
                    continue;
                }
            };
            if close {
                self.remove_conn(conn);
            }
        }
    }

    /// Hands every pending batch to the writers.
    fn flush(&mut self) {
        // Bounded: each round either empties `out` or closes a connection.
        for _ in 0..=self.conns.len() + 1 {
            let Some(id) = self.out.first().map(|o| o.conn) else {
                return;
            };
            if self.flush_conn(id) {
                self.act();
            }
        }
    }

    fn connect(&mut self) {
        let Some(addr) = self.addr else {
            // Performed by the caller's loop.
            self.agent.handle(self.now.into_std(), Event::ConnectFailed);
            return;
        };
        let inner = self.node.inner.clone();
        let tx = self.tx.clone();
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        #[cfg(feature = "tls")]
        let host = self.status.host.clone();
        self.connecting = Some(tokio::spawn(async move {
            let timeout = inner.limits.cer_timeout;
            let id = ConnId(inner.next_conn.fetch_add(1, Ordering::Relaxed));
            let conn = match transport::connect(addr, timeout, inner.socket_options()).await {
                #[cfg(feature = "tls")]
                Ok(stream) if tls.is_some() => {
                    connect_tls(&inner, tls, &host, stream, id, &tx).await
                }
                Ok(stream) => Some(transport::spawn_connection(
                    id,
                    stream.into_split(),
                    bytes::BytesMut::new(),
                    inner.conn_options(None),
                    tx.clone(),
                    PeerCmd::Conn,
                    None,
                )),
                Err(e) => {
                    tracing::debug!("connect to {addr} failed: {e}");
                    None
                }
            };
            let _ = tx.send(PeerCmd::Connected(conn)).await;
        }));
    }

    /// A request the peer agent delivered goes to the node agent (duplicates, routing,
    /// relaying); one for here runs its handler inline when the answer is ready at once,
    /// else in a task of its own. The answer goes back to the peer agent.
    fn handle_request(&mut self, msg: RawMessage) {
        let h = msg.header;
        self.node
            .inner
            .metrics
            .request(Direction::In, h.application_id, h.command_code);
        let received = self.now;
        let now = self.now.into_std();
        // A first transmission for this node goes to its handler without the agent's
        // lock (the decision needs no state); the rest is the agent's. A node that is not
        // an agent leaves the decision to the handler, which takes it from its own decode.
        let config = &self.node.inner.agent_config;
        let (decided, routing) = match h.is_retransmit() {
            true => (None, Routing::Decided { proxy_info: true }),
            false if config.handler_decides() => (Some(Decision::Local), Routing::Deferred),
            false => match config.decide_checked(&msg) {
                Ok((decision, proxy_info)) => (Some(decision), Routing::Decided { proxy_info }),
                // Framed with its header checked only; a bad AVP header found routing it.
                Err(e) => {
                    self.finish_inline();
                    let answer =
                        crate::answer::error_answer(&msg, &dispatch::origin(&self.node), &e);
                    answer_metrics(&self.node, h.command_code, &answer, received);
                    self.agent.handle(now, Event::Answer(answer));
                    return;
                }
            },
        };
        if !matches!(decided, Some(Decision::Local)) {
            // The agent's duplicate cache must know every answer given before it.
            self.finish_inline();
        }
        let tx = &self.tx;
        let inbound = match decided {
            Some(Decision::Local) => Inbound::Handle(msg),
            decided => self.node.with_agent(|a| {
                a.receive(now, &self.from, msg, decided, || Responder::Peer {
                    origin: Unanswered(Some(tx.clone())),
                    received,
                    command: h.command_code,
                })
            }),
        };
        let request = match inbound {
            Inbound::Held => return,
            Inbound::Answer(answer) => {
                answer_metrics(&self.node, h.command_code, &answer, received);
                // Performed by the caller's loop.
                self.agent.handle(now, Event::Answer(answer));
                return;
            }
            Inbound::Handle(request) => request,
        };
        let span = tracing::debug_span!(
            "request",
            application = h.application_id,
            command = h.command_code,
            hop_by_hop = h.hop_by_hop,
            end_to_end = h.end_to_end,
        );
        // The handler runs here up to its first wait, without a task of its own: an
        // answer given at once joins this burst's write, encoded straight into the
        // connection's buffer when the handler can.
        let conn = self.answer_conn();
        let mut detached = bytes::BytesMut::new();
        let out = match conn {
            Some(c) => burst_of(&mut self.out, c).burst.buffer(),
            None => &mut detached,
        };
        let started = span.in_scope(|| {
            dispatch::start_locally(&self.node, &request, &self.from_lowercase, routing, out)
        });
        let command = h.command_code;
        let answer = match started {
            Started::Later(answer) => tracing::Instrument::instrument(answer, span),
            Started::Written(start, release) => match (conn, release) {
                (Some(c), release) => {
                    let held = release.is_some();
                    if let Some(r) = release {
                        burst_of(&mut self.out, c).releases.push(r);
                    }
                    return self.written_in_place(c, start, request, received, now, held);
                }
                (None, None) => {
                    let answer = take_message(&mut detached, start);
                    return self.answered_inline(request, answer, command, received, false);
                }
                // No connection to hold it in: it waits on its own, as a handler would.
                (None, Some(release)) => {
                    let answer = take_message(&mut detached, start);
                    let later = async move {
                        match (release.await, answer) {
                            (true, Some(answer)) => Later::Message(answer),
                            _ => Later::Withheld,
                        }
                    };
                    tracing::Instrument::instrument(
                        Box::pin(later) as std::pin::Pin<Box<dyn Future<Output = Later> + Send>>,
                        span,
                    )
                }
            },
            Started::Now(answer) => {
                return self.answered_inline(request, Some(answer), command, received, false)
            }
        };
        // Still running: retransmissions of this request wait for its answer.
        let key = self.node.with_agent(|a| a.handler_started(&request));
        let guard = HandlerGuard {
            node: self.node.clone(),
            request,
            key,
            done: false,
        };
        let node = self.node.clone();
        let tx = self.tx.clone();
        let unanswered = Unanswered(Some(tx.clone()));
        let task = async move {
            match answer.await {
                // Not released: unanswered (the guard lets the retransmissions go).
                Later::Withheld => {}
                Later::Message(answer) => {
                    let Some(answer) = guard.done(answer) else {
                        return;
                    };
                    answer_metrics(&node, h.command_code, &answer, received);
                    unanswered.answered();
                    let _ = tx.send(PeerCmd::Answer(answer)).await;
                }
                Later::Reply(reply, proxy_info) => {
                    // Encoded by the peer task, into the connection's write buffer.
                    let (request, key) = guard.hand_over();
                    unanswered.answered();
                    let deferred = Box::new(DeferredReply {
                        reply,
                        request,
                        key,
                        proxy_info,
                        received,
                    });
                    if let Err(mpsc::error::SendError(PeerCmd::Reply(d))) =
                        tx.send(PeerCmd::Reply(deferred)).await
                    {
                        // The peer is gone: the answer still goes to the duplicate cache
                        // and to retransmissions that waited for it.
                        d.detached(&node);
                    }
                }
            }
        };
        // Boxed: tokio moves a task's future several times while spawning it and again
        // when it ends (this one is about 700 bytes); a box moves as a pointer.
        tokio::spawn(Box::pin(task));
    }

    /// A handler's typed answer that came after a wait: encoded straight into the
    /// connection's burst and finished there; the node agent gets a copy only when it
    /// needs one (duplicate cache, retransmissions that waited), under one lock. Taken out
    /// as a message when it must be (no open connection, too large).
    fn reply(&mut self, d: DeferredReply) {
        let now = self.now.into_std();
        let conn = self.answer_conn();
        let mut detached = bytes::BytesMut::new();
        let out = match conn {
            Some(c) => burst_of(&mut self.out, c).burst.buffer(),
            None => &mut detached,
        };
        let encoded = dispatch::encode_reply(&self.node, &d.request, &*d.reply, d.proxy_info, out);
        let max = self.node.inner.agent_config.limits.max_message_len as usize;
        let (command, received) = (d.request.header.command_code, d.received);
        let answer = match (encoded, conn) {
            (Ok((start, release)), Some(c)) => {
                let held = release.is_some();
                let o = burst_of(&mut self.out, c);
                // Held with the burst, as is a 5012 in its place.
                o.releases.extend(release);
                let out = o.burst.buffer();
                if out.len() - start > max {
                    take_message(out, start)
                } else {
                    let written = &out[start..];
                    self.node.with_agent(|a| {
                        // A held answer is not saved before it is released.
                        let copy = match !held && a.needs_answer(&d.request, d.key) {
                            true => copy_message(written),
                            false => None,
                        };
                        a.handler_done(now, &d.request, d.key, copy);
                    });
                    self.wrote(c, start, command, received, now, held);
                    self.act();
                    return;
                }
            }
            // No connection to hold it in: unanswered (the client retransmits).
            (Ok((_, Some(_))), None) => None,
            (Ok((start, None)), None) => take_message(out, start),
            (Err(answer), _) => Some(answer),
        };
        let answer = self
            .node
            .with_agent(|a| a.handler_done(now, &d.request, d.key, answer));
        match answer {
            Some(answer) => {
                answer_metrics(&self.node, command, &answer, received);
                self.feed(Event::Answer(answer));
            }
            None => self.feed(Event::Unanswered),
        }
    }

    /// The connection an answer given now is encoded into (the peer agent's, while the
    /// driver still has it); `None`: the answer is encoded into a buffer of its own.
    fn answer_conn(&self) -> Option<ConnId> {
        (self.agent.answer_conn()).filter(|c| self.conns.contains_key(c))
    }

    /// An answer given at once, for the node agent at the end of the burst
    /// ([`PeerTask::finish_inline`]); `written`: already in the connection's burst.
    fn answered_inline(
        &mut self,
        request: RawMessage,
        answer: Option<RawMessage>,
        command: u32,
        received: Instant,
        written: bool,
    ) {
        self.inline.push(AnsweredInline {
            request,
            answer,
            command,
            received,
            written,
        });
    }

    /// The handler encoded its answer to `request` in place, at `start` in the burst of
    /// `conn`: it stays there unless it is too large (the node agent answers 5012
    /// instead); a copy is kept for duplicate detection unless the handler answers
    /// retransmissions itself. Counted at the end of the burst.
    fn written_in_place(
        &mut self,
        conn: ConnId,
        start: usize,
        request: RawMessage,
        received: Instant,
        now: std::time::Instant,
        held: bool,
    ) {
        let h = request.header;
        let config = &self.node.inner.agent_config;
        let out = burst_of(&mut self.out, conn).burst.buffer();
        if out.len() - start > config.limits.max_message_len as usize {
            let answer = take_message(out, start);
            return self.answered_inline(request, answer, h.command_code, received, false);
        }
        // A held answer is not saved before it is released: a handler that holds its
        // answers answers retransmissions itself.
        let saved =
            !held && !(config.self_deduplicating).contains(&(h.application_id, h.command_code));
        if let Some(copy) = saved.then(|| copy_message(&out[start..])).flatten() {
            self.answered_inline(request, Some(copy), h.command_code, received, true);
        }
        // Performed by the caller's loop.
        self.wrote(conn, start, h.command_code, received, now, held);
    }

    /// The answer encoded in place at `start` in the burst of `conn` stays there: counted
    /// at the end of the burst, reported to the peer agent (its actions are the caller's
    /// to perform), and the burst handed to its writer if it is full. Inlined: out of line
    /// it cost the stateless server 180 instructions per answer.
    #[inline(always)]
    fn wrote(
        &mut self,
        conn: ConnId,
        start: usize,
        command: u32,
        received: Instant,
        now: std::time::Instant,
        held: bool,
    ) {
        let out = burst_of(&mut self.out, conn);
        let result_code = crate::fields::result_code_in(&out.burst.buffer()[start + HEADER_LEN..]);
        let full = out.burst.len() >= transport::WRITE_BATCH;
        let written = WrittenInline {
            command,
            result_code,
            received,
        };
        match held {
            // Counted when its burst leaves, with the time it was held.
            true => out.written.push(written),
            false => self.written.push(written),
        }
        self.agent.handle(now, Event::AnswerWritten);
        if full {
            self.flush_full(conn);
        }
    }

    /// Hands the answers given inline in this burst to the node agent under one lock (size
    /// check, duplicate cache), then to the peer agent to send.
    fn finish_inline(&mut self) {
        if self.inline.is_empty() && self.written.is_empty() {
            return;
        }
        let now = self.now.into_std();
        let mut done = std::mem::take(&mut self.inline);
        if !done.is_empty() {
            self.node.with_agent(|a| {
                for d in &mut done {
                    let answer = a.handler_done(now, &d.request, None, d.answer.take());
                    // One written already was saved for duplicates, not to send again.
                    d.answer = answer.filter(|_| !d.written);
                }
            });
        }
        let sent = Instant::now();
        for w in self.written.drain(..) {
            code_metrics_at(&self.node, w.command, w.result_code, w.received, sent);
        }
        for d in done.drain(..) {
            if let Some(answer) = d.answer {
                answer_metrics_at(&self.node, d.command, &answer, d.received, sent);
                self.agent.handle(now, Event::Answer(answer));
            }
        }
        // The buffer is kept for the next burst.
        self.inline = done;
        self.act();
    }

    /// Publishes a change of the peer's state (the agent already gave the pending
    /// requests back on suspect and down: RFC 3539 failover).
    fn event(&mut self, e: PeerEvent) {
        let host = self.status.host.clone();
        let events = self.node.inner.events.clone();
        let metrics = self.node.inner.metrics.clone();
        match e {
            // The node agent learns that the peer is up or available before the status
            // says so: a caller that saw it available (`Node::wait_peer`) can route to it.
            PeerEvent::Up { caps, common } => {
                let available = self.agent.peer().is_available();
                let up = PeerChange::PeerUp {
                    host: host.clone(),
                    handle: PeerHandle {
                        tx: self.tx.clone(),
                        status: self.status.clone(),
                    },
                    realm: caps.origin_realm.clone(),
                    common,
                    relay: caps.is_relay(),
                    available,
                };
                self.node.with_agent(|a| a.input(up));
                self.status.set_available(available);
                tracing::info!("peer up");
                metrics.peer_state(&host, "up", self.agent.peer().is_available());
                let _ = events.send(NodeEvent::PeerUp { host });
            }
            PeerEvent::Available => {
                let h = host.clone();
                self.node
                    .with_agent(|a| a.input(PeerChange::PeerAvailable(h)));
                self.status.set_available(true);
                metrics.peer_state(&host, "available", true);
            }
            PeerEvent::Suspect => {
                self.status.set_available(false);
                let h = host.clone();
                self.node
                    .with_agent(|a| a.input(PeerChange::PeerUnavailable(h)));
                metrics.peer_state(&host, "suspect", false);
                let _ = events.send(NodeEvent::PeerSuspect { host });
            }
            PeerEvent::Down(reason) => {
                self.status.set_available(false);
                let h = host.clone();
                self.node.with_agent(|a| a.input(PeerChange::PeerDown(h)));
                tracing::info!(?reason, "peer down");
                metrics.peer_state(&host, "down", false);
                let _ = events.send(NodeEvent::PeerDown { host, reason });
            }
        }
    }
}

/// TLS over a connected stream: handshake (server certificate checked against `host`),
/// then the connection with the CEA identity check when the setup asks for it.
#[cfg(feature = "tls")]
async fn connect_tls(
    inner: &super::Inner,
    tls: Option<crate::transport::tls::TlsSetup>,
    host: &str,
    stream: tokio::net::TcpStream,
    id: ConnId,
    tx: &mpsc::Sender<PeerCmd>,
) -> Option<ConnHandle> {
    let tls = tls?;
    let handshake = transport::tls::connect(tls.client.clone(), host, stream);
    let stream = match tokio::time::timeout(inner.limits.cer_timeout, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!("TLS handshake with {host} failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::warn!("TLS handshake with {host} timed out");
            return None;
        }
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    let identity = match (tls.verify_identity, cert) {
        (true, Some(cert)) => Some(transport::tls::identity_check(cert)),
        (true, None) => return None,
        (false, _) => None,
    };
    Some(transport::spawn_connection(
        id,
        tokio::io::split(stream),
        bytes::BytesMut::new(),
        inner.conn_options(identity),
        tx.clone(),
        PeerCmd::Conn,
        None,
    ))
}

/// The burst of connection `id` (a new one if it has none yet).
fn burst_of<W>(out: &mut Vec<Outgoing<W>>, id: ConnId) -> &mut Outgoing<W> {
    let i = match out.iter().position(|o| o.conn == id) {
        Some(i) => i,
        None => {
            out.push(Outgoing::new(id));
            out.len() - 1
        }
    };
    &mut out[i]
}
