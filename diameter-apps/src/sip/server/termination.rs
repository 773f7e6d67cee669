//! The end of STATE_MAINTAINED sessions (RFC 6733 §8.4–8.5, §8.9–8.11; RFC 4740 §7.1):
//! a successful SAR that assigns a SIP server keeps the session; STR ends it (2001, or
//! 5002 DIAMETER_UNKNOWN_SESSION_ID), ASR asks the SIP server to end it, and a session
//! not re-authorized within Authorization-Lifetime + Auth-Grace-Period expires. Whatever
//! ends a session releases the registrations its SAR made (as a timeout deregistration).

use super::sessions::KeptSession;
use super::{store_failed, Caller, Server, APPLICATION_ID};
use crate::sip::store::{RegState, StoreError};
use diameter::dict::base_rfc6733::{result_code as base, Asr, AuthSessionState, Sta, Str};
use diameter::dict::sip_rfc4740::{Saa, Sar, SipServerAssignmentType as T};

impl Server {
    /// Keeps the session of a successful STATE_MAINTAINED SAR that assigned a SIP server,
    /// until lifetime + grace from `caller.now`. When the table is full the answer is made
    /// stateless instead (NO_STATE_MAINTAINED, no lifetime: the server's answer binds,
    /// RFC 6733 §8.11).
    pub(crate) fn keep_session(&self, caller: &Caller, req: &Sar, user: &str, answer: &mut Saa) {
        let assigns = matches!(
            req.sip_server_assignment_type,
            T::Registration | T::ReRegistration | T::UnregisteredUser
        );
        if req.auth_session_state != AuthSessionState::StateMaintained
            || answer.result_code != base::DIAMETER_SUCCESS
            || !assigns
        {
            return;
        }
        let ends_at = self.cfg.authorization_lifetime.map(|l| {
            caller
                .millis()
                .saturating_add(millis(l + self.cfg.auth_grace_period))
        });
        let session = KeptSession {
            peer: caller.peer.as_deref().unwrap_or_default().to_string(),
            realm: req.origin_realm.to_string(),
            user: user.to_string(),
            aors: req.sip_aor.iter().map(|a| a.to_string()).collect(),
            ends_at,
        };
        if !self.kept().put(req.session_id.as_str(), session) {
            tracing::warn!(
                session = %req.session_id,
                "sip: session table full; answered without session state"
            );
            answer.auth_session_state = AuthSessionState::NoStateMaintained;
            answer.authorization_lifetime = None;
            answer.auth_grace_period = None;
        }
    }

    /// STR (RFC 6733 §8.4): ends a session this server keeps for the calling SIP server
    /// and releases its registrations: 2001; 5002 DIAMETER_UNKNOWN_SESSION_ID for a session
    /// it does not keep (or keeps for another SIP server).
    pub fn handle_str(&self, caller: &Caller, req: &Str) -> Sta {
        let code = match self.admit(caller) {
            Err(code) => code,
            Ok(_) => self.end_session(caller, req.session_id.as_str()),
        };
        Sta {
            session_id: req.session_id.clone(),
            result_code: code,
            origin_host: self.cfg.origin_host.as_str().into(),
            origin_realm: self.cfg.origin_realm.as_str().into(),
            proxy_info: req.proxy_info.clone(),
            ..Default::default()
        }
    }

    fn end_session(&self, caller: &Caller, session_id: &str) -> u32 {
        let peer = caller.peer.as_deref().unwrap_or_default();
        let session = {
            let mut kept = self.kept();
            match kept.get(session_id) {
                Some(s) if s.peer == peer => kept.take(session_id),
                _ => None,
            }
        };
        let Some(session) = session else {
            return base::DIAMETER_UNKNOWN_SESSION_ID;
        };
        match self.release(&session) {
            Ok(()) => base::DIAMETER_SUCCESS,
            Err(e) => store_failed("STR", &e),
        }
    }

    /// An ASR (RFC 6733 §8.5) for a kept session, to the SIP server that holds it (`None`:
    /// not kept). The session ends when that SIP server's STR arrives.
    pub fn build_asr(&self, session_id: &str) -> Option<Asr> {
        let kept = self.kept();
        let s = kept.get(session_id)?;
        Some(Asr {
            session_id: session_id.into(),
            origin_host: self.cfg.origin_host.as_str().into(),
            origin_realm: self.cfg.origin_realm.as_str().into(),
            destination_host: s.peer.as_str().into(),
            destination_realm: s.realm.as_str().into(),
            auth_application_id: APPLICATION_ID,
            user_name: Some(s.user.as_str().into()),
            ..Default::default()
        })
    }

    /// A kept session (operator view, tests).
    pub fn kept_session(&self, session_id: &str) -> Option<KeptSession> {
        self.kept().get(session_id).cloned()
    }

    /// The number of kept sessions.
    pub fn kept_sessions(&self) -> usize {
        self.kept().len()
    }

    /// Ends the sessions whose lifetime and grace period are over at `now` and releases
    /// their registrations (RFC 6733 §8.9). Returns how many ended. The node calls it on a
    /// timer.
    pub fn expire_sessions(&self, now: std::time::SystemTime) -> Result<usize, StoreError> {
        let ended = self.kept().take_expired(super::nonce::millis(now));
        for (id, s) in &ended {
            tracing::info!(session = %id, user = %s.user, "sip: session expired");
            self.release(s)?;
        }
        Ok(ended.len())
    }

    /// Marks the AORs of an ended session not registered, unless another kept session of
    /// the same SIP server holds them now, or another SIP server registered them since.
    fn release(&self, s: &KeptSession) -> Result<(), StoreError> {
        for aor in &s.aors {
            if self.kept().holds(aor, &s.peer) {
                continue;
            }
            let Some(mut reg) = self.store.registration(aor)? else {
                continue;
            };
            let ours = reg
                .diameter_host
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&s.peer));
            if !ours || reg.state == RegState::NotRegistered {
                continue;
            }
            reg.state = RegState::NotRegistered;
            reg.server_uri = None;
            reg.pending_server_uri = None;
            reg.diameter_host = None;
            reg.diameter_realm = None;
            self.store.set_registration(&reg)?;
            tracing::info!(user = %s.user, aor, "sip: registration released with its session");
        }
        Ok(())
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, super::sessions::Sessions> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::sip::store::{open, SipUser};
    use diameter::dict::base_rfc6733::TerminationCause;
    use std::time::{Duration, SystemTime};

    const AOR: &str = "sip:alice@example.com";

    fn server(cfg: impl FnOnce(&mut crate::sip::server::ServerConfig)) -> Server {
        let store = open("sqlite::memory:").unwrap();
        store
            .put_user(&SipUser::with_password("alice", "example.com", "pw").aor(AOR))
            .unwrap();
        let mut c = crate::sip::server::ServerConfig::new("aaa.example.com", "example.com");
        c.authorization_lifetime = Some(Duration::from_secs(100));
        c.auth_grace_period = Duration::from_secs(10);
        cfg(&mut c);
        Server::new(c, store)
    }

    fn sar(sid: &str, kind: T, state: AuthSessionState) -> Sar {
        Sar {
            session_id: sid.into(),
            auth_session_state: state,
            origin_host: "sip1.example.com".into(),
            origin_realm: "example.com".into(),
            user_name: Some("alice".into()),
            sip_aor: vec![AOR.into()].into(),
            sip_server_uri: Some("sip:sip1.example.com".into()),
            sip_server_assignment_type: kind,
            ..Default::default()
        }
    }

    /// Registers `AOR` in session `sid` at `now` (the user authenticated just before).
    fn register(s: &Server, sid: &str, now: SystemTime) -> Saa {
        let caller = Caller::new("sip1.example.com").at(now);
        s.auths.record("alice", "sip1.example.com", caller.millis());
        let a = s.handle_sar(
            &caller,
            &sar(sid, T::Registration, AuthSessionState::StateMaintained),
        );
        assert_eq!(a.result_code, base::DIAMETER_SUCCESS);
        a
    }

    fn state(s: &Server) -> RegState {
        s.store().registration(AOR).unwrap().unwrap().state
    }

    fn str_(sid: &str) -> Str {
        Str {
            session_id: sid.into(),
            auth_application_id: APPLICATION_ID,
            termination_cause: TerminationCause::DiameterLogout,
            ..Default::default()
        }
    }

    #[test]
    fn a_session_expires_after_lifetime_and_grace_and_releases_its_registration() {
        let s = server(|_| {});
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        register(&s, "sip1;1", t0);
        assert_eq!(s.kept_sessions(), 1);
        assert_eq!(state(&s), RegState::Registered);
        // Lifetime over, grace running: still kept.
        assert_eq!(s.expire_sessions(t0 + Duration::from_secs(109)).unwrap(), 0);
        assert_eq!(state(&s), RegState::Registered);
        // Re-authorized in the same session at 100 s: the deadline moves to 210 s.
        let caller = Caller::new("sip1.example.com").at(t0 + Duration::from_secs(100));
        s.auths.record("alice", "sip1.example.com", caller.millis());
        let a = s.handle_sar(
            &caller,
            &sar(
                "sip1;1",
                T::ReRegistration,
                AuthSessionState::StateMaintained,
            ),
        );
        assert_eq!(a.result_code, base::DIAMETER_SUCCESS);
        assert_eq!(s.expire_sessions(t0 + Duration::from_secs(200)).unwrap(), 0);
        assert_eq!(s.expire_sessions(t0 + Duration::from_secs(210)).unwrap(), 1);
        assert_eq!(state(&s), RegState::NotRegistered);
        let reg = s.store().registration(AOR).unwrap().unwrap();
        assert_eq!((reg.server_uri, reg.diameter_host), (None, None));
        assert_eq!(s.kept_sessions(), 0);
    }

    #[test]
    fn stateless_sars_keep_nothing() {
        let s = server(|_| {});
        let caller = Caller::new("sip1.example.com");
        s.auths.record("alice", "sip1.example.com", caller.millis());
        let a = s.handle_sar(
            &caller,
            &sar(
                "sip1;2",
                T::Registration,
                AuthSessionState::NoStateMaintained,
            ),
        );
        assert_eq!(a.result_code, base::DIAMETER_SUCCESS);
        assert_eq!(s.kept_sessions(), 0);
    }

    #[test]
    fn a_full_table_answers_without_state() {
        let s = server(|c| c.max_sessions = 1);
        let now = SystemTime::now();
        let a = register(&s, "sip1;1", now);
        assert_eq!(a.authorization_lifetime, Some(100));
        let b = register(&s, "sip1;2", now);
        assert_eq!(b.auth_session_state, AuthSessionState::NoStateMaintained);
        assert_eq!(
            (b.authorization_lifetime, b.auth_grace_period),
            (None, None)
        );
        assert_eq!(s.kept_sessions(), 1);
    }

    #[test]
    fn str_ends_a_kept_session_and_5002_otherwise() {
        let s = server(|_| {});
        register(&s, "sip1;1", SystemTime::now());
        // Another SIP server cannot end it.
        let other = s.handle_str(&Caller::new("sip2.example.com"), &str_("sip1;1"));
        assert_eq!(other.result_code, base::DIAMETER_UNKNOWN_SESSION_ID);
        assert_eq!(state(&s), RegState::Registered);
        let sta = s.handle_str(&Caller::new("sip1.example.com"), &str_("sip1;1"));
        assert_eq!(sta.result_code, base::DIAMETER_SUCCESS);
        assert_eq!(sta.session_id, "sip1;1");
        assert_eq!(state(&s), RegState::NotRegistered);
        assert_eq!(s.kept_sessions(), 0);
        let again = s.handle_str(&Caller::new("sip1.example.com"), &str_("sip1;1"));
        assert_eq!(again.result_code, base::DIAMETER_UNKNOWN_SESSION_ID);
    }

    #[test]
    fn a_newer_session_keeps_the_registration_when_an_older_one_ends() {
        let s = server(|_| {});
        let t0 = SystemTime::now();
        register(&s, "sip1;old", t0);
        register(&s, "sip1;new", t0 + Duration::from_secs(50));
        assert_eq!(s.expire_sessions(t0 + Duration::from_secs(110)).unwrap(), 1);
        assert_eq!(state(&s), RegState::Registered);
    }

    #[test]
    fn asr_goes_to_the_sip_server_of_the_session() {
        let s = server(|_| {});
        register(&s, "sip1;1", SystemTime::now());
        let asr = s.build_asr("sip1;1").expect("kept");
        assert_eq!(asr.destination_host.as_str(), "sip1.example.com");
        assert_eq!(asr.destination_realm.as_str(), "example.com");
        assert_eq!(asr.auth_application_id, APPLICATION_ID);
        assert!(s.build_asr("unknown").is_none());
        // The session stays until the STR.
        assert_eq!(state(&s), RegState::Registered);
    }
}
