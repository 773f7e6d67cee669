//! The Diameter client of a SIP server (RFC 4740): typed UAR, MAR, SAR and LIR calls with
//! the Result-Codes as [`SipResult`], and [`SipServerEvents`] for the RTR and PPR the
//! Diameter server sends.
//!
//! Also: [`choose_server`] (a SIP server from SIP-Server-Capabilities), 3006 answers
//! followed and cached per Redirect-Host-Usage ([`redirect`]), [`AuthTimer`] for the
//! Authorization-Lifetime of STATE_MAINTAINED sessions ([`lifetime`]), and the SIP
//! server's accounting sessions ([`accounting`]), STR and the ASR handler
//! ([`termination`]: a deregistration SAR in a STATE_MAINTAINED session is followed by
//! the session's STR).
//!
//! The client sends through a [`Transport`]: the runtime's `diameter_core::node::Node`
//! (its RTR/PPR handlers are installed with [`register_events`]) or, in tests, a
//! [`crate::sip::server::Server`] in the same process ([`crate::sip::server::Local`]).
//!
//! ```
//! # async fn demo() {
//! use diameter_apps::sip::client::{ClientConfig, SipClient, SipResult};
//! use diameter_apps::sip::server::{Local, Server, ServerConfig};
//! use diameter_apps::sip::store::{open, SipUser};
//! use std::sync::Arc;
//!
//! let store = open("sqlite::memory:").unwrap();
//! store.put_user(&SipUser::with_password("alice", "example.com", "pw").aor("sip:alice@example.com")).unwrap();
//! let server = Arc::new(Server::new(ServerConfig::new("aaa.example.com", "example.com"), store));
//! let client = SipClient::new(ClientConfig::new("proxy.example.com", "example.com", "example.com"), Local::new(server, "proxy.example.com"));
//! let uaa = client.uar("sip:alice@example.com", None).await.unwrap();
//! assert_eq!(uaa.result, SipResult::FirstRegistration);
//! # }
//! ```

pub mod accounting;
mod events;
pub mod lifetime;
mod node;
pub mod redirect;
mod result;
mod select;
pub mod termination;

pub use self::accounting::{SipAccounting, SipAccountingClient, SipAccountingConfig};
pub use self::events::{answer_ppr, answer_rtr, Deregistration, ProfilePush, SipServerEvents};
pub use self::lifetime::{AuthTimer, Authorization};
pub use self::node::register_events;
pub use self::redirect::{RedirectCache, RedirectConfig};
pub use self::result::SipResult;
pub use self::select::{choose_server, Candidate};
pub use self::termination::{answer_asr, register_abort, SessionAbort};

use crate::sip::digest::{Challenge, DigestResponse};
use crate::sip::server::APPLICATION_ID;
use crate::sip::store::{AccountingInfo, Capabilities, UserData};
use crate::sip::{inner, member};
use diameter::dict::base_rfc6733::AuthSessionState;
use diameter::dict::sip_rfc4740::{
    Lia, Lir, Maa, Mar, Saa, Sar, SipAccountingInformation, SipAuthDataItem, SipAuthenticationInfo,
    SipAuthenticationScheme, SipServerAssignmentType, SipServerCapabilities,
    SipUserAuthorizationType, SipUserDataAlreadyAvailable, Uaa, Uar,
};
use diameter_core::{Command, RawMessage};
use std::future::Future;
use std::pin::Pin;

/// The future of [`Transport::request`].
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RawMessage, ClientError>> + Send + 'a>>;

/// Something that delivers a request to the Diameter server and returns its answer.
pub trait Transport: Send + Sync {
    /// Sends one request (ids may be 0: the transport assigns them) and awaits the answer.
    fn request(&self, msg: RawMessage) -> TransportFuture<'_>;
    /// A new Session-Id of this node (RFC 6733 §8.8).
    fn new_session_id(&self) -> String;
}

/// Why a call failed (a Diameter error in the answer is not a failure: see [`SipResult`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The transport failed (timeout, no route, peer down).
    #[error("transport: {0}")]
    Transport(String),
    /// The answer did not decode.
    #[error("answer does not decode: {0}")]
    Decode(#[from] diameter_core::DecodeError),
}

/// Identity and addressing of the client.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Origin-Host of the SIP server's Diameter client.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Destination-Realm (the home realm of the users).
    pub destination_realm: String,
    /// Destination-Host, when a particular Diameter server is wanted.
    pub destination_host: Option<String>,
    /// How 3006 DIAMETER_REDIRECT_INDICATION answers are followed and cached.
    pub redirect: RedirectConfig,
    /// Auth-Session-State of the requests (default NO_STATE_MAINTAINED). With
    /// STATE_MAINTAINED the server may answer with Authorization-Lifetime and
    /// Auth-Grace-Period, read into each answer's [`AuthTimer`].
    pub auth_session_state: AuthSessionState,
    /// How long before the Authorization-Lifetime ends re-authorization is due (at most
    /// half the lifetime; default 30 s).
    pub reauth_margin: std::time::Duration,
}

impl ClientConfig {
    /// A configuration without Destination-Host.
    pub fn new(origin_host: &str, origin_realm: &str, destination_realm: &str) -> Self {
        ClientConfig {
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            destination_realm: destination_realm.to_string(),
            destination_host: None,
            redirect: RedirectConfig::default(),
            auth_session_state: AuthSessionState::NoStateMaintained,
            reauth_margin: std::time::Duration::from_secs(30),
        }
    }
}

/// A UAA, read.
#[derive(Clone, Debug, PartialEq)]
pub struct UarAnswer {
    /// Result-Code.
    pub result: SipResult,
    /// The SIP server assigned to the user.
    pub server_uri: Option<String>,
    /// What a SIP server for the user must support.
    pub capabilities: Option<Capabilities>,
    /// Authorization-Lifetime and Auth-Grace-Period as deadlines from the answer's
    /// arrival (never firing when the answer has none).
    pub authorization: AuthTimer,
    /// The whole answer.
    pub raw: Uaa,
}

impl UarAnswer {
    /// The SIP server to assign: the one named in SIP-Server-URI (a server is already
    /// assigned), else the choice among `candidates` by the answer's capabilities
    /// ([`choose_server`]).
    pub fn choose_server(&self, candidates: &[Candidate]) -> Option<String> {
        self.server_uri.clone().or_else(|| {
            self.capabilities
                .as_ref()
                .and_then(|c| choose_server(c, candidates))
        })
    }
}

/// A MAA, read.
#[derive(Clone, Debug, PartialEq)]
pub struct MarAnswer {
    /// Result-Code.
    pub result: SipResult,
    /// The challenge to send to the user agent (WWW-Authenticate): the first of
    /// [`MarAnswer::challenges`].
    pub challenge: Option<Challenge>,
    /// Every challenge of the answer, one per SIP-Auth-Data-Item, in order.
    pub challenges: Vec<Challenge>,
    /// H(A1) when the SIP server is to check the response itself (RFC 4740 §6.3).
    pub ha1: Option<String>,
    /// `rspauth` for an Authentication-Info header, after a successful check in the server.
    pub response_auth: Option<String>,
    /// Authorization-Lifetime and Auth-Grace-Period as deadlines from the answer's
    /// arrival (never firing when the answer has none).
    pub authorization: AuthTimer,
    /// The whole answer.
    pub raw: Maa,
}

impl MarAnswer {
    /// Checks the user agent's response with the H(A1) of this answer (delegated check):
    /// it must answer this answer's challenge ([`DigestResponse::check_challenge`]: same
    /// realm and algorithm, the offered qop, no downgrade) and match. Using each nonce once
    /// is up to the SIP server.
    pub fn verify(&self, response: &DigestResponse, method: &str) -> bool {
        let answers = self
            .challenge
            .as_ref()
            .is_none_or(|c| response.check_challenge(c).is_ok());
        match &self.ha1 {
            Some(ha1) => answers && response.verify(ha1, method).is_ok(),
            None => false,
        }
    }
}

/// A SAA, read.
#[derive(Clone, Debug, PartialEq)]
pub struct SarAnswer {
    /// Result-Code.
    pub result: SipResult,
    /// The user profile.
    pub profile: Vec<UserData>,
    /// Accounting servers.
    pub accounting: Option<AccountingInfo>,
    /// Authorization-Lifetime and Auth-Grace-Period as deadlines from the answer's
    /// arrival (never firing when the answer has none).
    pub authorization: AuthTimer,
    /// The whole answer.
    pub raw: Saa,
}

/// A LIA, read.
#[derive(Clone, Debug, PartialEq)]
pub struct LirAnswer {
    /// Result-Code.
    pub result: SipResult,
    /// The SIP server that serves the AOR.
    pub server_uri: Option<String>,
    /// Capabilities to select a server for unregistered services.
    pub capabilities: Option<Capabilities>,
    /// Authorization-Lifetime and Auth-Grace-Period as deadlines from the answer's
    /// arrival (never firing when the answer has none).
    pub authorization: AuthTimer,
    /// The whole answer.
    pub raw: Lia,
}

impl LirAnswer {
    /// The SIP server for the AOR: SIP-Server-URI, else the choice among `candidates`
    /// by the answer's capabilities ([`choose_server`]).
    pub fn choose_server(&self, candidates: &[Candidate]) -> Option<String> {
        self.server_uri.clone().or_else(|| {
            self.capabilities
                .as_ref()
                .and_then(|c| choose_server(c, candidates))
        })
    }
}

/// What a SAR is about.
#[derive(Clone, Debug, PartialEq)]
pub struct SarParams {
    /// SIP-Server-Assignment-Type.
    pub kind: SipServerAssignmentType,
    /// SIP-AOR values.
    pub aors: Vec<String>,
    /// User-Name.
    pub user_name: Option<String>,
    /// SIP-Server-URI of this SIP server.
    pub server_uri: Option<String>,
    /// Whether to download the profile (USER_DATA_NOT_AVAILABLE).
    pub want_profile: bool,
    /// SIP-Supported-User-Data-Type values.
    pub supported_types: Vec<String>,
    /// Session-Id to reuse: a re-authorization (RE_REGISTRATION) of a STATE_MAINTAINED
    /// session stays in that session (None: a new session); a successful deregistration
    /// in that session is followed by its STR.
    pub session_id: Option<String>,
}

impl SarParams {
    /// A SAR of `kind` for one AOR, downloading the profile.
    pub fn new(kind: SipServerAssignmentType, aor: &str) -> Self {
        SarParams {
            kind,
            aors: vec![aor.to_string()],
            user_name: None,
            server_uri: None,
            want_profile: true,
            supported_types: Vec::new(),
            session_id: None,
        }
    }
}

/// What a MAR carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MarParams {
    /// SIP-AOR (for REGISTER the To URI, else the Request-URI).
    pub aor: String,
    /// SIP-Method.
    pub method: String,
    /// User-Name (the Digest username of the request's credentials).
    pub user_name: Option<String>,
    /// SIP-Server-URI: set by a registrar (RFC 4740 §8.7).
    pub server_uri: Option<String>,
    /// The user agent's credentials, for a check in the Diameter server.
    pub credentials: Option<DigestResponse>,
    /// Digest algorithm to ask for (`SHA-256`), when no credentials are given.
    pub algorithm: Option<crate::sip::digest::Algorithm>,
    /// SIP-Number-Auth-Items to ask for when no credentials are given: several
    /// challenges, each with its own nonce (0 and 1 ask for one). The server may send
    /// fewer (its `max_auth_items`).
    pub auth_items: u32,
}

pub(crate) fn capabilities_of(c: &SipServerCapabilities) -> Capabilities {
    Capabilities {
        mandatory: c.sip_mandatory_capability.to_vec(),
        optional: c.sip_optional_capability.to_vec(),
        servers: c
            .sip_server_uri
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
    }
}

pub(crate) fn accounting_of(a: &SipAccountingInformation) -> AccountingInfo {
    AccountingInfo {
        accounting_servers: a
            .sip_accounting_server_uri
            .iter()
            .map(|u| u.as_str().to_string())
            .collect(),
        credit_control_servers: a
            .sip_credit_control_server_uri
            .iter()
            .map(|u| u.as_str().to_string())
            .collect(),
    }
}

/// The Diameter client of a SIP server.
pub struct SipClient<T> {
    cfg: ClientConfig,
    transport: T,
    redirects: std::sync::Mutex<RedirectCache>,
}

/// Fills the fields every request of this application shares.
macro_rules! request {
    ($ty:ident, $client:expr) => {
        $ty {
            session_id: $client.transport.new_session_id().into(),
            auth_application_id: APPLICATION_ID,
            auth_session_state: $client.cfg.auth_session_state,
            origin_host: $client.cfg.origin_host.as_str().into(),
            origin_realm: $client.cfg.origin_realm.as_str().into(),
            destination_realm: $client.cfg.destination_realm.as_str().into(),
            destination_host: $client.cfg.destination_host.as_deref().map(Into::into),
            ..Default::default()
        }
    };
}

impl<T: Transport> SipClient<T> {
    /// A client sending through `transport`.
    pub fn new(cfg: ClientConfig, transport: T) -> Self {
        SipClient {
            cfg,
            transport,
            redirects: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends a typed request and decodes the typed answer.
    pub async fn call<Req: Command, Ans: Command>(&self, req: &Req) -> Result<Ans, ClientError> {
        let msg = req.to_message(APPLICATION_ID, 0, 0);
        let answer = self.send(msg).await?;
        Ok(Ans::decode(&answer)?)
    }

    fn timer(&self, lifetime: Option<u32>, grace: Option<u32>) -> AuthTimer {
        let now = std::time::Instant::now();
        AuthTimer::new(lifetime, grace, self.cfg.reauth_margin, now)
    }

    /// The number of cached redirections.
    pub fn cached_redirects(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, RedirectCache> {
        self.redirects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends a request, to the host of a cached redirection if one applies, and follows
    /// 3006 answers (up to [`RedirectConfig::max_hops`]), trying each Redirect-Host in
    /// order while the transport fails.
    pub async fn send(&self, request: RawMessage) -> Result<RawMessage, ClientError> {
        use redirect::{with_destination_host, Redirect, RequestKeys};
        let keys = RequestKeys::of(&request);
        let cached = self.cache().lookup(&keys, std::time::Instant::now());
        let mut answer = match cached {
            Some(host) => {
                let sent = self
                    .transport
                    .request(with_destination_host(&request, &host))
                    .await;
                match sent {
                    Ok(a) => a,
                    Err(_) => {
                        self.cache().forget_host(&host);
                        self.transport.request(request.clone()).await?
                    }
                }
            }
            None => self.transport.request(request.clone()).await?,
        };
        for _ in 0..self.cfg.redirect.max_hops {
            let Some(r) = Redirect::of(&answer) else {
                break;
            };
            self.cache()
                .insert(&keys, &r, std::time::Instant::now(), &self.cfg.redirect);
            let mut last = None;
            for host in &r.hosts {
                match self
                    .transport
                    .request(with_destination_host(&request, host))
                    .await
                {
                    Ok(a) => {
                        last = Some(Ok(a));
                        break;
                    }
                    Err(e) => {
                        self.cache().forget_host(host);
                        last = Some(Err(e));
                    }
                }
            }
            match last {
                Some(next) => answer = next?,
                None => break,
            }
        }
        Ok(answer)
    }

    /// UAR for a REGISTER (SIP-User-Authorization-Type REGISTRATION).
    pub async fn uar(&self, aor: &str, user_name: Option<&str>) -> Result<UarAnswer, ClientError> {
        self.uar_with(aor, user_name, SipUserAuthorizationType::Registration, None)
            .await
    }

    /// UAR with every option: the authorization type and SIP-Visited-Network-Id.
    pub async fn uar_with(
        &self,
        aor: &str,
        user_name: Option<&str>,
        kind: SipUserAuthorizationType,
        visited_network: Option<&str>,
    ) -> Result<UarAnswer, ClientError> {
        let mut req: Uar = request!(Uar, self);
        req.sip_aor = aor.into();
        req.user_name = user_name.map(Into::into);
        req.sip_user_authorization_type = Some(kind);
        req.sip_visited_network_id = visited_network.map(Into::into);
        let a: Uaa = self.call(&req).await?;
        Ok(UarAnswer {
            result: a.result_code.into(),
            server_uri: a.sip_server_uri.as_ref().map(|s| s.as_str().to_string()),
            capabilities: a
                .sip_server_capabilities
                .as_ref()
                .map(|c| capabilities_of(inner(c))),
            authorization: self.timer(a.authorization_lifetime, a.auth_grace_period),
            raw: a,
        })
    }

    /// MAR: asks for a challenge, or (with credentials) for a check in the Diameter server.
    pub async fn mar(&self, p: &MarParams) -> Result<MarAnswer, ClientError> {
        let mut req: Mar = request!(Mar, self);
        req.sip_aor = p.aor.as_str().into();
        req.sip_method = p.method.as_str().into();
        req.user_name = p.user_name.as_deref().map(Into::into);
        req.sip_server_uri = p.server_uri.as_deref().map(Into::into);
        req.sip_number_auth_items = Some(match &p.credentials {
            Some(_) => 1,
            None => p.auth_items.max(1),
        });
        let mut item = SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            ..Default::default()
        };
        if let Some(c) = &p.credentials {
            item.sip_authorization = Some(member(c.to_avp()));
        } else if let Some(alg) = p.algorithm {
            let auth = diameter::dict::sip_rfc4740::SipAuthenticate {
                digest_algorithm: Some(alg.as_str().into()),
                ..Default::default()
            };
            item.sip_authenticate = Some(member(auth));
        }
        req.sip_auth_data_item = Some(member(item));
        let a: Maa = self.call(&req).await?;
        let mut out = MarAnswer {
            result: a.result_code.into(),
            challenge: None,
            challenges: Vec::new(),
            ha1: None,
            response_auth: None,
            authorization: self.timer(a.authorization_lifetime, a.auth_grace_period),
            raw: a,
        };
        for item in &out.raw.sip_auth_data_item {
            if let Some(auth) = item.sip_authenticate.as_ref().map(inner) {
                if let Ok(c) = Challenge::from_avp(auth) {
                    out.challenges.push(c);
                }
                if out.challenge.is_none() {
                    out.challenge = Challenge::from_avp(auth).ok();
                    out.ha1 = auth.digest_ha1.as_ref().map(|h| h.as_str().to_string());
                }
            }
            if let Some(info) = item
                .sip_authentication_info
                .as_ref()
                .map(inner::<SipAuthenticationInfo, _>)
            {
                out.response_auth = info
                    .digest_response_auth
                    .as_ref()
                    .map(|s| s.as_str().to_string());
            }
        }
        Ok(out)
    }

    /// SAR.
    pub async fn sar(&self, p: &SarParams) -> Result<SarAnswer, ClientError> {
        let mut req: Sar = request!(Sar, self);
        if let Some(sid) = &p.session_id {
            req.session_id = sid.as_str().into();
        }
        req.sip_server_assignment_type = p.kind;
        req.sip_user_data_already_available = if p.want_profile {
            SipUserDataAlreadyAvailable::UserDataNotAvailable
        } else {
            SipUserDataAlreadyAvailable::UserDataAlreadyAvailable
        };
        req.user_name = p.user_name.as_deref().map(Into::into);
        req.sip_server_uri = p.server_uri.as_deref().map(Into::into);
        req.sip_aor = p.aors.iter().map(|a| a.as_str().into()).collect();
        req.sip_supported_user_data_type = p
            .supported_types
            .iter()
            .map(|t| t.as_str().into())
            .collect();
        let a: Saa = self.call(&req).await?;
        let deregistration = matches!(
            p.kind,
            SipServerAssignmentType::TimeoutDeregistration
                | SipServerAssignmentType::UserDeregistration
                | SipServerAssignmentType::AdministrativeDeregistration
                | SipServerAssignmentType::DeregistrationTooMuchData
                | SipServerAssignmentType::TimeoutDeregistrationStoreServerName
                | SipServerAssignmentType::UserDeregistrationStoreServerName
        );
        if deregistration
            && p.session_id.is_some()
            && a.result_code == SipResult::Success.code()
            && a.auth_session_state == AuthSessionState::StateMaintained
        {
            // The registration, and with it the session, ended (RFC 6733 §8.4).
            let cause = diameter::dict::base_rfc6733::TerminationCause::DiameterLogout;
            let sta = self.terminate(a.session_id.as_str(), cause).await?;
            tracing::debug!(session = %a.session_id, result = ?sta, "sip: STR after deregistration");
        }
        Ok(SarAnswer {
            result: a.result_code.into(),
            profile: a
                .sip_user_data
                .iter()
                .map(|d| UserData {
                    data_type: d.sip_user_data_type.as_str().to_string(),
                    contents: d.sip_user_data_contents.to_vec(),
                })
                .collect(),
            accounting: a
                .sip_accounting_information
                .as_ref()
                .map(|x| accounting_of(inner(x))),
            authorization: self.timer(a.authorization_lifetime, a.auth_grace_period),
            raw: a,
        })
    }

    /// LIR: where is `aor` served?
    pub async fn lir(&self, aor: &str) -> Result<LirAnswer, ClientError> {
        let mut req: Lir = request!(Lir, self);
        req.sip_aor = aor.into();
        let a: Lia = self.call(&req).await?;
        Ok(LirAnswer {
            result: a.result_code.into(),
            server_uri: a.sip_server_uri.as_ref().map(|s| s.as_str().to_string()),
            capabilities: a
                .sip_server_capabilities
                .as_ref()
                .map(|c| capabilities_of(inner(c))),
            authorization: self.timer(a.authorization_lifetime, a.auth_grace_period),
            raw: a,
        })
    }
}
