//! Server-Assignment-Request (RFC 4740 §8.3, §8.4).

use super::{accounting_avp, answer, lookup, store_failed, user_data_avps, Caller, Lookup, Server};
use crate::sip::member;
use crate::sip::store::{RegState, Registration, SipUser, StoreError};
use diameter::dict::base_rfc6733::result_code as base;
use diameter::dict::sip_rfc4740::{
    result_code as rc, Saa, Sar, SipServerAssignmentType as T, SipUserDataAlreadyAvailable,
};

impl Server {
    /// Answers a SAR from `caller`, for every SIP-Server-Assignment-Type (a peer that is not
    /// a listed SIP server gets 5003, see the [module docs](super)):
    ///
    /// - RE_REGISTRATION of an AOR that is not registered: 5038
    ///   DIAMETER_ERROR_IN_ASSIGNMENT_TYPE, nothing changed (it needs REGISTRATION).
    /// - REGISTRATION, RE_REGISTRATION: exactly one SIP-AOR (5009 otherwise); only when the
    ///   user authenticated through this SIP server within
    ///   [`super::ServerConfig::auth_window`] (else 5038 DIAMETER_ERROR_IN_ASSIGNMENT_TYPE,
    ///   nothing changed); stores the SIP-Server-URI (or the pending one from the MAR) and
    ///   the client's Origin-Host, marks the AOR registered; 5036 when another server holds
    ///   the registration and this one was not named in a MAR.
    /// - UNREGISTERED_USER: exactly one SIP-AOR; stores the server for unregistered services;
    ///   not for a registered AOR (5038 from its own server, 5036 from another).
    /// - NO_ASSIGNMENT: only downloads the profile; 5012 when the SIP-Server-URI is not the
    ///   assigned server, 5003 when another SIP server holds the registration.
    /// - TIMEOUT_/USER_/ADMINISTRATIVE_DEREGISTRATION, DEREGISTRATION_TOO_MUCH_DATA: clears
    ///   the server of every listed AOR (all of the user's when none is listed); 5003 and
    ///   nothing changed when another SIP server holds one of them.
    /// - *_STORE_SERVER_NAME: unregistered but the server kept (2001), or cleared (2006) when
    ///   [`super::ServerConfig::keep_server_name`] is off; 5003 as above.
    /// - AUTHENTICATION_FAILURE, AUTHENTICATION_TIMEOUT: exactly one SIP-AOR; clears the
    ///   server, or, when another SIP server holds the registration, only the "authentication
    ///   pending" server.
    ///
    /// Registration, unregistered user and no-assignment answers carry SIP-User-Data (when the
    /// SAR says USER_DATA_NOT_AVAILABLE; only types in SIP-Supported-User-Data-Type when it
    /// names any, else our types are listed instead) and SIP-Accounting-Information.
    /// Errors: 5032, 5033, 4013, 5005 (no SIP-AOR and no User-Name), 5004 (unknown type).
    pub fn handle_sar(&self, caller: &Caller, req: &Sar) -> Saa {
        if let Err(code) = self.admit(caller) {
            return answer!(Saa, self, req, code);
        }
        match self.sar(caller, req) {
            Ok(a) => a,
            Err(e) => answer!(Saa, self, req, store_failed("SAR", &e)),
        }
    }

    fn sar(&self, caller: &Caller, req: &Sar) -> Result<Saa, StoreError> {
        let peer = caller.peer.as_deref().unwrap_or_default();
        let first = req.sip_aor.first().map(|a| a.as_str());
        let user = match lookup(self, req.user_name.as_ref(), first, false)? {
            Lookup::Found(u) => u,
            Lookup::Fail(code) => return Ok(answer!(Saa, self, req, code)),
        };
        // Every AOR must belong to the user (found by User-Name or by the first AOR).
        if req.sip_aor.iter().any(|a| !user.owns(a.as_str())) {
            return Ok(answer!(
                Saa,
                self,
                req,
                rc::DIAMETER_ERROR_IDENTITIES_DONT_MATCH
            ));
        }
        let kind = req.sip_server_assignment_type;
        let one_aor = matches!(
            kind,
            T::Registration
                | T::ReRegistration
                | T::UnregisteredUser
                | T::NoAssignment
                | T::AuthenticationFailure
                | T::AuthenticationTimeout
        );
        if one_aor && req.sip_aor.len() != 1 {
            let code = if req.sip_aor.is_empty() {
                base::DIAMETER_MISSING_AVP
            } else {
                base::DIAMETER_AVP_OCCURS_TOO_MANY_TIMES
            };
            return Ok(answer!(Saa, self, req, code));
        }
        let code = match kind {
            T::ReRegistration
                if self.registration_of(req.sip_aor[0].as_str())?.state != RegState::Registered =>
            {
                // Re-registering needs a registration (RFC 4740 §10.1.3).
                tracing::info!(user = %user.name, peer, "sip: SAR RE_REGISTRATION of an AOR that is not registered refused");
                rc::DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
            }
            T::Registration | T::ReRegistration => {
                if self.auths.recent(&user.name, peer, caller.millis()) {
                    self.assign(req, &user, RegState::Registered, kind == T::Registration)?
                } else {
                    tracing::warn!(user = %user.name, peer, ?kind, "sip: SAR without a recent authentication through this SIP server refused");
                    rc::DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
                }
            }
            T::UnregisteredUser => self.assign(req, &user, RegState::Unregistered, false)?,
            T::NoAssignment => {
                let reg = self.registration_of(req.sip_aor[0].as_str())?;
                if req.sip_server_uri.as_ref().map(|u| u.as_str()) != reg.server_uri.as_deref() {
                    base::DIAMETER_UNABLE_TO_COMPLY
                } else if held_by_other(&reg, peer) {
                    base::DIAMETER_AUTHORIZATION_REJECTED
                } else {
                    base::DIAMETER_SUCCESS
                }
            }
            T::TimeoutDeregistration
            | T::UserDeregistration
            | T::AdministrativeDeregistration
            | T::DeregistrationTooMuchData => {
                if self.any_held_by_other(req, &user, peer)? {
                    base::DIAMETER_AUTHORIZATION_REJECTED
                } else {
                    self.deregister(req, &user, false)?;
                    base::DIAMETER_SUCCESS
                }
            }
            T::TimeoutDeregistrationStoreServerName | T::UserDeregistrationStoreServerName => {
                if self.any_held_by_other(req, &user, peer)? {
                    base::DIAMETER_AUTHORIZATION_REJECTED
                } else {
                    self.deregister(req, &user, self.cfg.keep_server_name)?;
                    if self.cfg.keep_server_name {
                        base::DIAMETER_SUCCESS
                    } else {
                        rc::DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED
                    }
                }
            }
            T::AuthenticationFailure | T::AuthenticationTimeout => {
                let mut reg = self.registration_of(req.sip_aor[0].as_str())?;
                if held_by_other(&reg, peer) {
                    // A failed attempt elsewhere leaves the registration as it is.
                    if reg.pending_server_uri.take().is_some() {
                        self.store.set_registration(&reg)?;
                    }
                } else {
                    self.deregister(req, &user, false)?;
                }
                base::DIAMETER_SUCCESS
            }
            T::Unrecognized(_) => base::DIAMETER_INVALID_AVP_VALUE,
        };
        let mut a = answer!(Saa, self, req, code);
        a.user_name = Some(user.name.as_str().into());
        let with_profile = matches!(
            kind,
            T::Registration | T::ReRegistration | T::UnregisteredUser | T::NoAssignment
        );
        if code == base::DIAMETER_SUCCESS && with_profile {
            if req.sip_user_data_already_available
                == SipUserDataAlreadyAvailable::UserDataNotAvailable
            {
                let supported: Vec<String> = req
                    .sip_supported_user_data_type
                    .iter()
                    .map(|t| t.as_str().to_string())
                    .collect();
                a.sip_user_data = user_data_avps(&user.profile, &supported).into();
                if a.sip_user_data.is_empty() && !user.profile.is_empty() {
                    // No common type: say which ones we have (RFC 4740 §8.4).
                    a.sip_supported_user_data_type = user
                        .profile
                        .iter()
                        .map(|d| d.data_type.as_str().into())
                        .collect();
                }
            }
            a.sip_accounting_information = accounting_avp(&user.accounting).map(member);
        }
        self.keep_session(caller, req, &user.name, &mut a);
        Ok(a)
    }

    fn registration_of(&self, aor: &str) -> Result<Registration, StoreError> {
        self.store
            .registration(aor)?
            .ok_or_else(|| StoreError::NoSuchAor(aor.to_string()))
    }

    /// Stores the serving server of the single AOR of `req`; returns the Result-Code.
    fn assign(
        &self,
        req: &Sar,
        user: &SipUser,
        state: RegState,
        first: bool,
    ) -> Result<u32, StoreError> {
        let mut reg = self.registration_of(req.sip_aor[0].as_str())?;
        let uri = req
            .sip_server_uri
            .as_ref()
            .map(|u| u.to_string())
            .or_else(|| reg.pending_server_uri.clone())
            .or_else(|| reg.server_uri.clone());
        let Some(uri) = uri else {
            return Ok(base::DIAMETER_MISSING_AVP);
        };
        let taken = reg.state == RegState::Registered
            && reg.server_uri.as_deref().is_some_and(|s| s != uri)
            && reg.pending_server_uri.as_deref() != Some(uri.as_str());
        if first && taken {
            return Ok(rc::DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED);
        }
        if state == RegState::Unregistered && reg.state == RegState::Registered {
            // Services for an unregistered user do not take over a registration.
            return Ok(if reg.server_uri.as_deref() == Some(uri.as_str()) {
                rc::DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
            } else {
                rc::DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED
            });
        }
        reg.state = state;
        reg.server_uri = Some(uri);
        reg.pending_server_uri = None;
        reg.diameter_host = Some(req.origin_host.to_string());
        reg.diameter_realm = Some(req.origin_realm.to_string());
        reg.supported_types = req
            .sip_supported_user_data_type
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        self.store.set_registration(&reg)?;
        tracing::info!(user = %user.name, aor = %reg.aor, server = ?reg.server_uri, "sip server assigned");
        Ok(base::DIAMETER_SUCCESS)
    }

    /// The AORs a deregistration SAR is about: those listed, or all the user's.
    fn target_aors(req: &Sar, user: &SipUser) -> Vec<String> {
        if req.sip_aor.is_empty() {
            user.aors.clone()
        } else {
            req.sip_aor.iter().map(|a| a.to_string()).collect()
        }
    }

    /// Whether another SIP server than `peer` holds the registration of one of the AORs.
    fn any_held_by_other(&self, req: &Sar, user: &SipUser, peer: &str) -> Result<bool, StoreError> {
        for aor in Self::target_aors(req, user) {
            if held_by_other(&self.registration_of(&aor)?, peer) {
                tracing::warn!(user = %user.name, aor, peer, "sip: deregistration by a SIP server that does not serve the AOR refused");
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Marks the AORs of `req` (all the user's when it lists none) not registered.
    fn deregister(&self, req: &Sar, user: &SipUser, keep_name: bool) -> Result<(), StoreError> {
        for aor in Self::target_aors(req, user) {
            let mut reg = self.registration_of(&aor)?;
            reg.state = RegState::NotRegistered;
            reg.pending_server_uri = None;
            if !keep_name {
                reg.server_uri = None;
                reg.diameter_host = None;
                reg.diameter_realm = None;
            }
            self.store.set_registration(&reg)?;
        }
        Ok(())
    }
}

/// Whether the registration is held by a SIP server other than `peer`: the Diameter host
/// that registered it (kept by `*_STORE_SERVER_NAME`) is another one.
fn held_by_other(reg: &Registration, peer: &str) -> bool {
    reg.diameter_host
        .as_deref()
        .is_some_and(|h| !h.eq_ignore_ascii_case(peer))
}
