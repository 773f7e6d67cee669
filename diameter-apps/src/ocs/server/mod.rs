//! The credit-control server of the OCS (RFC 4006 §6/§8, 3GPP TS 32.299 Ro/Gy), without I/O.
//!
//! [`ChargingServer::handle_ccr`] turns a CCR into a CCA, charging a [`Store`] with the
//! prices of [`Tariffs`]:
//!
//! - CCR-INITIAL / UPDATE reserve what each Multiple-Services-Credit-Control (or the
//!   command-level Requested-Service-Unit) asks for, or less as the balance allows, in whole
//!   tariff blocks; the grant carries Validity-Time, and Final-Unit-Indication when the
//!   balance cannot fund another block. Used-Service-Unit is debited and the rest of the
//!   previous reservation of that rating group released. CCR-TERMINATION debits the last
//!   usage and releases everything.
//! - Multiple-Services-Credit-Control (RFC 8506 §5.1.2): a client that indicated
//!   MULTIPLE_SERVICES_SUPPORTED in its CCR-I (or CCR-E) is answered per MSCC; one that did
//!   not, at session level (Granted-Service-Unit, Final-Unit-Indication, Validity-Time of
//!   the command), its one MSCC taken as the session's service; several MSCCs without the
//!   indicator are answered 5005 DIAMETER_MISSING_AVP naming it.
//! - Result codes: 4012 CREDIT_LIMIT_REACHED (nothing can be granted), 5030 USER_UNKNOWN,
//!   5031 RATING_FAILED (no tariff), 5002 UNKNOWN_SESSION_ID; per MSCC, and at command
//!   level when no service succeeded.
//! - CCR-EVENT: Requested-Action (required, RFC 8506 §8.3: without it 5005
//!   DIAMETER_MISSING_AVP with a Failed-AVP, unless the peer is in
//!   [`ServerConfig::lenient_requested_action_peers`]) DIRECT_DEBITING, REFUND_ACCOUNT, CHECK_BALANCE
//!   (Check-Balance-Result) and PRICE_ENQUIRY (Cost-Information). A direct debit's CCA
//!   carries Refund-Information (TS 32.299); REFUND_ACCOUNT must present it, comes only from
//!   peers in [`ServerConfig::refund_peers`] (others: 5003 DIAMETER_AUTHORIZATION_REJECTED)
//!   and never credits more than that debit left to refund.
//! - A session belongs to the account and the client (peer) that opened it: a CCR-I for a
//!   Session-Id open for another account or peer is answered 5012, a CCR-U/T from another
//!   peer 5002, and neither changes anything. Peers in one of [`ServerConfig::peer_groups`]
//!   (agents a client fails over between) count as one peer here.
//! - Each request's effect is one store transaction keyed by (Session-Id, CC-Request-Type,
//!   CC-Request-Number, peer or its group): a retransmission (T flag or not) gets the same
//!   answer and is charged once.
//! - Store failures: a temporary one ([`StoreError::is_temporary`]) is answered 3004
//!   DIAMETER_TOO_BUSY so that the client fails over, a permanent one 5012.
//! - [`ChargingServer::expire_sessions`] is the Tcc supervision: sessions without a request
//!   for Tcc are closed and their reservations released, in batches; a session that cannot
//!   be closed is logged and skipped.
//! - [`ChargingServer::re_auth_request`] and [`ChargingServer::abort_session_request`] build
//!   the server-initiated RAR (AUTHORIZE_ONLY) and ASR for an operator action;
//!   [`ChargingServer::re_auth_request_for`] narrows the RAR to a [`ReAuthScope`]
//!   (sub-session, credit pool, service or rating group, RFC 8506 §5.5).
//!
//! ```
//! use diameter::dict::dcca_rfc4006::*;
//! use diameter_apps::ocs::rating::Tariffs;
//! use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
//! use diameter_apps::ocs::store;
//! use std::time::SystemTime;
//!
//! let tariffs = Tariffs::parse("[[tariff]]\nunit = \"service_specific\"\nprice = 9\n").unwrap();
//! let mut config = ServerConfig::new("ocs.example.net", "example.net");
//! config.auto_provision = Some(100);
//! let ocs = ChargingServer::new(store::open("sqlite::memory:").unwrap(), tariffs, config);
//! let ccr = Ccr {
//!     session_id: "smsc;1;1".into(),
//!     cc_request_type: CcRequestType::EventRequest,
//!     requested_action: Some(RequestedAction::DirectDebiting),
//!     subscription_id: vec![SubscriptionId {
//!         subscription_id_type: SubscriptionIdType::EndUserE164,
//!         subscription_id_data: "491701234567".into(),
//!         ..Default::default()
//!     }]
//!     .into(),
//!     requested_service_unit: Some(
//!         RequestedServiceUnit { cc_service_specific_units: Some(1), ..Default::default() }.into(),
//!     ),
//!     ..Default::default()
//! };
//! let cca = ocs.handle_ccr(ccr, SystemTime::now());
//! assert_eq!(cca.result_code, 2001);
//! ```

mod charge;
pub(crate) mod convert;
mod event;
pub mod extended;

use crate::ocs::rating::Tariffs;
use crate::ocs::store::ExpiredSession;
use crate::ocs::store::{
    AccountId, Batch, BatchOutcome, DurableFuture, NewAccount, Store, StoreError, SubscriberId,
};
use diameter::dict::base_rfc6733::{result_code as base_rc, Asr, Rar, ReAuthRequestType};
use diameter::dict::dcca_rfc4006::{
    CcRequestType, Cca, Ccr, FinalUnitAction, MultipleServicesIndicator,
};
use diameter_core::log_limit::LogLimit;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Credit-Control application id (RFC 4006).
pub const CREDIT_CONTROL_APPLICATION_ID: u32 = 4;

/// Default [`ServerConfig::auto_provision_limit`]: 100,000 accounts.
pub const DEFAULT_AUTO_PROVISION_LIMIT: u64 = 100_000;
/// Default [`ServerConfig::max_known_sessions`]: 1 Mi sessions.
pub const DEFAULT_MAX_KNOWN_SESSIONS: usize = 1 << 20;

/// Settings of a [`ChargingServer`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Origin-Host of answers and server-initiated requests.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Validity-Time of each grant, seconds (default 1800).
    pub validity_time: u32,
    /// Tcc: a session without a request for this long is closed (default 3600 s; keep it
    /// above the validity time).
    pub tcc: Duration,
    /// Create an unknown subscriber with this balance on first use (labs).
    pub auto_provision: Option<i64>,
    /// The most accounts [`ServerConfig::auto_provision`] creates in this process (default
    /// [`DEFAULT_AUTO_PROVISION_LIMIT`]); further unknown subscribers are answered 5030
    /// USER_UNKNOWN, so that a peer naming ever new subscribers cannot grow the accounts
    /// (and the money in them) without bound.
    pub auto_provision_limit: u64,
    /// The most open sessions whose client this server remembers (default
    /// [`DEFAULT_MAX_KNOWN_SESSIONS`]), for RAR/ASR and to charge a CCR-U/T without a
    /// store look-up. Past it a new session is still charged, but not remembered: an
    /// operator RAR or ASR for it finds no client. Bounds the memory whatever the store
    /// (the embedded store also bounds the sessions themselves, `engine_max_sessions`).
    pub max_known_sessions: usize,
    /// Final-Unit-Action sent with the last grant (default TERMINATE).
    pub final_unit_action: FinalUnitAction,
    /// How long the outcome of a request is kept to recognize retransmissions (default 1 day).
    pub request_retention: Duration,
    /// The peers (Origin-Host of the peer connection, lowercase) that may send
    /// REFUND_ACCOUNT (default: none; `refund = true` on a `[[peers]]` entry).
    pub refund_peers: BTreeSet<String>,
    /// Expired sessions the Tcc sweep closes per store transaction (default 500).
    pub sweep_batch: usize,
    /// The peers (Origin-Host of the peer connection, lowercase) whose CCR-EVENT without
    /// Requested-Action is read as DIRECT_DEBITING (default: none, such a request is
    /// answered 5005 DIAMETER_MISSING_AVP as RFC 8506 §8.3 requires;
    /// `lenient_requested_action = true` on a `[[peers]]` entry).
    pub lenient_requested_action_peers: BTreeSet<String>,
    /// Peers (Origin-Host of the peer connection, lowercase) that front the same clients,
    /// by group name: for example two agents a client fails over between (default: none;
    /// `group = "NAME"` on `[[peers]]` entries). The members of a group share the
    /// ownership of sessions and the saved answers of requests: a retransmission, or a
    /// session's next request, arriving through another member after a failover is
    /// answered as if it came through the first, and charged once. A peer outside the
    /// group still never gets them.
    pub peer_groups: BTreeMap<String, String>,
    /// A direct debit's CCA carries Low-Balance-Indication YES (TS 32.299) when the
    /// available balance left is below this many minor units (default: none, never sent;
    /// the AVP has the M bit and vendor 10415, so set it only for clients of TS 32.299).
    pub low_balance_threshold: Option<i64>,
}

impl ServerConfig {
    /// Defaults with the given identity.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        ServerConfig {
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            validity_time: 1800,
            tcc: Duration::from_secs(3600),
            auto_provision: None,
            auto_provision_limit: DEFAULT_AUTO_PROVISION_LIMIT,
            max_known_sessions: DEFAULT_MAX_KNOWN_SESSIONS,
            final_unit_action: FinalUnitAction::Terminate,
            request_retention: Duration::from_secs(86_400),
            refund_peers: BTreeSet::new(),
            sweep_batch: 500,
            lenient_requested_action_peers: BTreeSet::new(),
            peer_groups: BTreeMap::new(),
            low_balance_threshold: None,
        }
    }
}

/// The OCS request handler (see the module docs). Share it behind an `Arc`; all methods
/// take `&self` and block on the store.
pub struct ChargingServer {
    store: Arc<dyn Store>,
    tariffs: Tariffs,
    config: ServerConfig,
    /// Session-Id → (Origin-Host, Origin-Realm) of the client, for RAR/ASR, and the
    /// session's account (a CCR-U/T then needs no store look-up; a stale entry only makes
    /// the batch find no session, and the look-up is then done in the store); and whether
    /// its CCR-I indicated MULTIPLE_SERVICES_SUPPORTED.
    peers: Mutex<FastMap<String, (String, String, AccountId, bool)>>,
    /// Subscription-Id → account, as found in the store. Accounts are never deleted and a
    /// Subscription-Id never moves to another account, so an entry never goes stale.
    accounts: Mutex<FastMap<SubscriberId, AccountId>>,
    /// Requests [`ChargingServer::handle_ccr_shared`] answered on the blocking pool.
    blocking_answers: AtomicU64,
    /// Accounts auto-provisioned by this process ([`ServerConfig::auto_provision_limit`]).
    provisioned: AtomicU64,
    /// Refusals past that limit are logged at most once a second.
    provision_refusals: LogLimit,
    /// Store failures are logged at most once a second (each is counted in the metrics).
    store_failures: LogLimit,
    /// The configured Origin-Host and Origin-Realm, built once for every message sent.
    origin_host: diameter_core::DiameterIdentity,
    origin_realm: diameter_core::DiameterIdentity,
}

/// What a server-initiated re-authorization covers (RFC 8506 §5.5, §10.2): the whole
/// session when nothing is set; else one sub-session, credit pool, service or rating group
/// (several set: what matches all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReAuthScope {
    /// CC-Sub-Session-Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_sub_session_id: Option<u64>,
    /// G-S-U-Pool-Identifier: the services drawing on this credit pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g_s_u_pool_identifier: Option<u32>,
    /// Service-Identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_identifier: Option<u32>,
    /// Rating-Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_group: Option<u32>,
}

impl ReAuthScope {
    /// Whether the scope is the whole session.
    pub fn is_whole_session(&self) -> bool {
        *self == ReAuthScope::default()
    }

    /// Puts the scope's AVPs into a RAR.
    pub fn apply(&self, rar: &mut Rar) {
        rar.cc_sub_session_id = self.cc_sub_session_id;
        rar.g_s_u_pool_identifier = self.g_s_u_pool_identifier;
        rar.service_identifier = self.service_identifier;
        rar.rating_group = self.rating_group;
    }

    /// The scope a RAR names.
    pub fn of(rar: &Rar) -> ReAuthScope {
        ReAuthScope {
            cc_sub_session_id: rar.cc_sub_session_id,
            g_s_u_pool_identifier: rar.g_s_u_pool_identifier,
            service_identifier: rar.service_identifier,
            rating_group: rar.rating_group,
        }
    }
}

/// The server's caches (keys from the network): foldhash, seeded per map.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The most Subscription-Ids [`ChargingServer`] remembers (then it starts over).
const ACCOUNT_CACHE: usize = 1 << 20;

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl ChargingServer {
    /// A server charging `store` with `tariffs`.
    pub fn new(store: Arc<dyn Store>, tariffs: Tariffs, config: ServerConfig) -> Self {
        ChargingServer {
            store,
            tariffs,
            origin_host: config.origin_host.as_str().into(),
            origin_realm: config.origin_realm.as_str().into(),
            config,
            peers: Mutex::new(FastMap::default()),
            accounts: Mutex::new(FastMap::default()),
            blocking_answers: AtomicU64::new(0),
            provisioned: AtomicU64::new(0),
            provision_refusals: LogLimit::new(Duration::from_secs(1)),
            store_failures: LogLimit::new(Duration::from_secs(1)),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The tariffs.
    pub fn tariffs(&self) -> &Tariffs {
        &self.tariffs
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Answers a CCR handed over in-process, taking its Origin-Host AVP as the requesting
    /// peer (so it is trusted for the refund right and session ownership). A server on the
    /// network uses [`ChargingServer::handle_ccr_from`] with the peer connection's identity.
    pub fn handle_ccr(&self, ccr: Ccr, now: SystemTime) -> Cca {
        let peer = ccr.origin_host.as_str().to_ascii_lowercase();
        self.handle_ccr_from(ccr, &peer, now)
    }

    /// Answers a CCR that arrived from `peer` (the Origin-Host, lowercase, of the admitted
    /// peer connection: [`diameter_core::node::request_peer`]). Never fails: a temporary
    /// store error gives 3004 DIAMETER_TOO_BUSY, another one 5012 DIAMETER_UNABLE_TO_COMPLY.
    /// Blocks on the store ([`Store::apply`], on the calling thread).
    pub fn handle_ccr_from(&self, ccr: Ccr, peer: &str, now: SystemTime) -> Cca {
        let now_ms = millis(now);
        let mut cca = self.new_answer(&ccr);
        let r = (|| -> Result<(), StoreError> {
            let mut step = self.plan(&ccr, &mut cca, now_ms, peer, true)?;
            loop {
                step = match step {
                    Step::Done => return Ok(()),
                    Step::Replan => self.session_plan(&ccr, &mut cca, now_ms, peer, false, true)?,
                    // Only a plan without look-ups asks for them.
                    Step::NeedsStore => {
                        return Err(StoreError::Config(
                            "a plan asked for look-ups it had".into(),
                        ))
                    }
                    Step::Charge(batch, pending) => {
                        let out = self.store.apply(&batch, now_ms)?;
                        self.finish(&ccr, &mut cca, peer, pending, out)?
                    }
                };
            }
        })();
        self.end_answer(&ccr, &mut cca, r);
        cca
    }

    /// [`ChargingServer::handle_ccr_from`] without blocking: the charge goes through
    /// [`Store::charge`]. The look-ups before it are made on the calling thread, so use this
    /// only with a store whose look-ups are in memory ([`Store::lookups_in_memory`]); with
    /// any store, [`ChargingServer::handle_ccr_shared`] decides per request.
    pub async fn handle_ccr_async(&self, ccr: Ccr, peer: &str, now: SystemTime) -> Cca {
        // With look-ups allowed every plan finishes: the `Err` arm is never taken.
        match self.charge_async(Box::new(ccr), peer, now, true).await {
            Ok(cca) => *cca,
            Err(ccr) => self.handle_ccr_from(*ccr, peer, now),
        }
    }

    /// Answers a CCR from a tokio task with any store, without a thread hand-off when the
    /// look-ups its plan needs are in this node's memory (the session's or subscriber's
    /// account remembered here) or the store's ([`Store::lookups_in_memory`]). A plan that
    /// needs a look-up that may block gives the request back before anything is charged,
    /// and it is answered on tokio's blocking pool ([`ChargingServer::handle_ccr_from`];
    /// counted by [`ChargingServer::blocking_answers`]). `Err` when the handler panicked.
    ///
    /// The request may come boxed, and the answer is: the futures of the answer move
    /// pointers, not the whole messages.
    pub async fn handle_ccr_shared(
        self: &Arc<Self>,
        ccr: impl Into<Box<Ccr>>,
        peer: &str,
        now: SystemTime,
    ) -> Result<Box<Cca>, tokio::task::JoinError> {
        let lookups = self.store.lookups_in_memory();
        let ccr = match self.charge_async(ccr.into(), peer, now, lookups).await {
            Ok(cca) => return Ok(cca),
            Err(ccr) => ccr,
        };
        self.blocking_answers.fetch_add(1, Ordering::Relaxed);
        let (s, peer) = (self.clone(), peer.to_string());
        tokio::task::spawn_blocking(move || Box::new(s.handle_ccr_from(*ccr, &peer, now))).await
    }

    /// How many requests [`ChargingServer::handle_ccr_shared`] answered on the blocking
    /// pool because their plan needed the store's look-ups.
    pub fn blocking_answers(&self) -> u64 {
        self.blocking_answers.load(Ordering::Relaxed)
    }

    /// The async answer; `lookups`: the store's look-ups may be called (they do not
    /// block). Without them, a plan that needs them gives the request back (`Err`) before
    /// anything is charged for it.
    async fn charge_async(
        &self,
        ccr: Box<Ccr>,
        peer: &str,
        now: SystemTime,
        lookups: bool,
    ) -> Result<Box<Cca>, Box<Ccr>> {
        let now_ms = millis(now);
        let mut cca = Box::new(self.new_answer(&ccr));
        let r = async {
            let mut step = self.plan(&ccr, &mut cca, now_ms, peer, lookups)?;
            loop {
                step = match step {
                    Step::Done => return Ok(true),
                    Step::NeedsStore => return Ok(false),
                    // Without look-ups, the new plan is `NeedsStore`.
                    Step::Replan => {
                        self.session_plan(&ccr, &mut cca, now_ms, peer, false, lookups)?
                    }
                    Step::Charge(batch, pending) => {
                        let out = self.store.clone().charge(batch, now_ms).await?;
                        self.finish(&ccr, &mut cca, peer, pending, out)?
                    }
                };
            }
        }
        .await;
        match r {
            Ok(false) => Err(ccr),
            Ok(true) => Ok(cca),
            Err(e) => {
                self.end_answer(&ccr, &mut cca, Err(e));
                Ok(cca)
            }
        }
    }

    /// Answers a CCR at once when the store applies charges at once
    /// ([`Store::charge_now`]) and the look-ups its plan needs are in memory: the answer,
    /// and what must be durable before it is sent (`None`: nothing was charged). `None`
    /// when the store cannot; nothing was charged then, and the CCR goes to
    /// [`ChargingServer::handle_ccr_shared`]. `possible_duplicate`: the request has the T
    /// flag ([`Batch::possible_duplicate`]: only then does the embedded store look for
    /// its key past the filter of recent keys).
    pub fn charge_now(
        &self,
        ccr: &Ccr,
        peer: &str,
        possible_duplicate: bool,
        now: SystemTime,
    ) -> Option<(Box<Cca>, Option<DurableFuture>)> {
        if !self.store.lookups_in_memory() {
            return None;
        }
        let now_ms = millis(now);
        let mut cca = Box::new(self.new_answer(ccr));
        let mut durable = Vec::new();
        let r = (|| {
            let mut step = self.plan(ccr, &mut cca, now_ms, peer, true)?;
            loop {
                step = match step {
                    Step::Done => return Ok(true),
                    Step::NeedsStore => return Ok(false),
                    Step::Replan => self.session_plan(ccr, &mut cca, now_ms, peer, false, true)?,
                    Step::Charge(mut batch, pending) => {
                        batch.possible_duplicate = possible_duplicate;
                        match self.store.charge_now(&batch, now_ms) {
                            // Only before anything was charged (a store answers for all or none).
                            None if durable.is_empty() => return Ok(false),
                            None => return Err(StoreError::Stopped),
                            Some(charged) => {
                                let charged = charged?;
                                durable.push(charged.durable);
                                self.finish(ccr, &mut cca, peer, pending, charged.outcome)?
                            }
                        }
                    }
                };
            }
        })();
        match r {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => self.end_answer(ccr, &mut cca, Err(e)),
        }
        // Every charge's durability; one charge is the usual case.
        let durable = match durable.len() {
            0 => None,
            1 => durable.pop(),
            _ => Some(Box::pin(async move {
                for d in durable {
                    d.await?;
                }
                Ok(())
            }) as DurableFuture),
        };
        Some((cca, durable))
    }

    /// The answer before anything is charged: success, the request's identifiers.
    fn new_answer(&self, ccr: &Ccr) -> Cca {
        success_answer(ccr, &self.origin_host, &self.origin_realm)
    }

    /// The look-ups of a request: answers it, or says what to charge. `lookups`: the
    /// store's look-ups may be called (else a plan that needs one is [`Step::NeedsStore`]).
    fn plan(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        now_ms: i64,
        peer: &str,
        lookups: bool,
    ) -> Result<Step<'_>, StoreError> {
        if ccr.multiple_services_credit_control.len() > 1 && !self.multiple_services(ccr) {
            // Several services but no Multiple-Services-Indicator: they cannot be answered
            // at session level, and the client did not say it takes MSCC answers.
            missing_multiple_services_indicator(cca);
            return Ok(Step::Done);
        }
        match ccr.cc_request_type {
            CcRequestType::InitialRequest
            | CcRequestType::UpdateRequest
            | CcRequestType::TerminationRequest => {
                self.session_plan(ccr, cca, now_ms, peer, true, lookups)
            }
            CcRequestType::EventRequest => self.event_plan(ccr, cca, now_ms, peer, lookups),
            CcRequestType::Unrecognized(_) => {
                cca.result_code = base_rc::DIAMETER_INVALID_AVP_VALUE;
                Ok(Step::Done)
            }
        }
    }

    /// Turns a charge's outcome into the answer (or a new plan: [`Step::Replan`]).
    fn finish<'s>(
        &'s self,
        ccr: &Ccr,
        cca: &mut Cca,
        peer: &str,
        pending: Pending<'s>,
        out: BatchOutcome,
    ) -> Result<Step<'s>, StoreError> {
        match pending {
            Pending::Session(p) => self.session_finish(ccr, cca, peer, p, out),
            Pending::Check => {
                event::check_balance_answer(cca, &out);
                Ok(Step::Done)
            }
            Pending::Event(p) => {
                self.event_finish(ccr, cca, peer, p, out);
                Ok(Step::Done)
            }
        }
    }

    /// The answer after a store error: 3004 when temporary, else 5012, with no grant.
    fn end_answer(&self, ccr: &Ccr, cca: &mut Cca, r: Result<(), StoreError>) {
        if let Err(e) = r {
            let temporary = e.is_temporary();
            if let Some(held_back) = self.store_failures.allow() {
                tracing::warn!(
                    session = %ccr.session_id, error = %e, temporary, held_back,
                    "ocs: store failed (held_back: failures since the last line)"
                );
            }
            cca.result_code = if temporary {
                base_rc::DIAMETER_TOO_BUSY
            } else {
                base_rc::DIAMETER_UNABLE_TO_COMPLY
            };
            cca.multiple_services_credit_control.clear();
            cca.granted_service_unit = None;
            cca.final_unit_indication = None;
            cca.refund_information = None;
            cca.cost_information = None;
            cca.low_balance_indication = None;
        }
    }

    /// The idempotency key of a request from `peer` (lowercase), and the owner of its
    /// session: the peer's group ([`ServerConfig::peer_groups`], as `group:NAME`, which no
    /// Diameter identity can be), else the peer itself. Another owner reusing a Session-Id
    /// never gets this one's saved answers (nor the Refund-Information in them).
    pub(super) fn request_key(&self, ccr: &Ccr, peer: &str) -> (String, String) {
        let owner = match self.config.peer_groups.get(peer) {
            Some(group) => format!("group:{group}"),
            None => peer.to_string(),
        };
        (request_key(ccr, &owner), owner)
    }

    /// Whether `peer` may send REFUND_ACCOUNT.
    pub fn may_refund(&self, peer: &str) -> bool {
        self.config
            .refund_peers
            .contains(&peer.to_ascii_lowercase())
    }

    /// Tcc supervision: closes every session whose last request is older than Tcc,
    /// releasing its reservations, and forgets request outcomes older than the retention.
    /// Sessions are listed in pages and closed [`ServerConfig::sweep_batch`] per store
    /// transaction; a batch that fails is split until the failing session is found, which is
    /// logged and skipped (a later pass tries it again). A temporary store error ends the
    /// pass. Returns the Session-Ids closed.
    pub fn expire_sessions(&self, now: SystemTime) -> Result<Vec<String>, StoreError> {
        let now_ms = millis(now);
        let batch = self.config.sweep_batch.max(1);
        let mut closed = Vec::new();
        let mut cursor: Option<ExpiredSession> = None;
        loop {
            let page = self
                .store
                .expired_sessions(now_ms, cursor.as_ref(), batch)?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.clone());
            self.close_sessions(&page, now_ms, &mut closed)?;
            if page.len() < batch {
                break;
            }
        }
        let retention = i64::try_from(self.config.request_retention.as_millis()).unwrap_or(0);
        self.store
            .purge_requests(now_ms.saturating_sub(retention))?;
        Ok(closed)
    }

    /// Closes `sessions` in one transaction, or, when that fails permanently, each half
    /// alone (down to single sessions, which are logged and skipped).
    fn close_sessions(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
        closed: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        match self.store.close_expired(sessions, now_ms) {
            Ok(done) => {
                for (session, released) in done {
                    tracing::info!(%session, released, "ocs: Tcc expired, reservations released");
                    self.forget_peer(&session);
                    closed.push(session);
                }
                Ok(())
            }
            Err(e) if e.is_temporary() => Err(e),
            Err(e) if sessions.len() == 1 => {
                tracing::error!(session = %sessions[0].session_id, error = %e,
                    "ocs: Tcc sweep cannot close this session; skipped");
                Ok(())
            }
            Err(_) => {
                let (a, b) = sessions.split_at(sessions.len() / 2);
                self.close_sessions(a, now_ms, closed)?;
                self.close_sessions(b, now_ms, closed)
            }
        }
    }

    /// The Origin-Host and Origin-Realm of the client of an open session, as last seen here.
    pub fn session_peer(&self, session_id: &str) -> Option<(String, String)> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session_id)
            .map(|(host, realm, ..)| (host.clone(), realm.clone()))
    }

    /// The account of an open session, as last seen here.
    pub(super) fn known_session_account(&self, session_id: &str) -> Option<AccountId> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session_id)
            .map(|p| p.2)
    }

    /// A RAR (Re-Auth-Request-Type AUTHORIZE_ONLY) for a session whose client this node
    /// knows; the client answers RAA 2002 and sends a CCR-U.
    pub fn re_auth_request(&self, session_id: &str) -> Option<Rar> {
        self.re_auth_request_for(session_id, &ReAuthScope::default())
    }

    /// A RAR like [`ChargingServer::re_auth_request`] that re-authorizes only what `scope`
    /// names (RFC 8506 §5.5): the client re-reports only those quotas.
    pub fn re_auth_request_for(&self, session_id: &str, scope: &ReAuthScope) -> Option<Rar> {
        let (host, realm) = self.session_peer(session_id)?;
        let mut rar = self.build_rar(session_id, &host, &realm);
        scope.apply(&mut rar);
        Some(rar)
    }

    /// A RAR (AUTHORIZE_ONLY) to the given client.
    pub fn build_rar(
        &self,
        session_id: &str,
        destination_host: &str,
        destination_realm: &str,
    ) -> Rar {
        Rar {
            session_id: session_id.into(),
            origin_host: self.origin_host.clone(),
            origin_realm: self.origin_realm.clone(),
            destination_host: destination_host.into(),
            destination_realm: destination_realm.into(),
            auth_application_id: CREDIT_CONTROL_APPLICATION_ID,
            re_auth_request_type: ReAuthRequestType::AuthorizeOnly,
            ..Default::default()
        }
    }

    /// An ASR for a session whose client this node knows; the client ends the session with
    /// a CCR-T.
    pub fn abort_session_request(&self, session_id: &str) -> Option<Asr> {
        let (host, realm) = self.session_peer(session_id)?;
        Some(self.build_asr(session_id, &host, &realm))
    }

    /// An ASR to the given client.
    pub fn build_asr(
        &self,
        session_id: &str,
        destination_host: &str,
        destination_realm: &str,
    ) -> Asr {
        Asr {
            session_id: session_id.into(),
            origin_host: self.origin_host.clone(),
            origin_realm: self.origin_realm.clone(),
            destination_host: destination_host.into(),
            destination_realm: destination_realm.into(),
            auth_application_id: CREDIT_CONTROL_APPLICATION_ID,
            ..Default::default()
        }
    }

    fn remember_peer(&self, ccr: &Ccr, account: AccountId) {
        let (host, realm) = (ccr.origin_host.as_str(), ccr.origin_realm.as_str());
        let multiple = self.multiple_services(ccr);
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let full = peers.len() >= self.config.max_known_sessions;
        match peers.get_mut(ccr.session_id.as_str()) {
            // A CCR-U of a known session: nothing to allocate.
            Some(p) if p.0 == host && p.1 == realm => p.2 = account,
            None if full => {}
            _ => {
                peers.insert(
                    ccr.session_id.as_str().to_string(),
                    (host.to_string(), realm.to_string(), account, multiple),
                );
            }
        }
    }

    /// Whether the client of this request handles multiple services independently (RFC 8506
    /// §5.1.2, §8.40), so that it is answered in Multiple-Services-Credit-Control: said by
    /// Multiple-Services-Indicator in the first interrogation (CCR-I, CCR-E); for a CCR-U/T,
    /// what its session's CCR-I said, or, for a session not known here (a restart), whether
    /// the request carries MSCC or the indicator.
    pub(super) fn multiple_services(&self, ccr: &Ccr) -> bool {
        let indicated = ccr.multiple_services_indicator
            == Some(MultipleServicesIndicator::MultipleServicesSupported);
        match ccr.cc_request_type {
            CcRequestType::InitialRequest | CcRequestType::EventRequest => indicated,
            _ => self
                .peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(ccr.session_id.as_str())
                .map(|p| p.3)
                .unwrap_or(indicated || !ccr.multiple_services_credit_control.is_empty()),
        }
    }

    fn forget_peer(&self, session_id: &str) {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session_id);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, FastMap<SubscriberId, AccountId>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember_account(&self, id: &SubscriberId, account: AccountId) {
        let mut cache = self.cache();
        if cache.len() >= ACCOUNT_CACHE {
            cache.clear();
        }
        cache.insert(id.clone(), account);
    }

    /// The account of the CCR's subscriber, created when auto-provisioning is on; with
    /// `lookups` false, only one remembered here.
    fn resolve_account(
        &self,
        ccr: &Ccr,
        now_ms: i64,
        provision: bool,
        lookups: bool,
    ) -> Result<Resolved, StoreError> {
        let ids = convert::subscribers(ccr);
        for id in &ids {
            if let Some(&acc) = self.cache().get(id) {
                return Ok(Resolved::Account(acc));
            }
            if !lookups {
                return Ok(Resolved::NeedsStore);
            }
            if let Some(acc) = self.store.account_id(id)? {
                self.remember_account(id, acc);
                return Ok(Resolved::Account(acc));
            }
        }
        match (self.config.auto_provision, ids.first()) {
            (Some(balance), Some(id)) if provision => {
                let limit = self.config.auto_provision_limit;
                let counted =
                    self.provisioned
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            (n < limit).then_some(n + 1)
                        });
                if counted.is_err() {
                    if let Some(held_back) = self.provision_refusals.allow() {
                        tracing::warn!(subscriber = %id, limit, held_back, "ocs: auto-provision limit reached");
                    }
                    return Ok(Resolved::Unknown);
                }
                let account =
                    NewAccount::new(vec![id.clone()], balance.max(0), self.tariffs.currency);
                let acc = self.store.ensure_account(&account)?;
                self.remember_account(id, acc);
                tracing::info!(subscriber = %id, balance, at = now_ms, "ocs: auto-provisioned");
                Ok(Resolved::Account(acc))
            }
            _ => Ok(Resolved::Unknown),
        }
    }
}

/// The account [`ChargingServer::resolve_account`] found for a request.
enum Resolved {
    Account(AccountId),
    /// No account, and none provisioned.
    Unknown,
    /// None remembered here, and the store's look-ups were not allowed.
    NeedsStore,
}

/// Answers 5005 DIAMETER_MISSING_AVP naming Multiple-Services-Indicator (the RFC 6733 §7.5
/// example AVP: its code and flags, a zeroed value).
fn missing_multiple_services_indicator(cca: &mut Cca) {
    use diameter::dict::base_rfc6733::FailedAvp;
    use diameter_core::{bytes::Bytes, AvpFlags, RawAvp};
    cca.result_code = base_rc::DIAMETER_MISSING_AVP;
    cca.failed_avp = vec![FailedAvp {
        other: vec![RawAvp::new(
            diameter::dict::dcca_rfc4006::avp::MULTIPLE_SERVICES_INDICATOR,
            AvpFlags::MANDATORY,
            0,
            Bytes::from_static(&[0; 4]),
        )]
        .into(),
    }]
    .into();
}

/// The next step of a request: answered, or a batch to charge and what the answer needs
/// from its outcome ([`ChargingServer::finish`]).
enum Step<'s> {
    /// The answer is complete.
    Done,
    /// Charge this batch, then finish.
    Charge(Batch, Pending<'s>),
    /// The session's account remembered here proved stale: plan again with the store's
    /// look-ups ([`ChargingServer::session_plan`] without the memory).
    Replan,
    /// The plan needs the store's look-ups, which it was not allowed: nothing was charged;
    /// plan again where they may block.
    NeedsStore,
}

/// What turns a charge's outcome into the answer.
enum Pending<'s> {
    /// A session request (CCR-I/U/T).
    Session(charge::SessionPending<'s>),
    /// CHECK_BALANCE.
    Check,
    /// A direct debit or a refund.
    Event(event::EventPending<'s>),
}

/// The idempotency key of a request of `owner` ([`ChargingServer::request_key`]).
fn request_key(ccr: &Ccr, owner: &str) -> String {
    let session = ccr.session_id.as_str();
    let mut digits = itoa::Buffer::new();
    // Two numbers of at most 11 and 10 digits and three separators.
    let mut key = String::with_capacity(session.len() + owner.len() + 24);
    key.push_str(session);
    key.push('|');
    key.push_str(digits.format(ccr.cc_request_type.value()));
    key.push('|');
    key.push_str(digits.format(ccr.cc_request_number));
    key.push('|');
    key.push_str(owner);
    key
}

/// A CCA of success to `ccr` from `origin_host` of `origin_realm`: the request's
/// identifiers (Session-Id, CC-Request-Type and -Number, CC-Sub-Session-Id), nothing granted.
pub(crate) fn success_answer(
    ccr: &Ccr,
    origin_host: &diameter_core::DiameterIdentity,
    origin_realm: &diameter_core::DiameterIdentity,
) -> Cca {
    Cca {
        session_id: ccr.session_id.clone(),
        result_code: base_rc::DIAMETER_SUCCESS,
        origin_host: origin_host.clone(),
        origin_realm: origin_realm.clone(),
        auth_application_id: CREDIT_CONTROL_APPLICATION_ID,
        cc_request_type: ccr.cc_request_type,
        cc_request_number: ccr.cc_request_number,
        cc_sub_session_id: ccr.cc_sub_session_id,
        ..Default::default()
    }
}
