//! The SIP AAA server logic (RFC 4740 §8), without sockets: each handler takes a typed
//! request and returns the typed answer; the store holds users and registrations.
//!
//! | request | handler | what it decides |
//! |---|---|---|
//! | UAR | [`Server::handle_uar`] | may the AOR register; assigned SIP-Server-URI or SIP-Server-Capabilities |
//! | MAR | [`Server::handle_mar`] | Digest challenge with H(A1) (delegated check, RFC 4740 §6.3), or checks the credentials itself (§6.2) |
//! | SAR | [`Server::handle_sar`] | stores or clears the serving server; SIP-User-Data, SIP-Accounting-Information |
//! | LIR | [`Server::handle_lir`] | the serving server's SIP-Server-URI |
//!
//! Server-initiated requests for an operator action: [`Server::build_rtr`] (deregistration)
//! and [`Server::build_ppr`] / [`Server::push_profile`] (new profile or accounting servers);
//! [`Server::on_rta`] and [`Server::on_ppa`] apply their answers.
//!
//! Store failures answer DIAMETER_UNABLE_TO_COMPLY (5012) and are logged.
//!
//! ```
//! use diameter_apps::sip::server::{Server, ServerConfig};
//! use diameter_apps::sip::store::{open, SipUser};
//! use diameter::dict::sip_rfc4740::{result_code, Uar};
//!
//! let store = open("sqlite::memory:").unwrap();
//! store.put_user(&SipUser::with_password("alice", "example.com", "pw").aor("sip:alice@example.com")).unwrap();
//! let server = Server::new(ServerConfig::new("aaa.example.com", "example.com"), store);
//! let uaa = server.handle_uar(&Uar { sip_aor: "sip:alice@example.com".into(), ..Default::default() });
//! assert_eq!(uaa.result_code, result_code::DIAMETER_FIRST_REGISTRATION);
//! ```

mod lir;
mod local;
mod mar;
mod nonce;
mod push;
mod sar;
mod uar;

pub use self::local::Local;
pub use self::nonce::NonceError;

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
    /// The MAA carries Digest-HA1 and the SIP server checks the response (RFC 4740 §6.3,
    /// the default; the SIP server then confirms with a SAR).
    #[default]
    Delegated,
    /// The MAA carries only the challenge; the SIP server returns the credentials in a second
    /// MAR and this server checks them (RFC 4740 §6.2).
    InServer,
}

/// Settings of the SIP AAA server.
#[derive(Clone, Debug)]
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
    /// How long a nonce is accepted (in-server checking only).
    pub nonce_lifetime: Duration,
    /// Whether UAR, MAR and SAR must carry User-Name (4013 otherwise); by default the user
    /// is found from the SIP-AOR.
    pub require_user_name: bool,
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
            require_user_name: false,
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
            nonces: nonce::Nonces::new(cfg.nonce_lifetime),
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
        sip_mandatory_capability: user.capabilities.mandatory.clone(),
        sip_optional_capability: user.capabilities.optional.clone(),
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
        sip_accounting_server_uri: uris(&acct.accounting_servers),
        sip_credit_control_server_uri: uris(&acct.credit_control_servers),
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
            ..Default::default()
        }
    };
}
pub(crate) use answer;

/// Logs a store failure and returns DIAMETER_UNABLE_TO_COMPLY.
pub(crate) fn store_failed(cmd: &str, e: &StoreError) -> u32 {
    tracing::error!(command = cmd, error = %e, "sip store failed");
    diameter::dict::base_rfc6733::result_code::DIAMETER_UNABLE_TO_COMPLY
}

#[cfg(test)]
mod tests;
