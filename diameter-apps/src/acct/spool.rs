//! Local storage of accounting records a client could not deliver, and their later
//! delivery with the T flag (RFC 6733 §8.2 state PendingB, §9.4).
//!
//! A [`Spool`] keeps records in arrival order: [`MemorySpool`] (bounded, lost on exit) or
//! [`SqliteSpool`] (durable: a record is on disk when [`Spool::push`] returns).
//! [`Redelivery`] is the sans-IO sender: while the spool holds records it sends the oldest,
//! deletes it on any non-transient answer, and on a failure to send waits
//! [`Redelivery::retry_interval`] before trying again.

use super::client::{transient_failure, AcrRequest};
use diameter::dict::base_rfc6733::{Aca, Acr};
use diameter_core::bytes::{Bytes, BytesMut};
use diameter_core::AvpGroup;
#[cfg(feature = "sqlite")]
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::VecDeque;
#[cfg(feature = "sqlite")]
use std::path::Path;
use std::time::{Duration, Instant};

/// A spool failed (its database).
#[derive(Debug, thiserror::Error)]
#[error("accounting spool: {0}")]
pub struct SpoolError(String);

/// Records kept for later delivery, oldest first, each with an id.
pub trait Spool {
    /// Keeps `acr`; false when there is no room (then it is not kept).
    fn push(&mut self, acr: &Acr) -> Result<bool, SpoolError>;
    /// The oldest record and its id.
    fn oldest(&mut self) -> Result<Option<(u64, Acr)>, SpoolError>;
    /// Deletes a record (delivered, or refused by the server).
    fn remove(&mut self, id: u64) -> Result<(), SpoolError>;
    /// How many records are kept.
    fn len(&self) -> Result<usize, SpoolError>;
    /// Whether another record fits.
    fn has_room(&self) -> Result<bool, SpoolError>;
    /// Whether no record is kept.
    fn is_empty(&self) -> Result<bool, SpoolError> {
        Ok(self.len()? == 0)
    }
}

/// A spool in memory, holding at most `capacity` records.
#[derive(Debug)]
pub struct MemorySpool {
    capacity: usize,
    next_id: u64,
    records: VecDeque<(u64, Acr)>,
}

impl MemorySpool {
    /// An empty spool for at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        MemorySpool {
            capacity,
            next_id: 1,
            records: VecDeque::new(),
        }
    }
}

impl Spool for MemorySpool {
    fn push(&mut self, acr: &Acr) -> Result<bool, SpoolError> {
        if self.records.len() >= self.capacity {
            return Ok(false);
        }
        self.records.push_back((self.next_id, acr.clone()));
        self.next_id += 1;
        Ok(true)
    }
    fn oldest(&mut self) -> Result<Option<(u64, Acr)>, SpoolError> {
        Ok(self.records.front().cloned())
    }
    fn remove(&mut self, id: u64) -> Result<(), SpoolError> {
        self.records.retain(|(i, _)| *i != id);
        Ok(())
    }
    fn len(&self) -> Result<usize, SpoolError> {
        Ok(self.records.len())
    }
    fn has_room(&self) -> Result<bool, SpoolError> {
        Ok(self.records.len() < self.capacity)
    }
}

#[cfg(feature = "sqlite")]
/// A durable spool in a SQLite file (table `acct_spool`, refinery migrations under
/// `migrations/acct/sqlite`), holding at most `capacity` records.
pub struct SqliteSpool {
    conn: Connection,
    capacity: usize,
}

#[cfg(feature = "sqlite")]
impl std::fmt::Debug for SqliteSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSpool")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "sqlite")]
fn db(e: impl std::fmt::Display) -> SpoolError {
    SpoolError(e.to_string())
}

#[cfg(feature = "sqlite")]
impl SqliteSpool {
    /// Opens (creating and migrating) the spool at `path`.
    pub fn open(path: &Path, capacity: usize) -> Result<Self, SpoolError> {
        let mut conn = Connection::open(path).map_err(db)?;
        crate::migrations::sqlite_wal(&conn).map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        crate::migrations::sqlite(
            &mut conn,
            &crate::migrations::ACCT_SQLITE,
            crate::migrations::no_baseline,
        )
        .map_err(SpoolError)?;
        Ok(SqliteSpool { conn, capacity })
    }
}

#[cfg(feature = "sqlite")]
impl Spool for SqliteSpool {
    fn push(&mut self, acr: &Acr) -> Result<bool, SpoolError> {
        if !self.has_room()? {
            return Ok(false);
        }
        let mut buf = BytesMut::new();
        acr.encode_avps(&mut buf);
        self.conn
            .execute(
                "INSERT INTO acct_spool (session_id, record) VALUES (?1, ?2)",
                params![acr.session_id.as_str(), &buf[..]],
            )
            .map_err(db)?;
        Ok(true)
    }
    fn oldest(&mut self) -> Result<Option<(u64, Acr)>, SpoolError> {
        loop {
            let row: Option<(i64, Vec<u8>)> = self
                .conn
                .query_row(
                    "SELECT id, record FROM acct_spool ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((id, bytes)) = row else {
                return Ok(None);
            };
            match Acr::decode_payload(&Bytes::from(bytes)) {
                Ok(acr) => return Ok(Some((id as u64, acr))),
                // A record this build cannot read would block the queue forever.
                Err(e) => {
                    tracing::warn!(id, error = %e, "dropping unreadable spooled accounting record");
                    self.remove(id as u64)?;
                }
            }
        }
    }
    fn remove(&mut self, id: u64) -> Result<(), SpoolError> {
        self.conn
            .execute("DELETE FROM acct_spool WHERE id = ?1", params![id as i64])
            .map_err(db)?;
        Ok(())
    }
    fn len(&self) -> Result<usize, SpoolError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM acct_spool", [], |r| r.get(0))
            .map_err(db)?;
        Ok(n as usize)
    }
    fn has_room(&self) -> Result<bool, SpoolError> {
        Ok(self.len()? < self.capacity)
    }
}

/// Sends stored records one at a time (RFC 6733 §8.2 PendingB); see the module docs.
#[derive(Debug)]
pub struct Redelivery {
    destination_host: Option<String>,
    answer_timeout: Duration,
    retry_interval: Duration,
    pending: Option<(u64, Acr, Instant)>,
    retry_at: Option<Instant>,
}

impl Redelivery {
    /// Sends to `destination_host` (None: by realm), waits `answer_timeout` for each answer
    /// and `retry_interval` after a failure to send.
    pub fn new(
        destination_host: Option<String>,
        answer_timeout: Duration,
        retry_interval: Duration,
    ) -> Self {
        Redelivery {
            destination_host,
            answer_timeout,
            retry_interval,
            pending: None,
            retry_at: None,
        }
    }

    /// How long to wait after a failure to send before the next attempt.
    pub fn retry_interval(&self) -> Duration {
        self.retry_interval
    }

    /// Sends to this host from now on (a failover).
    pub fn set_destination_host(&mut self, host: Option<String>) {
        self.destination_host = host;
    }

    /// Whether a stored record is out awaiting its answer.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The next record to send (T flag set), if none is outstanding, the spool holds one
    /// and no retry wait is running.
    pub fn poll_send(
        &mut self,
        spool: &mut dyn Spool,
        now: Instant,
    ) -> Result<Option<AcrRequest>, SpoolError> {
        if self.pending.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return Ok(None);
        }
        self.retry_at = None;
        let Some((id, mut acr)) = spool.oldest()? else {
            return Ok(None);
        };
        acr.destination_host = self.destination_host.as_deref().map(Into::into);
        self.pending = Some((id, acr.clone(), now + self.answer_timeout));
        Ok(Some(AcrRequest {
            acr,
            destination_host: self.destination_host.clone(),
            retransmit: true,
        }))
    }

    /// When [`Redelivery::handle_timeout`] (or [`Redelivery::poll_send`]) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.pending {
            Some((_, _, deadline)) => Some(*deadline),
            None => self.retry_at,
        }
    }

    /// A missing answer counts as a failure to send.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.pending.as_ref().is_some_and(|p| now >= p.2) {
            self.on_failure(now);
        }
    }

    /// The answer to the outstanding record: deleted unless the failure was transient.
    pub fn on_aca(
        &mut self,
        spool: &mut dyn Spool,
        aca: &Aca,
        now: Instant,
    ) -> Result<(), SpoolError> {
        let matches = self.pending.as_ref().is_some_and(|(_, acr, _)| {
            acr.session_id.as_str() == aca.session_id.as_str()
                && acr.accounting_record_number == aca.accounting_record_number
                && acr.accounting_record_type == aca.accounting_record_type
        });
        if !matches {
            return Ok(());
        }
        if transient_failure(aca.result_code) {
            self.on_failure(now);
            return Ok(());
        }
        if let Some((id, _, _)) = self.pending.take() {
            spool.remove(id)?;
        }
        Ok(())
    }

    /// The outstanding record could not be delivered: it stays stored; retry later.
    pub fn on_failure(&mut self, now: Instant) {
        if self.pending.take().is_some() {
            self.retry_at = Some(now + self.retry_interval);
        }
    }
}
