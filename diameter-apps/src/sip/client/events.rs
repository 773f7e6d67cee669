//! Requests the Diameter server sends to a SIP server: RTR, PPR (and ASR, see
//! [`super::termination`]).

use super::{accounting_of, SipResult};
use crate::sip::server::APPLICATION_ID;
use crate::sip::store::{AccountingInfo, UserData};
use diameter::dict::sip_rfc4740::{Ppa, Ppr, Rta, Rtr, SipReasonCode};

/// A Registration-Termination-Request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Deregistration {
    /// User-Name.
    pub user_name: Option<String>,
    /// The AORs to deregister; empty means every AOR of the user.
    pub aors: Vec<String>,
    /// SIP-Reason-Code.
    pub reason: SipReasonCode,
    /// SIP-Reason-Info.
    pub info: Option<String>,
}

impl Deregistration {
    /// Reads an RTR.
    pub fn from_rtr(r: &Rtr) -> Self {
        Deregistration {
            user_name: r.user_name.as_ref().map(|u| u.as_str().to_string()),
            aors: r.sip_aor.iter().map(|a| a.as_str().to_string()).collect(),
            reason: r.sip_deregistration_reason.sip_reason_code,
            info: r
                .sip_deregistration_reason
                .sip_reason_info
                .as_ref()
                .map(|s| s.as_str().to_string()),
        }
    }
}

/// A Push-Profile-Request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfilePush {
    /// User-Name.
    pub user_name: String,
    /// The new profile (empty when only the accounting servers change).
    pub profile: Vec<UserData>,
    /// New accounting servers.
    pub accounting: Option<AccountingInfo>,
}

impl ProfilePush {
    /// Reads a PPR.
    pub fn from_ppr(p: &Ppr) -> Self {
        ProfilePush {
            user_name: p.user_name.as_str().to_string(),
            profile: p
                .sip_user_data
                .iter()
                .map(|d| UserData {
                    data_type: d.sip_user_data_type.as_str().to_string(),
                    contents: d.sip_user_data_contents.to_vec(),
                })
                .collect(),
            accounting: p
                .sip_accounting_information
                .as_ref()
                .map(|a| accounting_of(crate::sip::inner(a))),
        }
    }
}

/// What a SIP server does when the Diameter server deregisters users or pushes profiles.
///
/// Return [`SipResult::Success`], or the RFC 4740 error: [`SipResult::UserUnknown`],
/// [`SipResult::UserNameRequired`], [`SipResult::TooMuchData`] (the server then asks for a
/// new SIP server), [`SipResult::NotSupportedUserData`], [`SipResult::UnableToComply`].
pub trait SipServerEvents: Send + Sync {
    /// An RTR: drop the registrations of the listed AORs (all of the user's when none).
    fn deregister(&self, request: &Deregistration) -> SipResult;
    /// A PPR: replace the profile and/or accounting servers of a registered user.
    fn push_profile(&self, request: &ProfilePush) -> SipResult;
    /// An ASR (RFC 6733 §8.5): stop serving the STATE_MAINTAINED session and return
    /// [`SipResult::Success`] (an STR then follows, see
    /// [`super::register_abort`]), or 5002 DIAMETER_UNKNOWN_SESSION_ID (the default, for
    /// SIP servers that keep no sessions).
    fn abort_session(&self, request: &super::SessionAbort) -> SipResult {
        let _ = request;
        SipResult::Other(diameter::dict::base_rfc6733::result_code::DIAMETER_UNKNOWN_SESSION_ID)
    }
}

/// The RTA for an RTR, from the handler's decision.
pub fn answer_rtr(
    rtr: &Rtr,
    origin_host: &str,
    origin_realm: &str,
    events: &dyn SipServerEvents,
) -> Rta {
    let result = events.deregister(&Deregistration::from_rtr(rtr));
    Rta {
        session_id: rtr.session_id.clone(),
        auth_application_id: APPLICATION_ID,
        auth_session_state: rtr.auth_session_state,
        result_code: result.code(),
        origin_host: origin_host.into(),
        origin_realm: origin_realm.into(),
        proxy_info: rtr.proxy_info.clone(),
        ..Default::default()
    }
}

/// The PPA for a PPR, from the handler's decision.
pub fn answer_ppr(
    ppr: &Ppr,
    origin_host: &str,
    origin_realm: &str,
    events: &dyn SipServerEvents,
) -> Ppa {
    let result = events.push_profile(&ProfilePush::from_ppr(ppr));
    Ppa {
        session_id: ppr.session_id.clone(),
        auth_application_id: APPLICATION_ID,
        auth_session_state: ppr.auth_session_state,
        result_code: result.code(),
        origin_host: origin_host.into(),
        origin_realm: origin_realm.into(),
        proxy_info: ppr.proxy_info.clone(),
        ..Default::default()
    }
}
