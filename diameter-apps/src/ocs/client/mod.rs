//! The credit-control client of RFC 4006 §7, without I/O (sans-IO, like quinn-proto).
//!
//! A [`CcSession`] is fed with the user's actions ([`CcSession::start`],
//! [`CcSession::report_usage`], [`CcSession::terminate`], [`CcSession::event`]), answers
//! ([`CcSession::on_cca`]), transport failures ([`CcSession::on_failure`]), server requests
//! ([`CcSession::on_rar`], [`CcSession::on_asr`]) and a clock
//! ([`CcSession::handle_timeout`] at [`CcSession::poll_timeout`]). It queues [`Output`]s:
//! CCRs to send (with the T flag and the alternate server after a failover) and
//! [`ClientEvent`]s for the service element (grant, terminate, final-unit actions).
//!
//! Covered: session (INITIAL/UPDATE/TERMINATION) and event requests, CC-Request-Number
//! sequencing, the Tx timer, Credit-Control-Failure-Handling TERMINATE / CONTINUE /
//! RETRY_AND_TERMINATE, Direct-Debiting-Failure-Handling, CC-Session-Failover to an
//! alternate server, per-MSCC quotas by Rating-Group/Service-Identifier with Validity-Time and
//! time/volume/unit thresholds, Final-Unit-Indication (TERMINATE, REDIRECT,
//! RESTRICT_ACCESS), RAR → RAA (2002 DIAMETER_LIMITED_SUCCESS) → CCR-U, and ASR → CCR-T;
//! credit pools (RFC 4006 §5.1.2: the pool, not each quota, decides when to ask again;
//! [`CcSession::pool_balance`]), usage split at a Tariff-Time-Change
//! ([`CcSession::set_wall_clock`]; report usage that straddles the change in two calls, at
//! the change), time consumed by traffic under Quota-Consumption-Time
//! ([`CcSession::report_activity`]), 3GPP Trigger ([`CcSession::rating_condition_changed`]),
//! and monetary requests and usage ([`CcSession::request_money`], [`CcSession::report_money`]).
//!
//! ```
//! use diameter_apps::ocs::client::{CcSession, ClientConfig, Output, ServiceKey};
//! use std::time::Instant;
//!
//! let config = ClientConfig::new("pgw.example.net", "example.net", "ocs.example.net", "32251@3gpp.org");
//! let mut s = CcSession::new("pgw.example.net;1;1", config);
//! let now = Instant::now();
//! s.start(&[(ServiceKey::rating_group(100), None)], now);
//! let Some(Output::Send(req)) = s.poll_output() else { panic!() };
//! assert_eq!(req.ccr.cc_request_number, 0);
//! assert!(s.poll_timeout().is_some()); // Tx
//! ```

mod answer;
mod final_unit;
mod quota;
mod request;

pub use self::final_unit::{Enforcement, Filters};
pub use self::quota::{granted_units, PoolShare, Quota, ServiceKey};

use crate::ocs::rating::Units;
use crate::ocs::server::ReAuthScope;
use diameter::dict::base_rfc6733::{result_code as base_rc, Asa, Asr, Raa, Rar, TerminationCause};
use diameter::dict::dcca_rfc4006::{
    CcMoney, CcSessionFailover, Cca, Ccr, CreditControlFailureHandling,
    DirectDebitingFailureHandling, FinalUnitIndication, RequestedAction, SubscriptionId,
};
use diameter::dict::tgpp_ts32299::{ReportingReason, TriggerType};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// Settings of a credit-control client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Destination-Realm.
    pub destination_realm: String,
    /// Destination-Host of the primary server (None: route by realm).
    pub destination_host: Option<String>,
    /// Destination-Host of the alternate server used for failover.
    pub alternate_host: Option<String>,
    /// Service-Context-Id.
    pub service_context_id: String,
    /// Subscription-Ids of the user.
    pub subscription_id: Vec<SubscriptionId>,
    /// Tx: how long to wait for an answer before failure handling (RFC 4006 §13: 10 s).
    pub tx: Duration,
    /// How long a request may still be answered after Tx with CONTINUE or
    /// RETRY_AND_TERMINATE (RFC 4006 §5.5 suggests 120 s); then it has failed.
    pub request_timeout: Duration,
    /// Credit-Control-Failure-Handling until a server sends one.
    pub ccfh: CreditControlFailureHandling,
    /// Direct-Debiting-Failure-Handling until a server sends one.
    pub ddfh: DirectDebitingFailureHandling,
    /// CC-Session-Failover until a server sends one.
    pub failover: CcSessionFailover,
    /// Whether usage reports carry the TS 32.299 Reporting-Reason (a 3GPP vendor AVP with the
    /// M bit: Gy/Ro servers expect it; a server that knows only RFC 4006 answers it with 5001
    /// DIAMETER_AVP_UNSUPPORTED). Default true.
    pub reporting_reasons: bool,
}

impl ClientConfig {
    /// Defaults (Tx 10 s, TERMINATE, TERMINATE_OR_BUFFER, no failover).
    pub fn new(
        origin_host: &str,
        origin_realm: &str,
        destination_realm: &str,
        service_context_id: &str,
    ) -> Self {
        ClientConfig {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            destination_realm: destination_realm.into(),
            destination_host: None,
            alternate_host: None,
            service_context_id: service_context_id.into(),
            subscription_id: Vec::new(),
            tx: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            ccfh: CreditControlFailureHandling::Terminate,
            ddfh: DirectDebitingFailureHandling::TerminateOrBuffer,
            failover: CcSessionFailover::FailoverNotSupported,
            reporting_reasons: true,
        }
    }
}

/// The states of RFC 4006 §7 (client side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No credit-control session (not started, or ended).
    Idle,
    /// CCR-INITIAL sent.
    PendingI,
    /// Session open, no request outstanding.
    Open,
    /// CCR-UPDATE sent.
    PendingU,
    /// CCR-TERMINATION sent.
    PendingT,
    /// CCR-EVENT sent.
    PendingE,
}

/// A CCR to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The request.
    pub ccr: Ccr,
    /// Send it to this host (the alternate server after a failover), else by realm.
    pub destination_host: Option<String>,
    /// Set the T flag: this is a retransmission.
    pub retransmit: bool,
}

/// What the service element must do.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The user may use the service (a successful answer, or failure handling CONTINUE).
    GrantService,
    /// End the user's service (denied, credit limit, failure handling TERMINATE).
    TerminateService {
        /// The Result-Code that caused it, if an answer did.
        result_code: Option<u32>,
    },
    /// A service got a quota.
    Granted {
        /// The service.
        service: ServiceKey,
        /// The units granted.
        units: Units,
        /// Whether these are the final units (Final-Unit-Indication).
        final_units: bool,
    },
    /// A service was refused (MSCC Result-Code, such as 4012 or 5031).
    Denied {
        /// The service.
        service: ServiceKey,
        /// Its Result-Code.
        result_code: u32,
    },
    /// The final units of a service are used up: apply this Final-Unit-Indication
    /// (TERMINATE: end that service; REDIRECT: send the user to Redirect-Server;
    /// RESTRICT_ACCESS: allow only the filter rules).
    FinalUnitAction {
        /// The service.
        service: ServiceKey,
        /// The indication from the server.
        indication: FinalUnitIndication,
        /// What to enforce: end the service, redirect to the top-up server, or restrict
        /// to the filters (in force until [`ClientEvent::FinalUnitActionEnded`]).
        enforcement: Enforcement,
    },
    /// A service whose final-unit action was in force got a new grant: lift the redirect
    /// or restriction (RFC 8506 §5.6.2).
    FinalUnitActionEnded {
        /// The service.
        service: ServiceKey,
    },
    /// The session moved to the alternate server (CC-Session-Failover).
    FailedOver {
        /// The alternate server's host.
        to: String,
    },
    /// The answer to an event request.
    EventAnswer(Box<Cca>),
    /// An event request (CHECK_BALANCE, PRICE_ENQUIRY) failed: indicate a service error.
    ServiceError,
    /// Keep this request and resend it later with the T flag (Direct-Debiting-Failure-
    /// Handling TERMINATE_OR_BUFFER, or a REFUND_ACCOUNT that could not be delivered).
    Stored(Box<Ccr>),
    /// The credit-control session ended.
    Closed,
}

/// What the session wants done.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a CCR is sent for nearly every output; boxing buys nothing
pub enum Output {
    /// Send a CCR.
    Send(Request),
    /// Tell the service element.
    Event(ClientEvent),
}

#[derive(Clone, Debug)]
struct Pending {
    ccr: Ccr,
    tx_deadline: Instant,
    timeout: Instant,
    tx_fired: bool,
    failed_over: bool,
}

/// One credit-control session (or one event) of a client; see the module docs.
#[derive(Debug)]
pub struct CcSession {
    config: ClientConfig,
    session_id: String,
    state: State,
    next_number: u32,
    pending: Option<Pending>,
    destination_host: Option<String>,
    failed_over: bool,
    ccfh: CreditControlFailureHandling,
    ddfh: DirectDebitingFailureHandling,
    failover: CcSessionFailover,
    quotas: BTreeMap<ServiceKey, Quota>,
    /// Services to ask for at the next request: key and requested units.
    wanted: Vec<(ServiceKey, Option<Units>)>,
    update_queued: bool,
    terminate_queued: Option<TerminationCause>,
    event_action: Option<RequestedAction>,
    outputs: VecDeque<Output>,
    /// CC-Money asked for in each Requested-Service-Unit of a service.
    money_requests: BTreeMap<ServiceKey, CcMoney>,
    /// One instant of the session's clock and the wall-clock time it was (to place
    /// Tariff-Time-Change on the session's clock).
    wall_clock: Option<(Instant, SystemTime)>,
}

impl CcSession {
    /// A session in state Idle.
    pub fn new(session_id: &str, config: ClientConfig) -> Self {
        CcSession {
            destination_host: config.destination_host.clone(),
            ccfh: config.ccfh,
            ddfh: config.ddfh,
            failover: config.failover,
            config,
            session_id: session_id.into(),
            state: State::Idle,
            next_number: 0,
            pending: None,
            failed_over: false,
            quotas: BTreeMap::new(),
            wanted: Vec::new(),
            update_queued: false,
            terminate_queued: None,
            event_action: None,
            outputs: VecDeque::new(),
            money_requests: BTreeMap::new(),
            wall_clock: None,
        }
    }

    /// Tells the session which wall-clock time `now` is, so that a grant's
    /// Tariff-Time-Change (a wall-clock time) can be placed on the session's clock. Without
    /// it, usage is not split at tariff changes.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall_clock = Some((now, wall));
    }

    /// Asks for money: every Requested-Service-Unit of `service` from now on carries this
    /// CC-Money (the server grants the units it buys).
    pub fn request_money(&mut self, service: ServiceKey, money: CcMoney) {
        self.money_requests.insert(service, money);
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The Session-Id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The quota of a service.
    pub fn quota(&self, service: &ServiceKey) -> Option<&Quota> {
        self.quotas.get(service)
    }

    /// The services that hold a quota.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceKey, &Quota)> {
        self.quotas.iter()
    }

    /// The final-unit action in force for a service (its final units are used up and no
    /// new grant came yet).
    pub fn enforcement(&self, service: &ServiceKey) -> Option<Enforcement> {
        let q = self.quotas.get(service)?;
        match (&q.final_unit, q.final_action_taken) {
            (Some(fui), true) => Some(Enforcement::of(fui)),
            _ => None,
        }
    }

    /// The failure handling in force (from the last answer, else the configuration).
    pub fn failure_handling(&self) -> CreditControlFailureHandling {
        self.ccfh
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next instant [`CcSession::handle_timeout`] must be called at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self
            .pending
            .as_ref()
            .map(|p| if p.tx_fired { p.timeout } else { p.tx_deadline });
        let validity = self
            .quotas
            .values()
            .flat_map(|q| [q.valid_until, q.holding_deadline()])
            .flatten()
            .min();
        match (pending, validity) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts the session (Idle → PendingI): CCR-INITIAL asking for the given services (an
    /// empty list asks for command-level units). Ignored unless Idle.
    pub fn start(&mut self, services: &[(ServiceKey, Option<Units>)], now: Instant) {
        if self.state != State::Idle || self.event_action.is_some() {
            return;
        }
        self.wanted = services.to_vec();
        self.send_new(State::PendingI, now);
    }

    /// Sends a one-time event (Idle → PendingE) with Requested-Action.
    pub fn event(
        &mut self,
        action: RequestedAction,
        services: &[(ServiceKey, Option<Units>)],
        now: Instant,
    ) {
        if self.state != State::Idle {
            return;
        }
        self.event_action = Some(action);
        self.wanted = services.to_vec();
        self.send_new(State::PendingE, now);
    }

    /// Adds usage of a service. Reaching a threshold or the end of the grant sends a
    /// CCR-UPDATE; using up final units triggers the Final-Unit-Action.
    pub fn report_usage(&mut self, service: ServiceKey, used: Units, now: Instant) {
        let Some(q) = self.quotas.get_mut(&service) else {
            return;
        };
        q.add_usage(&used, now);
        self.after_usage(service, now);
    }

    /// Adds money used by a service (reported as CC-Money in Used-Service-Unit); using up
    /// a monetary grant sends a CCR-UPDATE.
    pub fn report_money(&mut self, service: ServiceKey, money: &CcMoney, now: Instant) {
        let Some(q) = self.quotas.get_mut(&service) else {
            return;
        };
        q.add_money_used(money);
        self.after_usage(service, now);
    }

    /// Traffic of a service at `now` with its volume: the time quota is consumed from the
    /// previous traffic, gaps longer than the grant's Quota-Consumption-Time counting as
    /// that (TS 32.299; without it, time runs continuously between reports of traffic).
    pub fn report_activity(&mut self, service: ServiceKey, volume: Units, now: Instant) {
        let Some(q) = self.quotas.get_mut(&service) else {
            return;
        };
        let secs = q.consume_time(now);
        let mut used = volume;
        if q.granted.time.is_some() {
            used.time = Some(used.time.unwrap_or(0).saturating_add(secs));
        }
        q.add_usage(&used, now);
        self.after_usage(service, now);
    }

    /// The application saw a rating condition change (QoS, RAT, location, ...): every
    /// service whose grant armed this Trigger-Type reports its usage with Reporting-Reason
    /// RATING_CONDITION_CHANGE and asks again. Returns whether any did.
    pub fn rating_condition_changed(&mut self, change: TriggerType, now: Instant) -> bool {
        let mut any = false;
        for q in self.quotas.values_mut() {
            if q.triggers.contains(&change) && !q.final_action_taken {
                q.update_due = true;
                q.reason = Some(ReportingReason::RatingConditionChange);
                any = true;
            }
        }
        if any {
            self.update(now);
        }
        any
    }

    /// The balance of a credit pool in pool units ×10^9 (RFC 4006 §5.1.2): the sum of the
    /// pool's grants less their usage, each weighted by its multiplier.
    pub fn pool_balance(&self, pool: u32) -> Option<i128> {
        let mut found = false;
        let mut balance = 0i128;
        for q in self.quotas.values() {
            for share in q.pool_shares.iter().filter(|s| s.pool == pool) {
                found = true;
                let granted = share.weigh(share.units_in(&q.granted, q.money.as_ref()));
                let used = share.weigh(share.units_in(&q.used, q.used_money.as_ref()));
                balance = balance.saturating_add(granted).saturating_sub(used);
            }
        }
        found.then_some(balance)
    }

    /// After usage of a service: a pooled one asks again when its pool is exhausted, the
    /// others at a threshold or the end of their grant.
    fn after_usage(&mut self, service: ServiceKey, now: Instant) {
        let Some(q) = self.quotas.get(&service) else {
            return;
        };
        if q.pooled() {
            let pools: Vec<u32> = q.pool_shares.iter().map(|s| s.pool).collect();
            if let Some(q) = self.quotas.get_mut(&service) {
                q.last_use = now;
            }
            let exhausted: Vec<u32> = pools
                .into_iter()
                .filter(|p| self.pool_balance(*p).is_some_and(|b| b <= 0))
                .collect();
            if exhausted.is_empty() {
                return;
            }
            for q in self.quotas.values_mut() {
                if q.pool_shares.iter().any(|s| exhausted.contains(&s.pool)) {
                    q.update_due = true;
                    q.reason = Some(ReportingReason::PoolExhausted);
                }
            }
            self.update(now);
            return;
        }
        let Some(q) = self.quotas.get_mut(&service) else {
            return;
        };
        q.last_use = now;
        if !q.threshold_reached() {
            return;
        }
        q.reason = Some(if q.exhausted() {
            ReportingReason::QuotaExhausted
        } else {
            ReportingReason::Threshold
        });
        match &q.final_unit {
            Some(fui) => {
                if q.exhausted() && !q.final_action_taken {
                    q.final_action_taken = true;
                    let fui = fui.clone();
                    self.final_unit_action(service, fui, now);
                }
            }
            None => {
                q.update_due = true;
                self.update(now);
            }
        }
    }

    /// Asks for a CCR-UPDATE (a change in rating condition, or more services).
    pub fn request_update(&mut self, services: &[(ServiceKey, Option<Units>)], now: Instant) {
        self.wanted.extend_from_slice(services);
        for q in self.quotas.values_mut() {
            q.update_due = true;
        }
        self.update(now);
    }

    /// The user's service ended: CCR-TERMINATION with the last usage (queued while a request
    /// is outstanding).
    pub fn terminate(&mut self, cause: TerminationCause, now: Instant) {
        match self.state {
            State::Open => {
                self.terminate_queued = Some(cause);
                self.send_new(State::PendingT, now);
            }
            State::PendingI | State::PendingU => self.terminate_queued = Some(cause),
            _ => {}
        }
    }

    /// A RAR for this session: answers RAA 2002 (DIAMETER_LIMITED_SUCCESS) and then sends a
    /// CCR-UPDATE re-reporting the services the RAR names (RFC 8506 §5.5): those of its
    /// G-S-U-Pool-Identifier, Service-Identifier and Rating-Group, every service when it
    /// names none. A RAR naming no service this session holds is answered 2001 and sends
    /// nothing; one naming a CC-Sub-Session-Id (this client opens none) or for no open
    /// session 5002. The RAA echoes the scope AVPs.
    pub fn on_rar(&mut self, rar: &Rar, now: Instant) -> Raa {
        let scope = ReAuthScope::of(rar);
        let result_code = match self.state {
            _ if rar.session_id.as_str() != self.session_id => base_rc::DIAMETER_UNKNOWN_SESSION_ID,
            _ if scope.cc_sub_session_id.is_some() => base_rc::DIAMETER_UNKNOWN_SESSION_ID,
            State::Open => {
                let mut any = false;
                for (key, q) in self.quotas.iter_mut() {
                    if in_scope(&scope, key, q) {
                        q.update_due = true;
                        q.reason = Some(ReportingReason::ForcedReauthorisation);
                        any = true;
                    }
                }
                if any || scope.is_whole_session() {
                    self.update_queued = true;
                    base_rc::DIAMETER_LIMITED_SUCCESS
                } else {
                    base_rc::DIAMETER_SUCCESS
                }
            }
            State::PendingI | State::PendingU => base_rc::DIAMETER_LIMITED_SUCCESS,
            _ => base_rc::DIAMETER_UNKNOWN_SESSION_ID,
        };
        let raa = Raa {
            session_id: rar.session_id.clone(),
            result_code,
            origin_host: self.config.origin_host.as_str().into(),
            origin_realm: self.config.origin_realm.as_str().into(),
            cc_sub_session_id: scope.cc_sub_session_id,
            g_s_u_pool_identifier: scope.g_s_u_pool_identifier,
            service_identifier: scope.service_identifier,
            rating_group: scope.rating_group,
            ..Default::default()
        };
        if self.update_queued && self.state == State::Open {
            self.send_new(State::PendingU, now);
        }
        raa
    }

    /// An ASR for this session: answers ASA 2001, ends the user's service and sends
    /// CCR-TERMINATION.
    pub fn on_asr(&mut self, asr: &Asr, now: Instant) -> Asa {
        let open = asr.session_id.as_str() == self.session_id
            && matches!(self.state, State::Open | State::PendingI | State::PendingU);
        let asa = Asa {
            session_id: asr.session_id.clone(),
            result_code: if open {
                base_rc::DIAMETER_SUCCESS
            } else {
                base_rc::DIAMETER_UNKNOWN_SESSION_ID
            },
            origin_host: self.config.origin_host.as_str().into(),
            origin_realm: self.config.origin_realm.as_str().into(),
            ..Default::default()
        };
        if open {
            self.emit(ClientEvent::TerminateService { result_code: None });
            self.terminate(TerminationCause::DiameterAdministrative, now);
        }
        asa
    }

    /// Drives the timers: Tx, the request timeout after Tx, and Validity-Time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = &self.pending {
            if !p.tx_fired && now >= p.tx_deadline {
                self.tx_expired(now);
            } else if p.tx_fired && now >= p.timeout {
                self.on_failure(now);
            }
        }
        let mut expired = false;
        for q in self.quotas.values_mut() {
            if q.valid_until.is_some_and(|v| v <= now) {
                q.valid_until = None;
                q.update_due = true;
                q.reason = Some(ReportingReason::ValidityTime);
                expired = true;
            } else if q.holding_deadline().is_some_and(|d| d <= now) {
                q.update_due = true;
                q.reason = Some(ReportingReason::Qht);
                expired = true;
            }
        }
        if expired {
            self.update(now);
        }
    }

    fn emit(&mut self, e: ClientEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    /// Sends a CCR-UPDATE now when Open, else remembers to.
    fn update(&mut self, now: Instant) {
        self.update_queued = true;
        if self.state == State::Open {
            self.send_new(State::PendingU, now);
        }
    }

    fn final_unit_action(&mut self, service: ServiceKey, fui: FinalUnitIndication, now: Instant) {
        let enforcement = Enforcement::of(&fui);
        let ends = enforcement.ends_service();
        self.emit(ClientEvent::FinalUnitAction {
            service,
            indication: fui,
            enforcement,
        });
        match ends {
            true => {
                let others = self
                    .quotas
                    .iter()
                    .any(|(k, q)| *k != service && !q.final_action_taken);
                if others {
                    // Report the final usage of this service; the others go on.
                    if let Some(q) = self.quotas.get_mut(&service) {
                        q.update_due = true;
                    }
                    self.update(now);
                } else {
                    self.emit(ClientEvent::TerminateService { result_code: None });
                    self.terminate(TerminationCause::DiameterLogout, now);
                }
            }
            false => {
                // REDIRECT / RESTRICT_ACCESS: report the usage without asking for units
                // (RFC 8506 §5.6.2); at the answer's Validity-Time (or a RAR) the client
                // asks again, and a new grant lifts the action.
                if let Some(q) = self.quotas.get_mut(&service) {
                    q.update_due = true;
                }
                self.update(now);
            }
        }
    }
}

/// Whether a RAR's scope covers a service: each AVP the RAR names must match.
fn in_scope(scope: &ReAuthScope, key: &ServiceKey, quota: &Quota) -> bool {
    scope
        .rating_group
        .is_none_or(|rg| key.rating_group == Some(rg))
        && scope
            .service_identifier
            .is_none_or(|s| key.service_identifier == Some(s))
        && scope
            .g_s_u_pool_identifier
            .is_none_or(|p| quota.pools.contains(&p))
}
