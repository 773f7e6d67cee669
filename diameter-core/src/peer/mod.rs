//! The peer state machine of RFC 6733 §5.6 with the RFC 3539 watchdog, sans-IO.
//!
//! A [`Peer`] is the state of one remote Diameter node. It owns no socket and reads no
//! clock: the driver feeds it [`Input`]s with the current time, drains [`Output`]s
//! (connect, send, close, deliver, events) and wakes it at [`Peer::poll_timeout`].
//!
//! ```text
//!            Start                 conn ack / send CER          CEA ok
//!  Closed ----------> WaitConnAck --------------------> WaitICea -------> IOpen
//!    |                    | R-Conn-CER                     | R-Conn-CER     |
//!    | R-Conn-CER         v            conn ack, elect     v                |
//!    |              WaitConnAckElect ----------------> WaitReturns          |
//!    |                    | conn nack        win / I-disc  |  CEA: R-disc   |
//!    v                    v                                v                |
//!  ROpen <-----------------------------------------------'                  |
//!    |  Stop / DPR                                                          |
//!    '-------------------------> Closing <----------------------------------'
//!                                   | DPA / disconnect / timeout
//!                                   v
//!                                 Closed  (reconnect after Tc with back-off)
//! ```
//!
//! Connections are named by [`ConnId`]s that the driver chooses. Incoming connections
//! are checked by [`accept::check_incoming`] before they reach a peer.

pub mod accept;
pub mod capabilities;
pub mod messages;
pub mod watchdog;

#[cfg(test)]
mod tests;

pub use accept::{
    check_incoming, may_contend, AcceptPolicy, Admission, Admitted, AllowedPeer, Rejection,
    SourceNet, SourceNetError,
};
pub use capabilities::{Capabilities, CommonApplications, VendorApp};
pub use watchdog::WatchdogState;

use crate::base::{avp, command, inband_security, DisconnectCause};
use crate::fields::{cmp_identity, find_u32, result_code};
use crate::ids::{EndToEndIds, HopByHopIds, Jitter};
use crate::message::RawMessage;
use crate::result_code as rc;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchdog::{Watchdog, WdAction};

/// A transport connection, named by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The states of RFC 6733 §5.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// No connection.
    Closed,
    /// A connection was requested.
    WaitConnAck,
    /// The CER was sent on the initiator connection.
    WaitICea,
    /// A CER arrived while our own connection attempt is pending.
    WaitConnAckElect,
    /// Both connections exist; the election decides which stays.
    WaitReturns,
    /// Open over the responder connection.
    ROpen,
    /// Open over the initiator connection.
    IOpen,
    /// A DPR was sent or answered; waiting for the connection to go.
    Closing,
}

/// Timers and policies of one peer.
#[derive(Clone, Debug)]
pub struct PeerSettings {
    /// Whether this node connects to the peer (a configured peer) rather than only
    /// accepting its connections.
    pub initiate: bool,
    /// Watchdog interval Tw (RFC 3539 §3.4.1, default 30 s).
    pub tw: Duration,
    /// Jitter applied to Tw, in both directions (default 2 s).
    pub tw_jitter: Duration,
    /// Reconnect interval Tc (RFC 6733 §2.1, default 30 s); the first retry delay.
    pub tc: Duration,
    /// Largest reconnect delay after repeated failures (default 8 × Tc).
    pub max_backoff: Duration,
    /// Time allowed for a connection attempt, CEA or election (default 10 s).
    pub cea_timeout: Duration,
    /// Time allowed for a DPA or for the peer to disconnect after our DPA (default 5 s).
    pub dpa_timeout: Duration,
    /// After a DPR with BUSY or DO_NOT_WANT_TO_TALK_TO_YOU: wait this long before
    /// reconnecting, or never (`None`, the default; a [`Input::Start`] still connects).
    /// After REBOOTING the peer reconnects after Tc.
    pub reconnect_after_dpr: Option<Duration>,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            initiate: true,
            tw: Duration::from_secs(30),
            tw_jitter: Duration::from_secs(2),
            tc: Duration::from_secs(30),
            max_backoff: Duration::from_secs(240),
            cea_timeout: Duration::from_secs(10),
            dpa_timeout: Duration::from_secs(5),
            reconnect_after_dpr: None,
        }
    }
}

/// Events from the driver.
#[derive(Clone, Debug)]
pub enum Input {
    /// Start: connect to the peer (if not connected).
    Start,
    /// Stop: send DPR with this cause and close.
    Stop(DisconnectCause),
    /// I-Rcv-Conn-Ack: the connection asked for by [`Output::Connect`] is up.
    ConnectOk(ConnId),
    /// I-Rcv-Conn-Nack: the connection attempt failed.
    ConnectFailed,
    /// R-Conn-CER: an accepted connection whose first message is this CER, already
    /// checked by [`accept::check_incoming`].
    Incoming {
        /// The accepted connection.
        conn: ConnId,
        /// The CER.
        cer: RawMessage,
        /// The capabilities read from it.
        caps: Box<Capabilities>,
    },
    /// A message arrived on a connection.
    Received(ConnId, RawMessage),
    /// Peer-Disc: the connection closed.
    Disconnected(ConnId),
    /// A timer may have expired.
    Timeout,
}

/// Why a peer went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// The transport closed or failed.
    Transport,
    /// The watchdog declared the peer DOWN.
    Watchdog,
    /// The peer sent DPR with this cause.
    PeerDisconnected(DisconnectCause),
    /// We stopped the peer (DPR sent).
    Stopped,
    /// The capabilities exchange failed with this Result-Code (5010, 3010, ...).
    CapabilitiesRejected(u32),
    /// The connection attempt, the CEA or the DPA timed out.
    Timeout,
}

/// What the peer tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The capabilities exchange succeeded; the peer is open.
    Up {
        /// The peer's capabilities.
        caps: Box<Capabilities>,
        /// The negotiated applications.
        common: CommonApplications,
    },
    /// The watchdog suspects the peer: pending requests should fail over.
    Suspect,
    /// Traffic may flow again (OKAY after SUSPECT, or after REOPEN's third DWA).
    Available,
    /// The peer is no longer open.
    Down(DownReason),
}

/// Actions for the driver.
#[derive(Clone, Debug)]
pub enum Output {
    /// Open a transport connection to the peer and answer with `ConnectOk`/`ConnectFailed`.
    Connect,
    /// Abandon the pending connection attempt.
    CancelConnect,
    /// Send a message on a connection.
    Send(ConnId, RawMessage),
    /// Close a connection.
    Close(ConnId),
    /// A message for the application layer (requests and answers other than the base
    /// peer commands).
    Deliver(RawMessage),
    /// A state change to report.
    Event(PeerEvent),
}

/// Why [`Peer::send`] refused a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer is not open.
    #[error("peer is not open (state {0:?})")]
    NotOpen(PeerState),
    /// The watchdog does not allow traffic (SUSPECT or REOPEN).
    #[error("peer is not available (watchdog {0:?})")]
    NotAvailable(WatchdogState),
    /// The peer did not advertise this application.
    #[error("application {0} is not supported by the peer")]
    ApplicationUnsupported(u32),
}

/// The state of one remote peer: RFC 6733 §5.6 plus the RFC 3539 watchdog.
#[derive(Debug)]
pub struct Peer {
    local: Arc<Capabilities>,
    settings: PeerSettings,
    state: PeerState,
    i_conn: Option<ConnId>,
    r_conn: Option<ConnId>,
    /// The CER of the responder connection, answered once the election is decided.
    r_cer: Option<(RawMessage, Capabilities)>,
    remote: Option<Capabilities>,
    common: CommonApplications,
    state_deadline: Option<Instant>,
    reconnect_at: Option<Instant>,
    backoff: Duration,
    stopped: bool,
    /// The cause of a DPR received from the peer, while closing.
    peer_dpr: Option<DisconnectCause>,
    watchdog: Watchdog,
    hop_by_hop: HopByHopIds,
    end_to_end: EndToEndIds,
    out: VecDeque<Output>,
}

impl Peer {
    /// A peer in state Closed. `seed` feeds the hop-by-hop start and the watchdog jitter;
    /// `clock_secs` (Unix seconds) the End-to-End ids of the base messages. Call
    /// `handle(now, Input::Start)` to connect.
    pub fn new(
        local: Arc<Capabilities>,
        settings: PeerSettings,
        seed: u64,
        clock_secs: u64,
    ) -> Self {
        let mut rng = Jitter::new(seed);
        let backoff = settings.tc;
        Peer {
            local,
            watchdog: Watchdog::new(settings.tw, settings.tw_jitter, rng.below(u64::MAX)),
            settings,
            state: PeerState::Closed,
            i_conn: None,
            r_conn: None,
            r_cer: None,
            remote: None,
            common: CommonApplications::default(),
            state_deadline: None,
            reconnect_at: None,
            backoff,
            stopped: false,
            peer_dpr: None,
            hop_by_hop: HopByHopIds::new(rng.below(u64::MAX) as u32),
            end_to_end: EndToEndIds::new(clock_secs),
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> PeerState {
        self.state
    }

    /// The watchdog status.
    pub fn watchdog_state(&self) -> WatchdogState {
        self.watchdog.state
    }

    /// Whether requests may be sent: open and the watchdog OKAY.
    pub fn is_available(&self) -> bool {
        self.is_open() && self.watchdog.state == WatchdogState::Okay
    }

    /// Whether the state is I-Open or R-Open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, PeerState::IOpen | PeerState::ROpen)
    }

    /// The peer's capabilities from its last CER/CEA.
    pub fn remote(&self) -> Option<&Capabilities> {
        self.remote.as_ref()
    }

    /// The negotiated applications.
    pub fn common_applications(&self) -> &CommonApplications {
        &self.common
    }

    /// The connection in use while open.
    pub fn active_conn(&self) -> Option<ConnId> {
        match self.state {
            PeerState::IOpen => self.i_conn,
            PeerState::ROpen => self.r_conn,
            PeerState::Closing => self.i_conn.or(self.r_conn),
            _ => None,
        }
    }

    /// The next action for the driver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to call `handle(now, Input::Timeout)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.state_deadline,
            self.reconnect_at,
            self.watchdog.deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends an application message (Send-Message). Requests get a fresh Hop-by-Hop id,
    /// which is returned; answers keep theirs. Requests need the peer available and the
    /// application negotiated; answers only need the peer open.
    pub fn send(&mut self, mut msg: RawMessage) -> Result<u32, PeerError> {
        let conn = match (self.is_open(), self.active_conn()) {
            (true, Some(c)) => c,
            _ => return Err(PeerError::NotOpen(self.state)),
        };
        if msg.header.is_request() {
            if self.watchdog.state != WatchdogState::Okay {
                return Err(PeerError::NotAvailable(self.watchdog.state));
            }
            if !self.common.supports(msg.header.application_id) {
                return Err(PeerError::ApplicationUnsupported(msg.header.application_id));
            }
            msg.header.hop_by_hop = self.hop_by_hop.next();
        }
        let hbh = msg.header.hop_by_hop;
        self.out.push_back(Output::Send(conn, msg));
        Ok(hbh)
    }

    /// Feeds one event at time `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => self.on_start(now),
            Input::Stop(cause) => self.on_stop(now, cause),
            Input::ConnectOk(conn) => self.on_connect_ok(now, conn),
            Input::ConnectFailed => self.on_connect_failed(now),
            Input::Incoming { conn, cer, caps } => self.on_incoming(now, conn, cer, *caps),
            Input::Received(conn, msg) => self.on_received(now, conn, msg),
            Input::Disconnected(conn) => self.on_disconnected(now, conn),
            Input::Timeout => self.on_timeout(now),
        }
    }

    // ----- events -----

    fn on_start(&mut self, now: Instant) {
        self.stopped = false;
        if self.state == PeerState::Closed {
            self.reconnect_at = None;
            self.out.push_back(Output::Connect);
            self.set_state(
                PeerState::WaitConnAck,
                Some(now + self.settings.cea_timeout),
            );
        }
    }

    fn on_stop(&mut self, now: Instant, cause: DisconnectCause) {
        self.stopped = true;
        self.reconnect_at = None;
        match self.state {
            PeerState::IOpen | PeerState::ROpen => {
                if let Some(conn) = self.active_conn() {
                    let dpr = messages::dpr(
                        &self.local,
                        cause,
                        self.hop_by_hop.next(),
                        self.end_to_end.next(),
                    );
                    self.out.push_back(Output::Send(conn, dpr));
                }
                self.keep_only_active();
                self.set_state(PeerState::Closing, Some(now + self.settings.dpa_timeout));
            }
            PeerState::Closed | PeerState::Closing => {}
            _ => {
                if self.state == PeerState::WaitConnAck || self.state == PeerState::WaitConnAckElect
                {
                    self.out.push_back(Output::CancelConnect);
                }
                self.close_all();
                self.go_closed(now, DownReason::Stopped);
            }
        }
    }

    fn on_connect_ok(&mut self, now: Instant, conn: ConnId) {
        match self.state {
            PeerState::WaitConnAck => {
                self.i_conn = Some(conn);
                self.send_cer(conn);
                self.set_state(PeerState::WaitICea, Some(now + self.settings.cea_timeout));
            }
            PeerState::WaitConnAckElect => {
                self.i_conn = Some(conn);
                self.send_cer(conn);
                self.set_state(
                    PeerState::WaitReturns,
                    Some(now + self.settings.cea_timeout),
                );
                self.elect(now);
            }
            // A late connection nobody waits for any more.
            _ => self.out.push_back(Output::Close(conn)),
        }
    }

    fn on_connect_failed(&mut self, now: Instant) {
        match self.state {
            PeerState::WaitConnAck => self.go_closed(now, DownReason::Transport),
            PeerState::WaitConnAckElect => {
                if let Some(r) = self.r_conn {
                    self.answer_r_cer(r);
                    self.open(now, PeerState::ROpen);
                }
            }
            _ => {}
        }
    }

    fn on_incoming(&mut self, now: Instant, conn: ConnId, cer: RawMessage, caps: Capabilities) {
        match self.state {
            PeerState::Closed => {
                if self.accept_r(conn, cer, caps) {
                    if let Some(r) = self.r_conn {
                        self.answer_r_cer(r);
                    }
                    self.reconnect_at = None;
                    self.open(now, PeerState::ROpen);
                }
            }
            PeerState::WaitConnAck => {
                if self.accept_r(conn, cer, caps) {
                    self.set_state(PeerState::WaitConnAckElect, self.state_deadline);
                }
            }
            PeerState::WaitICea => {
                if self.accept_r(conn, cer, caps) {
                    self.set_state(PeerState::WaitReturns, self.state_deadline);
                    self.elect(now);
                }
            }
            // R-Reject in every other state.
            _ => self.out.push_back(Output::Close(conn)),
        }
    }

    fn on_received(&mut self, now: Instant, conn: ConnId, msg: RawMessage) {
        let is_i = self.i_conn == Some(conn);
        let is_r = self.r_conn == Some(conn);
        if !is_i && !is_r {
            return; // a connection already given up; its close is under way
        }
        let h = msg.header;
        let cea = h.command_code == command::CAPABILITIES_EXCHANGE && !h.is_request();
        match self.state {
            PeerState::WaitICea if is_i => {
                if cea && result_code(&msg) == Some(rc::ELECTION_LOST) {
                    self.peer_lost_election(now);
                } else if cea {
                    self.process_cea(now, &msg);
                } else {
                    // I-Rcv-Non-CEA: Error.
                    self.close_all();
                    self.go_closed(now, DownReason::Transport);
                }
            }
            PeerState::WaitReturns if is_i && cea => {
                // I-Rcv-CEA: R-Disc, I-Open (we lost the election).
                if let Some(r) = self.r_conn.take() {
                    self.out.push_back(Output::Close(r));
                }
                self.r_cer = None;
                self.process_cea(now, &msg);
            }
            PeerState::IOpen | PeerState::ROpen if self.active_conn() == Some(conn) => {
                self.process_open(now, conn, msg)
            }
            PeerState::Closing if self.active_conn() == Some(conn) => {
                self.process_closing(now, conn, msg)
            }
            _ => {}
        }
    }

    fn on_disconnected(&mut self, now: Instant, conn: ConnId) {
        let is_i = self.i_conn == Some(conn);
        let is_r = self.r_conn == Some(conn);
        if !is_i && !is_r {
            return;
        }
        if is_i {
            self.i_conn = None;
        } else {
            self.r_conn = None;
        }
        match self.state {
            PeerState::WaitICea => self.go_closed(now, DownReason::Transport),
            PeerState::WaitConnAckElect if is_r => {
                self.r_cer = None;
                self.set_state(PeerState::WaitConnAck, self.state_deadline);
            }
            PeerState::WaitReturns if is_i => {
                if let Some(r) = self.r_conn {
                    self.answer_r_cer(r);
                    self.open(now, PeerState::ROpen);
                }
            }
            PeerState::WaitReturns => {
                self.r_cer = None;
                self.set_state(PeerState::WaitICea, self.state_deadline);
            }
            PeerState::IOpen if is_i => self.go_closed(now, DownReason::Transport),
            PeerState::ROpen if is_r => self.go_closed(now, DownReason::Transport),
            PeerState::Closing => {
                self.close_all();
                let reason = self.closing_reason();
                self.go_closed(now, reason);
            }
            _ => {}
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.state_deadline.is_some_and(|d| d <= now) {
            self.state_deadline = None;
            match self.state {
                PeerState::WaitConnAck | PeerState::WaitConnAckElect => {
                    self.out.push_back(Output::CancelConnect);
                    self.close_all();
                    self.go_closed(now, DownReason::Timeout);
                }
                PeerState::WaitICea | PeerState::WaitReturns => {
                    self.close_all();
                    self.go_closed(now, DownReason::Timeout);
                }
                PeerState::Closing => {
                    self.close_all();
                    let reason = self.closing_reason();
                    self.go_closed(now, reason);
                }
                _ => {}
            }
        }
        if self.watchdog.deadline.is_some_and(|d| d <= now) {
            let action = self.watchdog.on_timeout(now);
            self.watchdog_action(now, action);
        }
        if self.reconnect_at.is_some_and(|d| d <= now) {
            self.reconnect_at = None;
            if self.state == PeerState::Closed && !self.stopped {
                self.out.push_back(Output::Connect);
                self.set_state(
                    PeerState::WaitConnAck,
                    Some(now + self.settings.cea_timeout),
                );
            }
        }
    }

    // ----- actions -----

    fn set_state(&mut self, state: PeerState, deadline: Option<Instant>) {
        self.state = state;
        self.state_deadline = deadline;
    }

    fn send_cer(&mut self, conn: ConnId) {
        let cer = capabilities::cer(&self.local, self.hop_by_hop.next(), self.end_to_end.next());
        self.out.push_back(Output::Send(conn, cer));
    }

    /// R-Accept and Process-CER: keeps the responder connection unless the CER is refused
    /// (5010, 5017), in which case the CEA with the error is sent and the connection closed.
    fn accept_r(&mut self, conn: ConnId, cer: RawMessage, caps: Capabilities) -> bool {
        let common = CommonApplications::negotiate(&self.local, &caps);
        let refused = if common.is_empty() {
            Some((rc::DIAMETER_NO_COMMON_APPLICATION, "no common application"))
        } else if !security_compatible(&self.local, &caps) {
            Some((
                rc::DIAMETER_NO_COMMON_SECURITY,
                "no common security mechanism",
            ))
        } else {
            None
        };
        if let Some((code, text)) = refused {
            let answer = capabilities::cea(&self.local, &cer.header, code, Some(text), None);
            self.out.push_back(Output::Send(conn, answer));
            self.out.push_back(Output::Close(conn));
            return false;
        }
        if let Some(old) = self.r_conn.replace(conn) {
            self.out.push_back(Output::Close(old));
        }
        self.r_cer = Some((cer, caps));
        true
    }

    /// R-Snd-CEA for the stored CER; adopts its capabilities.
    fn answer_r_cer(&mut self, conn: ConnId) {
        if let Some((cer, caps)) = self.r_cer.take() {
            let answer =
                capabilities::cea(&self.local, &cer.header, rc::DIAMETER_SUCCESS, None, None);
            self.out.push_back(Output::Send(conn, answer));
            self.common = CommonApplications::negotiate(&self.local, &caps);
            self.remote = Some(caps);
        }
    }

    /// Elect (§5.6.4): the local node wins when its Origin-Host sorts after the peer's;
    /// the winner closes the connection it initiated.
    fn elect(&mut self, now: Instant) {
        let Some((_, caps)) = &self.r_cer else { return };
        let win =
            cmp_identity(&self.local.origin_host, &caps.origin_host) == std::cmp::Ordering::Greater;
        if win {
            if let Some(i) = self.i_conn.take() {
                self.out.push_back(Output::Close(i));
            }
            if let Some(r) = self.r_conn {
                self.answer_r_cer(r);
                self.open(now, PeerState::ROpen);
            }
        }
    }

    /// A CEA with 4003 ELECTION_LOST on the connection we initiated, before the
    /// peer's own CER reached us (freeDiameter answers so when it loses, §5.6.4): the peer
    /// keeps the connection it opened to us. Ours closes, and we wait for its CER
    /// (Closed, which accepts it), connecting again after Tc if it never comes. The peer
    /// was never up: nothing is reported down.
    fn peer_lost_election(&mut self, now: Instant) {
        if let Some(i) = self.i_conn.take() {
            self.out.push_back(Output::Close(i));
        }
        self.set_state(PeerState::Closed, None);
        let retry = self.settings.initiate && !self.stopped;
        self.reconnect_at = retry.then(|| now + self.settings.tc);
    }

    fn process_cea(&mut self, now: Instant, msg: &RawMessage) {
        let code = result_code(msg).unwrap_or(0);
        let caps = Capabilities::parse(msg);
        match caps {
            Ok(caps) if rc::is_success(code) => {
                let common = CommonApplications::negotiate(&self.local, &caps);
                if common.is_empty() {
                    self.close_all();
                    self.go_closed(
                        now,
                        DownReason::CapabilitiesRejected(rc::DIAMETER_NO_COMMON_APPLICATION),
                    );
                    return;
                }
                self.common = common;
                self.remote = Some(caps);
                self.r_cer = None;
                self.open(now, PeerState::IOpen);
            }
            _ => {
                self.close_all();
                let code = if code == 0 {
                    rc::DIAMETER_UNABLE_TO_COMPLY
                } else {
                    code
                };
                self.go_closed(now, DownReason::CapabilitiesRejected(code));
            }
        }
    }

    fn open(&mut self, now: Instant, state: PeerState) {
        self.set_state(state, None);
        self.backoff = self.settings.tc;
        self.reconnect_at = None;
        let action = self.watchdog.on_connection_up(now);
        if let Some(caps) = self.remote.clone() {
            self.out.push_back(Output::Event(PeerEvent::Up {
                caps: Box::new(caps),
                common: self.common.clone(),
            }));
        }
        self.watchdog_action(now, action);
    }

    fn process_open(&mut self, now: Instant, conn: ConnId, msg: RawMessage) {
        let h = msg.header;
        let is_dwa = h.command_code == command::DEVICE_WATCHDOG && !h.is_request();
        let (accept, action) = self.watchdog.on_receive(now, is_dwa);
        self.watchdog_action(now, action);
        match (h.command_code, h.is_request()) {
            (command::DEVICE_WATCHDOG, true) => {
                let answer = messages::dwa(&self.local, &h, rc::DIAMETER_SUCCESS);
                self.out.push_back(Output::Send(conn, answer));
            }
            (command::DEVICE_WATCHDOG, false) => {}
            (command::DISCONNECT_PEER, true) => {
                let cause = find_u32(&msg, avp::DISCONNECT_CAUSE)
                    .map(|v| DisconnectCause::from_code(v as i32));
                let answer = messages::dpa(&self.local, &h, rc::DIAMETER_SUCCESS);
                self.out.push_back(Output::Send(conn, answer));
                self.peer_dpr = cause.or(Some(DisconnectCause::Rebooting));
                self.keep_only_active();
                self.set_state(PeerState::Closing, Some(now + self.settings.dpa_timeout));
            }
            (command::CAPABILITIES_EXCHANGE, true) => {
                let answer = capabilities::cea(
                    &self.local,
                    &h,
                    rc::DIAMETER_UNABLE_TO_COMPLY,
                    Some("already open"),
                    None,
                );
                self.out.push_back(Output::Send(conn, answer));
            }
            (command::CAPABILITIES_EXCHANGE | command::DISCONNECT_PEER, false) => {}
            // REOPEN throws application messages away (RFC 3539 Appendix A); answers
            // to requests sent before the reopen are still delivered so they can complete.
            _ if accept || !h.is_request() => self.out.push_back(Output::Deliver(msg)),
            _ => {}
        }
    }

    fn process_closing(&mut self, now: Instant, conn: ConnId, msg: RawMessage) {
        let h = msg.header;
        match (h.command_code, h.is_request()) {
            (command::DISCONNECT_PEER, false) => {
                // I-Rcv-DPA / R-Rcv-DPA: Disc. `conn` is the connection held, so this
                // closes it, once.
                self.close_all();
                let reason = self.closing_reason();
                self.go_closed(now, reason);
            }
            (command::DEVICE_WATCHDOG, true) => {
                let answer = messages::dwa(&self.local, &h, rc::DIAMETER_SUCCESS);
                self.out.push_back(Output::Send(conn, answer));
            }
            (command::DISCONNECT_PEER, true) => {
                let answer = messages::dpa(&self.local, &h, rc::DIAMETER_SUCCESS);
                self.out.push_back(Output::Send(conn, answer));
            }
            _ if !h.is_request() && !crate::base::command::is_base_peer_command(h.command_code) => {
                self.out.push_back(Output::Deliver(msg));
            }
            _ => {}
        }
    }

    fn watchdog_action(&mut self, now: Instant, action: Option<WdAction>) {
        match action {
            Some(WdAction::SendDwr) => {
                if let Some(conn) = self.active_conn() {
                    let dwr =
                        messages::dwr(&self.local, self.hop_by_hop.next(), self.end_to_end.next());
                    self.out.push_back(Output::Send(conn, dwr));
                }
            }
            Some(WdAction::Failover) => self.out.push_back(Output::Event(PeerEvent::Suspect)),
            Some(WdAction::Failback) => self.out.push_back(Output::Event(PeerEvent::Available)),
            Some(WdAction::Close) => {
                self.close_all();
                self.go_closed(now, DownReason::Watchdog);
            }
            None => {}
        }
    }

    fn keep_only_active(&mut self) {
        match self.state {
            PeerState::IOpen => {
                if let Some(r) = self.r_conn.take() {
                    self.out.push_back(Output::Close(r));
                }
            }
            PeerState::ROpen => {
                if let Some(i) = self.i_conn.take() {
                    self.out.push_back(Output::Close(i));
                }
            }
            _ => {}
        }
    }

    fn close_all(&mut self) {
        for c in [self.i_conn.take(), self.r_conn.take()]
            .into_iter()
            .flatten()
        {
            self.out.push_back(Output::Close(c));
        }
        self.r_cer = None;
    }

    fn closing_reason(&self) -> DownReason {
        match self.peer_dpr {
            Some(cause) => DownReason::PeerDisconnected(cause),
            None if self.stopped => DownReason::Stopped,
            None => DownReason::Transport,
        }
    }

    /// Enters Closed and schedules the reconnect that fits the reason.
    fn go_closed(&mut self, now: Instant, reason: DownReason) {
        let was_open = matches!(
            self.state,
            PeerState::IOpen | PeerState::ROpen | PeerState::Closing
        );
        self.close_all();
        self.set_state(PeerState::Closed, None);
        self.peer_dpr = None;
        match reason {
            DownReason::Stopped | DownReason::PeerDisconnected(_) => self.watchdog.reset(),
            _ => self.watchdog.on_connection_down(),
        }
        let delay = match &reason {
            _ if self.stopped || !self.settings.initiate => None,
            DownReason::PeerDisconnected(
                DisconnectCause::Busy | DisconnectCause::DoNotWantToTalkToYou,
            ) => self.settings.reconnect_after_dpr,
            DownReason::PeerDisconnected(_) => Some(self.settings.tc),
            _ => {
                let d = self.backoff;
                self.backoff =
                    (self.backoff * 2).min(self.settings.max_backoff.max(self.settings.tc));
                Some(d)
            }
        };
        self.reconnect_at = delay.map(|d| now + d);
        if was_open || self.settings.initiate {
            self.out.push_back(Output::Event(PeerEvent::Down(reason)));
        }
    }
}

/// Whether both sides share an Inband-Security-Id (absent means NO_INBAND_SECURITY).
fn security_compatible(local: &Capabilities, remote: &Capabilities) -> bool {
    let none = [inband_security::NO_INBAND_SECURITY];
    let l: &[u32] = if local.inband_security.is_empty() {
        &none
    } else {
        &local.inband_security
    };
    let r: &[u32] = if remote.inband_security.is_empty() {
        &none
    } else {
        &remote.inband_security
    };
    l.iter().any(|x| r.contains(x))
}
