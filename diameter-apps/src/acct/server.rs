//! The server side of base accounting (RFC 6733 §8.2 "stateless" server, §9.4 duplicate
//! detection), without I/O: it judges each ACR and builds its ACA; storing is the caller's.
//!
//! A record is identified by Session-Id + Accounting-Record-Type + Accounting-Record-Number.
//! The same identity again (a T-flagged retransmission after a failover, or a record
//! delivered from a client's storage twice) is a [`Verdict::Duplicate`]: it is answered
//! with success again and must not be stored again. Records may arrive in any order
//! (stored records come late), but these are refused with DIAMETER_INVALID_AVP_VALUE
//! (5004) and the offending AVP in Failed-AVP:
//! - a record number already used in the session by a record of another type;
//! - an EVENT_RECORD in a session that has START/INTERIM/STOP records, or the reverse;
//! - a second START_RECORD or STOP_RECORD under another number;
//! - a record numbered after the session's STOP_RECORD.
//!
//! The memory of seen records is bounded by [`ServerConfig::max_sessions`] (oldest session
//! forgotten first); exactly-once across restarts is the record store's job.

use diameter::dict::base_rfc6733::{
    result_code as rc, Aca, AccountingRealtimeRequired as Realtime, AccountingRecordType as Rt,
    Acr, FailedAvp,
};
use diameter_core::{bytes::Bytes, AvpFlags, RawAvp};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Settings of the accounting server's checks and answers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Origin-Host of answers.
    pub origin_host: String,
    /// Origin-Realm of answers.
    pub origin_realm: String,
    /// Acct-Interim-Interval (seconds) to tell clients in answers to START_RECORD (None:
    /// leave it to the client).
    pub interim_interval: Option<u32>,
    /// Accounting-Realtime-Required to tell clients (None: leave it to the client).
    pub realtime: Option<Realtime>,
    /// How many sessions' record numbers to remember for duplicate detection (default
    /// 100 000; the oldest session is forgotten first).
    pub max_sessions: usize,
}

impl ServerConfig {
    /// Defaults: no interim interval or realtime mode imposed, 100 000 sessions remembered.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        ServerConfig {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            interim_interval: None,
            realtime: None,
            max_sessions: 100_000,
        }
    }
}

/// What to do with an ACR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new record: store it, then answer success.
    Accept,
    /// Seen before: answer success, store nothing.
    Duplicate,
    /// Refuse it with this Result-Code and Failed-AVP.
    Reject {
        /// The Result-Code.
        result_code: u32,
        /// The AVP at fault (code), for Failed-AVP.
        avp_code: u32,
    },
}

#[derive(Debug, Default)]
struct Seen {
    numbers: BTreeMap<u32, Rt>,
    start: Option<u32>,
    stop: Option<u32>,
}

/// Duplicate detection and sequence checks of one accounting server; see the module docs.
#[derive(Debug)]
pub struct AcctServer {
    config: ServerConfig,
    sessions: HashMap<String, Seen>,
    order: VecDeque<String>,
}

const ACCOUNTING_RECORD_TYPE: u32 = 480;
const ACCOUNTING_RECORD_NUMBER: u32 = 485;

impl AcctServer {
    /// A server with nothing seen.
    pub fn new(config: ServerConfig) -> Self {
        AcctServer {
            config,
            sessions: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Judges `acr` and remembers it when accepted. Call [`AcctServer::forget`] if an
    /// accepted record then fails to be stored, so that its retransmission is accepted.
    pub fn check(&mut self, acr: &Acr) -> Verdict {
        let kind = acr.accounting_record_type;
        let number = acr.accounting_record_number;
        let reject = |avp_code| Verdict::Reject {
            result_code: rc::DIAMETER_INVALID_AVP_VALUE,
            avp_code,
        };
        if let Some(seen) = self.sessions.get(acr.session_id.as_str()) {
            match seen.numbers.get(&number) {
                Some(t) if *t == kind => return Verdict::Duplicate,
                Some(_) => return reject(ACCOUNTING_RECORD_NUMBER),
                None => {}
            }
            let is_event = kind == Rt::EventRecord;
            let has_event = seen.numbers.values().any(|t| *t == Rt::EventRecord);
            if !seen.numbers.is_empty() && is_event != has_event {
                return reject(ACCOUNTING_RECORD_TYPE);
            }
            if (kind == Rt::StartRecord && seen.start.is_some())
                || (kind == Rt::StopRecord && seen.stop.is_some())
            {
                return reject(ACCOUNTING_RECORD_NUMBER);
            }
            let after_stop = seen.stop.is_some_and(|s| number > s);
            let stop_too_early = kind == Rt::StopRecord && seen.numbers.keys().any(|n| *n > number);
            if after_stop || stop_too_early {
                return reject(ACCOUNTING_RECORD_NUMBER);
            }
        } else {
            self.remember_session(acr.session_id.as_str());
        }
        let Some(seen) = self.sessions.get_mut(acr.session_id.as_str()) else {
            return Verdict::Accept;
        };
        seen.numbers.insert(number, kind);
        match kind {
            Rt::StartRecord => seen.start = Some(number),
            Rt::StopRecord => seen.stop = Some(number),
            _ => {}
        }
        Verdict::Accept
    }

    /// Forgets an accepted record (its storing failed).
    pub fn forget(&mut self, acr: &Acr) {
        if let Some(seen) = self.sessions.get_mut(acr.session_id.as_str()) {
            let number = acr.accounting_record_number;
            if seen.numbers.get(&number) == Some(&acr.accounting_record_type) {
                seen.numbers.remove(&number);
                if seen.start == Some(number) {
                    seen.start = None;
                }
                if seen.stop == Some(number) {
                    seen.stop = None;
                }
            }
        }
    }

    fn remember_session(&mut self, session_id: &str) {
        if self.config.max_sessions == 0 {
            return;
        }
        while self.sessions.len() >= self.config.max_sessions {
            match self.order.pop_front() {
                Some(old) => {
                    self.sessions.remove(&old);
                }
                None => break,
            }
        }
        self.sessions.insert(session_id.into(), Seen::default());
        self.order.push_back(session_id.into());
    }

    /// The ACA for `acr` with `result_code` (and, for a rejection, Failed-AVP naming
    /// `failed_avp` as received).
    pub fn answer(&self, acr: &Acr, result_code: u32, failed_avp: Option<u32>) -> Aca {
        let c = &self.config;
        let success = (2000..3000).contains(&result_code);
        let failed_avp = failed_avp.map(|code| {
            let value = match code {
                ACCOUNTING_RECORD_TYPE => i32::from(acr.accounting_record_type).to_be_bytes(),
                _ => acr.accounting_record_number.to_be_bytes(),
            };
            FailedAvp {
                other: vec![RawAvp::new(
                    code,
                    AvpFlags::MANDATORY,
                    0,
                    Bytes::copy_from_slice(&value),
                )]
                .into(),
            }
        });
        Aca {
            session_id: acr.session_id.clone(),
            result_code,
            origin_host: c.origin_host.as_str().into(),
            origin_realm: c.origin_realm.as_str().into(),
            accounting_record_type: acr.accounting_record_type,
            accounting_record_number: acr.accounting_record_number,
            acct_application_id: acr.acct_application_id,
            vendor_specific_application_id: acr.vendor_specific_application_id.clone(),
            user_name: acr.user_name.clone(),
            accounting_sub_session_id: acr.accounting_sub_session_id,
            acct_session_id: acr.acct_session_id.clone(),
            acct_multi_session_id: acr.acct_multi_session_id.clone(),
            acct_interim_interval: match acr.accounting_record_type {
                Rt::StartRecord | Rt::InterimRecord if success => c.interim_interval,
                _ => None,
            },
            accounting_realtime_required: c.realtime,
            failed_avp,
            proxy_info: acr.proxy_info.clone(),
            ..Default::default()
        }
    }
}
