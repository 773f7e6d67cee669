//! Server-initiated requests for operator actions: RTR (RFC 4740 §8.9) and PPR (§8.11).

use super::{accounting_avp, user_data_avps, Server, ServerError, APPLICATION_ID};
use crate::sip::member;
use crate::sip::store::{same_aor, AccountingInfo, RegState, Registration, UserData};
use diameter::dict::base_rfc6733::{result_code as base, AuthSessionState};
use diameter::dict::sip_rfc4740::{
    result_code as rc, Ppa, Ppr, Rta, Rtr, SipDeregistrationReason, SipReasonCode,
};
use std::collections::BTreeMap;

/// Served registrations grouped by the Diameter host of their SIP server.
fn by_host(regs: Vec<Registration>) -> BTreeMap<(String, Option<String>), Vec<Registration>> {
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for r in regs {
        if let (Some(host), true) = (r.diameter_host.clone(), r.server_uri.is_some()) {
            out.entry((host, r.diameter_realm.clone()))
                .or_default()
                .push(r);
        }
    }
    out
}

impl Server {
    /// RTRs that deregister `aors` of `user_name` (all its AORs when empty), one per serving
    /// SIP server (Destination-Host = the Origin-Host of that server's SAR). With all AORs
    /// the RTR lists none, which means "every AOR of the user" (RFC 4740 §8.9).
    pub fn build_rtr(
        &self,
        user_name: &str,
        aors: &[&str],
        reason: SipReasonCode,
        info: Option<&str>,
    ) -> Result<Vec<Rtr>, ServerError> {
        let user = self
            .store
            .user(user_name)?
            .ok_or_else(|| ServerError::NoSuchUser(user_name.to_string()))?;
        let regs: Vec<Registration> = self
            .store
            .registrations_of(user_name)?
            .into_iter()
            .filter(|r| aors.is_empty() || aors.iter().any(|a| same_aor(a, &r.aor)))
            .collect();
        let groups = by_host(regs);
        if groups.is_empty() {
            return Err(ServerError::NotServed(user_name.to_string()));
        }
        let served_all = |regs: &[Registration]| aors.is_empty() && regs.len() == user.aors.len();
        Ok(groups
            .into_iter()
            .map(|((host, realm), regs)| Rtr {
                session_id: self.next_session_id(),
                auth_application_id: APPLICATION_ID,
                auth_session_state: AuthSessionState::NoStateMaintained,
                origin_host: self.cfg.origin_host.as_str().into(),
                origin_realm: self.cfg.origin_realm.as_str().into(),
                destination_host: host.as_str().into(),
                destination_realm: Some(
                    realm
                        .as_deref()
                        .unwrap_or(self.cfg.origin_realm.as_str())
                        .into(),
                ),
                sip_deregistration_reason: SipDeregistrationReason {
                    sip_reason_code: reason,
                    sip_reason_info: info.map(Into::into),
                    ..Default::default()
                },
                user_name: Some(user_name.into()),
                sip_aor: if served_all(&regs) {
                    Vec::new().into()
                } else {
                    regs.iter().map(|r| r.aor.as_str().into()).collect()
                },
                ..Default::default()
            })
            .collect())
    }

    /// Applies an RTA: on success the AORs of the RTR at that SIP server are no longer
    /// registered and their server is cleared (for every SIP-Reason-Code the SIP server drops
    /// the registration state). Returns the RTA's Result-Code.
    pub fn on_rta(&self, rtr: &Rtr, rta: &Rta) -> Result<u32, ServerError> {
        if rta.result_code != base::DIAMETER_SUCCESS {
            tracing::warn!(code = rta.result_code, "RTR refused");
            return Ok(rta.result_code);
        }
        let Some(user) = rtr.user_name.as_ref() else {
            return Ok(rta.result_code);
        };
        for mut reg in self.store.registrations_of(user.as_str())? {
            let listed = rtr.sip_aor.is_empty()
                || rtr.sip_aor.iter().any(|a| same_aor(a.as_str(), &reg.aor));
            if listed && reg.diameter_host.as_deref() == Some(rtr.destination_host.as_str()) {
                reg.state = RegState::NotRegistered;
                reg.server_uri = None;
                reg.pending_server_uri = None;
                reg.diameter_host = None;
                reg.diameter_realm = None;
                self.store.set_registration(&reg)?;
            }
        }
        Ok(rta.result_code)
    }

    /// PPRs that push the stored profile and accounting servers of `user_name` to every SIP
    /// server serving it (profile entries limited to the types that server said it supports).
    pub fn build_ppr(&self, user_name: &str) -> Result<Vec<Ppr>, ServerError> {
        let user = self
            .store
            .user(user_name)?
            .ok_or_else(|| ServerError::NoSuchUser(user_name.to_string()))?;
        let groups = by_host(self.store.registrations_of(user_name)?);
        if groups.is_empty() {
            return Err(ServerError::NotServed(user_name.to_string()));
        }
        Ok(groups
            .into_iter()
            .map(|((host, realm), regs)| Ppr {
                session_id: self.next_session_id(),
                auth_application_id: APPLICATION_ID,
                auth_session_state: AuthSessionState::NoStateMaintained,
                origin_host: self.cfg.origin_host.as_str().into(),
                origin_realm: self.cfg.origin_realm.as_str().into(),
                destination_realm: realm
                    .as_deref()
                    .unwrap_or(self.cfg.origin_realm.as_str())
                    .into(),
                destination_host: Some(host.as_str().into()),
                user_name: user_name.into(),
                sip_user_data: user_data_avps(&user.profile, &regs[0].supported_types).into(),
                sip_accounting_information: accounting_avp(&user.accounting).map(member),
                ..Default::default()
            })
            .collect())
    }

    /// Operator action: stores a new profile and accounting servers, then builds the PPRs.
    pub fn push_profile(
        &self,
        user_name: &str,
        profile: &[UserData],
        accounting: &AccountingInfo,
    ) -> Result<Vec<Ppr>, ServerError> {
        self.store.update_profile(user_name, profile, accounting)?;
        self.build_ppr(user_name)
    }

    /// Applies a PPA: DIAMETER_ERROR_TOO_MUCH_DATA asks for a new SIP server, so this returns
    /// the RTR (SIP_SERVER_CHANGE) to send then (RFC 4740 §8.12).
    pub fn on_ppa(&self, ppr: &Ppr, ppa: &Ppa) -> Result<Option<Rtr>, ServerError> {
        if ppa.result_code != rc::DIAMETER_ERROR_TOO_MUCH_DATA {
            if ppa.result_code != base::DIAMETER_SUCCESS {
                tracing::warn!(code = ppa.result_code, user = %ppr.user_name, "PPR refused");
            }
            return Ok(None);
        }
        let host = ppr.destination_host.as_ref().map(|h| h.as_str());
        let rtrs = self.build_rtr(
            ppr.user_name.as_str(),
            &[],
            SipReasonCode::SipServerChange,
            Some("profile too large for the serving SIP server"),
        )?;
        Ok(rtrs
            .into_iter()
            .find(|r| host.is_none_or(|h| r.destination_host.as_str() == h)))
    }
}
