//! The embedded default backend: one SQLite file (WAL, `synchronous=FULL`), created with
//! its tables (`migrations/acct/sqlite`) on first start.

use super::sql::{self, Cell, Conn, P};
use super::{apply_sorted, db, Backend, ChargingRecord, StoreError, Stored};
use diameter::dict::base_rfc6733::Acr;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use std::path::Path;

/// The SQLite record store.
pub struct RecordStore {
    conn: Connection,
    node: String,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore").finish_non_exhaustive()
    }
}

struct SqliteConn<'a>(&'a Connection);

fn values(params: &[P<'_>]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            P::Text(s) => Value::Text((*s).to_string()),
            P::OptText(s) => s.map_or(Value::Null, |s| Value::Text(s.to_string())),
            P::Int(i) => Value::Integer(*i),
            P::OptInt(i) => i.map_or(Value::Null, Value::Integer),
        })
        .collect()
}

impl Conn for SqliteConn<'_> {
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db)?;
        Ok(stmt
            .execute(rusqlite::params_from_iter(values(params)))
            .map_err(db)? as u64)
    }

    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values(params)))
            .map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match row.get_ref(i).map_err(db)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Int(v as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Cell::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(cells);
        }
        Ok(out)
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
        Ok(RecordStore {
            conn,
            node: String::new(),
        })
    }

    /// Names the node using the store (its Origin-Host; default empty): sessions it
    /// closes are its to write as JSON lines.
    pub fn node(mut self, origin_host: &str) -> Self {
        self.node = origin_host.to_owned();
        self
    }

    /// Stores `acrs` (each with its arrival time, ms since the epoch) in one transaction.
    pub fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        let out = apply_sorted(&mut SqliteConn(&tx), acrs, &self.node)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// The merged record of a session (closed or not).
    pub fn session(&self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError> {
        sql::read_session(&mut SqliteConn(&self.conn), session_id)
    }

    /// How many records are stored.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        sql::record_count(&mut SqliteConn(&self.conn))
    }
}

impl Backend for RecordStore {
    fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        RecordStore::apply_group(self, acrs)
    }
    fn unexported(&mut self) -> Result<Vec<ChargingRecord>, StoreError> {
        sql::unexported(&mut SqliteConn(&self.conn), &self.node)
    }
    fn mark_exported(&mut self, session_ids: &[String]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        sql::mark_exported(&mut SqliteConn(&tx), session_ids)?;
        tx.commit().map_err(db)
    }
    fn session(&mut self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError> {
        RecordStore::session(self, session_id)
    }
    fn record_count(&mut self) -> Result<u64, StoreError> {
        RecordStore::record_count(self)
    }
}
