//! The accounting server's record store (SQLite): every accepted record exactly once, and
//! one charging record per accounting session, merged from its START, INTERIMs and STOP
//! (or one EVENT).
//!
//! [`RecordStore::apply_group`] writes many ACRs in one transaction (one commit, one fsync);
//! [`GroupCommit`] runs a store on a committer thread and groups every ACR that arrives
//! while the previous commit is in progress, so the answer to each ACR is sent only after
//! its record is durable. A record already stored (same Session-Id, Accounting-Record-Type
//! and Accounting-Record-Number) changes nothing and is reported as a duplicate.
//!
//! Volumes are the cumulative Accounting-Input-Octets (363) and Accounting-Output-Octets
//! (364) of RFC 7155, when the client sends them; the session keeps the largest value seen.

use diameter::dict::base_rfc6733::{AccountingRecordType as Rt, Acr};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Accounting-Input-Octets (RFC 7155 §10.2).
const ACCOUNTING_INPUT_OCTETS: u32 = 363;
/// Accounting-Output-Octets (RFC 7155 §10.2).
const ACCOUNTING_OUTPUT_OCTETS: u32 = 364;

/// Default largest group of ACRs committed together.
pub const DEFAULT_MAX_GROUP: usize = 256;

/// The store failed.
#[derive(Debug, thiserror::Error)]
#[error("accounting store: {0}")]
pub struct StoreError(String);

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// One accounting session's merged record, written when it closes (STOP or EVENT).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChargingRecord {
    /// Session-Id.
    pub session_id: String,
    /// Origin-Host of the client.
    pub origin_host: String,
    /// User-Name, if sent.
    pub user_name: Option<String>,
    /// `session` (START..STOP) or `event`.
    pub kind: &'static str,
    /// When the first record arrived (ms since the Unix epoch).
    pub first_ms: i64,
    /// When the last record arrived (ms since the Unix epoch).
    pub last_ms: i64,
    /// Duration in seconds: STOP minus START when both arrived, else last minus first.
    pub duration_s: f64,
    /// Number of records merged.
    pub records: i64,
    /// Largest Accounting-Input-Octets seen.
    pub input_octets: u64,
    /// Largest Accounting-Output-Octets seen.
    pub output_octets: u64,
    /// Rf: the first Service-Context-Id sent (TS 32.299 §6.2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_context_id: Option<String>,
    /// Rf: the Service-Information of the highest-numbered record that carried one, as
    /// JSON (see [`super::avp_json`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_information: Option<serde_json::Value>,
}

/// What storing one ACR did.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// A new record; `Some` when it closed its session.
    New(Option<ChargingRecord>),
    /// Already stored; nothing changed.
    Duplicate,
}

/// The Rf Service-Information of `acr` as JSON text.
fn service_information(acr: &Acr) -> Option<String> {
    acr.service_information
        .as_deref()
        .map(|si| super::avp_json::group_to_json(si).to_string())
}

fn octets(acr: &Acr, code: u32) -> Option<u64> {
    acr.other
        .iter()
        .find(|a| a.code == code && a.vendor == 0)
        .and_then(|a| <[u8; 8]>::try_from(&a.data[..]).ok())
        .map(u64::from_be_bytes)
}

/// The SQLite record store (tables of `migrations/acct/sqlite`).
pub struct RecordStore {
    conn: Connection,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore").finish_non_exhaustive()
    }
}

impl RecordStore {
    /// Opens (creating and migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(db)?;
        crate::migrations::sqlite_wal(&conn).map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        crate::migrations::sqlite(
            &mut conn,
            &crate::migrations::ACCT_SQLITE,
            crate::migrations::no_baseline,
        )
        .map_err(StoreError)?;
        Ok(RecordStore { conn })
    }

    /// Stores `acrs` (each with its arrival time, ms since the epoch) in one transaction.
    pub fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        let mut out = Vec::with_capacity(acrs.len());
        for (acr, now_ms) in acrs {
            out.push(apply_one(&tx, acr, *now_ms)?);
        }
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// The merged record of a session (closed or not).
    pub fn session(&self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError> {
        read_session(&self.conn, session_id)
    }

    /// How many records are stored.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM acct_records", [], |r| r.get(0))
            .map_err(db)?;
        Ok(n as u64)
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, acr: &Acr, now_ms: i64) -> Result<Stored, StoreError> {
    let sid = acr.session_id.as_str();
    let kind = acr.accounting_record_type;
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO acct_records (session_id, record_type, record_number, received_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![sid, i32::from(kind), acr.accounting_record_number, now_ms],
        )
        .map_err(db)?;
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    let start = (kind == Rt::StartRecord).then_some(now_ms);
    let stop = matches!(kind, Rt::StopRecord | Rt::EventRecord).then_some(now_ms);
    let closes = stop.is_some();
    let input = octets(acr, ACCOUNTING_INPUT_OCTETS).unwrap_or(0) as i64;
    let output = octets(acr, ACCOUNTING_OUTPUT_OCTETS).unwrap_or(0) as i64;
    let si = service_information(acr);
    let si_number = si.as_ref().map(|_| acr.accounting_record_number);
    tx.execute(
        "INSERT INTO acct_sessions (session_id, origin_host, user_name, first_ms, last_ms,
             start_ms, stop_ms, records, input_octets, output_octets, closed,
             service_context_id, service_information, service_information_number)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (session_id) DO UPDATE SET
             user_name = COALESCE(acct_sessions.user_name, excluded.user_name),
             first_ms = MIN(acct_sessions.first_ms, excluded.first_ms),
             last_ms = MAX(acct_sessions.last_ms, excluded.last_ms),
             start_ms = COALESCE(acct_sessions.start_ms, excluded.start_ms),
             stop_ms = COALESCE(acct_sessions.stop_ms, excluded.stop_ms),
             records = acct_sessions.records + 1,
             input_octets = MAX(acct_sessions.input_octets, excluded.input_octets),
             output_octets = MAX(acct_sessions.output_octets, excluded.output_octets),
             closed = MAX(acct_sessions.closed, excluded.closed),
             service_context_id = COALESCE(acct_sessions.service_context_id,
                 excluded.service_context_id),
             service_information = CASE WHEN excluded.service_information IS NOT NULL
                 AND (acct_sessions.service_information_number IS NULL
                     OR excluded.service_information_number
                         > acct_sessions.service_information_number)
                 THEN excluded.service_information ELSE acct_sessions.service_information END,
             service_information_number = CASE WHEN excluded.service_information IS NOT NULL
                 AND (acct_sessions.service_information_number IS NULL
                     OR excluded.service_information_number
                         > acct_sessions.service_information_number)
                 THEN excluded.service_information_number
                 ELSE acct_sessions.service_information_number END",
        params![
            sid,
            acr.origin_host.as_str(),
            acr.user_name.as_ref().map(|u| u.as_str()),
            now_ms,
            start,
            stop,
            input,
            output,
            closes as i64,
            acr.service_context_id.as_ref().map(|c| c.as_str()),
            si,
            si_number,
        ],
    )
    .map_err(db)?;
    if !closes {
        return Ok(Stored::New(None));
    }
    let mut rec = read_session(tx, sid)?;
    if let Some(r) = &mut rec {
        if kind == Rt::EventRecord {
            r.kind = "event";
        }
    }
    Ok(Stored::New(rec))
}

fn read_session(conn: &Connection, sid: &str) -> Result<Option<ChargingRecord>, StoreError> {
    conn.query_row(
        "SELECT origin_host, user_name, first_ms, last_ms, start_ms, stop_ms, records,
                input_octets, output_octets, service_context_id, service_information
         FROM acct_sessions WHERE session_id = ?1",
        params![sid],
        |r| {
            let first_ms: i64 = r.get(2)?;
            let last_ms: i64 = r.get(3)?;
            let start: Option<i64> = r.get(4)?;
            let stop: Option<i64> = r.get(5)?;
            let span = match (start, stop) {
                (Some(a), Some(b)) => b - a,
                _ => last_ms - first_ms,
            };
            Ok(ChargingRecord {
                session_id: sid.into(),
                origin_host: r.get(0)?,
                user_name: r.get(1)?,
                kind: if start.is_some() { "session" } else { "event" },
                first_ms,
                last_ms,
                duration_s: span.max(0) as f64 / 1000.0,
                records: r.get(6)?,
                input_octets: r.get::<_, i64>(7)? as u64,
                output_octets: r.get::<_, i64>(8)? as u64,
                service_context_id: r.get(9)?,
                service_information: r
                    .get::<_, Option<String>>(10)?
                    .and_then(|t| serde_json::from_str(&t).ok()),
            })
        },
    )
    .optional()
    .map_err(db)
}

struct Job {
    acr: Acr,
    now_ms: i64,
    reply: SyncSender<Result<Stored, String>>,
}

/// A [`RecordStore`] on a committer thread that commits ACRs in groups (see the module
/// docs). Dropping it stops the thread once the queued ACRs are done.
#[derive(Debug)]
pub struct GroupCommit {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the committer; at most `max_group` ACRs share one transaction.
    pub fn new(store: RecordStore, max_group: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("acct-commit".into())
            .spawn(move || committer(store, rx, max_group.max(1)))
            .ok();
        GroupCommit {
            jobs: Some(tx),
            thread,
        }
    }

    /// Stores one ACR; returns once it is committed (blocking).
    pub fn apply(&self, acr: Acr, now_ms: i64) -> Result<Stored, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job { acr, now_ms, reply };
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| StoreError("committer stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError("committer stopped".into()))?
            .map_err(StoreError)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn committer(mut store: RecordStore, rx: Receiver<Job>, max_group: usize) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_group {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let acrs: Vec<(Acr, i64)> = jobs.iter().map(|j| (j.acr.clone(), j.now_ms)).collect();
        match store.apply_group(&acrs) {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(r));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter_core::bytes::Bytes;
    use diameter_core::RawAvp;

    fn acr(sid: &str, kind: Rt, n: u32, input: Option<u64>) -> Acr {
        Acr {
            session_id: sid.into(),
            origin_host: "sbc.example.net".into(),
            origin_realm: "example.net".into(),
            destination_realm: "example.net".into(),
            accounting_record_type: kind,
            accounting_record_number: n,
            user_name: Some("alice".into()),
            other: input
                .map(|v| {
                    vec![RawAvp::new(
                        ACCOUNTING_INPUT_OCTETS,
                        0x40,
                        0,
                        Bytes::copy_from_slice(&v.to_be_bytes()),
                    )]
                })
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn start_interim_stop_merge_into_one_record_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RecordStore::open(&dir.path().join("acct.db")).unwrap();
        let out = s
            .apply_group(&[
                (acr("s1", Rt::StartRecord, 0, None), 1_000),
                (acr("s1", Rt::InterimRecord, 1, Some(500)), 31_000),
                (acr("s1", Rt::InterimRecord, 1, Some(500)), 31_500),
            ])
            .unwrap();
        assert_eq!(
            out,
            vec![Stored::New(None), Stored::New(None), Stored::Duplicate]
        );
        let out = s
            .apply_group(&[(acr("s1", Rt::StopRecord, 2, Some(900)), 61_000)])
            .unwrap();
        let Stored::New(Some(rec)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(rec.kind, "session");
        assert_eq!(rec.records, 3);
        assert_eq!(rec.duration_s, 60.0);
        assert_eq!(rec.input_octets, 900);
        assert_eq!(rec.user_name.as_deref(), Some("alice"));
        assert_eq!(s.record_count().unwrap(), 3);
        // A late interim with a lower cumulative volume does not lower it.
        let dup = s
            .apply_group(&[(acr("s1", Rt::StopRecord, 2, Some(900)), 62_000)])
            .unwrap();
        assert_eq!(dup, vec![Stored::Duplicate]);
        assert_eq!(s.session("s1").unwrap().unwrap().records, 3);
    }

    #[test]
    fn rf_service_information_of_the_highest_record_is_kept_as_json() {
        use diameter::dict::tgpp_ts32299::{ImsInformation, NodeFunctionality, ServiceInformation};
        let rf = |node: NodeFunctionality| {
            Some(Box::new(ServiceInformation {
                ims_information: Some(Box::new(ImsInformation {
                    node_functionality: node,
                    ..Default::default()
                })),
                ..Default::default()
            }))
        };
        let dir = tempfile::tempdir().unwrap();
        let mut s = RecordStore::open(&dir.path().join("acct.db")).unwrap();
        let mut start = acr("rf", Rt::StartRecord, 0, None);
        start.service_context_id = Some("32260@3gpp.org".into());
        start.service_information = rf(NodeFunctionality::PCscf);
        let mut stop = acr("rf", Rt::StopRecord, 2, None);
        stop.service_information = rf(NodeFunctionality::SCscf);
        // The interim (number 1) comes last, from a client's storage: it does not win.
        let mut interim = acr("rf", Rt::InterimRecord, 1, None);
        interim.service_information = rf(NodeFunctionality::ICscf);
        s.apply_group(&[(start, 1_000), (stop, 2_000), (interim, 3_000)])
            .unwrap();
        let rec = s.session("rf").unwrap().unwrap();
        assert_eq!(rec.service_context_id.as_deref(), Some("32260@3gpp.org"));
        let si = rec.service_information.clone().expect("kept");
        assert_eq!(
            si["IMS-Information"]["Node-Functionality"], "S_CSCF",
            "{si}"
        );
        let line = serde_json::to_value(&rec).unwrap();
        assert_eq!(line["service_context_id"], "32260@3gpp.org");
        // A base accounting record has neither key.
        s.apply_group(&[(acr("base", Rt::EventRecord, 0, None), 5)])
            .unwrap();
        let base = serde_json::to_value(s.session("base").unwrap().unwrap()).unwrap();
        assert!(base.get("service_information").is_none(), "{base}");
    }

    #[test]
    fn an_event_is_a_closed_record_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acct.db");
        {
            let gc = GroupCommit::new(RecordStore::open(&path).unwrap(), 8);
            let Stored::New(Some(rec)) = gc.apply(acr("e1", Rt::EventRecord, 0, None), 5).unwrap()
            else {
                panic!()
            };
            assert_eq!(rec.kind, "event");
            assert_eq!(rec.duration_s, 0.0);
        }
        let s = RecordStore::open(&path).unwrap();
        assert_eq!(s.record_count().unwrap(), 1);
    }

    #[test]
    fn concurrent_acrs_share_commits_and_each_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acct.db");
        let gc = std::sync::Arc::new(GroupCommit::new(RecordStore::open(&path).unwrap(), 64));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let gc = gc.clone();
                std::thread::spawn(move || {
                    for n in 0..20u32 {
                        // Every record twice: the second is a duplicate.
                        for _ in 0..2 {
                            let kind = if n == 0 {
                                Rt::StartRecord
                            } else {
                                Rt::InterimRecord
                            };
                            gc.apply(acr(&format!("s{t}"), kind, n, None), 1).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(gc);
        assert_eq!(
            RecordStore::open(&path).unwrap().record_count().unwrap(),
            160
        );
    }
}
