//! The node's protocol logic without I/O, shaped like quinn-proto's `Connection`:
//! events in ([`PeerAgent::handle`], [`PeerAgent::send_request`]), actions out
//! ([`PeerAgent::poll_action`]) and the next deadline ([`PeerAgent::poll_timeout`]).
//! No sockets, no tasks, no clock: `now` is passed in.
//!
//! A [`PeerAgent`] owns, for one peer, what the tokio driver used to decide itself:
//!
//! - the RFC 6733 §5.6 state machine ([`Peer`]) with its watchdog;
//! - the requests sent and not answered, with their deadlines ([`PendingTable`]), and
//!   RFC 3539 failover: when the peer turns suspect or goes down, each pending request is
//!   given back as [`Failure::PeerFailed`] for the caller to re-send elsewhere;
//! - back-pressure: at most [`AgentLimits::max_pending`] requests pending each way;
//!   beyond it requests sent get [`Failure::TooBusy`] and requests received are answered
//!   3004 DIAMETER_TOO_BUSY;
//! - the election guard of a dialled peer ([`crate::peer::may_contend`]);
//! - the DPR drain: a DPR (the peer's, or a stop asked here) waits until the answers to
//!   the requests being handled went out, at most [`AgentLimits::drain_timeout`], while
//!   new requests get 3004 (RFC 6733 §5.4).
//!
//! What is about many peers is the node-wide [`Agent`] (quinn-proto's `Endpoint`): the
//! routing table and the one routing decision across peers, duplicate detection (saved
//! answers and requests in progress), and failover of a request from a failed peer to
//! another one. The tokio node ([`crate::node`], feature `tokio`) runs one `PeerAgent`
//! per peer task (peers run in parallel) and one `Agent` behind a lock, taken once when
//! a request arrives and once when its answer is ready.
//!
//! ```text
//!   driver                         PeerAgent
//!   bytes -> message  ──Received──▶  peer state machine ──▶ Send / Close / Connect
//!   app request  ──send_request──▶  pending table        ──▶ Answered(value, result)
//!   handler answer  ──Answer─────▶  in-flight count, drain ─▶ Handle(request)
//!   sleep until poll_timeout ──Timeout──▶ watchdog, expiries, drain deadline
//! ```

mod failover;
mod inflight;
mod node;
#[cfg(test)]
mod node_tests;
#[cfg(test)]
mod tests;

pub use failover::{Attempts, FailoverPolicy, MAX_ATTEMPTS};
pub use inflight::{InFlight, InFlightKey, Joined};
/// What the node-wide [`Agent`] asks its driver to do.
pub use node::Action as NodeAction;
pub use node::{within_size, Agent, AgentConfig, Inbound, PeerChange, RequestId, RouteError};

use crate::answer::{answer_with, Origin};
use crate::base::DisconnectCause;
use crate::header::Header;
use crate::message::RawMessage;
use crate::peer::{
    may_contend, Capabilities, ConnId, Input, Output, Peer, PeerError, PeerEvent, PeerState,
};
use crate::pending::PendingTable;
use crate::result_code as rc;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bounds of one peer's agent.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct AgentLimits {
    /// Requests in flight per peer, each way (the node's `max_pending_per_peer`).
    /// Default 1024.
    pub max_pending: usize,
    /// How long a DPR waits for the answers in flight (the node's `dpr_drain_timeout`).
    /// Default 4 s.
    pub drain_timeout: Duration,
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            max_pending: 1024,
            drain_timeout: Duration::from_secs(4),
        }
    }
}

/// What the driver reports to the agent.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Start: connect to the peer when it is dialled.
    Start,
    /// The connection asked for by [`Action::Connect`] is up.
    Connected(ConnId),
    /// The connection attempt failed.
    ConnectFailed,
    /// An accepted connection whose first message is this CER (already checked by the
    /// accept policy).
    Incoming {
        /// The connection.
        conn: ConnId,
        /// The CER.
        cer: RawMessage,
        /// The capabilities read from it.
        caps: Box<Capabilities>,
        /// The address it comes from.
        remote: IpAddr,
        /// A certificate or the accept policy's source check vouches for the identity.
        vouched: bool,
    },
    /// A message arrived on a connection.
    Received(ConnId, RawMessage),
    /// A connection closed (or the driver closed it: write queue full).
    Closed(ConnId),
    /// The answer to a request handed out with [`Action::Handle`].
    Answer(RawMessage),
    /// The driver wrote the answer to a request handed out with [`Action::Handle`]
    /// itself, on the connection [`PeerAgent::answer_conn`] named (encoded straight into
    /// that connection's write buffer).
    AnswerWritten,
    /// A request handed out with [`Action::Handle`] will get no answer (its handler
    /// failed).
    Unanswered,
    /// Send DPR with this cause and close (after the drain).
    Stop(DisconnectCause),
    /// A timer may have expired.
    Timeout,
}

/// Why a request sent through the agent got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Its deadline passed.
    Timeout,
    /// The peer failed (suspect or down) with the request pending, or could not take it:
    /// fail over.
    PeerFailed,
    /// The peer does not support the request's application (3002).
    Unsupported,
    /// Too many requests pending on the peer (3004).
    TooBusy,
}

/// Things the driver may log or count; they change nothing.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A CER claimed this dialled peer from another address, without a certificate;
    /// answered 3010 and closed.
    ContendRefused(IpAddr),
    /// A disconnection waits for this many answers in flight; `by_peer`: the peer's DPR.
    DrainStarted {
        /// Answers in flight.
        in_flight: usize,
        /// Whether the peer sent the DPR (else a stop asked here).
        by_peer: bool,
    },
    /// The drain deadline passed with this many answers still in flight.
    DrainTimedOut(usize),
    /// A request was answered 3004 (too many in flight, or draining).
    Busy(Header),
    /// An answer matched no pending request.
    Stray(u32),
    /// A message could not be sent.
    Dropped(PeerError),
}

/// What the agent asks the driver to do.
#[derive(Debug)]
pub enum Action<T> {
    /// Open a connection to the peer; report with [`Event::Connected`] or
    /// [`Event::ConnectFailed`].
    Connect,
    /// Abandon the connection attempt.
    CancelConnect,
    /// Write this message on the connection.
    Send(ConnId, RawMessage),
    /// Close the connection once what is queued for it is written.
    Close(ConnId),
    /// Hand a request to the handlers; report with [`Event::Answer`] or
    /// [`Event::Unanswered`].
    Handle(RawMessage),
    /// A request given to [`PeerAgent::send_request`] is done.
    Answered(T, Result<RawMessage, Failure>),
    /// The peer's state changed.
    Peer(PeerEvent),
    /// The peer is leaving (DPR drain): route nothing more to it.
    Draining,
    /// For logs and metrics.
    Notice(Notice),
}

/// A disconnection held back while answers are in flight.
#[derive(Debug)]
struct Drain {
    deadline: Instant,
    then: AfterDrain,
    /// A stop asked for meanwhile, applied after `then`.
    stop: Option<DisconnectCause>,
}

#[derive(Debug)]
enum AfterDrain {
    /// The peer's DPR, received on this connection: answered (DPA) and closed.
    PeerDpr(ConnId, RawMessage),
    /// Our own stop: DPR sent and closed.
    Stop(DisconnectCause),
}

/// One peer's protocol logic; `T` is what the driver keeps per request it sends (a reply
/// channel), given back in [`Action::Answered`].
#[derive(Debug)]
pub struct PeerAgent<T> {
    peer: Peer,
    local: Arc<Capabilities>,
    limits: AgentLimits,
    /// Where the peer is dialled, if it is.
    dialled: Option<IpAddr>,
    /// Connections the driver holds for this peer.
    conns: Vec<ConnId>,
    pending: PendingTable<T>,
    /// Requests handed to the handlers and not answered yet.
    in_flight: usize,
    draining: Option<Drain>,
    out: VecDeque<Action<T>>,
}

impl<T> PeerAgent<T> {
    /// An agent for `peer` (whose local capabilities are `local`), dialled at `dialled`
    /// (or accepted only).
    pub fn new(
        peer: Peer,
        local: Arc<Capabilities>,
        dialled: Option<IpAddr>,
        limits: AgentLimits,
    ) -> Self {
        PeerAgent {
            peer,
            local,
            limits,
            dialled,
            conns: Vec::new(),
            pending: PendingTable::new(),
            in_flight: 0,
            draining: None,
            out: VecDeque::new(),
        }
    }

    /// The peer's state machine.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The connection an answer goes out on now (`None` unless the peer is open): where
    /// a driver may write an answer itself, reporting it with [`Event::AnswerWritten`].
    pub fn answer_conn(&self) -> Option<ConnId> {
        self.peer.active_conn().filter(|_| self.peer.is_open())
    }

    /// Requests sent and not answered.
    pub fn pending(&self) -> &PendingTable<T> {
        &self.pending
    }

    /// Requests handed to the handlers and not answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether a disconnection waits for answers in flight.
    pub fn is_draining(&self) -> bool {
        self.draining.is_some()
    }

    /// An accepted-only peer, closed, with no connection left: the driver may forget it.
    pub fn is_unused(&self) -> bool {
        self.dialled.is_none() && self.conns.is_empty() && self.peer.state() == PeerState::Closed
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action<T>> {
        self.out.pop_front()
    }

    /// When to report [`Event::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.peer.poll_timeout(),
            self.pending.next_deadline(),
            self.draining.as_ref().map(|d| d.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends a request, answered by [`Action::Answered`] with `value` (at `deadline` at
    /// the latest). Returns the Hop-by-Hop id, or `value` back when the request cannot go.
    pub fn send_request(
        &mut self,
        msg: RawMessage,
        deadline: Instant,
        value: T,
    ) -> Result<u32, (T, Failure)> {
        if self.pending.len() >= self.limits.max_pending {
            return Err((value, Failure::TooBusy));
        }
        match self.peer.send(msg) {
            Ok(hbh) => {
                self.pump();
                self.pending
                    .insert(hbh, deadline, value)
                    .map_err(|v| (v, Failure::TooBusy))?;
                Ok(hbh)
            }
            Err(PeerError::ApplicationUnsupported(_)) => Err((value, Failure::Unsupported)),
            Err(_) => Err((value, Failure::PeerFailed)),
        }
    }

    /// Feeds an event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Start => self.input(now, Input::Start),
            Event::Connected(id) => {
                self.conns.push(id);
                self.input(now, Input::ConnectOk(id));
            }
            Event::ConnectFailed => self.input(now, Input::ConnectFailed),
            Event::Incoming {
                conn,
                cer,
                caps,
                remote,
                vouched,
            } => {
                self.conns.push(conn);
                if !may_contend(self.dialled, remote, vouched) {
                    // Someone else claims the peer we dial: refuse it, keep ours.
                    self.out
                        .push_back(Action::Notice(Notice::ContendRefused(remote)));
                    let answer = crate::peer::capabilities::cea(
                        &self.local,
                        &cer.header,
                        rc::DIAMETER_UNKNOWN_PEER,
                        Some("this peer is dialled at another address"),
                        None,
                    );
                    self.out.push_back(Action::Send(conn, answer));
                    self.close(conn);
                    return;
                }
                self.input(now, Input::Incoming { conn, cer, caps });
            }
            Event::Received(id, m) => {
                if self.holds_dpr(id, &m) {
                    self.out.push_back(Action::Notice(Notice::DrainStarted {
                        in_flight: self.in_flight,
                        by_peer: true,
                    }));
                    self.start_drain(now, AfterDrain::PeerDpr(id, m));
                    return;
                }
                self.input(now, Input::Received(id, m))
            }
            Event::Closed(id) => {
                let gone = self
                    .draining
                    .as_ref()
                    .is_some_and(|d| matches!(d.then, AfterDrain::PeerDpr(c, _) if c == id));
                let stop = if gone {
                    self.draining.take().and_then(|d| d.stop)
                } else {
                    None
                };
                self.conns.retain(|c| *c != id);
                self.input(now, Input::Disconnected(id));
                if let Some(cause) = stop {
                    self.input(now, Input::Stop(cause));
                }
            }
            Event::Answer(msg) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Err(e) = self.peer.send(msg) {
                    self.out.push_back(Action::Notice(Notice::Dropped(e)));
                }
                self.pump();
                if self.in_flight == 0 {
                    self.end_drain(now);
                }
            }
            Event::Unanswered | Event::AnswerWritten => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if self.in_flight == 0 {
                    self.end_drain(now);
                }
            }
            Event::Stop(cause) => {
                if let Some(d) = &mut self.draining {
                    d.stop = Some(cause);
                    return;
                }
                if self.in_flight > 0 && self.peer.is_open() {
                    self.out.push_back(Action::Notice(Notice::DrainStarted {
                        in_flight: self.in_flight,
                        by_peer: false,
                    }));
                    self.start_drain(now, AfterDrain::Stop(cause));
                    return;
                }
                self.input(now, Input::Stop(cause))
            }
            Event::Timeout => {
                if self.draining.as_ref().is_some_and(|d| d.deadline <= now) {
                    self.out
                        .push_back(Action::Notice(Notice::DrainTimedOut(self.in_flight)));
                    self.end_drain(now);
                }
                self.input(now, Input::Timeout);
                for (_, v) in self.pending.expired(now) {
                    self.out
                        .push_back(Action::Answered(v, Err(Failure::Timeout)));
                }
            }
        }
    }

    /// Gives back every pending request as [`Failure::PeerFailed`] (the driver is
    /// dropping this peer).
    pub fn fail_pending(&mut self) {
        for (_, v) in self.pending.drain() {
            self.out
                .push_back(Action::Answered(v, Err(Failure::PeerFailed)));
        }
    }

    /// The connection is closed by the driver (e.g. its write queue is full).
    fn close(&mut self, id: ConnId) {
        self.conns.retain(|c| *c != id);
        self.out.push_back(Action::Close(id));
    }

    fn input(&mut self, now: Instant, input: Input) {
        self.peer.handle(now, input);
        self.pump();
    }

    /// Turns the state machine's outputs into actions.
    fn pump(&mut self) {
        while let Some(o) = self.peer.poll_output() {
            match o {
                Output::Connect => self.out.push_back(Action::Connect),
                Output::CancelConnect => self.out.push_back(Action::CancelConnect),
                Output::Send(id, msg) => self.out.push_back(Action::Send(id, msg)),
                Output::Close(id) => self.close(id),
                Output::Deliver(msg) => self.deliver(msg),
                Output::Event(e) => {
                    let failed = matches!(e, PeerEvent::Suspect | PeerEvent::Down(_));
                    self.out.push_back(Action::Peer(e));
                    if failed {
                        self.fail_pending();
                    }
                }
            }
        }
    }

    fn deliver(&mut self, msg: RawMessage) {
        let h = msg.header;
        if !h.is_request() {
            match self.pending.take(h.hop_by_hop) {
                Some(v) => self.out.push_back(Action::Answered(v, Ok(msg))),
                None => self
                    .out
                    .push_back(Action::Notice(Notice::Stray(h.hop_by_hop))),
            }
            return;
        }
        // A peer that asked to disconnect gets no new work here.
        if self.draining.is_some() || self.in_flight >= self.limits.max_pending {
            let origin = Origin {
                host: &self.local.origin_host,
                realm: &self.local.origin_realm,
            };
            let answer = answer_with(&msg, &origin, rc::DIAMETER_TOO_BUSY, None, None);
            self.out.push_back(Action::Notice(Notice::Busy(h)));
            // Queued in the state machine: the pump loop that delivered this takes it.
            if let Err(e) = self.peer.send(answer) {
                self.out.push_back(Action::Notice(Notice::Dropped(e)));
            }
            return;
        }
        self.in_flight += 1;
        self.out.push_back(Action::Handle(msg));
    }

    /// Whether a message is a DPR to hold back: RFC 6733 §5.4 lets the answers to
    /// requests already received go out before the DPA closes the connection.
    fn holds_dpr(&self, id: ConnId, m: &RawMessage) -> bool {
        m.header.command_code == crate::base::command::DISCONNECT_PEER
            && m.header.is_request()
            && self.in_flight > 0
            && self.draining.is_none()
            && self.peer.is_open()
            && self.conns.contains(&id)
    }

    fn start_drain(&mut self, now: Instant, then: AfterDrain) {
        self.out.push_back(Action::Draining);
        self.draining = Some(Drain {
            deadline: now + self.limits.drain_timeout,
            then,
            stop: None,
        });
    }

    /// Goes on with the disconnection held back: the DPA or DPR goes out after the
    /// answers already sent.
    fn end_drain(&mut self, now: Instant) {
        let Some(d) = self.draining.take() else {
            return;
        };
        match d.then {
            AfterDrain::PeerDpr(id, m) => self.input(now, Input::Received(id, m)),
            AfterDrain::Stop(cause) => self.input(now, Input::Stop(cause)),
        }
        if let Some(cause) = d.stop {
            self.input(now, Input::Stop(cause));
        }
    }
}
