//! Accounting of a SIP server towards the servers the Diameter server names (RFC 4740
//! §8.6, §8.10): a SAA's SIP-Accounting-Information starts an accounting session for the
//! user on the first SIP-Accounting-Server-URI (the second, if any, is the failover
//! server); a PPR that changes them closes that session (STOP_RECORD) before starting one
//! on the new server; a deregistration stops it.
//!
//! [`SipAccounting`] holds the sessions without I/O (each an
//! [`crate::acct::client::AcctSession`]); [`SipAccountingClient`] drives it over a
//! [`Transport`]. SIP-Credit-Control-Server-URI values are kept for the caller
//! ([`SipAccounting::credit_control_servers`]): credit control is the OCS client's job.

use super::redirect::uri_host;
use super::{ClientError, Transport};
use crate::acct::client::{AcctConfig, AcctEvent, AcctSession, Output};
use crate::sip::store::AccountingInfo;
use diameter::dict::base_rfc6733::{Aca, Acr};
use diameter_core::{Command, CommandFlags};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// Settings of the SIP server's accounting.
#[derive(Clone, Debug, PartialEq)]
pub struct SipAccountingConfig {
    /// The settings every session starts from (Origin-Host, Origin-Realm,
    /// Destination-Realm of the accounting servers, timeouts, realtime mode); its
    /// primary/secondary hosts and User-Name are set per user.
    pub template: AcctConfig,
    /// Users with an accounting session at most; a registration beyond gets none
    /// (default 100 000).
    pub max_users: usize,
}

impl SipAccountingConfig {
    /// Defaults for a SIP server `origin_host` accounting towards `destination_realm`.
    pub fn new(origin_host: &str, origin_realm: &str, destination_realm: &str) -> Self {
        SipAccountingConfig {
            template: AcctConfig::new(origin_host, origin_realm, destination_realm),
            max_users: 100_000,
        }
    }
}

#[derive(Debug)]
struct UserAcct {
    session_id: String,
    servers: Vec<String>,
    credit_control: Vec<String>,
}

/// The accounting sessions of a SIP server's registered users, sans-IO.
#[derive(Debug)]
pub struct SipAccounting {
    cfg: SipAccountingConfig,
    users: HashMap<String, UserAcct>,
    sessions: HashMap<String, AcctSession>,
    touched: VecDeque<String>,
}

impl SipAccounting {
    /// No sessions.
    pub fn new(cfg: SipAccountingConfig) -> Self {
        SipAccounting {
            cfg,
            users: HashMap::new(),
            sessions: HashMap::new(),
            touched: VecDeque::new(),
        }
    }

    /// The accounting Session-Id and server host of a user's current session.
    pub fn session_of(&self, user: &str) -> Option<(&str, &str)> {
        let u = self.users.get(user)?;
        Some((u.session_id.as_str(), u.servers.first()?.as_str()))
    }

    /// The SIP-Credit-Control-Server-URI values last named for a user.
    pub fn credit_control_servers(&self, user: &str) -> &[String] {
        self.users
            .get(user)
            .map_or(&[], |u| u.credit_control.as_slice())
    }

    /// Sessions still open or closing.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The accounting servers of `user` are `info` (from a SAA or a PPR): when they
    /// differ from the current ones, STOP the current session first, then START one on
    /// the new primary server with `new_session_id`. No accounting server: only the stop.
    /// Returns false when no session was started because of [`SipAccountingConfig::max_users`].
    pub fn set_servers(
        &mut self,
        user: &str,
        info: &AccountingInfo,
        new_session_id: impl FnOnce() -> String,
        now: Instant,
    ) -> bool {
        let servers: Vec<String> = info
            .accounting_servers
            .iter()
            .filter_map(|u| uri_host(u))
            .collect();
        if let Some(u) = self.users.get_mut(user) {
            u.credit_control = info.credit_control_servers.clone();
            if u.servers == servers {
                return true;
            }
        }
        self.close(user, now);
        if servers.is_empty() {
            return true;
        }
        if self.users.len() >= self.cfg.max_users {
            return false;
        }
        let mut cfg = self.cfg.template.clone();
        cfg.primary_host = Some(servers[0].clone());
        cfg.secondary_host = servers.get(1).cloned();
        cfg.user_name = Some(user.to_string());
        let session_id = new_session_id();
        let mut s = AcctSession::new(&session_id, cfg);
        s.start(now);
        self.sessions.insert(session_id.clone(), s);
        self.touched.push_back(session_id.clone());
        self.users.insert(
            user.to_string(),
            UserAcct {
                session_id,
                servers,
                credit_control: info.credit_control_servers.clone(),
            },
        );
        true
    }

    /// The user is no longer registered here: STOP its session.
    pub fn close(&mut self, user: &str, now: Instant) {
        let Some(u) = self.users.remove(user) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&u.session_id) {
            s.stop(now);
            self.touched.push_back(u.session_id);
        }
    }

    /// The next thing to do, with the accounting Session-Id it is about.
    pub fn poll_output(&mut self) -> Option<(String, Output)> {
        while let Some(sid) = self.touched.front().cloned() {
            let Some(s) = self.sessions.get_mut(&sid) else {
                self.touched.pop_front();
                continue;
            };
            if let Some(out) = s.poll_output() {
                if matches!(out, Output::Event(AcctEvent::Closed)) {
                    self.sessions.remove(&sid);
                }
                return Some((sid, out));
            }
            self.touched.pop_front();
        }
        None
    }

    /// An ACA arrived.
    pub fn on_aca(&mut self, aca: &Aca, now: Instant) {
        let sid = aca.session_id.as_str().to_string();
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.on_aca(aca, now);
            self.touched.push_back(sid);
        }
    }

    /// An ACR of `session_id` could not be delivered.
    pub fn on_failure(&mut self, session_id: &str, now: Instant) {
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.on_failure(now);
            self.touched.push_back(session_id.to_string());
        }
    }

    /// When [`SipAccounting::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|s| s.poll_timeout())
            .min()
    }

    /// The clock reached a session's timeout (answer timeout, interim interval).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (sid, s) in &mut self.sessions {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
                self.touched.push_back(sid.clone());
            }
        }
    }
}

/// [`SipAccounting`] over a [`Transport`]: each call changes the sessions, then sends
/// the ACRs they want and feeds the answers back, returning the sessions' events.
/// Records a session asks to keep for later are returned as [`Output::Store`] events
/// through [`Delivered::stored`], for the caller's spool.
pub struct SipAccountingClient<T> {
    transport: T,
    state: Mutex<SipAccounting>,
}

/// What one call of [`SipAccountingClient`] produced.
#[derive(Debug, Default, PartialEq)]
pub struct Delivered {
    /// Events of the sessions, with their Session-Id, in order.
    pub events: Vec<(String, AcctEvent)>,
    /// Records to keep for later delivery (storage is the caller's).
    pub stored: Vec<Acr>,
}

impl<T: Transport> SipAccountingClient<T> {
    /// Sessions sent through `transport`.
    pub fn new(cfg: SipAccountingConfig, transport: T) -> Self {
        SipAccountingClient {
            transport,
            state: Mutex::new(SipAccounting::new(cfg)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SipAccounting> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the sessions.
    pub fn with_state<R>(&self, f: impl FnOnce(&SipAccounting) -> R) -> R {
        f(&self.state())
    }

    /// A SAA (registration) or PPR named `info` for `user`: see [`SipAccounting::set_servers`].
    pub async fn set_servers(
        &self,
        user: &str,
        info: &AccountingInfo,
    ) -> Result<Delivered, ClientError> {
        self.state().set_servers(
            user,
            info,
            || self.transport.new_session_id(),
            Instant::now(),
        );
        self.flush().await
    }

    /// The user deregistered: STOP its session.
    pub async fn close(&self, user: &str) -> Result<Delivered, ClientError> {
        self.state().close(user, Instant::now());
        self.flush().await
    }

    /// Runs due timeouts, then sends what the sessions want sent.
    pub async fn flush(&self) -> Result<Delivered, ClientError> {
        self.state().handle_timeout(Instant::now());
        let mut out = Delivered::default();
        loop {
            let next = self.state().poll_output();
            let Some((sid, o)) = next else { break };
            match o {
                Output::Send(req) => {
                    let mut msg = req.acr.to_message(crate::acct::APPLICATION_ID, 0, 0);
                    if req.retransmit {
                        msg.header.flags |= CommandFlags::RETRANSMIT;
                    }
                    let answer = self.transport.request(msg).await;
                    let decoded = answer.and_then(|a| Ok(Aca::decode(&a)?));
                    match decoded {
                        Ok(aca) => self.state().on_aca(&aca, Instant::now()),
                        Err(_) => self.state().on_failure(&sid, Instant::now()),
                    }
                }
                Output::Store(acr) => out.stored.push(acr),
                Output::Event(e) => out.events.push((sid, e)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::base_rfc6733::AccountingRecordType as Rt;

    fn info(servers: &[&str]) -> AccountingInfo {
        AccountingInfo {
            accounting_servers: servers.iter().map(|s| s.to_string()).collect(),
            credit_control_servers: vec!["aaa://ocs.example.com".into()],
        }
    }

    /// The ACRs sent, as (Session-Id, record type, Destination-Host), answering each.
    fn drain(a: &mut SipAccounting, now: Instant) -> Vec<(String, Rt, String)> {
        let mut sent = Vec::new();
        while let Some((sid, o)) = a.poll_output() {
            if let Output::Send(r) = o {
                let aca = Aca {
                    session_id: r.acr.session_id.clone(),
                    result_code: 2001,
                    accounting_record_type: r.acr.accounting_record_type,
                    accounting_record_number: r.acr.accounting_record_number,
                    ..Default::default()
                };
                sent.push((
                    sid,
                    r.acr.accounting_record_type,
                    r.destination_host.unwrap_or_default(),
                ));
                a.on_aca(&aca, now);
            }
        }
        sent
    }

    #[test]
    fn a_new_server_gets_a_new_session_after_the_old_one_stops() {
        let now = Instant::now();
        let mut a = SipAccounting::new(SipAccountingConfig::new("sip", "r", "r"));
        let mut n = 0;
        let mut sid = || {
            n += 1;
            format!("s{n}")
        };
        a.set_servers(
            "alice",
            &info(&["aaa://acct1:3868", "aaa://acct2"]),
            &mut sid,
            now,
        );
        assert_eq!(
            drain(&mut a, now),
            [("s1".into(), Rt::StartRecord, "acct1".into())]
        );
        assert_eq!(a.credit_control_servers("alice"), ["aaa://ocs.example.com"]);
        // The same servers again (a re-registration): nothing.
        a.set_servers(
            "alice",
            &info(&["aaa://acct1:3868", "aaa://acct2"]),
            &mut sid,
            now,
        );
        assert!(drain(&mut a, now).is_empty());
        // A PPR moves alice to acct3: STOP on acct1 first, then START on acct3.
        a.set_servers("alice", &info(&["aaa://acct3"]), &mut sid, now);
        assert_eq!(
            drain(&mut a, now),
            [
                ("s1".into(), Rt::StopRecord, "acct1".into()),
                ("s2".into(), Rt::StartRecord, "acct3".into()),
            ]
        );
        assert_eq!(a.session_of("alice"), Some(("s2", "acct3")));
        assert_eq!(a.open_sessions(), 1, "the stopped session is gone");
        a.close("alice", now);
        assert_eq!(
            drain(&mut a, now),
            [("s2".into(), Rt::StopRecord, "acct3".into())]
        );
        assert_eq!((a.open_sessions(), a.session_of("alice")), (0, None));
    }

    #[test]
    fn no_server_means_no_session_and_the_user_count_is_bounded() {
        let now = Instant::now();
        let mut cfg = SipAccountingConfig::new("sip", "r", "r");
        cfg.max_users = 1;
        let mut a = SipAccounting::new(cfg);
        assert!(a.set_servers("alice", &info(&[]), || "x".into(), now));
        assert!(drain(&mut a, now).is_empty());
        assert!(a.set_servers("alice", &info(&["aaa://acct1"]), || "s1".into(), now));
        assert!(!a.set_servers("bob", &info(&["aaa://acct1"]), || "s2".into(), now));
        assert_eq!(drain(&mut a, now).len(), 1);
        // A PPR removing the servers stops the session.
        a.set_servers("alice", &info(&[]), || "s3".into(), now);
        assert_eq!(
            drain(&mut a, now),
            [("s1".into(), Rt::StopRecord, "acct1".into())]
        );
    }
}
