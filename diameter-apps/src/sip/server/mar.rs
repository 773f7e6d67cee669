//! Multimedia-Auth-Request (RFC 4740 §8.7, §8.8, §11).

use super::nonce::Presented;
use super::{answer, lookup, store_failed, AuthMode, Caller, Lookup, Rights, Server};
use crate::sip::digest::{Algorithm, Challenge, DigestError, DigestResponse};
use crate::sip::store::{SipUser, StoreError};
use crate::sip::{inner, member};
use diameter::dict::base_rfc6733::result_code as base;
use diameter::dict::sip_rfc4740::{
    result_code as rc, Maa, Mar, SipAuthDataItem, SipAuthenticationInfo, SipAuthenticationScheme,
    SipAuthorization,
};

impl Server {
    /// Answers a MAR from `caller`.
    ///
    /// A peer that is not a listed SIP server gets 5003 (see the [module docs](super)).
    /// Without credentials it returns a Digest challenge (SIP-Authenticate with realm, a
    /// fresh single-use nonce bound to the SIP server and the user, algorithm and
    /// `qop=auth`). A SIP server with the right to credentials gets Digest-HA1 with it (in
    /// [`AuthMode::Delegated`]) to check the response itself (2001 when the SIP-Server-URI
    /// was stored, 2008 when the MAR named none); any other gets 1001 MULTI_ROUND_AUTH and
    /// sends the user agent's response in another MAR. With credentials (SIP-Authorization)
    /// this server checks them: 2001 / 2006 on success, with SIP-Authentication-Info
    /// (rspauth); 4001 AUTHENTICATION_REJECTED on a wrong response, a nonce it did not issue
    /// to this SIP server or for another user, or a response that does not answer the
    /// challenge (another algorithm, realm or qop, no qop when `auth` was offered, a bad
    /// `nc`); 1001 with a `stale=true` challenge when a right response uses an expired or
    /// already used nonce. Errors: 5032, 5033 (REGISTER only), 5037 for another scheme or an
    /// algorithm it does not implement, 4013.
    ///
    /// A MAR asking for several items (SIP-Number-Auth-Items) gets that many challenges,
    /// each with its own nonce and a SIP-Item-Number, up to
    /// [`super::ServerConfig::max_auth_items`]; the MAA's SIP-Number-Auth-Items says how
    /// many it carries.
    ///
    /// A SIP-Server-URI that differs from the stored server is kept as "authentication
    /// pending" until a SAR confirms it (UAR then returns it).
    pub fn handle_mar(&self, caller: &Caller, req: &Mar) -> Maa {
        let rights = match self.admit(caller) {
            Ok(r) => r,
            Err(code) => return answer!(Maa, self, req, code),
        };
        match self.mar(caller, rights, req) {
            Ok(a) => a,
            Err(e) => answer!(Maa, self, req, store_failed("MAR", &e)),
        }
    }

    fn mar(&self, caller: &Caller, rights: Rights, req: &Mar) -> Result<Maa, StoreError> {
        let peer = caller.peer.as_deref().unwrap_or_default();
        let aor = req.sip_aor.as_str();
        let register = req.sip_method.as_str().eq_ignore_ascii_case("REGISTER");
        let item = req.sip_auth_data_item.as_ref().map(inner);
        if let Some(item) = item {
            if item.sip_authentication_scheme != SipAuthenticationScheme::Digest {
                return Ok(answer!(
                    Maa,
                    self,
                    req,
                    rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED
                ));
            }
        }
        let requested = match requested_algorithm(item) {
            Ok(a) => a,
            Err(_) => {
                return Ok(answer!(
                    Maa,
                    self,
                    req,
                    rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED
                ))
            }
        };
        if req.user_name.is_none() && !register && !self.cfg.require_user_name {
            // The AOR of a non-REGISTER request is its target, not the caller: ask for the
            // caller's credentials.
            let mut a = answer!(Maa, self, req, rc::DIAMETER_USER_NAME_REQUIRED);
            let c = self.nonces.issue(
                caller.millis(),
                peer,
                None,
                &self.cfg.origin_realm,
                requested.unwrap_or(self.cfg.algorithm),
                false,
            );
            a.sip_number_auth_items = Some(1);
            a.sip_auth_data_item = vec![digest_item(c.to_avp(None))].into();
            return Ok(a);
        }
        let user = match lookup(self, req.user_name.as_ref(), Some(aor), register)? {
            Lookup::Found(u) => u,
            Lookup::Fail(code) => return Ok(answer!(Maa, self, req, code)),
        };
        let stored = self.note_server(req, &user)?;
        let credentials: Option<&SipAuthorization> =
            item.and_then(|i| i.sip_authorization.as_ref().map(inner));
        let mut a = match credentials {
            Some(auth) => {
                self.check_credentials(caller, req, &user, &DigestResponse::from_avp(auth), stored)
            }
            None => self.challenge_answer(caller, rights, req, &user, requested, stored),
        };
        a.user_name = Some(user.name.as_str().into());
        a.sip_aor = Some(req.sip_aor.clone());
        Ok(a)
    }

    /// Records the MAR's SIP-Server-URI for the AOR (pending when it differs from the stored
    /// server); returns whether it was stored.
    fn note_server(&self, req: &Mar, user: &SipUser) -> Result<bool, StoreError> {
        let Some(uri) = &req.sip_server_uri else {
            return Ok(false);
        };
        if !user.owns(req.sip_aor.as_str()) {
            return Ok(false);
        }
        let Some(mut reg) = self.store.registration(req.sip_aor.as_str())? else {
            return Ok(false);
        };
        let pending = (reg.server_uri.as_deref() != Some(uri.as_str())).then(|| uri.to_string());
        if reg.pending_server_uri != pending {
            reg.pending_server_uri = pending;
            self.store.set_registration(&reg)?;
        }
        Ok(true)
    }

    /// A new challenge for `user`, issued to the caller.
    fn challenge(&self, caller: &Caller, user: &SipUser, alg: Algorithm, stale: bool) -> Challenge {
        self.nonces.issue(
            caller.millis(),
            caller.peer.as_deref().unwrap_or_default(),
            Some(&user.name),
            &user.realm,
            alg,
            stale,
        )
    }

    fn challenge_answer(
        &self,
        caller: &Caller,
        rights: Rights,
        req: &Mar,
        user: &SipUser,
        requested: Option<Algorithm>,
        stored: bool,
    ) -> Maa {
        let alg = match requested {
            Some(a) if user.ha1(a).is_some() => a,
            Some(_) => {
                return answer!(Maa, self, req, rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
            }
            None if user.ha1(self.cfg.algorithm).is_some() => self.cfg.algorithm,
            None if user.ha1_md5.is_some() => Algorithm::Md5,
            None => Algorithm::Sha256,
        };
        // H(A1) goes only to a SIP server with the right; H(A1) of a -sess algorithm needs the
        // client's cnonce: never delegated (RFC 4740 §9.5.6.1).
        let delegate =
            rights.credentials && self.cfg.auth_mode == AuthMode::Delegated && !alg.is_session();
        let code = match (delegate, stored) {
            (false, _) => base::DIAMETER_MULTI_ROUND_AUTH,
            (true, true) => base::DIAMETER_SUCCESS,
            (true, false) => rc::DIAMETER_SUCCESS_AUTH_SENT_SERVER_NOT_STORED,
        };
        // RFC 4740 §8.7, §9.6: as many challenges as the MAR asks for (within our limit),
        // each with its own nonce.
        let wanted = req
            .sip_number_auth_items
            .unwrap_or(1)
            .clamp(1, self.cfg.max_auth_items.max(1));
        if delegate {
            // The SIP server checks the response: it may then register the user.
            let peer = caller.peer.as_deref().unwrap_or_default();
            self.auths.record(&user.name, peer, caller.millis());
            tracing::debug!(user = %user.name, peer, "sip: Digest-HA1 handed to a SIP server with the right");
        }
        let mut a = answer!(Maa, self, req, code);
        a.sip_number_auth_items = Some(wanted);
        a.sip_auth_data_item = (1..=wanted)
            .map(|n| {
                let c = self.challenge(caller, user, alg, false);
                let mut item = digest_item(c.to_avp(if delegate { user.ha1(alg) } else { None }));
                // Several items: numbered, in the order they are to be used.
                item.sip_item_number = (wanted > 1).then_some(n);
                item
            })
            .collect();
        a
    }

    fn check_credentials(
        &self,
        caller: &Caller,
        req: &Mar,
        user: &SipUser,
        resp: &DigestResponse,
        stored: bool,
    ) -> Maa {
        let reject = |code: u32| answer!(Maa, self, req, code);
        let peer = caller.peer.as_deref().unwrap_or_default();
        let refuse = |why: &dyn std::fmt::Display| {
            tracing::info!(user = %user.name, peer, reason = %why, "sip: digest response refused");
            answer!(Maa, self, req, base::DIAMETER_AUTHENTICATION_REJECTED)
        };
        if resp.username != user.name {
            return reject(rc::DIAMETER_ERROR_IDENTITIES_DONT_MATCH);
        }
        let alg = match resp.algorithm() {
            Ok(a) => a,
            Err(_) => return reject(rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED),
        };
        if resp.realm != user.realm {
            return refuse(&"realm is not the user's");
        }
        let (issued, fresh) = match self.nonces.present(&resp.nonce, peer, caller.millis()) {
            Presented::Fresh(i) => (i, true),
            Presented::Stale(i) => (i, false),
            Presented::Unknown => return refuse(&"nonce not issued to this SIP server"),
        };
        if issued.user.as_deref().is_some_and(|u| u != user.name) {
            return refuse(&"nonce issued for another user");
        }
        if let Err(e) = resp.check_challenge(&issued.challenge) {
            return refuse(&e);
        }
        let Some(ha1) = user.ha1(alg) else {
            return reject(rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED);
        };
        match resp.verify(ha1, req.sip_method.as_str()) {
            Ok(()) if !fresh => {
                // A right response to a used or expired nonce: a new challenge, stale=true.
                let c = self.challenge(caller, user, alg, true);
                let mut a = answer!(Maa, self, req, base::DIAMETER_MULTI_ROUND_AUTH);
                a.sip_number_auth_items = Some(1);
                a.sip_auth_data_item = vec![digest_item(c.to_avp(None))].into();
                a
            }
            Ok(()) => {
                self.auths.record(&user.name, peer, caller.millis());
                let code = if stored {
                    base::DIAMETER_SUCCESS
                } else {
                    rc::DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED
                };
                let mut a = answer!(Maa, self, req, code);
                let info = SipAuthenticationInfo {
                    digest_qop: resp.qop.as_deref().map(Into::into),
                    digest_response_auth: resp.response_auth(ha1).ok().map(Into::into),
                    digest_cnonce: resp.cnonce.as_deref().map(Into::into),
                    digest_nonce_count: resp.nc.as_deref().map(Into::into),
                    ..Default::default()
                };
                a.sip_number_auth_items = Some(1);
                a.sip_auth_data_item = vec![SipAuthDataItem {
                    sip_authentication_scheme: SipAuthenticationScheme::Digest,
                    sip_authentication_info: Some(member(info)),
                    ..Default::default()
                }]
                .into();
                a
            }
            Err(DigestError::UnsupportedAlgorithm(_)) => {
                reject(rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
            }
            Err(e) => refuse(&e),
        }
    }
}

/// The algorithm a MAR asks for (in SIP-Authorization or SIP-Authenticate), `Err` when it
/// names one we do not implement (such as `AKAv1-MD5`).
fn requested_algorithm(item: Option<&SipAuthDataItem>) -> Result<Option<Algorithm>, DigestError> {
    let Some(item) = item else { return Ok(None) };
    let named = item
        .sip_authorization
        .as_ref()
        .and_then(|a| a.digest_algorithm.as_ref())
        .or_else(|| {
            item.sip_authenticate
                .as_ref()
                .and_then(|a| a.digest_algorithm.as_ref())
        });
    match named {
        None => Ok(None),
        Some(s) => Algorithm::parse(s.as_str())
            .map(Some)
            .ok_or_else(|| DigestError::UnsupportedAlgorithm(s.as_str().to_string())),
    }
}

fn digest_item(auth: diameter::dict::sip_rfc4740::SipAuthenticate) -> SipAuthDataItem {
    SipAuthDataItem {
        sip_authentication_scheme: SipAuthenticationScheme::Digest,
        sip_authenticate: Some(member(auth)),
        ..Default::default()
    }
}
