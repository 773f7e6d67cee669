//! The client accounting state machine of RFC 6733 §8.2, without I/O.
//!
//! An [`AcctSession`] is fed with the user's actions ([`AcctSession::start`],
//! [`AcctSession::stop`], [`AcctSession::event`]), answers ([`AcctSession::on_aca`]),
//! transport failures ([`AcctSession::on_failure`]) and a clock
//! ([`AcctSession::handle_timeout`] at [`AcctSession::poll_timeout`]). It queues
//! [`Output`]s: ACRs to send (with the T flag after a failover to the secondary server),
//! records to keep in local storage for later delivery (see [`super::spool`]), and
//! [`AcctEvent`]s for the service element (grant, disconnect).
//!
//! "Failure to send" (RFC 6733 §8.2) is a transport failure, no answer within
//! [`AcctConfig::answer_timeout`], or an answer with DIAMETER_UNABLE_TO_DELIVER,
//! DIAMETER_TOO_BUSY, DIAMETER_LOOP_DETECTED or DIAMETER_OUT_OF_SPACE. Before it counts,
//! the request is sent once more to the secondary server, if one is configured, with the
//! T flag (§9.4); later records of the session then go there too.
//!
//! ```
//! use diameter_apps::acct::client::{AcctConfig, AcctSession, Output};
//! use std::time::Instant;
//!
//! let config = AcctConfig::new("sbc.example.net", "example.net", "example.net");
//! let mut s = AcctSession::new("sbc.example.net;1;1", config);
//! s.start(Instant::now());
//! let Some(Output::Send(req)) = s.poll_output() else { panic!() };
//! assert_eq!(req.acr.accounting_record_number, 0);
//! ```

use diameter::dict::base_rfc6733::{
    result_code as rc, Aca, AccountingRealtimeRequired as Realtime, AccountingRecordType, Acr,
};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Settings of an accounting client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AcctConfig {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Destination-Realm.
    pub destination_realm: String,
    /// Destination-Host of the primary accounting server (None: route by realm).
    pub primary_host: Option<String>,
    /// Destination-Host of the secondary server for failover (None: no failover).
    pub secondary_host: Option<String>,
    /// Acct-Application-Id sent (3, base accounting, unless an application defines its own).
    pub acct_application_id: u32,
    /// User-Name, if any.
    pub user_name: Option<String>,
    /// How long to wait for an ACA before it counts as a failure to send (default 10 s).
    pub answer_timeout: Duration,
    /// Accounting-Realtime-Required until a server sends one (default GRANT_AND_STORE,
    /// RFC 6733 §9.8.7).
    pub realtime: Realtime,
    /// Interim interval to use until a server sends Acct-Interim-Interval (None or zero: no
    /// interim records).
    pub interim_interval: Option<Duration>,
}

impl AcctConfig {
    /// Defaults: base accounting, no failover, 10 s answer timeout, GRANT_AND_STORE, no interims.
    pub fn new(origin_host: &str, origin_realm: &str, destination_realm: &str) -> Self {
        AcctConfig {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            destination_realm: destination_realm.into(),
            primary_host: None,
            secondary_host: None,
            acct_application_id: 3,
            user_name: None,
            answer_timeout: Duration::from_secs(10),
            realtime: Realtime::GrantAndStore,
            interim_interval: None,
        }
    }
}

/// The client states of RFC 6733 §8.2 (PendingB, delivery of stored records, is
/// [`super::spool::Redelivery`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No accounting session (not started, or ended).
    Idle,
    /// START_RECORD sent.
    PendingS,
    /// Session open, no request outstanding.
    Open,
    /// INTERIM_RECORD sent.
    PendingI,
    /// STOP_RECORD sent.
    PendingL,
    /// EVENT_RECORD sent.
    PendingE,
}

/// An ACR to send.
#[derive(Clone, Debug, PartialEq)]
pub struct AcrRequest {
    /// The request.
    pub acr: Acr,
    /// Send it to this host, else route by realm.
    pub destination_host: Option<String>,
    /// Set the T flag: this is a retransmission (after a failover, or from storage).
    pub retransmit: bool,
}

/// What the service element must do.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AcctEvent {
    /// The user may use the service (the session is open).
    Granted,
    /// Disconnect the user or device: accounting failed and Accounting-Realtime-Required
    /// does not allow service without it.
    Disconnect {
        /// The Result-Code that caused it, if an answer did.
        result_code: Option<u32>,
    },
    /// The session moved to the secondary server.
    FailedOver {
        /// The secondary server's host.
        to: String,
    },
    /// A record could not be delivered nor stored (no room, or DELIVER_AND_GRANT), and is lost.
    Lost(Box<Acr>),
    /// The accounting session (or event) ended.
    Closed,
}

/// What the session wants done.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // nearly every output carries an ACR
pub enum Output {
    /// Send an ACR.
    Send(AcrRequest),
    /// Keep this record in local storage and deliver it later with the T flag.
    Store(Acr),
    /// Tell the service element.
    Event(AcctEvent),
}

#[derive(Clone, Debug)]
struct Pending {
    acr: Acr,
    deadline: Instant,
    failed_over: bool,
}

/// One accounting session (or one event) of a client; see the module docs.
#[derive(Debug)]
pub struct AcctSession {
    session_id: String,
    config: AcctConfig,
    state: State,
    next_number: u32,
    realtime: Realtime,
    interim: Option<Duration>,
    next_interim: Option<Instant>,
    destination_host: Option<String>,
    on_secondary: bool,
    pending: Option<Pending>,
    stop_queued: bool,
    storage_available: bool,
    outputs: VecDeque<Output>,
}

/// Answers after which the record may go to another server or into storage (RFC 6733 §8.2).
pub fn transient_failure(code: u32) -> bool {
    code == rc::DIAMETER_UNABLE_TO_DELIVER
        || code == rc::DIAMETER_TOO_BUSY
        || code == rc::DIAMETER_LOOP_DETECTED
        || code == rc::DIAMETER_OUT_OF_SPACE
}

impl AcctSession {
    /// A new session in state Idle.
    pub fn new(session_id: &str, config: AcctConfig) -> Self {
        AcctSession {
            session_id: session_id.into(),
            state: State::Idle,
            next_number: 0,
            realtime: config.realtime,
            interim: config.interim_interval.filter(|d| !d.is_zero()),
            next_interim: None,
            destination_host: config.primary_host.clone(),
            on_secondary: false,
            pending: None,
            stop_queued: false,
            storage_available: true,
            outputs: VecDeque::new(),
            config,
        }
    }

    /// The Session-Id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Accounting-Realtime-Required in force (the server's, once it sent one).
    pub fn realtime(&self) -> Realtime {
        self.realtime
    }

    /// The interim interval in force (None: no interim records).
    pub fn interim_interval(&self) -> Option<Duration> {
        self.interim
    }

    /// Whether the session has moved to the secondary server.
    pub fn on_secondary(&self) -> bool {
        self.on_secondary
    }

    /// Tells the session whether local storage has room for a record (default true). With
    /// none, a record that cannot be delivered is lost (GRANT_AND_LOSE) or the user is
    /// disconnected (the other modes).
    pub fn set_storage_available(&mut self, available: bool) {
        self.storage_available = available;
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`AcctSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (&self.pending, self.state) {
            (Some(p), _) => Some(p.deadline),
            (None, State::Open) => self.next_interim,
            _ => None,
        }
    }

    /// The user or device requests access: send START_RECORD (Idle only; else ignored).
    pub fn start(&mut self, now: Instant) {
        if self.state == State::Idle && self.next_number == 0 {
            self.send_new(AccountingRecordType::StartRecord, State::PendingS, now);
        }
    }

    /// A one-time service: send EVENT_RECORD (Idle, before any record; else ignored).
    pub fn event(&mut self, now: Instant) {
        if self.state == State::Idle && self.next_number == 0 {
            self.send_new(AccountingRecordType::EventRecord, State::PendingE, now);
        }
    }

    /// The user's service ended: send STOP_RECORD (when a START or INTERIM is still
    /// outstanding, the stop is held and sent after its answer).
    pub fn stop(&mut self, now: Instant) {
        match self.state {
            State::Open => {
                self.send_new(AccountingRecordType::StopRecord, State::PendingL, now);
            }
            State::PendingS | State::PendingI => self.stop_queued = true,
            _ => {}
        }
    }

    /// The clock reached [`AcctSession::poll_timeout`]: a missing answer is a failure to
    /// send; an elapsed interim interval sends INTERIM_RECORD.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = &self.pending {
            if now >= p.deadline {
                self.on_failure(now);
            }
            return;
        }
        if self.state == State::Open && self.next_interim.is_some_and(|t| now >= t) {
            self.send_new(AccountingRecordType::InterimRecord, State::PendingI, now);
        }
    }

    /// An answer arrived. Answers that do not match the outstanding request (other
    /// session, record number or type: late or duplicate) are ignored.
    pub fn on_aca(&mut self, aca: &Aca, now: Instant) {
        let matches = self.pending.as_ref().is_some_and(|p| {
            p.acr.accounting_record_number == aca.accounting_record_number
                && p.acr.accounting_record_type == aca.accounting_record_type
                && aca.session_id.as_str() == self.session_id
        });
        if !matches {
            return;
        }
        if let Some(v) = aca.accounting_realtime_required {
            self.realtime = v;
        }
        if let Some(secs) = aca.acct_interim_interval {
            self.interim = (secs > 0).then(|| Duration::from_secs(u64::from(secs)));
        }
        let code = aca.result_code;
        if transient_failure(code) {
            self.on_failure(now);
            return;
        }
        self.pending = None;
        if (2000..3000).contains(&code) {
            self.succeeded(now);
        } else {
            self.failed_answer(code, now);
        }
    }

    /// The request could not be sent or its connection failed before the answer: fail
    /// over to the secondary server once, else apply RFC 6733 §8.2 "failure to send".
    pub fn on_failure(&mut self, now: Instant) {
        let Some(p) = self.pending.take() else {
            return;
        };
        if !p.failed_over {
            if let Some(secondary) = self.config.secondary_host.clone() {
                if !self.on_secondary {
                    self.on_secondary = true;
                    self.destination_host = Some(secondary.clone());
                    self.emit(AcctEvent::FailedOver { to: secondary });
                    self.transmit(p.acr, true, now);
                    return;
                }
            }
        }
        let acr = p.acr;
        let storable = self.storage_available;
        match self.state {
            State::PendingS | State::PendingI => {
                if storable && self.realtime != Realtime::DeliverAndGrant {
                    self.outputs.push_back(Output::Store(acr));
                    self.open(now);
                } else if self.realtime == Realtime::GrantAndLose {
                    self.emit(AcctEvent::Lost(Box::new(acr)));
                    self.open(now);
                } else {
                    self.emit(AcctEvent::Lost(Box::new(acr)));
                    self.disconnect(None);
                }
            }
            State::PendingE | State::PendingL => {
                if storable {
                    self.outputs.push_back(Output::Store(acr));
                } else {
                    self.emit(AcctEvent::Lost(Box::new(acr)));
                }
                self.close();
            }
            _ => {}
        }
    }

    fn succeeded(&mut self, now: Instant) {
        match self.state {
            State::PendingS | State::PendingI => self.open(now),
            State::PendingE | State::PendingL => self.close(),
            _ => {}
        }
    }

    fn failed_answer(&mut self, code: u32, now: Instant) {
        match self.state {
            State::PendingS | State::PendingI => {
                if self.realtime == Realtime::GrantAndLose {
                    self.open(now);
                } else {
                    self.disconnect(Some(code));
                }
            }
            State::PendingE | State::PendingL => self.close(),
            _ => {}
        }
    }

    /// To Open: grant (after a START), schedule the next interim, send a held stop.
    fn open(&mut self, now: Instant) {
        let was_start = self.state == State::PendingS;
        self.state = State::Open;
        self.next_interim = self.interim.map(|d| now + d);
        if was_start {
            self.emit(AcctEvent::Granted);
        }
        if self.stop_queued {
            self.stop_queued = false;
            self.send_new(AccountingRecordType::StopRecord, State::PendingL, now);
        }
    }

    fn disconnect(&mut self, result_code: Option<u32>) {
        self.emit(AcctEvent::Disconnect { result_code });
        if self.stop_queued {
            self.stop_queued = false;
            let stop = self.build(AccountingRecordType::StopRecord);
            self.next_number = self.next_number.wrapping_add(1);
            if self.storage_available {
                self.outputs.push_back(Output::Store(stop));
            }
        }
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Idle;
        self.next_interim = None;
        self.pending = None;
        self.emit(AcctEvent::Closed);
    }

    fn emit(&mut self, e: AcctEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    fn send_new(&mut self, kind: AccountingRecordType, state: State, now: Instant) {
        let acr = self.build(kind);
        self.next_number = self.next_number.wrapping_add(1);
        self.state = state;
        self.transmit(acr, false, now);
    }

    fn transmit(&mut self, acr: Acr, retransmit: bool, now: Instant) {
        self.pending = Some(Pending {
            acr: acr.clone(),
            deadline: now + self.config.answer_timeout,
            failed_over: retransmit,
        });
        self.outputs.push_back(Output::Send(AcrRequest {
            acr,
            destination_host: self.destination_host.clone(),
            retransmit,
        }));
    }

    fn build(&self, kind: AccountingRecordType) -> Acr {
        let c = &self.config;
        Acr {
            session_id: self.session_id.as_str().into(),
            origin_host: c.origin_host.as_str().into(),
            origin_realm: c.origin_realm.as_str().into(),
            destination_realm: c.destination_realm.as_str().into(),
            destination_host: self.destination_host.as_deref().map(Into::into),
            accounting_record_type: kind,
            accounting_record_number: self.next_number,
            acct_application_id: Some(c.acct_application_id),
            user_name: c.user_name.as_deref().map(Into::into),
            acct_interim_interval: match kind {
                AccountingRecordType::StartRecord => self.interim.map(|d| d.as_secs() as u32),
                _ => None,
            },
            accounting_realtime_required: Some(self.realtime),
            ..Default::default()
        }
    }
}
