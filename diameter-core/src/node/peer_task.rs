//! One task per peer: pumps the sans-IO [`Peer`] over its connections, keeps the table of
//! requests pending on that peer, and hands received requests to the dispatcher.

use super::metrics::Direction;
use super::{dispatch, Node, NodeEvent, PeerStatus, RequestError};
use crate::base::DisconnectCause;
use crate::message::RawMessage;
use crate::peer::{Capabilities, ConnId, Input, Output, Peer, PeerError, PeerEvent, PeerSettings};
use crate::pending::PendingTable;
use crate::result_code as rc;
use crate::transport::{self, ConnEvent, ConnHandle};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

pub(crate) type Reply = oneshot::Sender<Result<RawMessage, RequestError>>;

/// Commands to a peer task.
pub(crate) enum PeerCmd {
    /// Send a request and report its answer.
    Request {
        msg: RawMessage,
        reply: Reply,
        deadline: Instant,
        /// The sender's `request` span, completed with the Hop-by-Hop id.
        span: tracing::Span,
    },
    /// Send the answer to a request this peer sent.
    Answer(RawMessage),
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
struct Unanswered(Option<mpsc::Sender<PeerCmd>>);

impl Unanswered {
    /// The answer is on its way: nothing to report.
    fn answered(mut self) {
        self.0 = None;
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
    reply: Reply,
    sent: Instant,
    span: tracing::Span,
}

struct PeerTask {
    node: Node,
    peer: Peer,
    addr: Option<SocketAddr>,
    status: Arc<PeerStatus>,
    conns: HashMap<ConnId, ConnHandle>,
    pending: PendingTable<Pending>,
    inbound: Arc<Semaphore>,
    tx: mpsc::Sender<PeerCmd>,
    connecting: Option<tokio::task::JoinHandle<()>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::TlsSetup>,
    /// Messages to send, encoded back to back per connection until the end of the
    /// current burst of commands: one write queue entry (one write) per burst.
    out: Vec<(ConnId, bytes::BytesMut)>,
    /// The waker for the first, inline poll of a request's handler.
    noop: std::task::Waker,
    /// Handlers running in tasks of their own whose answers have not come back yet.
    in_flight: usize,
    /// A disconnection waiting for the answers in flight to go out (or for the deadline,
    /// see [`NodeLimits::dpr_drain_timeout`]); meanwhile new requests get 3004.
    ///
    /// [`NodeLimits::dpr_drain_timeout`]: super::NodeLimits::dpr_drain_timeout
    draining: Option<Drain>,
}

/// A disconnection held back while answers are in flight.
struct Drain {
    deadline: Instant,
    then: AfterDrain,
    /// A stop asked for meanwhile, applied after `then`.
    stop: Option<DisconnectCause>,
}

enum AfterDrain {
    /// The peer's DPR, received on this connection: answered (DPA) and closed.
    PeerDpr(ConnId, RawMessage),
    /// Our own stop: DPR sent and closed.
    Stop(DisconnectCause),
}

/// Commands handled before the queued messages are flushed to the writers.
const BURST: usize = 256;

struct NoopWake;

impl std::task::Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

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
    let task = PeerTask {
        node: node.clone(),
        peer,
        addr,
        status: status.clone(),
        conns: HashMap::new(),
        pending: PendingTable::new(),
        inbound: Arc::new(Semaphore::new(inner.limits.max_pending_per_peer)),
        tx: tx.clone(),
        connecting: None,
        #[cfg(feature = "tls")]
        tls,
        out: Vec::new(),
        noop: std::task::Waker::from(Arc::new(NoopWake)),
        in_flight: 0,
        draining: None,
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
    let task = tokio::spawn(tracing::Instrument::instrument(
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
            self.input(crate::peer::Input::Start);
        }
        loop {
            self.flush();
            let wake = [
                self.peer.poll_timeout().map(Instant::from_std),
                self.pending.next_deadline().map(Instant::from_std),
                self.draining.as_ref().map(|d| d.deadline),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        self.command(cmd);
                        // Take what else is queued before writing, so that a burst of
                        // requests or answers leaves in one write.
                        for _ in 1..BURST {
                            match rx.try_recv() {
                                Ok(cmd) => self.command(cmd),
                                Err(_) => break,
                            }
                        }
                        if self.unused() {
                            self.flush();
                            self.remove();
                            return;
                        }
                    }
                    None => return,
                },
                _ = sleep => {
                    if self.draining.as_ref().is_some_and(|d| d.deadline <= Instant::now()) {
                        tracing::info!(
                            in_flight = self.in_flight,
                            "answers still in flight at the drain deadline"
                        );
                        self.end_drain();
                    }
                    self.input(Input::Timeout);
                    let now = Instant::now().into_std();
                    for (_, p) in self.pending.expired(now) {
                        p.span.in_scope(|| tracing::debug!("request timed out"));
                        let _ = p.reply.send(Err(RequestError::Timeout));
                    }
                    if self.unused() {
                        self.flush();
                        self.remove();
                        return;
                    }
                }
            }
        }
    }

    /// A peer that connected to us without being configured, now closed with no
    /// connection left: it leaves the node's table (and its task ends).
    fn unused(&self) -> bool {
        self.addr.is_none()
            && self.conns.is_empty()
            && self.peer.state() == crate::peer::PeerState::Closed
    }

    /// Takes this peer out of the node's table, if the entry is still this task's.
    fn remove(&mut self) {
        self.fail_pending();
        if let Ok(mut peers) = self.node.inner.peers.write() {
            let key = self.status.host.to_ascii_lowercase();
            if peers
                .get(&key)
                .is_some_and(|p| Arc::ptr_eq(&p.status, &self.status))
            {
                peers.remove(&key);
                self.node.inner.metrics.peer_removed(&key);
            }
        }
        tracing::debug!("unconfigured peer removed");
    }

    fn input(&mut self, input: Input) {
        self.peer.handle(Instant::now().into_std(), input);
        self.drain();
    }

    fn command(&mut self, cmd: PeerCmd) {
        match cmd {
            PeerCmd::Request {
                msg,
                reply,
                deadline,
                span,
            } => self.send_request(msg, reply, deadline, span),
            PeerCmd::Answer(msg) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Err(e) = self.peer.send(msg) {
                    tracing::debug!("answer dropped: {e}");
                }
                self.drain();
                if self.in_flight == 0 {
                    self.end_drain();
                }
            }
            PeerCmd::Incoming {
                conn,
                cer,
                caps,
                remote,
                vouched,
            } => {
                let id = conn.id;
                self.conns.insert(id, conn);
                let dialled = self.addr.map(|a| a.ip());
                if !crate::peer::may_contend(dialled, remote, vouched) {
                    // Someone else claims the peer we dial: refuse it, keep ours.
                    tracing::warn!(%remote, "CER claims a dialled peer from another address, refused");
                    let answer = crate::peer::capabilities::cea(
                        &self.node.inner.caps,
                        &cer.header,
                        rc::DIAMETER_UNKNOWN_PEER,
                        Some("this peer is dialled at another address"),
                        None,
                    );
                    self.queue_send(id, &answer);
                    self.flush_conn(id);
                    self.conns.remove(&id);
                    return;
                }
                self.input(Input::Incoming {
                    conn: id,
                    cer,
                    caps,
                });
            }
            PeerCmd::Conn(id, ConnEvent::Message(m)) => {
                if self.holds_dpr(id, &m) {
                    tracing::info!(
                        in_flight = self.in_flight,
                        "DPR received: new requests refused, answers in flight go out first"
                    );
                    self.start_drain(AfterDrain::PeerDpr(id, m));
                    return;
                }
                self.input(Input::Received(id, m))
            }
            PeerCmd::Conn(id, ConnEvent::Closed) => {
                let gone = self
                    .draining
                    .as_ref()
                    .is_some_and(|d| matches!(d.then, AfterDrain::PeerDpr(c, _) if c == id));
                let stop = if gone {
                    self.draining.take().and_then(|d| d.stop)
                } else {
                    None
                };
                self.conns.remove(&id);
                self.input(Input::Disconnected(id));
                if let Some(cause) = stop {
                    self.input(Input::Stop(cause));
                }
            }
            PeerCmd::Connected(Some(conn)) => {
                self.connecting = None;
                let id = conn.id;
                self.conns.insert(id, conn);
                self.input(Input::ConnectOk(id));
            }
            PeerCmd::Connected(None) => {
                self.connecting = None;
                self.input(Input::ConnectFailed);
            }
            PeerCmd::Stop(cause) => {
                if let Some(d) = &mut self.draining {
                    d.stop = Some(cause);
                    return;
                }
                if self.in_flight > 0 && self.peer.is_open() {
                    tracing::info!(
                        in_flight = self.in_flight,
                        "stopping: new requests refused, answers in flight go out first"
                    );
                    self.start_drain(AfterDrain::Stop(cause));
                    return;
                }
                self.input(Input::Stop(cause))
            }
            PeerCmd::Unanswered => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if self.in_flight == 0 {
                    self.end_drain();
                }
            }
        }
    }

    /// Whether a message is a DPR to hold back: RFC 6733 §5.4 lets the answers to
    /// requests already received go out before the DPA closes the connection.
    fn holds_dpr(&self, id: ConnId, m: &RawMessage) -> bool {
        m.header.command_code == crate::base::command::DISCONNECT_PEER
            && m.header.is_request()
            && self.in_flight > 0
            && self.draining.is_none()
            && self.peer.is_open()
            && self.conns.contains_key(&id)
    }

    fn start_drain(&mut self, then: AfterDrain) {
        let deadline = Instant::now() + self.node.inner.limits.dpr_drain_timeout;
        // Leaving: no new requests are routed to this peer either.
        self.status.set_available(false);
        self.draining = Some(Drain {
            deadline,
            then,
            stop: None,
        });
    }

    /// Goes on with the disconnection held back: the DPA or DPR goes out after the
    /// answers already queued.
    fn end_drain(&mut self) {
        let Some(d) = self.draining.take() else {
            return;
        };
        match d.then {
            AfterDrain::PeerDpr(id, m) => self.input(Input::Received(id, m)),
            AfterDrain::Stop(cause) => self.input(Input::Stop(cause)),
        }
        if let Some(cause) = d.stop {
            self.input(Input::Stop(cause));
        }
    }

    fn send_request(
        &mut self,
        msg: RawMessage,
        reply: Reply,
        deadline: Instant,
        span: tracing::Span,
    ) {
        if self.pending.len() >= self.node.inner.limits.max_pending_per_peer {
            let _ = reply.send(Err(RequestError::TooBusy));
            return;
        }
        let (app, cmd) = (msg.header.application_id, msg.header.command_code);
        match self.peer.send(msg) {
            Ok(hbh) => {
                self.node.inner.metrics.request(Direction::Out, app, cmd);
                span.record("hop_by_hop", hbh);
                span.in_scope(|| tracing::trace!("request sent"));
                let pending = Pending {
                    reply,
                    sent: Instant::now(),
                    span,
                };
                if let Err(p) = self.pending.insert(hbh, deadline.into_std(), pending) {
                    let _ = p.reply.send(Err(RequestError::TooBusy));
                }
                self.drain();
            }
            Err(PeerError::ApplicationUnsupported(_)) => {
                let _ = reply.send(Err(RequestError::NoRoute(rc::DIAMETER_UNABLE_TO_DELIVER)));
            }
            Err(_) => {
                let _ = reply.send(Err(RequestError::PeerFailed(self.status.host.clone())));
            }
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.peer.poll_output() {
            match o {
                Output::Connect => self.connect(),
                Output::CancelConnect => {
                    if let Some(c) = self.connecting.take() {
                        c.abort();
                    }
                }
                Output::Send(id, msg) => self.queue_send(id, &msg),
                Output::Close(id) => {
                    // What is queued for it still goes out before the writer closes.
                    self.flush_conn(id);
                    self.conns.remove(&id);
                }
                Output::Deliver(msg) => self.deliver(msg),
                Output::Event(e) => self.event(e),
            }
        }
    }

    /// Appends an encoded message to the connection's pending batch.
    fn queue_send(&mut self, id: ConnId, msg: &RawMessage) {
        if !self.conns.contains_key(&id) {
            return;
        }
        let i = match self.out.iter().position(|(c, _)| *c == id) {
            Some(i) => i,
            None => {
                self.out.push((id, bytes::BytesMut::with_capacity(4096)));
                self.out.len() - 1
            }
        };
        msg.encode(&mut self.out[i].1);
        if self.out[i].1.len() >= transport::WRITE_BATCH {
            self.flush_conn(id);
        }
    }

    /// Hands one connection's batch to its writer. A full write queue means the peer does
    /// not read: the connection is closed rather than stalling the node (the watchdog
    /// and failover take over). Returns whether the connection was closed.
    fn flush_conn(&mut self, id: ConnId) -> bool {
        let Some(i) = self.out.iter().position(|(c, _)| *c == id) else {
            return false;
        };
        let (_, buf) = self.out.swap_remove(i);
        let sent = self.conns.get(&id).map(|c| c.queue.try_send(buf.freeze()));
        if let Some(Err(e)) = sent {
            tracing::warn!(?e, "write queue full or writer gone, closing connection");
            if let Some(c) = self.conns.remove(&id) {
                c.kill();
            }
            self.peer
                .handle(Instant::now().into_std(), Input::Disconnected(id));
            return true;
        }
        false
    }

    /// Hands every pending batch to the writers.
    fn flush(&mut self) {
        // Bounded: each round either empties `out` or closes a connection.
        for _ in 0..=self.conns.len() + 1 {
            let Some(&(id, _)) = self.out.first() else {
                return;
            };
            if self.flush_conn(id) {
                self.drain();
            }
        }
    }

    fn connect(&mut self) {
        let Some(addr) = self.addr else {
            self.peer
                .handle(Instant::now().into_std(), Input::ConnectFailed);
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

    fn deliver(&mut self, msg: RawMessage) {
        let metrics = &self.node.inner.metrics;
        let h = msg.header;
        if !h.is_request() {
            match self.pending.take(h.hop_by_hop) {
                Some(p) => {
                    let code = crate::fields::result_code(&msg);
                    metrics.answer(Direction::Out, h.command_code, code, Some(p.sent.elapsed()));
                    p.span
                        .in_scope(|| tracing::trace!(result_code = code, "answer received"));
                    let _ = p.reply.send(Ok(msg));
                }
                None => tracing::debug!(
                    hop_by_hop = msg.header.hop_by_hop,
                    "answer matches no pending request"
                ),
            }
            return;
        }
        metrics.request(Direction::In, h.application_id, h.command_code);
        let permit = match self.draining {
            // The peer asked to disconnect: it gets no new work here.
            Some(_) => None,
            None => self.inbound.clone().try_acquire_owned().ok(),
        };
        let Some(permit) = permit else {
            let answer = dispatch::answer_code(&self.node, &msg, rc::DIAMETER_TOO_BUSY);
            metrics.answer(
                Direction::In,
                h.command_code,
                Some(rc::DIAMETER_TOO_BUSY),
                Some(std::time::Duration::ZERO),
            );
            let _ = self.peer.send(answer);
            return;
        };
        let node = self.node.clone();
        let tx = self.tx.clone();
        let from = self.status.host.clone();
        let request = msg.clone();
        let span = tracing::debug_span!(
            "request",
            application = h.application_id,
            command = h.command_code,
            hop_by_hop = h.hop_by_hop,
            end_to_end = h.end_to_end,
        );
        let received = Instant::now();
        let answer = async move {
            let answer = dispatch::dispatch(&node, msg, &from).await;
            let code = crate::fields::result_code(&answer);
            tracing::trace!(result_code = code, "answered");
            node.inner.metrics.answer(
                Direction::In,
                h.command_code,
                code,
                Some(received.elapsed()),
            );
            answer
        };
        let mut answer = Box::pin(tracing::Instrument::instrument(answer, span));
        // A handler that answers at once runs here, without a task of its own; the
        // answer joins this burst's write.
        let mut cx = std::task::Context::from_waker(&self.noop);
        if let std::task::Poll::Ready(answer) = answer.as_mut().poll(&mut cx) {
            drop(permit);
            if let Err(e) = self.peer.send(answer) {
                tracing::debug!("answer dropped: {e}");
            }
            return;
        }
        // Still running: retransmissions of this request wait for its answer.
        self.in_flight += 1;
        let guard = dispatch::InFlightGuard::register(&self.node, &request);
        let unanswered = Unanswered(Some(tx.clone()));
        tokio::spawn(async move {
            let answer = answer.await;
            drop(permit);
            if let Some(g) = guard {
                g.done(&answer);
            }
            unanswered.answered();
            let _ = tx.send(PeerCmd::Answer(answer)).await;
        });
    }

    fn event(&mut self, e: PeerEvent) {
        let host = self.status.host.clone();
        let events = self.node.inner.events.clone();
        let metrics = self.node.inner.metrics.clone();
        match e {
            PeerEvent::Up { caps, common } => {
                self.status
                    .set_caps(&caps.origin_realm, &common, caps.is_relay());
                self.status.set_available(self.peer.is_available());
                tracing::info!("peer up");
                metrics.peer_state(&host, "up", self.peer.is_available());
                let _ = events.send(NodeEvent::PeerUp { host });
            }
            PeerEvent::Available => {
                self.status.set_available(true);
                metrics.peer_state(&host, "available", true);
            }
            PeerEvent::Suspect => {
                self.status.set_available(false);
                metrics.peer_state(&host, "suspect", false);
                self.fail_pending();
                let _ = events.send(NodeEvent::PeerSuspect { host });
            }
            PeerEvent::Down(reason) => {
                self.status.set_available(false);
                self.fail_pending();
                tracing::info!(?reason, "peer down");
                metrics.peer_state(&host, "down", false);
                let _ = events.send(NodeEvent::PeerDown { host, reason });
            }
        }
    }

    /// RFC 3539 failover: every pending request goes back to the node, which re-sends it
    /// elsewhere (or fails it) according to its policy.
    fn fail_pending(&mut self) {
        for (_, p) in self.pending.drain() {
            let _ = p
                .reply
                .send(Err(RequestError::PeerFailed(self.status.host.clone())));
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
