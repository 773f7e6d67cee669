//! The SIP AAA server logic (RFC 4740 §8), without sockets: each handler takes a typed
//! request and returns the typed answer; the store holds users and registrations.
//!
//! | request | handler | what it decides |
//! |---|---|---|
//! | UAR | [`Server::handle_uar`] | may the AOR register; assigned SIP-Server-URI or SIP-Server-Capabilities |
//! | MAR | [`Server::handle_mar`] | checks the Digest response itself (RFC 4740 §6.2), or hands H(A1) to a SIP server with that right (§6.3) |
//! | SAR | [`Server::handle_sar`] | stores or clears the serving server; SIP-User-Data, SIP-Accounting-Information |
//! | LIR | [`Server::handle_lir`] | the serving server's SIP-Server-URI |
//! | STR | [`Server::handle_str`] | ends a kept STATE_MAINTAINED session and releases its registrations (2001; 5002 unknown) |
//!
//! # Whom it trusts
//!
//! Each handler gets a [`Caller`]: the admitted peer the request came from
//! ([`diameter_core::node::request_peer`], the Origin-Host of the capabilities exchange, not
//! the request's own Origin-Host AVP) and the time.
//!
//! - **Listed SIP servers only.** When [`ServerConfig::peers`] lists SIP servers, a request
//!   from any other peer is answered 5003 DIAMETER_AUTHORIZATION_REJECTED before the user
//!   is looked up (the same answer for known and unknown users). With an empty list every
//!   admitted peer is served (the node admits loopback or configured peers only), with no
//!   rights. A request without a known peer is refused the same way.
//! - **Digest-HA1 only to SIP servers with the right** ([`SipPeer::credentials`]); the others
//!   get a challenge without it (1001 MULTI_ROUND_AUTH) and send the user agent's response in
//!   a second MAR, which this server checks (RFC 4740 §11 lets the Diameter server choose).
//! - **Nonces** are single use, bound to the SIP server and the user, and expire
//!   ([`ServerConfig::nonce_lifetime`]); the response must answer the challenge as issued
//!   (algorithm, realm, the offered qop: no downgrade to the RFC 2069 form; `nc` above zero).
//! - **Registration needs authentication.** A SAR REGISTRATION or RE_REGISTRATION is taken
//!   only from a SIP server through which the user authenticated (a right response checked
//!   here, or H(A1) handed to it) within [`ServerConfig::auth_window`]; otherwise 5038
//!   DIAMETER_ERROR_IN_ASSIGNMENT_TYPE (RFC 4740 §10.1.3: the assignment type is not allowed
//!   in the user's state) and nothing changes.
//! - **Only the serving SIP server deregisters.** A deregistration SAR (and NO_ASSIGNMENT)
//!   for an AOR whose registration another SIP server holds is answered 5003 and changes
//!   nothing; AUTHENTICATION_FAILURE / AUTHENTICATION_TIMEOUT from another SIP server only
//!   clears the "authentication pending" server. UNREGISTERED_USER does not take over a
//!   registered AOR (5036, or 5038 from its own server).
//!
//! Server-initiated requests for an operator action: [`Server::build_rtr`] (deregistration)
//! and [`Server::build_ppr`] / [`Server::push_profile`] (new profile or accounting servers);
//! [`Server::on_rta`] and [`Server::on_ppa`] apply their answers. [`Server::build_asr`]
//! asks a SIP server to end a kept session; [`Server::expire_sessions`] ends those not
//! re-authorized within Authorization-Lifetime + Auth-Grace-Period.
//!
//! Store failures answer DIAMETER_UNABLE_TO_COMPLY (5012) and are logged.
//!
//! ```
//! use diameter_apps::sip::server::{Caller, Server, ServerConfig};
//! use diameter_apps::sip::store::{open, SipUser};
//! use diameter::dict::sip_rfc4740::{result_code, Uar};
//!
//! let store = open("sqlite::memory:").unwrap();
//! store.put_user(&SipUser::with_password("alice", "example.com", "pw").aor("sip:alice@example.com")).unwrap();
//! let server = Server::new(ServerConfig::new("aaa.example.com", "example.com"), store);
//! let from = Caller::new("sip1.example.com"); // in a node: Caller::from_node()
//! let uaa = server.handle_uar(&from, &Uar { sip_aor: "sip:alice@example.com".into(), ..Default::default() });
//! assert_eq!(uaa.result_code, result_code::DIAMETER_FIRST_REGISTRATION);
//! ```

mod lir;
mod local;
mod mar;
mod nonce;
mod push;
mod sar;
mod sessions;
mod termination;
mod uar;

pub use self::local::Local;
pub use self::sessions::KeptSession;

use crate::sip::digest::Algorithm;
use crate::sip::store::{SipStore, SipUser, StoreError, UserData};
use diameter::dict::sip_rfc4740::{
    application, SipAccountingInformation, SipServerCapabilities, SipUserData,
};
use diameter_core::{DiameterUri, Utf8String};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Application-Id of the SIP application (6).
pub const APPLICATION_ID: u32 = application::DIAMETER_SESSION_INITIATION_PROTOCOL_SIP_APPLICATION;

/// Who checks the Digest response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// SIP servers with the right ([`SipPeer::credentials`]) get Digest-HA1 in the MAA and
    /// check the response themselves (RFC 4740 §6.3; they then confirm with a SAR); every
    /// other SIP server gets only the challenge and this server checks the response (§6.2).
    /// The default.
    #[default]
    Delegated,
    /// The MAA never carries Digest-HA1: this server checks every response (RFC 4740 §6.2).
    InServer,
}

/// A SIP server (Diameter client) allowed to use the application, with its rights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipPeer {
    /// Its Origin-Host as admitted by the node (compared case-insensitively).
    pub host: String,
    /// It may receive Digest-HA1 (the equivalent of the password) to check responses itself.
    pub credentials: bool,
}

impl SipPeer {
    /// A SIP server without the credentials right.
    pub fn new(host: &str) -> Self {
        SipPeer {
            host: host.to_ascii_lowercase(),
            credentials: false,
        }
    }

    /// The same, with the right to receive Digest-HA1.
    pub fn with_credentials(host: &str) -> Self {
        SipPeer {
            credentials: true,
            ..SipPeer::new(host)
        }
    }
}

/// Who sent a request, and when: the admitted peer
/// ([`diameter_core::node::request_peer`]) and the current time.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The peer's Origin-Host (lowercase); `None` when unknown (refused).
    pub peer: Option<Arc<str>>,
    /// The time the request is handled at.
    pub now: std::time::SystemTime,
}

impl Caller {
    /// A request from `peer`, now.
    pub fn new(peer: &str) -> Self {
        Caller {
            peer: Some(peer.to_ascii_lowercase().into()),
            now: std::time::SystemTime::now(),
        }
    }

    /// The request being handled by the node: its peer from
    /// [`diameter_core::node::request_peer`], now.
    pub fn from_node() -> Self {
        Caller {
            peer: diameter_core::node::request_peer(),
            now: std::time::SystemTime::now(),
        }
    }

    /// The same caller at another time (tests of expiry).
    pub fn at(mut self, now: std::time::SystemTime) -> Self {
        self.now = now;
        self
    }

    pub(crate) fn millis(&self) -> u64 {
        nonce::millis(self.now)
    }
}

/// The rights of an admitted caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rights {
    pub credentials: bool,
}

/// Settings of the SIP AAA server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Origin-Host of answers and server-initiated requests.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Digest algorithm of challenges when the MAR asks for none (MD5 by default, the one
    /// every SIP user agent implements; SHA-256 per RFC 8760 when the user has its H(A1)).
    pub algorithm: Algorithm,
    /// Who checks the Digest response.
    pub auth_mode: AuthMode,
    /// Keep the server name for `*_STORE_SERVER_NAME` deregistrations (2001); when false
    /// the name is cleared and the answer is 2006.
    pub keep_server_name: bool,
    /// How long a nonce is accepted (default 5 minutes). Nonces are single use.
    pub nonce_lifetime: Duration,
    /// At most this many issued nonces are remembered (default 65 536; the oldest are
    /// forgotten first, and their responses rejected).
    pub max_nonces: usize,
    /// How long after a user authenticated through a SIP server that server may register the
    /// user with a SAR REGISTRATION / RE_REGISTRATION (default 10 minutes).
    pub auth_window: Duration,
    /// At most this many (user, SIP server) authentications are remembered for
    /// [`ServerConfig::auth_window`] (default 65 536; expired, then the oldest, go first).
    pub max_authentications: usize,
    /// The SIP servers allowed to send requests, with their rights. Empty (the default):
    /// every peer the node admitted is served and none gets Digest-HA1.
    pub peers: Vec<SipPeer>,
    /// Whether UAR, MAR and SAR must carry User-Name (4013 otherwise); by default the user
    /// is found from the SIP-AOR.
    pub require_user_name: bool,
    /// The most SIP-Auth-Data-Items (challenges, each with its own nonce) one MAA carries
    /// when the MAR's SIP-Number-Auth-Items asks for several (RFC 4740 §9.6; default 5;
    /// at least 1).
    pub max_auth_items: u32,
    /// Authorization-Lifetime sent in successful answers to requests with
    /// Auth-Session-State STATE_MAINTAINED (RFC 6733 §8.9): the client re-authorizes
    /// before it ends (default one hour; `None`: not sent, no limit). Stateless requests
    /// get neither AVP.
    pub authorization_lifetime: Option<Duration>,
    /// Auth-Grace-Period sent with [`ServerConfig::authorization_lifetime`]: how long
    /// after the lifetime the session still counts before it ends (default 60 s).
    pub auth_grace_period: Duration,
    /// At most this many STATE_MAINTAINED sessions are kept (default 65 536). A SAR
    /// beyond it is answered NO_STATE_MAINTAINED, without lifetime (RFC 6733 §8.11).
    pub max_sessions: usize,
    /// At most this many bytes of Session-Ids, hosts, user names and AORs are kept for
    /// those sessions (default 16 MiB); beyond it the same as [`ServerConfig::max_sessions`].
    pub max_session_bytes: usize,
    /// How often the node ends expired sessions ([`Server::expire_sessions`]; default 1 s,
    /// at least 10 ms).
    pub session_sweep: Duration,
}

impl ServerConfig {
    /// Defaults for the given identity.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        ServerConfig {
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            algorithm: Algorithm::Md5,
            auth_mode: AuthMode::Delegated,
            keep_server_name: true,
            nonce_lifetime: Duration::from_secs(300),
            max_nonces: 65_536,
            auth_window: Duration::from_secs(600),
            max_authentications: 65_536,
            peers: Vec::new(),
            require_user_name: false,
            max_auth_items: 5,
            authorization_lifetime: Some(Duration::from_secs(3600)),
            auth_grace_period: Duration::from_secs(60),
            max_sessions: 65_536,
            max_session_bytes: 16 << 20,
            session_sweep: Duration::from_secs(1),
        }
    }
}

/// Errors of operator actions (RTR, PPR).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such user.
    #[error("no user {0}")]
    NoSuchUser(String),
    /// The user has no AOR served by a known SIP server (nothing to send the request to).
    #[error("user {0} is not served by any SIP server")]
    NotServed(String),
}

/// The SIP AAA server: configuration, the store and a Session-Id generator.
pub struct Server {
    cfg: ServerConfig,
    store: Arc<dyn SipStore>,
    sessions: Mutex<diameter_core::ids::SessionIds>,
    nonces: nonce::Nonces,
    auths: nonce::Authentications,
    kept: Mutex<sessions::Sessions>,
}

impl Server {
    /// A server over `store`.
    pub fn new(cfg: ServerConfig, store: Arc<dyn SipStore>) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Server {
            sessions: Mutex::new(diameter_core::ids::SessionIds::new(
                cfg.origin_host.clone(),
                now,
            )),
            nonces: nonce::Nonces::new(cfg.nonce_lifetime, cfg.max_nonces),
            auths: nonce::Authentications::new(cfg.auth_window, cfg.max_authentications),
            kept: Mutex::new(sessions::Sessions::new(
                cfg.max_sessions,
                cfg.max_session_bytes,
            )),
            cfg,
            store,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SipStore> {
        &self.store
    }

    /// The rights of the caller, or the Result-Code refusing it (5003 for a peer that is not
    /// a listed SIP server, or an unknown peer).
    pub(crate) fn admit(&self, caller: &Caller) -> Result<Rights, u32> {
        use diameter::dict::base_rfc6733::result_code as base;
        let Some(peer) = caller.peer.as_deref() else {
            tracing::warn!("sip: request without a known peer refused");
            return Err(base::DIAMETER_AUTHORIZATION_REJECTED);
        };
        if self.cfg.peers.is_empty() {
            return Ok(Rights { credentials: false });
        }
        match self
            .cfg
            .peers
            .iter()
            .find(|p| p.host.eq_ignore_ascii_case(peer))
        {
            Some(p) => Ok(Rights {
                credentials: p.credentials,
            }),
            None => {
                tracing::warn!(
                    peer,
                    "sip: request from a peer that is not a listed SIP server refused"
                );
                Err(base::DIAMETER_AUTHORIZATION_REJECTED)
            }
        }
    }

    fn next_session_id(&self) -> Utf8String {
        let mut ids = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        ids.next(Some("sip")).into()
    }
}

/// The outcome of looking a user up for a request.
pub(crate) enum Lookup {
    Found(Box<SipUser>),
    /// Answer with this Result-Code.
    Fail(u32),
}

/// Finds the user of a request: by User-Name (checking that it owns `aor` when `check_aor`),
/// else by the AOR. 5032 unknown, 5033 identities don't match, 4013 User-Name required.
pub(crate) fn lookup(
    server: &Server,
    user_name: Option<&Utf8String>,
    aor: Option<&str>,
    check_aor: bool,
) -> Result<Lookup, StoreError> {
    use diameter::dict::sip_rfc4740::result_code as rc;
    match user_name {
        Some(name) => {
            let Some(user) = server.store.user(name.as_str())? else {
                return Ok(Lookup::Fail(rc::DIAMETER_ERROR_USER_UNKNOWN));
            };
            if check_aor {
                if let Some(aor) = aor {
                    if !user.owns(aor) {
                        return Ok(Lookup::Fail(rc::DIAMETER_ERROR_IDENTITIES_DONT_MATCH));
                    }
                }
            }
            Ok(Lookup::Found(Box::new(user)))
        }
        None if server.cfg.require_user_name => Ok(Lookup::Fail(rc::DIAMETER_USER_NAME_REQUIRED)),
        None => match aor {
            Some(aor) => Ok(match server.store.user_by_aor(aor)? {
                Some(u) => Lookup::Found(Box::new(u)),
                None => Lookup::Fail(rc::DIAMETER_ERROR_USER_UNKNOWN),
            }),
            None => Ok(Lookup::Fail(
                diameter::dict::base_rfc6733::result_code::DIAMETER_MISSING_AVP,
            )),
        },
    }
}

/// SIP-Server-Capabilities of a user.
pub(crate) fn capabilities_avp(user: &SipUser) -> SipServerCapabilities {
    SipServerCapabilities {
        sip_mandatory_capability: user.capabilities.mandatory.clone().into(),
        sip_optional_capability: user.capabilities.optional.clone().into(),
        sip_server_uri: user
            .capabilities
            .servers
            .iter()
            .map(|s| s.as_str().into())
            .collect(),
        ..Default::default()
    }
}

/// SIP-Accounting-Information of a user (`None` when it has no accounting servers or an
/// address is not a valid DiameterURI).
pub(crate) fn accounting_avp(
    acct: &crate::sip::store::AccountingInfo,
) -> Option<SipAccountingInformation> {
    if acct.is_empty() {
        return None;
    }
    let uris = |v: &[String]| -> Vec<DiameterUri> {
        v.iter()
            .filter_map(|s| match DiameterUri::parse(s.as_str()) {
                Ok(u) => Some(u),
                Err(e) => {
                    tracing::warn!(uri = %s, error = ?e, "skipping a bad accounting server uri");
                    None
                }
            })
            .collect()
    };
    Some(SipAccountingInformation {
        sip_accounting_server_uri: uris(&acct.accounting_servers).into(),
        sip_credit_control_server_uri: uris(&acct.credit_control_servers).into(),
        ..Default::default()
    })
}

/// The profile entries for a SIP server that understands `supported` (all when it named
/// none), as SIP-User-Data AVPs.
pub(crate) fn user_data_avps(profile: &[UserData], supported: &[String]) -> Vec<SipUserData> {
    profile
        .iter()
        .filter(|d| {
            supported.is_empty()
                || supported
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&d.data_type))
        })
        .map(|d| SipUserData {
            sip_user_data_type: d.data_type.as_str().into(),
            sip_user_data_contents: d.contents.clone().into(),
            ..Default::default()
        })
        .collect()
}

/// Fills the fields every answer of this application shares, from the request.
macro_rules! answer {
    ($ty:ident, $server:expr, $req:expr, $code:expr) => {
        $ty {
            session_id: $req.session_id.clone(),
            auth_application_id: $crate::sip::server::APPLICATION_ID,
            auth_session_state: $req.auth_session_state,
            result_code: $code,
            origin_host: $server.cfg.origin_host.as_str().into(),
            origin_realm: $server.cfg.origin_realm.as_str().into(),
            proxy_info: $req.proxy_info.clone(),
            authorization_lifetime: $server
                .session_limits($req.auth_session_state, $code)
                .map(|l| l.0),
            auth_grace_period: $server
                .session_limits($req.auth_session_state, $code)
                .map(|l| l.1),
            ..Default::default()
        }
    };
}
pub(crate) use answer;

impl Server {
    /// Authorization-Lifetime and Auth-Grace-Period (seconds) for an answer with `code` to
    /// a request with `state`: only successful answers (1xxx, 2xxx) in a STATE_MAINTAINED
    /// session, when a lifetime is configured.
    pub(crate) fn session_limits(
        &self,
        state: diameter::dict::base_rfc6733::AuthSessionState,
        code: u32,
    ) -> Option<(u32, u32)> {
        let maintained = state == diameter::dict::base_rfc6733::AuthSessionState::StateMaintained;
        let lifetime = self.cfg.authorization_lifetime?;
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        (maintained && (1000..3000).contains(&code))
            .then(|| (secs(lifetime), secs(self.cfg.auth_grace_period)))
    }
}

/// Logs a store failure and returns DIAMETER_UNABLE_TO_COMPLY.
pub(crate) fn store_failed(cmd: &str, e: &StoreError) -> u32 {
    tracing::error!(command = cmd, error = %e, "sip store failed");
    diameter::dict::base_rfc6733::result_code::DIAMETER_UNABLE_TO_COMPLY
}

#[cfg(all(test, feature = "sqlite"))] // the tests keep users in `sqlite::memory:`
mod tests;
