//! User-Authorization-Request (RFC 4740 §8.1, §8.2).

use super::{answer, capabilities_avp, lookup, store_failed, Caller, Lookup, Server};
use crate::sip::member;
use crate::sip::store::{RegState, Registration, StoreError};
use diameter::dict::base_rfc6733::result_code as base;
use diameter::dict::sip_rfc4740::{result_code as rc, SipUserAuthorizationType, Uaa, Uar};

impl Server {
    /// Answers a UAR: authorizes the registration of the SIP-AOR and tells the SIP server
    /// which SIP server serves the user (SIP-Server-URI) or what it needs
    /// (SIP-Server-Capabilities).
    ///
    /// REGISTRATION (or no type): 2003 FIRST_REGISTRATION with capabilities when no server is
    /// known for any AOR of the user; 2004 SUBSEQUENT_REGISTRATION with the URI when the
    /// user is registered there or a MAR named it (authentication pending); 2007
    /// SERVER_SELECTION with URI and capabilities when the server is only kept by name.
    /// REGISTRATION_AND_CAPABILITIES: 2001 with capabilities and no URI. DEREGISTRATION:
    /// 2001 with the URI, or 5034 when the AOR is not registered. Errors: 5032, 5033, 5035,
    /// 4013 (when User-Name is required), 5004 for an unknown authorization type; 5003 for
    /// a peer that is not a listed SIP server (before any lookup).
    pub fn handle_uar(&self, caller: &Caller, req: &Uar) -> Uaa {
        if let Err(code) = self.admit(caller) {
            return answer!(Uaa, self, req, code);
        }
        match self.uar(req) {
            Ok(a) => a,
            Err(e) => answer!(Uaa, self, req, store_failed("UAR", &e)),
        }
    }

    fn uar(&self, req: &Uar) -> Result<Uaa, StoreError> {
        let aor = req.sip_aor.as_str();
        let user = match lookup(self, req.user_name.as_ref(), Some(aor), true)? {
            Lookup::Found(u) => u,
            Lookup::Fail(code) => return Ok(answer!(Uaa, self, req, code)),
        };
        let kind = req
            .sip_user_authorization_type
            .unwrap_or(SipUserAuthorizationType::Registration);
        let registering = matches!(
            kind,
            SipUserAuthorizationType::Registration
                | SipUserAuthorizationType::RegistrationAndCapabilities
        );
        if registering {
            if let Some(net) = &req.sip_visited_network_id {
                if !user.may_visit(net.as_str()) {
                    return Ok(answer!(
                        Uaa,
                        self,
                        req,
                        rc::DIAMETER_ERROR_ROAMING_NOT_ALLOWED
                    ));
                }
            }
        }
        match kind {
            SipUserAuthorizationType::RegistrationAndCapabilities => {
                let mut a = answer!(Uaa, self, req, base::DIAMETER_SUCCESS);
                a.sip_server_capabilities = Some(member(capabilities_avp(&user)));
                Ok(a)
            }
            SipUserAuthorizationType::Deregistration => {
                let reg = self.store.registration(aor)?;
                match reg.and_then(|r| r.server_uri) {
                    Some(uri) => {
                        let mut a = answer!(Uaa, self, req, base::DIAMETER_SUCCESS);
                        a.sip_server_uri = Some(uri.into());
                        Ok(a)
                    }
                    None => Ok(answer!(
                        Uaa,
                        self,
                        req,
                        rc::DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
                    )),
                }
            }
            SipUserAuthorizationType::Registration => {
                let regs = self.store.registrations_of(&user.name)?;
                Ok(match assigned(&regs, aor) {
                    None => {
                        let mut a = answer!(Uaa, self, req, rc::DIAMETER_FIRST_REGISTRATION);
                        a.sip_server_capabilities = Some(member(capabilities_avp(&user)));
                        a
                    }
                    Some((uri, true)) => {
                        let mut a = answer!(Uaa, self, req, rc::DIAMETER_SUBSEQUENT_REGISTRATION);
                        a.sip_server_uri = Some(uri.into());
                        a
                    }
                    Some((uri, false)) => {
                        let mut a = answer!(Uaa, self, req, rc::DIAMETER_SERVER_SELECTION);
                        a.sip_server_uri = Some(uri.into());
                        a.sip_server_capabilities = Some(member(capabilities_avp(&user)));
                        a
                    }
                })
            }
            SipUserAuthorizationType::Unrecognized(_) => {
                Ok(answer!(Uaa, self, req, base::DIAMETER_INVALID_AVP_VALUE))
            }
        }
    }
}

/// The SIP server known for the user, preferring the AOR's own registration: its URI and
/// whether it is in use (registered, unregistered-services, or authentication pending),
/// as opposed to only kept by name.
fn assigned(regs: &[Registration], aor: &str) -> Option<(String, bool)> {
    let own = regs
        .iter()
        .filter(|r| crate::sip::store::same_aor(&r.aor, aor));
    let others = regs
        .iter()
        .filter(|r| !crate::sip::store::same_aor(&r.aor, aor));
    let ordered: Vec<&Registration> = own.chain(others).collect();
    for r in &ordered {
        if let Some(p) = &r.pending_server_uri {
            return Some((p.clone(), true));
        }
        if let Some(s) = &r.server_uri {
            if r.state != RegState::NotRegistered {
                return Some((s.clone(), true));
            }
        }
    }
    ordered
        .iter()
        .find_map(|r| r.server_uri.clone().map(|s| (s, false)))
}
