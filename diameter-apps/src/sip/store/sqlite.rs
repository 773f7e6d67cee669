//! The embedded default: one SQLite file (WAL), created with its tables on first start.

use super::rules::{Backend, Records};
use super::sql::{Cell, Conn, P};
use super::StoreError;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use std::sync::Mutex;

/// SQLite-backed [`super::SipStore`]: one connection behind a mutex; writes are
/// `BEGIN IMMEDIATE` transactions, so several processes may share the file.
pub struct SqliteSipStore {
    conn: Mutex<Connection>,
}

impl SqliteSipStore {
    /// Opens (or creates) the database file and brings the `sip_*` tables up to date.
    pub fn open(path: &str) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        crate::migrations::sqlite_wal(&conn)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests and examples).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        crate::migrations::sqlite(
            &mut conn,
            &crate::migrations::SIP_SQLITE,
            crate::migrations::no_baseline,
        )
        .map_err(StoreError::Migration)?;
        Ok(SqliteSipStore {
            conn: Mutex::new(conn),
        })
    }
}

struct SqliteConn<'a>(&'a mut Connection);

fn values(params: &[P<'_>]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            P::Text(s) => Value::Text((*s).to_string()),
            P::OptText(Some(s)) => Value::Text((*s).to_string()),
            P::OptText(None) => Value::Null,
            P::Int(i) => Value::Integer(*i),
            P::Blob(b) => Value::Blob(b.to_vec()),
        })
        .collect()
}

impl Conn for SqliteConn<'_> {
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(values(params)))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(values(params)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Int(v as i64),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                });
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        Ok(self.0.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        Ok(self.0.execute_batch("BEGIN DEFERRED")?)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(self.0.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        Ok(self.0.execute_batch("ROLLBACK")?)
    }
}

impl Backend for SqliteSipStore {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !guard.is_autocommit() {
            // A panic inside an operation left its transaction open: undo it.
            guard.execute_batch("ROLLBACK")?;
        }
        f(&mut SqliteConn(&mut guard))
    }
}
