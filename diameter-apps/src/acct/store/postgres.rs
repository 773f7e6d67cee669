//! PostgreSQL, for several accounting server nodes on one database
//! (`migrations/acct/postgres`). The rules are [`super::sql`]'s; a group that loses a
//! deadlock or serialization race against another node is rolled back and run again.

use super::sql::{self, Cell, Conn, P};
use super::{apply_sorted, db, Backend, ChargingRecord, StoreError, Stored};
use crate::ocs::store::SyncConnector;
use ::postgres::error::SqlState;
use ::postgres::types::{ToSql, Type};
use ::postgres::Client;
use diameter::dict::base_rfc6733::Acr;

/// Advisory lock taken while migrating, so nodes starting together migrate in turn.
const MIGRATION_LOCK: i64 = 6733;

/// How many times a group is run when it loses a race against another node.
const GROUP_ATTEMPTS: usize = 3;

/// The PostgreSQL record store: one connection, reconnected when it was closed.
pub struct PgRecordStore {
    connector: SyncConnector,
    client: Option<Client>,
    node: String,
}

impl std::fmt::Debug for PgRecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRecordStore").finish_non_exhaustive()
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
                P::OptInt(i) => Box::new(*i),
            }
        })
        .collect()
}

impl Conn for PgConn<'_> {
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        self.0.execute(sql, &refs).map_err(pg)
    }

    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        let mut out = Vec::new();
        for row in self.0.query(sql, &refs).map_err(pg)? {
            let mut cells = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let cell = if *col.type_() == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i).map_err(pg)?.map(Cell::Int)
                } else if *col.type_() == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(pg)?
                        .map(|v| Cell::Int(v.into()))
                } else {
                    row.try_get::<_, Option<String>>(i)
                        .map_err(pg)?
                        .map(Cell::Text)
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            out.push(cells);
        }
        Ok(out)
    }
}

/// A PostgreSQL error, marked when running the group again may succeed.
fn pg(e: ::postgres::Error) -> StoreError {
    let retry = matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    );
    let text = match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        // With the cause (a TLS handshake's, a connection's), which `Display` leaves out.
        None => match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    };
    StoreError(if retry {
        format!("{RETRY}{text}")
    } else {
        text
    })
}

const RETRY: &str = "retry: ";

impl PgRecordStore {
    /// Connects and brings the `acct_*` tables up to date. `url` is a libpq URL
    /// (`postgresql://user@%2Ftmp:5432/db`) or key-value string; TLS with `sslmode` and
    /// `sslrootcert`, as for the OCS store ([`crate::ocs::store::PgStore::connect_with`]).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let connector = SyncConnector::new(url).map_err(db)?;
        let mut client = connector.connect().map_err(pg)?;
        crate::migrations::postgres(
            &mut client,
            &crate::migrations::ACCT_POSTGRES,
            MIGRATION_LOCK,
        )
        .map_err(StoreError)?;
        Ok(PgRecordStore {
            connector,
            client: Some(client),
            node: String::new(),
        })
    }

    /// Names the node using the store (its Origin-Host; default empty): sessions it
    /// closes are its to write as JSON lines.
    pub fn node(mut self, origin_host: &str) -> Self {
        self.node = origin_host.to_owned();
        self
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connector.connect().map_err(pg)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| db("no postgres connection"))
    }

    fn group_once(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        let node = self.node.clone();
        let client = self.client()?;
        client.batch_execute("BEGIN").map_err(pg)?;
        let out = apply_sorted(&mut PgConn(client), acrs, &node)
            .and_then(|out| client.batch_execute("COMMIT").map_err(pg).map(|_| out));
        if out.is_err() {
            let _ = client.batch_execute("ROLLBACK");
        }
        out
    }
}

impl Backend for PgRecordStore {
    fn apply_group(&mut self, acrs: &[(Acr, i64)]) -> Result<Vec<Stored>, StoreError> {
        let mut attempt = 1;
        loop {
            match self.group_once(acrs) {
                Err(e) if e.0.starts_with(RETRY) && attempt < GROUP_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    fn unexported(&mut self) -> Result<Vec<ChargingRecord>, StoreError> {
        let node = self.node.clone();
        sql::unexported(&mut PgConn(self.client()?), &node)
    }

    fn mark_exported(&mut self, session_ids: &[String]) -> Result<(), StoreError> {
        let client = self.client()?;
        client.batch_execute("BEGIN").map_err(pg)?;
        let out = sql::mark_exported(&mut PgConn(client), session_ids)
            .and_then(|_| client.batch_execute("COMMIT").map_err(pg));
        if out.is_err() {
            let _ = client.batch_execute("ROLLBACK");
        }
        out
    }

    fn session(&mut self, session_id: &str) -> Result<Option<ChargingRecord>, StoreError> {
        sql::read_session(&mut PgConn(self.client()?), session_id)
    }

    fn record_count(&mut self) -> Result<u64, StoreError> {
        sql::record_count(&mut PgConn(self.client()?))
    }
}
