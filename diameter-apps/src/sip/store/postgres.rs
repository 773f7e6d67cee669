//! PostgreSQL, for several SIP AAA nodes sharing users and registrations.

use super::rules::{Backend, Records};
use super::sql::{Cell, Conn, P};
use super::StoreError;
use crate::ocs::store::SyncConnector;
use ::postgres::types::{ToSql, Type};
use ::postgres::Client;
use std::sync::Mutex;

/// PostgreSQL-backed [`super::SipStore`]: one connection behind a mutex, reconnected when
/// it was closed.
pub struct PgSipStore {
    connector: SyncConnector,
    client: Mutex<Option<Client>>,
}

impl PgSipStore {
    /// Connects and brings the `sip_*` tables up to date. `url` is a libpq URL
    /// (`postgresql://user@%2Ftmp:5432/db`) or key-value string (`host=/tmp user=postgres`);
    /// TLS with `sslmode` and `sslrootcert`, as for the OCS store
    /// ([`crate::ocs::store::PgStore::connect_with`]).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let connector = SyncConnector::new(url).map_err(StoreError::Config)?;
        let mut client = connector.connect()?;
        // Nodes starting together migrate one after the other (advisory lock 4740).
        crate::migrations::postgres(&mut client, &crate::migrations::SIP_POSTGRES, 4740)
            .map_err(StoreError::Migration)?;
        Ok(PgSipStore {
            connector,
            client: Mutex::new(Some(client)),
        })
    }
}

struct PgConn<'a>(&'a mut Client);

fn boxed(params: &[P<'_>]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                P::Text(s) => Box::new((*s).to_string()),
                P::OptText(s) => Box::new(s.map(str::to_string)),
                P::Int(i) => Box::new(*i),
                P::Blob(b) => Box::new(b.to_vec()),
            }
        })
        .collect()
}

impl Conn for PgConn<'_> {
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        Ok(self.0.execute(sql, &refs)?)
    }

    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        let mut out = Vec::new();
        for row in self.0.query(sql, &refs)? {
            let mut cells = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let t = col.type_();
                let cell = if *t == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
                } else if *t == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)?
                        .map(|v| Cell::Int(v.into()))
                } else if *t == Type::BYTEA {
                    row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Blob)
                } else {
                    row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        Ok(self.0.batch_execute("BEGIN")?)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        Ok(self
            .0
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(self.0.batch_execute("COMMIT")?)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        Ok(self.0.batch_execute("ROLLBACK")?)
    }
}

impl Backend for PgSipStore {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.client.lock().unwrap_or_else(|e| {
            // A panic inside an operation may have left a transaction open: start afresh.
            self.client.clear_poison();
            let mut guard = e.into_inner();
            *guard = None;
            guard
        });
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connector.connect()?);
        }
        match guard.as_mut() {
            Some(client) => f(&mut PgConn(client)),
            None => Err(StoreError::Config("no postgres connection".into())),
        }
    }
}
