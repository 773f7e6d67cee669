//! The accounting server's record store: every accepted record exactly once, and one
//! charging record per accounting session, merged from its START, INTERIMs and STOP (or
//! one EVENT). The rules are written once (`sql`) over two thin backends: SQLite
//! ([`RecordStore`], embedded default) and PostgreSQL ([`PgRecordStore`], several nodes
//! on one database).
//!
//! [`Backend::apply_group`] writes many ACRs in one transaction (one commit, one fsync);
//! [`GroupCommit`] runs a backend on a committer thread and groups every ACR that arrives
//! while the previous commit is in progress, so the answer to each ACR is sent only after
//! its record is durable. A record already stored (same Session-Id, Accounting-Record-Type
//! and Accounting-Record-Number) changes nothing and is reported as a duplicate, also
//! when another node stored it.
//!
//! Volumes are the cumulative Accounting-Input-Octets (363) and Accounting-Output-Octets
//! (364) of RFC 7155, when the client sends them; the session keeps the largest value seen.

#[cfg(feature = "postgres")]
mod postgres;
mod sql;
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PgRecordStore;
pub use sqlite::RecordStore;

use diameter::dict::base_rfc6733::Acr;
use std::sync::mpsc::{self, Receiver, SyncSender};

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
#[allow(clippy::large_enum_variant)] // the common case carries the record
pub enum Stored {
    /// A new record; `Some` when it closed its session.
    New(Option<ChargingRecord>),
    /// Already stored; nothing changed.
    Duplicate,
}

/// A record store backend (the same rules on every database).
pub trait Backend: Send {
    /// Stores `acrs` (each with its arrival time, ms since the epoch) in one transaction;
    /// one result per ACR, in order.
    fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError>;
    /// The closed sessions of this node (see [`RecordStore::node`]) whose JSON line is
    /// not marked written, oldest first.
    fn unexported(&mut self) -> Result<Vec<ChargingRecord>, StoreError>;
    /// Marks these sessions' JSON lines as written (one transaction).
    fn mark_exported(&mut self, session_ids: &[String]) -> Result<(), StoreError>;
    /// The merged record of a session (closed or not).
    fn session(&mut self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError>;
    /// How many records are stored.
    fn record_count(&mut self) -> Result<u64, StoreError>;
}

/// Opens the store a URL names: `sqlite://PATH` or `postgresql://…` / `postgres://…`
/// (libpq URL), for the node `node` (its Origin-Host: the sessions it closes are the
/// ones whose JSON lines it writes).
pub fn open_url(url: &str, node: &str) -> Result<Box<dyn Backend>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = RecordStore::open(std::path::Path::new(path))?.node(node);
        return Ok(Box::new(store));
    }
    if is_postgres_url(url) {
        #[cfg(feature = "postgres")]
        return Ok(Box::new(PgRecordStore::connect(url)?.node(node)));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError(
            "the postgres store backend is not compiled in (diameter-apps feature `postgres`)"
                .into(),
        ));
    }
    Err(StoreError(format!(
        "unsupported store URL {} (use sqlite://FILE or postgresql://…)",
        crate::redact::store_url(url)
    )))
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgresql://") || url.starts_with("postgres://")
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        (**self).apply_group(acrs)
    }
    fn unexported(&mut self) -> Result<Vec<ChargingRecord>, StoreError> {
        (**self).unexported()
    }
    fn mark_exported(&mut self, session_ids: &[String]) -> Result<(), StoreError> {
        (**self).mark_exported(session_ids)
    }
    fn session(&mut self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError> {
        (**self).session(session_id)
    }
    fn record_count(&mut self) -> Result<u64, StoreError> {
        (**self).record_count()
    }
}

/// Applies a group in lock order inside the caller's transaction; results in the
/// group's order.
fn apply_sorted(
    c: &mut dyn sql::Conn,
    acrs: &[(Acr, i64)],
    node: &str,
) -> Result<Vec<Stored>, StoreError> {
    let mut out: Vec<Option<Stored>> = vec![None; acrs.len()];
    for i in sql::lock_order(acrs) {
        let (acr, now_ms) = &acrs[i];
        out[i] = Some(sql::apply_one(c, acr, *now_ms, node)?);
    }
    Ok(out
        .into_iter()
        .map(|s| s.unwrap_or(Stored::Duplicate))
        .collect())
}

#[allow(clippy::large_enum_variant)] // nearly every job carries an ACR
enum Job {
    /// Store an ACR and answer.
    Apply {
        acr: Acr,
        now_ms: i64,
        reply: SyncSender<Result<Stored, String>>,
    },
    /// A session's JSON line was written.
    Exported(String),
}

/// A [`Backend`] on a committer thread that commits ACRs in groups (see the module
/// docs). Dropping it stops the thread once the queued ACRs are done.
#[derive(Debug)]
pub struct GroupCommit {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the committer; at most `max_group` ACRs share one transaction.
    pub fn new(store: impl Backend + 'static, max_group: usize) -> Self {
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
        let job = Job::Apply { acr, now_ms, reply };
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

impl GroupCommit {
    /// Marks a session's JSON line as written, with the next group (does not wait).
    pub fn mark_exported(&self, session_id: &str) {
        if let Some(j) = &self.jobs {
            let _ = j.send(Job::Exported(session_id.to_owned()));
        }
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

fn committer(mut store: impl Backend, rx: Receiver<Job>, max_group: usize) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_group {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut acrs = Vec::new();
        let mut replies = Vec::new();
        let mut exported = Vec::new();
        for job in jobs {
            match job {
                Job::Apply { acr, now_ms, reply } => {
                    acrs.push((acr, now_ms));
                    replies.push(reply);
                }
                Job::Exported(sid) => exported.push(sid),
            }
        }
        if !exported.is_empty() {
            // Not marked: the line is written again (once) at the next start.
            if let Err(e) = store.mark_exported(&exported) {
                tracing::warn!(error = %e, "acct: cannot mark records as exported");
            }
        }
        if acrs.is_empty() {
            continue;
        }
        match store.apply_group(&acrs) {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
