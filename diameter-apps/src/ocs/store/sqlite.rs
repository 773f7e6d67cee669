//! The embedded default store: one SQLite file in WAL mode, created on first start.

use super::batch::{self, Batch, BatchOutcome, SessionRow, Tx};
use super::{
    Account, AccountId, ExpiredSession, IdKind, LedgerTotals, NewAccount, Store, StoreError,
    SubscriberId,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::{Arc, Mutex, MutexGuard};

/// The writing connection's page cache, in KiB (64 MiB; a bound, not a reservation).
pub const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// SQLite-backed [`Store`]. One writing connection behind a mutex; every batch (or group
/// of batches, [`Store::apply_group`]) is a `BEGIN IMMEDIATE` transaction, so several
/// processes may share the file as well. A file database has a second, read-only
/// connection for the look-ups that change nothing (accounts, sessions, saved requests),
/// so they never wait behind a commit (WAL readers see every committed transaction).
///
/// Durability: WAL with `synchronous=FULL`, so the WAL is synced at every commit, and a
/// commit that returned survives a process crash and a power loss. (`NORMAL` would keep
/// commits across a process crash, SIGKILL included, but could lose the last ones on a power
/// loss: not enough for an answer that reflects a charge.)
pub struct SqliteStore {
    conn: Mutex<Connection>,
    reader: Option<Arc<Mutex<Connection>>>,
}

/// A saved outcome by its key: [`key_hash`] through the index, then the key itself (this
/// store's look-ups; the engine, which has no such index, probes its runs instead:
/// [`super::key_runs`]).
pub(crate) fn saved_outcome(
    conn: &Connection,
    key: &str,
) -> Result<Option<(AccountId, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT account_id, outcome FROM requests \
             WHERE key_hash = ?1 AND request_key = ?2 ORDER BY rowid LIMIT 1",
        )?
        .query_row(params![key_hash(key), key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The hash that indexes a saved outcome's key (`requests.key_hash`): 64-bit FNV-1a, stable
/// across versions and platforms, as it is stored.
pub(crate) fn key_hash(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// Fills in `key_hash` of the saved outcomes that lack it (rows written before schema
/// version 6); nothing to do on later opens.
fn hash_unhashed_requests(conn: &mut Connection) -> Result<(), StoreError> {
    // Only rows copied by the migration lack it, and they come first: one row is read
    // (the engine's database has no index on `key_hash` to find them by).
    let unhashed = "SELECT EXISTS (SELECT 1 FROM (SELECT key_hash FROM requests ORDER BY rowid LIMIT 1) WHERE key_hash IS NULL)";
    if !conn.query_row(unhashed, [], |r| r.get::<_, bool>(0))? {
        return Ok(()); // read only: no write lock taken on an ordinary open
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut read =
            tx.prepare("SELECT rowid, request_key FROM requests WHERE key_hash IS NULL")?;
        let rows: Vec<(i64, String)> = read
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut write = tx.prepare("UPDATE requests SET key_hash = ?1 WHERE rowid = ?2")?;
        for (rowid, key) in rows {
            write.execute(params![key_hash(&key), rowid])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The ledger's index by account. This store reads an account's totals by SQL
/// ([`Store::ledger_totals`]); the embedded store keeps them in memory and drops the index
/// ([`NO_LEDGER_BY_ACCOUNT`]), which cost it a B-tree insert per ledger row (about 1,900
/// instructions per CCR). Opening a database the embedded store used puts it back.
pub(crate) const LEDGER_BY_ACCOUNT: &str =
    "CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id)";

/// Drops [`LEDGER_BY_ACCOUNT`] (the embedded store's database).
pub(crate) const NO_LEDGER_BY_ACCOUNT: &str = "DROP INDEX IF EXISTS ledger_account";

impl SqliteStore {
    /// Opens (or creates) the database file and its schema; WAL journal, `synchronous=FULL`.
    pub fn open(path: &str) -> Result<SqliteStore, StoreError> {
        let store = Self::open_file(path)?;
        store.lock().execute_batch(LEDGER_BY_ACCOUNT)?;
        store
            .lock()
            .execute_batch(super::key_runs::REQUESTS_BY_KEY_HASH)?;
        Ok(store)
    }

    /// [`SqliteStore::open`] without the ledger's index by account: the embedded store's
    /// database ([`super::Engine`], which keeps every account's ledger totals in memory).
    pub(crate) fn open_file(path: &str) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        crate::migrations::sqlite_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Checkpoint every ~40 MB of WAL instead of ~4 MB: a page the load keeps changing
        // (an account, an index) is copied into the database once per checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        // A page cache that holds a checkpoint's working set (SQLite's default is 2 MiB:
        // a large transaction spilled pages to the WAL before its commit).
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        let mut store = Self::init(conn)?;
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        store.reader = Some(Arc::new(Mutex::new(reader)));
        Ok(store)
    }

    /// A private in-memory database (tests and examples).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        crate::migrations::sqlite(
            &mut conn,
            &crate::migrations::OCS_SQLITE,
            crate::migrations::ocs_baseline,
        )
        .map_err(StoreError::Migration)?;
        hash_unhashed_requests(&mut conn)?;
        conn.execute_batch(super::key_runs::RUNS_SQL)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: None,
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction (it rolls back on
        // drop), so a poisoned connection is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection for reads: the read-only one of a file database, else the writer.
    pub(super) fn read(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(r) => r.lock().unwrap_or_else(|e| e.into_inner()),
            None => self.lock(),
        }
    }

    /// The read-only connection of a file database, for a reader that outlives this
    /// borrow (the engine's refund look-ups); `None` in memory.
    pub(super) fn shared_reader(&self) -> Option<Arc<Mutex<Connection>>> {
        self.reader.clone()
    }
}

fn ids_of(conn: &Connection, id: AccountId) -> Result<Vec<SubscriberId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id_type, id_data FROM subscription_ids WHERE account_id = ?1 ORDER BY id_type, id_data",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok((r.get::<_, i32>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (t, data) = row?;
        let kind = IdKind::from_code(t)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription id type {t}")))?;
        out.push(SubscriberId { kind, data });
    }
    Ok(out)
}

fn load_account(conn: &Connection, id: AccountId) -> Result<Option<Account>, StoreError> {
    let row = conn
        .prepare_cached("SELECT name, currency, balance, reserved FROM accounts WHERE id = ?1")?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((name, currency, balance, reserved)) = row else {
        return Ok(None);
    };
    Ok(Some(Account {
        id,
        name,
        balance,
        reserved,
        currency: u32::try_from(currency).unwrap_or(0),
        ids: ids_of(conn, id)?,
    }))
}

fn account_of_id(conn: &Connection, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT account_id FROM subscription_ids WHERE id_type = ?1 AND id_data = ?2",
        )?
        .query_row(params![id.kind.code(), id.data], |r| r.get(0))
        .optional()?)
}

/// Inserts the account and its ids; `Ok(None)` when an id already exists (nothing kept).
fn insert_account(
    tx: &rusqlite::Transaction<'_>,
    account: &NewAccount,
) -> Result<Option<AccountId>, StoreError> {
    if account.ids.is_empty() {
        return Err(StoreError::Refused(
            "an account needs a subscription id".into(),
        ));
    }
    if account.balance < 0 {
        return Err(StoreError::Refused("negative opening balance".into()));
    }
    tx.execute(
        "INSERT INTO accounts (name, currency, balance, reserved) VALUES (?1, ?2, ?3, 0)",
        params![account.name, i64::from(account.currency), account.balance],
    )?;
    let id = tx.last_insert_rowid();
    for sid in &account.ids {
        let n = tx.execute(
            "INSERT INTO subscription_ids (id_type, id_data, account_id) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![sid.kind.code(), sid.data, id],
        )?;
        if n == 0 {
            return Ok(None);
        }
    }
    Ok(Some(id))
}

impl Store for SqliteStore {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match insert_account(&tx, account)? {
            Some(id) => {
                tx.commit()?;
                Ok(id)
            }
            None => Err(account.duplicate()),
        }
    }

    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for sid in &account.ids {
            if let Some(id) = account_of_id(&tx, sid)? {
                return Ok(id);
            }
        }
        match insert_account(&tx, account)? {
            Some(id) => {
                tx.commit()?;
                Ok(id)
            }
            None => Err(StoreError::Duplicate(account.ids[0].to_string())),
        }
    }

    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        let conn = self.read();
        match account_of_id(&conn, id)? {
            Some(a) => load_account(&conn, a),
            None => Ok(None),
        }
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        load_account(&self.read(), id)
    }

    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        account_of_id(&self.read(), id)
    }

    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (balance, reserved) = tx
            .query_row(
                "SELECT balance, reserved FROM accounts WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?
            .ok_or(StoreError::NoSuchAccount(id))?;
        let new = balance
            .checked_add(delta)
            .ok_or_else(|| StoreError::Refused(format!("balance {balance} + {delta} overflows")))?;
        if new < reserved {
            return Err(StoreError::Refused(format!(
                "balance {new} would be below the reserved {reserved}"
            )));
        }
        tx.execute(
            "UPDATE accounts SET balance = ?1 WHERE id = ?2",
            params![new, id],
        )?;
        tx.execute(
            "INSERT INTO ledger (account_id, kind, amount, at) VALUES (?1, 'adjust', ?2, ?3)",
            params![id, delta, now_ms],
        )?;
        tx.commit()?;
        Ok(new)
    }

    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .read()
            .prepare_cached("SELECT account_id FROM sessions WHERE session_id = ?1")?
            .query_row(params![session_id], |r| r.get(0))
            .optional()?)
    }

    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        Ok(saved_outcome(&self.read(), key)?.map(|(account, _)| account))
    }

    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT session_id FROM sessions WHERE account_id = ?1 ORDER BY created_at, session_id",
        )?;
        let rows = stmt.query_map(params![id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        let conn = self.read();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let row = |r: &rusqlite::Row<'_>| {
            Ok(ExpiredSession {
                session_id: r.get(0)?,
                account: r.get(1)?,
                expires_at: r.get(2)?,
            })
        };
        let rows = match after {
            None => conn
                .prepare_cached(
                    "SELECT session_id, account_id, expires_at FROM sessions WHERE expires_at <= ?1
                     ORDER BY expires_at, session_id LIMIT ?2",
                )?
                .query_map(params![now_ms, limit], row)?
                .collect::<Result<_, _>>()?,
            Some(a) => conn
                .prepare_cached(
                    "SELECT session_id, account_id, expires_at FROM sessions
                     WHERE expires_at <= ?1 AND (expires_at, session_id) > (?2, ?3)
                     ORDER BY expires_at, session_id LIMIT ?4",
                )?
                .query_map(params![now_ms, a.expires_at, a.session_id, limit], row)?
                .collect::<Result<_, _>>()?,
        };
        Ok(rows)
    }

    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let closed =
            batch::close_expired(&mut SqliteTx(&tx), &super::lock_order(sessions), now_ms)?;
        tx.commit()?;
        Ok(closed)
    }

    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = batch::run(&mut SqliteTx(&tx), batch, now_ms)?;
        if !out.replayed && !out.unknown_session {
            tx.commit()?;
        }
        Ok(out)
    }

    fn apply_group(&self, batches: &[(&Batch, i64)]) -> Vec<Result<BatchOutcome, StoreError>> {
        let shared = |e: StoreError| {
            let e = Arc::new(e);
            batches
                .iter()
                .map(|_| Err(StoreError::Group(e.clone())))
                .collect()
        };
        if let [(batch, now_ms)] = batches {
            return vec![self.apply(batch, *now_ms)];
        }
        let mut conn = self.lock();
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => return shared(e.into()),
        };
        let mut out = Vec::with_capacity(batches.len());
        for (batch, now_ms) in batches {
            // Each batch in its own savepoint: a failure undoes only that batch's writes.
            if let Err(e) = savepoint(&tx, "SAVEPOINT b") {
                return shared(e);
            }
            match batch::run(&mut SqliteTx(&tx), batch, *now_ms) {
                Ok(o) => {
                    if let Err(e) = savepoint(&tx, "RELEASE b") {
                        return shared(e);
                    }
                    out.push(Ok(o));
                }
                Err(e) => {
                    // Some errors (I/O, a full disk) end the whole transaction: then nothing
                    // of the group is committed and every batch fails.
                    if tx.is_autocommit()
                        || savepoint(&tx, "ROLLBACK TO b")
                            .and_then(|()| savepoint(&tx, "RELEASE b"))
                            .is_err()
                    {
                        return shared(e);
                    }
                    out.push(Err(e));
                }
            }
        }
        if let Err(e) = tx.commit() {
            return shared(e.into());
        }
        out
    }

    fn groups(&self) -> bool {
        true
    }

    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = ?1 GROUP BY kind",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut t = LedgerTotals::default();
        for row in rows {
            let (kind, sum) = row?;
            match kind.as_str() {
                "debit" => t.debits = sum,
                "refund" => t.refunds = sum,
                _ => t.adjustments += sum,
            }
        }
        Ok(t)
    }

    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(super::SQLITE_PURGE_REQUESTS, params![before_ms])?;
        // The engine's index of what is left, should the engine open this database again.
        super::key_runs::KeyRuns::purge(&tx)?;
        tx.commit()?;
        Ok(n as u64)
    }

    fn totals(&self) -> Result<super::StoreTotals, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(super::TOTALS_SQL)?;
        Ok(stmt.query_row([], |r| {
            Ok(super::StoreTotals {
                open_sessions: r.get(0)?,
                reserved: r.get(1)?,
                keys_in_memory_since_ms: None,
            })
        })?)
    }
}

/// Runs a savepoint statement (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`), prepared once.
fn savepoint(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The primitives of [`batch::run`] on a connection inside an open transaction.
struct SqliteTx<'c>(&'c Connection);

impl Tx for SqliteTx<'_> {
    fn lock_account(&mut self, id: AccountId) -> Result<Option<(i64, i64)>, StoreError> {
        // BEGIN IMMEDIATE already holds the database write lock.
        Ok(self
            .0
            .prepare_cached("SELECT balance, reserved FROM accounts WHERE id = ?1")?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn set_account(
        &mut self,
        id: AccountId,
        balance: i64,
        reserved: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached("UPDATE accounts SET balance = ?1, reserved = ?2 WHERE id = ?3")?
            .execute(params![balance, reserved, id])?;
        Ok(())
    }

    fn saved_outcome(&mut self, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        saved_outcome(self.0, key)
    }

    fn save_outcome(
        &mut self,
        key: &str,
        account: AccountId,
        outcome: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO requests (request_key, key_hash, account_id, outcome, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, key_hash(key), account, outcome, now_ms])?;
        Ok(())
    }

    fn session(&mut self, session: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT account_id, expires_at, peer FROM sessions WHERE session_id = ?1",
            )?
            .query_row(params![session], |r| {
                Ok(SessionRow {
                    account: r.get(0)?,
                    expires_at: r.get(1)?,
                    peer: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn upsert_session(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at",
            )?
            .execute(params![session, account, expires_at, now_ms, peer])?;
        Ok(())
    }

    fn debit(&mut self, reference: &str) -> Result<Option<(AccountId, i64, i64)>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT account_id, amount, refunded FROM debits WHERE reference = ?1")?
            .query_row(params![reference], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    fn insert_debit(
        &mut self,
        reference: &str,
        account: AccountId,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO debits (reference, account_id, amount, refunded, at)
                 VALUES (?1, ?2, ?3, 0, ?4)",
            )?
            .execute(params![reference, account, amount, now_ms])?;
        Ok(())
    }

    fn set_refunded(&mut self, reference: &str, refunded: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached("UPDATE debits SET refunded = ?1 WHERE reference = ?2")?
            .execute(params![refunded, reference])?;
        Ok(())
    }

    fn touch_session(&mut self, session: &str, expires_at: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached("UPDATE sessions SET expires_at = ?1 WHERE session_id = ?2")?
            .execute(params![expires_at, session])?;
        Ok(())
    }

    fn delete_session(&mut self, session: &str) -> Result<(), StoreError> {
        self.0
            .prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?
            .execute(params![session])?;
        Ok(())
    }

    fn reservation(&mut self, session: &str, rg: i64) -> Result<i64, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT amount FROM reservations WHERE session_id = ?1 AND rating_group = ?2",
            )?
            .query_row(params![session, rg], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn set_reservation(
        &mut self,
        session: &str,
        rg: i64,
        account: AccountId,
        amount: i64,
    ) -> Result<(), StoreError> {
        if amount == 0 {
            self.0
                .prepare_cached(
                    "DELETE FROM reservations WHERE session_id = ?1 AND rating_group = ?2",
                )?
                .execute(params![session, rg])?;
        } else {
            self.0
                .prepare_cached(
                    "INSERT INTO reservations (session_id, rating_group, account_id, amount)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (session_id, rating_group) DO UPDATE SET amount = excluded.amount",
                )?
                .execute(params![session, rg, account, amount])?;
        }
        Ok(())
    }

    fn take_reservations(&mut self, session: &str) -> Result<i64, StoreError> {
        let sum: i64 = self
            .0
            .prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE session_id = ?1",
            )?
            .query_row(params![session], |r| r.get(0))?;
        self.0
            .prepare_cached("DELETE FROM reservations WHERE session_id = ?1")?
            .execute(params![session])?;
        Ok(sum)
    }

    fn ledger(
        &mut self,
        account: AccountId,
        session: Option<&str>,
        rg: Option<i64>,
        kind: &str,
        amount: i64,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO ledger (account_id, session_id, rating_group, kind, amount, request_key, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![account, session, rg, kind, amount, key, now_ms])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocs::store::{IdKind, NewAccount, Op, Store, SubscriberId};

    #[test]
    fn key_hashes_are_64_bit_fnv_1a() {
        // Stored in the database: they must never change.
        assert_eq!(key_hash("") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(key_hash("foobar") as u64, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_purge_goes_in_insertion_order_and_never_drops_a_row_early() {
        let store = SqliteStore::in_memory().unwrap();
        let alice = SubscriberId::new(IdKind::E164, "491700000001");
        let id = store
            .add_account(&NewAccount::new(vec![alice], 1000, 978))
            .unwrap();
        let charge = |key: &str, at: i64| {
            let b = Batch {
                account: id,
                session: None,
                require_session: false,
                peer: None,
                key: Some(key.into()),
                possible_duplicate: true,
                ops: vec![Op::Debit {
                    amount: 1,
                    partial: false,
                    reference: None,
                }],
            };
            store.apply(&b, at).unwrap();
        };
        // The clock stepped back between the second and the third.
        charge("a", 1_000);
        charge("b", 2_000);
        charge("c", 1_500);
        charge("d", 3_000);
        assert_eq!(store.purge_requests(1_600).unwrap(), 1);
        let left = |store: &SqliteStore| -> Vec<String> {
            let conn = store.lock();
            let mut q = conn
                .prepare("SELECT request_key FROM requests ORDER BY rowid")
                .unwrap();
            let keys = q.query_map([], |r| r.get(0)).unwrap();
            keys.map(Result::unwrap).collect()
        };
        // `c` is older than the cutoff but came after `b`: kept until a later purge.
        assert_eq!(left(&store), ["b", "c", "d"]);
        assert_eq!(store.purge_requests(2_500).unwrap(), 2);
        assert_eq!(left(&store), ["d"]);
        assert_eq!(store.purge_requests(9_000).unwrap(), 1);
        assert!(left(&store).is_empty());
        assert_eq!(store.purge_requests(9_000).unwrap(), 0);
        // No index on `at` is kept up to date for it.
        let indexes: i64 = store
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'requests_at'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
    }
}
