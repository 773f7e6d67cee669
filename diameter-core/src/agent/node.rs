//! The node-wide agent: what is about many peers, as quinn-proto's `Endpoint` is to its
//! `Connection`s. Sans-IO: `now` is passed in, nothing here sends or sleeps.
//!
//! An [`Agent`] owns
//!
//! - the routing table and the one routing decision across peers: whether a request is
//!   handled here, forwarded, redirected or refused ([`crate::routing::decide`]), and
//!   which peer takes it ([`crate::routing::select`] over the agent's own table of peers
//!   and their state, fed by [`PeerChange`]);
//! - duplicate detection (RFC 6733 §6.2.3): recent answers by (Origin-Host, End-to-End)
//!   ([`DuplicateCache`], bounded in entries, bytes and age), and the requests whose
//!   handler is still running, which retransmissions wait for ([`InFlight`]);
//! - the requests it routes to peers (the application's and relayed ones) until their
//!   outcome, with failover across peers: a peer that fails hands the request back and
//!   the agent sends it, with the T flag, to a peer not tried yet; a busy peer is skipped
//!   (3004 when every peer is busy), no peer at all is 3002/3003.
//!
//! The per-peer [`super::PeerAgent`]s sit beside it (one per peer task, so that peers
//! run in parallel): they report answers and failures of the requests the agent sent
//! through them with [`Agent::peer_result`].
//!
//! ```text
//!  driver                                       Agent
//!  request from a peer ──receive──────────▶ duplicate? ─▶ Inbound::Answer (replay)
//!                                          decide      ─▶ Inbound::Handle / Held (relay)
//!  handler answer ──────handler_done──────▶ cache, waiters ─▶ Action::Reply
//!  application request ─request───────────▶ select peer ─▶ Action::Send(peer, id)
//!  peer answered/failed ─peer_result──────▶ failover     ─▶ Send again (T) / Answered
//!  peer up/down ─────────input────────────▶ peer table
//!  sleep until poll_timeout ─handle_timeout▶ expired requests ─▶ Answered / Reply
//! ```

use super::{Attempts, FailoverPolicy, Failure, InFlight, InFlightKey, Joined};
use crate::answer::{answer_with, error_answer, Origin};
use crate::avp::{AvpFlags, RawAvp};
use crate::base::avp;
use crate::dedup::DuplicateCache;
use crate::error::DecodeError;
use crate::fast_map::FastMap;
use crate::fields::{same_identity, str_avp, u32_avp};
use crate::message::{Limits, RawMessage};
use crate::peer::CommonApplications;
use crate::pending::PendingTable;
use crate::result_code as rc;
use crate::routing::{
    decide_routed, decide_scanned, select, table_key, Decision, LocalNode, PeerView, RequestScan,
    RouteScan, RoutingTable, Target,
};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a node agent is configured with.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Our Origin-Host.
    pub host: String,
    /// Our Origin-Realm.
    pub realm: String,
    /// Whether requests for other hosts may be forwarded or redirected (a relay, proxy
    /// or redirect agent, RFC 6733 §2.8); otherwise they are answered 3002/3003.
    /// Default false.
    pub forwards: bool,
    /// The realm routing table. Default empty.
    pub routes: RoutingTable,
    /// What happens to requests pending on a peer that fails. Default resend.
    pub failover: FailoverPolicy,
    /// Message limits: the maximum answer size (larger answers become 5012) and the AVP
    /// check of requests framed with their header only. Default [`Limits::default`].
    pub limits: Limits,
    /// (Application-Id, Command-Code) of requests framed with their header checked only
    /// (typed handlers decode them in full): checked before they go anywhere else.
    /// Default none.
    pub header_only: Vec<(u32, u32)>,
    /// (Application-Id, Command-Code) of requests whose handler answers retransmissions
    /// itself ([`crate::node::Handler::answers_retransmissions`]): their answers are not
    /// saved for duplicate detection. Default none.
    pub self_deduplicating: Vec<(u32, u32)>,
    /// How long a relayed request waits for its answer. Default 10 s.
    pub request_timeout: Duration,
    /// Answers kept for duplicate detection, and for how long. Default 4096, 60 s.
    pub duplicate_cache: (usize, Duration),
    /// Bytes the duplicate cache keeps at most. Default 16 MiB.
    pub duplicate_cache_bytes: usize,
    /// Retransmissions that may wait for one answer in progress; further ones run the
    /// handler. Default 16.
    pub max_waiters: usize,
}

impl AgentConfig {
    /// A node `host` of `realm` with the defaults above.
    pub fn new(host: impl Into<String>, realm: impl Into<String>) -> Self {
        AgentConfig {
            host: host.into(),
            realm: realm.into(),
            forwards: false,
            routes: RoutingTable::new(),
            failover: FailoverPolicy::default(),
            limits: Limits::default(),
            header_only: Vec::new(),
            self_deduplicating: Vec::new(),
            request_timeout: Duration::from_secs(10),
            duplicate_cache: (4096, Duration::from_secs(60)),
            duplicate_cache_bytes: 16 << 20,
            max_waiters: 16,
        }
    }
}

impl AgentConfig {
    /// The routing decision for a request received from a peer (RFC 6733 §6.1): it needs
    /// no state, so a driver may take it without the agent, and hand a first
    /// transmission decided [`Decision::Local`] to its handler at once (its answer still
    /// goes through [`Agent::handler_done`]).
    pub fn decide(&self, request: &RawMessage) -> Decision {
        self.decide_first(request).0
    }

    /// Whether a driver may leave the routing decision of a first transmission to the
    /// local handler (`Handler::call_routed` in the tokio node): a node that is not an
    /// agent never forwards, so the decision is only "for this node, or rejected", and a
    /// handler that decodes the request takes it from its decode, with no walk of its own.
    pub fn handler_decides(&self) -> bool {
        !self.forwards
    }

    /// [`AgentConfig::decide`], and whether the answer may need the request's Proxy-Info
    /// echoed: both are learnt in one walk of the request.
    pub fn decide_first(&self, request: &RawMessage) -> (Decision, bool) {
        match self.forwards {
            true => {
                let scan = RouteScan::of(request, &self.host);
                let decision = decide_routed(&self.local(), &self.routes, request, &scan);
                (decision, scan.destination.proxy_info)
            }
            false => {
                let scan = RequestScan::of(request);
                (decide_scanned(&self.local(), &scan), scan.proxy_info)
            }
        }
    }

    /// Whether a driver frames the application requests of this node with their header
    /// checked only: an agent checks every top-level AVP header of a request in the walk
    /// that routes it ([`AgentConfig::decide_checked`]), so the request is walked once.
    pub fn checks_when_routing(&self) -> bool {
        self.forwards
    }

    /// [`AgentConfig::decide_first`] for a request framed with its header checked only
    /// ([`AgentConfig::checks_when_routing`]): the walk that routes it also checks each of
    /// its top-level AVP headers and their number, as framing would have.
    pub fn decide_checked(&self, request: &RawMessage) -> Result<(Decision, bool), DecodeError> {
        if !self.forwards {
            request.check_avps(&self.limits)?;
            return Ok(self.decide_first(request));
        }
        let scan = RouteScan::checked(request, &self.host, &self.limits)?;
        let decision = decide_routed(&self.local(), &self.routes, request, &scan);
        Ok((decision, scan.destination.proxy_info))
    }

    fn local(&self) -> LocalNode<'_> {
        LocalNode {
            host: &self.host,
            realm: &self.realm,
        }
    }
}

/// A change of a peer, reported by its driver.
#[derive(Debug)]
pub enum PeerChange<P> {
    /// The capabilities exchange with the peer succeeded.
    PeerUp {
        /// Its Origin-Host.
        host: String,
        /// The driver's handle, given back in [`Action::Send`].
        handle: P,
        /// Its Origin-Realm.
        realm: String,
        /// The applications both sides agreed on.
        common: CommonApplications,
        /// Whether it advertised the relay application.
        relay: bool,
        /// Whether it takes requests now (watchdog OKAY).
        available: bool,
    },
    /// The peer takes requests again (watchdog OKAY).
    PeerAvailable(String),
    /// The peer is suspect or leaving (DPR drain): route nothing more to it.
    PeerUnavailable(String),
    /// The peer is closed.
    PeerDown(String),
}

/// The mark of a request the agent routes to peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// Why a request the application sent got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No peer can take it: 3002 DIAMETER_UNABLE_TO_DELIVER or 3003
    /// DIAMETER_REALM_NOT_SERVED.
    NoRoute(u32),
    /// Every peer that could take it is busy (3004).
    TooBusy,
    /// Its deadline passed.
    Timeout,
    /// This peer failed with the request pending and failover did not apply.
    PeerFailed(String),
}

impl RouteError {
    /// The Result-Code a relay answers with.
    pub fn result_code(&self) -> u32 {
        match self {
            RouteError::NoRoute(code) => *code,
            RouteError::TooBusy => rc::DIAMETER_TOO_BUSY,
            RouteError::Timeout | RouteError::PeerFailed(_) => rc::DIAMETER_UNABLE_TO_DELIVER,
        }
    }
}

/// What [`Agent::receive`] decided for a request from a peer.
#[derive(Debug)]
pub enum Inbound {
    /// Run the local handler, then report with [`Agent::handler_done`] (and with
    /// [`Agent::handler_started`] first if the answer is not ready at once).
    Handle(RawMessage),
    /// Answer with this at once: a saved answer replayed, a redirect, an error.
    Answer(RawMessage),
    /// The agent keeps it (relayed, or a retransmission waiting for the answer in
    /// progress): its answer comes as [`Action::Reply`].
    Held,
}

/// What the agent asks the driver to do.
#[derive(Debug)]
pub enum Action<P, W> {
    /// Send this request on the peer; report with [`Agent::peer_result`].
    Send {
        /// The peer's handle.
        peer: P,
        /// The request's mark.
        id: RequestId,
        /// The request as it goes out (Route-Record added, T flag after a failover).
        msg: RawMessage,
        /// When it fails with [`Failure::Timeout`] at the latest.
        deadline: Instant,
    },
    /// The answer for a request received from a peer: relayed back, replayed for a
    /// retransmission that waited, or an error answer.
    Reply(W, RawMessage),
    /// The outcome of a request the application sent ([`Agent::request`]).
    Answered(W, Result<RawMessage, RouteError>),
    /// A request pending on a failed peer was re-sent elsewhere (or failed).
    Failover {
        /// The peer that failed.
        from: String,
        /// The request's End-to-End id.
        end_to_end: u32,
    },
}

/// The agent's view of one peer.
#[derive(Debug)]
struct PeerEntry<P> {
    host: String,
    /// `host` in lowercase, its key in the agent's table, shared with the requests on it.
    key: Arc<str>,
    handle: P,
    realm: String,
    common: CommonApplications,
    relay: bool,
    available: bool,
}

impl<P> PeerView for PeerEntry<P> {
    fn host(&self) -> &str {
        &self.host
    }
    fn available(&self) -> bool {
        self.available
    }
    fn supports(&self, application_id: u32) -> bool {
        self.common.supports(application_id)
    }
    fn in_realm(&self, realm: &str) -> bool {
        same_identity(&self.realm, realm)
    }
    fn is_relay(&self) -> bool {
        self.relay
    }
}

/// Who waits for a request routed to peers.
#[derive(Debug)]
enum Requester<W> {
    /// The application.
    App(W),
    /// A peer whose request is relayed; `request` as received.
    Peer { reply: W, request: RawMessage },
}

/// A request routed to peers, until its outcome.
#[derive(Debug)]
struct Outgoing<W> {
    requester: Requester<W>,
    msg: RawMessage,
    target: Target,
    attempts: Attempts,
    /// The peer it is on (lowercase Origin-Host).
    on: Option<Arc<str>>,
    /// A peer refused it as too busy.
    busy: bool,
}

/// The node-wide protocol logic; `P` is the driver's handle on a peer, `W` whatever it
/// uses to hand an answer over (a channel).
#[derive(Debug)]
pub struct Agent<P, W> {
    config: Arc<AgentConfig>,
    /// By lowercase Origin-Host.
    peers: FastMap<Arc<str>, PeerEntry<P>>,
    dedup: DuplicateCache,
    in_flight: InFlight<(W, u32)>,
    /// Requests routed to peers, with their deadlines.
    outgoing: PendingTable<Outgoing<W>, RequestId>,
    next_id: u64,
    turn: usize,
    out: VecDeque<Action<P, W>>,
}

impl<P: Clone, W> Agent<P, W> {
    /// An agent with no peer.
    pub fn new(config: AgentConfig) -> Self {
        let (capacity, ttl) = config.duplicate_cache;
        Agent {
            dedup: DuplicateCache::new(capacity, ttl).with_max_bytes(config.duplicate_cache_bytes),
            in_flight: InFlight::new(config.max_waiters),
            config: Arc::new(config),
            peers: FastMap::default(),
            outgoing: PendingTable::new(),
            next_id: 1,
            turn: 0,
            out: VecDeque::new(),
        }
    }

    /// The configuration (shared: [`AgentConfig::decide`] needs no agent).
    pub fn config(&self) -> &Arc<AgentConfig> {
        &self.config
    }

    /// The duplicate cache (for its size).
    pub fn duplicate_cache(&self) -> &DuplicateCache {
        &self.dedup
    }

    /// Requests routed to peers and not done.
    pub fn outgoing(&self) -> usize {
        self.outgoing.len()
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action<P, W>> {
        self.out.pop_front()
    }

    /// Deadlines held (tests: no more than the requests in flight).
    #[cfg(test)]
    pub(crate) fn deadlines_held(&self) -> usize {
        self.outgoing.deadlines_held()
    }

    /// When to call [`Agent::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outgoing.next_deadline()
    }

    /// Requests routed to peers whose deadline passed fail with a timeout (their peer
    /// normally reports it first; this is the bound when it does not).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (_, o) in self.outgoing.expired(now) {
            self.complete(o, Err(RouteError::Timeout));
        }
    }

    /// A peer changed.
    pub fn input(&mut self, input: PeerChange<P>) {
        match input {
            PeerChange::PeerUp {
                host,
                handle,
                realm,
                common,
                relay,
                available,
            } => {
                let key: Arc<str> = table_key(&host).into();
                let entry = PeerEntry {
                    host,
                    key: key.clone(),
                    handle,
                    realm,
                    common,
                    relay,
                    available,
                };
                self.peers.insert(key, entry);
            }
            PeerChange::PeerAvailable(host) => self.set_available(&host, true),
            PeerChange::PeerUnavailable(host) => self.set_available(&host, false),
            PeerChange::PeerDown(host) => {
                self.peers.remove(&*table_key(&host));
            }
        }
    }

    /// The shared lowercase Origin-Host of a peer (a new one if it is not in the table).
    fn peer_key(&self, host: &str) -> Arc<str> {
        let key = table_key(host);
        match self.peers.get_key_value(&*key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        }
    }

    fn set_available(&mut self, host: &str, available: bool) {
        if let Some(p) = self.peers.get_mut(&*table_key(host)) {
            p.available = available;
        }
    }

    /// Whether the peer `host` is up and takes requests, as far as routing knows.
    pub fn is_available(&self, host: &str) -> bool {
        self.peers
            .get(&*table_key(host))
            .is_some_and(|p| p.available)
    }

    /// A request from the application: routed to a peer ([`Action::Send`]), its outcome
    /// given to `waiter` with [`Action::Answered`]. A request with the T flag set keeps
    /// it (a retransmission the application makes).
    pub fn request(
        &mut self,
        now: Instant,
        msg: RawMessage,
        deadline: Instant,
        waiter: W,
    ) -> RequestId {
        let target = Target::of(&self.config.routes, &msg);
        let attempts = Attempts::new(self.config.failover, None);
        self.route(now, Requester::App(waiter), msg, target, attempts, deadline)
    }

    /// A request received from the peer `from`. `reply` makes the handle its answer is
    /// given to later ([`Action::Reply`]); it is called only when the request is held.
    /// `decided` is its routing decision when the caller took it already
    /// ([`AgentConfig::decide`], or [`AgentConfig::decide_checked`] for a request framed
    /// with its header checked only); a retransmission is always looked up first.
    pub fn receive(
        &mut self,
        now: Instant,
        from: &str,
        request: RawMessage,
        decided: Option<Decision>,
        reply: impl FnOnce() -> W,
    ) -> Inbound {
        let h = request.header;
        if h.is_retransmit() {
            if let Some(saved) = self.dedup.lookup(now, &request) {
                return Inbound::Answer(saved);
            }
            // The waiter is made only when it waits (making one is not free).
            if self.in_flight.would_wait(&request) {
                // Queued: `would_wait` said so (a waiter given back would be dropped).
                let joined = self.in_flight.join(&request, (reply(), h.hop_by_hop));
                debug_assert!(matches!(joined, Joined::Waiting));
                return Inbound::Held;
            }
        }
        let decision = match decided {
            Some(d) if !h.is_retransmit() => d,
            // Framed with its header checked only: the walk that routes it checks it.
            _ if self.config.checks_when_routing() => match self.config.decide_checked(&request) {
                Ok((d, _)) => d,
                Err(e) => return Inbound::Answer(error_answer(&request, &self.origin(), &e)),
            },
            _ => self.config.decide(&request),
        };
        if !matches!(decision, Decision::Local)
            && !self.config.checks_when_routing()
            && self
                .config
                .header_only
                .contains(&(h.application_id, h.command_code))
        {
            // Framed with its header checked only, for a typed handler: anywhere else
            // it gets the check of its AVP headers it skipped.
            if let Err(e) = request.check_avps(&self.config.limits) {
                return Inbound::Answer(error_answer(&request, &self.origin(), &e));
            }
        }
        let answer = match decision {
            Decision::Local => return Inbound::Handle(request),
            Decision::Forward(target) => {
                let mut forward = request.clone();
                forward.push_mandatory(avp::ROUTE_RECORD, from.as_bytes());
                let attempts = Attempts::new(self.config.failover, Some(self.peer_key(from)));
                let deadline = now + self.config.request_timeout;
                let requester = Requester::Peer {
                    reply: reply(),
                    request,
                };
                self.route(now, requester, forward, target, attempts, deadline);
                return Inbound::Held;
            }
            Decision::Redirect(hosts) => self.redirect(&request, &hosts),
            Decision::Reject(code) => self.answer_code(&request, code),
        };
        // The server detects duplicates, not the agents between (RFC 6733 Appendix C):
        // answers given here are saved, relayed ones are not.
        let answer = self.within_size(&request, answer);
        self.dedup.insert(now, &request, &answer);
        Inbound::Answer(answer)
    }

    /// The handler of `request` did not answer at once: retransmissions arriving
    /// meanwhile wait for its answer. `None` when it has no Origin-Host or is already
    /// in flight.
    pub fn handler_started(&mut self, request: &RawMessage) -> Option<InFlightKey> {
        self.in_flight.start(request)
    }

    /// Whether [`Agent::handler_done`] needs the answer to `request` (marked `key` while
    /// it was in flight) to save it for duplicates or hand it to retransmissions that
    /// waited. A driver that wrote the answer itself (encoded in place) makes a copy for
    /// the agent only then, and otherwise reports the handler done with no answer.
    pub fn needs_answer(&self, request: &RawMessage, key: Option<InFlightKey>) -> bool {
        let command = (request.header.application_id, request.header.command_code);
        !self.config.self_deduplicating.contains(&command)
            || key.is_some_and(|k| self.in_flight.has_waiters(k))
    }

    /// The handler of `request` is done (`answer` is `None` when it failed): the answer
    /// to send, cut to the maximum size (else 5012), saved for duplicates and given to
    /// the retransmissions that waited ([`Action::Reply`]).
    pub fn handler_done(
        &mut self,
        now: Instant,
        request: &RawMessage,
        key: Option<InFlightKey>,
        answer: Option<RawMessage>,
    ) -> Option<RawMessage> {
        let answer = answer.map(|a| self.within_size(request, a));
        let command = (request.header.application_id, request.header.command_code);
        if let Some(a) = &answer {
            if !self.config.self_deduplicating.contains(&command) {
                self.dedup.insert(now, request, a);
            }
        }
        if let Some(key) = key {
            for (w, hop_by_hop) in self.in_flight.finish(key) {
                if let Some(a) = &answer {
                    let mut a = a.clone();
                    a.header.hop_by_hop = hop_by_hop;
                    self.out.push_back(Action::Reply(w, a));
                }
            }
        }
        answer
    }

    /// The outcome of a request sent with [`Action::Send`]: an answer, or the peer's
    /// failure. A failed peer hands the request back: it goes to another peer with the T
    /// flag (by the failover policy); a busy peer or one without the application is
    /// skipped.
    pub fn peer_result(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<RawMessage, Failure>,
    ) {
        let Some((deadline, o)) = self.outgoing.get_mut(id) else {
            return;
        };
        let failure = match result {
            Ok(answer) => return self.finish(id, Ok(answer)),
            Err(f) => f,
        };
        let host = o.on.take().unwrap_or_else(|| Arc::from(""));
        match failure {
            Failure::Timeout => self.finish(id, Err(RouteError::Timeout)),
            Failure::PeerFailed => {
                self.out.push_back(Action::Failover {
                    from: host.to_string(),
                    end_to_end: o.msg.header.end_to_end,
                });
                if o.attempts.failed(host.clone(), now, deadline, &mut o.msg) {
                    self.send_next(now, id);
                } else {
                    self.finish(id, Err(RouteError::PeerFailed(host.to_string())));
                }
            }
            Failure::TooBusy | Failure::Unsupported => {
                o.busy |= failure == Failure::TooBusy;
                o.attempts.skip(host);
                self.send_next(now, id);
            }
        }
    }

    fn route(
        &mut self,
        now: Instant,
        requester: Requester<W>,
        msg: RawMessage,
        target: Target,
        attempts: Attempts,
        deadline: Instant,
    ) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let o = Outgoing {
            requester,
            msg,
            target,
            attempts,
            on: None,
            busy: false,
        };
        // A fresh id: never pending already.
        let _ = self.outgoing.insert(id, deadline, o);
        self.send_next(now, id);
        id
    }

    /// Sends the request to the peer routing picks now, or ends it when none can take it.
    fn send_next(&mut self, now: Instant, id: RequestId) {
        let Some((deadline, o)) = self.outgoing.get_mut(id) else {
            return;
        };
        if now >= deadline {
            return self.finish(id, Err(RouteError::Timeout));
        }
        if !o.attempts.try_next() {
            let e = match o.busy {
                true => RouteError::TooBusy,
                false => RouteError::NoRoute(rc::DIAMETER_UNABLE_TO_DELIVER),
            };
            return self.finish(id, Err(e));
        }
        let turn = &mut self.turn;
        let attempts = &o.attempts;
        let picked = select(
            &o.target,
            &self.peers,
            |h| attempts.excludes(h),
            || {
                *turn = turn.wrapping_add(1);
                *turn
            },
        );
        match picked {
            Ok(p) => {
                o.on = Some(p.key.clone());
                self.out.push_back(Action::Send {
                    peer: p.handle.clone(),
                    id,
                    msg: o.msg.clone(),
                    deadline,
                });
            }
            Err(code) => {
                let e = match o.busy {
                    true => RouteError::TooBusy,
                    false => RouteError::NoRoute(code),
                };
                self.finish(id, Err(e));
            }
        }
    }

    /// Ends a request routed to peers: its outcome to the application, or the answer
    /// back to the peer it came from.
    fn finish(&mut self, id: RequestId, result: Result<RawMessage, RouteError>) {
        if let Some(o) = self.outgoing.take(id) {
            self.complete(o, result);
        }
    }

    /// Hands an ended request's outcome to whoever waits for it.
    fn complete(&mut self, o: Outgoing<W>, result: Result<RawMessage, RouteError>) {
        match o.requester {
            Requester::App(w) => self.out.push_back(Action::Answered(w, result)),
            Requester::Peer { reply, request } => {
                let answer = match result {
                    Ok(mut answer) => {
                        answer.header.hop_by_hop = request.header.hop_by_hop;
                        answer
                    }
                    Err(e) => self.answer_code(&request, e.result_code()),
                };
                let answer = self.within_size(&request, answer);
                self.out.push_back(Action::Reply(reply, answer));
            }
        }
    }

    fn origin(&self) -> Origin<'_> {
        Origin {
            host: &self.config.host,
            realm: &self.config.realm,
        }
    }

    /// An answer to `request` with only a Result-Code (E bit for 3xxx).
    fn answer_code(&self, request: &RawMessage, code: u32) -> RawMessage {
        answer_with(request, &self.origin(), code, None, None)
    }

    /// A 3006 answer naming the servers as Redirect-Host (`aaa://host`), with
    /// Redirect-Host-Usage DONT_CACHE.
    fn redirect(&self, request: &RawMessage, hosts: &[String]) -> RawMessage {
        let mut answer = self.answer_code(request, rc::DIAMETER_REDIRECT_INDICATION);
        for h in hosts {
            let uri = format!("aaa://{h}");
            answer.push(&RawAvp::new(
                avp::REDIRECT_HOST,
                AvpFlags::MANDATORY,
                0,
                Bytes::from(uri.into_bytes()),
            ));
        }
        answer.push(&u32_avp(avp::REDIRECT_HOST_USAGE, 0));
        answer
    }

    /// The answer, or 5012 in its place when it is larger than the maximum message size.
    fn within_size(&self, request: &RawMessage, answer: RawMessage) -> RawMessage {
        within_size(&self.origin(), &self.config.limits, request, answer)
    }
}

/// An answer larger than the maximum message size (which peers built the same way
/// refuse, and which no peer advertises otherwise) is not sent: it is replaced by a 5012
/// DIAMETER_UNABLE_TO_COMPLY answer with an Error-Message and, when the refused answer
/// had one, its Failed-AVP cut to [`crate::answer::MAX_FAILED_AVP_LEN`].
pub fn within_size(
    origin: &Origin<'_>,
    limits: &Limits,
    request: &RawMessage,
    answer: RawMessage,
) -> RawMessage {
    let max = limits.max_message_len as usize;
    let len = crate::header::HEADER_LEN + answer.body.len();
    if len <= max {
        return answer;
    }
    #[cfg(feature = "tokio")]
    tracing::warn!(
        len,
        max,
        command = request.header.command_code,
        "answer exceeds the maximum message size, answered 5012 instead"
    );
    let failed = answer.find(avp::FAILED_AVP, 0).map(|f| f.data);
    // Failed-AVP holds the offending AVP(s); keep the first one, cut.
    let failed = failed.and_then(|d| {
        let first = crate::avp::AvpIter::new(&d).next()?.ok()?;
        Some(first.raw_bytes())
    });
    let mut out = answer_with(
        request,
        origin,
        rc::DIAMETER_UNABLE_TO_COMPLY,
        Some("answer exceeds the maximum message size"),
        failed.as_ref(),
    );
    if crate::header::HEADER_LEN + out.body.len() > max {
        // Echoed request AVPs (Session-Id, Proxy-Info) alone are too large: the bare
        // minimum goes out.
        out = RawMessage::from_avps(
            out.header,
            &[
                str_avp(avp::ORIGIN_HOST, origin.host),
                str_avp(avp::ORIGIN_REALM, origin.realm),
                u32_avp(avp::RESULT_CODE, rc::DIAMETER_UNABLE_TO_COMPLY),
            ],
        );
    }
    out
}
