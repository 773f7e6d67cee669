//! PostgreSQL store for several OCS nodes sharing accounts.
//!
//! Every batch runs in a `READ COMMITTED` transaction that starts with
//! `SELECT ... FROM accounts WHERE id = $1 FOR UPDATE`: all changes to an account, its
//! reservations and its sessions happen under that row lock, so two nodes charging the same
//! account serialize there and the available balance never goes below zero (the schema's
//! `CHECK (balance >= reserved)` backs this).

use super::batch::{self, Batch, BatchOutcome, SessionRow, Tx};
use super::sqlite::{SCHEMA, SCHEMA_INDEXES};
use super::{
    Account, AccountId, ExpiredSession, IdKind, LedgerTotals, NewAccount, Store, StoreError,
    SubscriberId,
};
use ::postgres::{Client, Config, GenericClient, NoTls};
use std::str::FromStr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Timeouts and pool size of a [`PgStore`]; `PgOptions::default()` gives the documented
/// defaults. A database that stops answering must not hang the OCS: every wait is bounded,
/// and the OCS answers the request 3004 DIAMETER_TOO_BUSY so that the client fails over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections in the pool (default 8).
    pub pool: usize,
    /// How long a request waits for a free pooled connection before failing with
    /// [`StoreError::PoolTimeout`] (default 2 s).
    pub pool_wait: Duration,
    /// libpq `connect_timeout` of each connection attempt (default 3 s; a
    /// `connect_timeout` in the URL wins).
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` of every statement (default 3 s).
    pub statement_timeout: Duration,
    /// Server-side `lock_timeout`: the longest wait for a row lock, such as an account
    /// locked by another node's transaction (default 2 s).
    pub lock_timeout: Duration,
    /// TCP keepalive idle time and `tcp_user_timeout` of TCP connections: a peer that stops
    /// acknowledging is declared dead after this long (default 10 s).
    pub tcp_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool: 8,
            pool_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(3),
            lock_timeout: Duration::from_secs(2),
            tcp_timeout: Duration::from_secs(10),
        }
    }
}

/// PostgreSQL-backed [`Store`] with a small fixed pool of connections.
pub struct PgStore {
    config: Config,
    idle: Mutex<Vec<Client>>,
    ready: Condvar,
    pool_wait: Duration,
}

/// A pooled connection, given back to the pool when dropped (also on an error or a panic).
struct Pooled<'p> {
    client: Option<Client>,
    store: &'p PgStore,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            self.store.give_back(c);
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing a `postgres::Client` blocks on its own runtime, which panics inside an async
        // context (the last `Arc` of an OCS may go away on a tokio worker): close them on a
        // plain thread.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(idle));
        }
    }
}

impl PgStore {
    /// [`PgStore::connect_with`] with `pool` connections and the default timeouts.
    pub fn connect(url: &str, pool: usize) -> Result<PgStore, StoreError> {
        PgStore::connect_with(
            url,
            &PgOptions {
                pool,
                ..PgOptions::default()
            },
        )
    }

    /// Connects the pool (at least one connection) and creates the schema when missing.
    /// `url` is a libpq URL (`postgresql://user@%2Ftmp%2Fdir:5432/db` for a Unix socket) or
    /// key-value string (`host=/tmp/dir port=5432 user=postgres`).
    pub fn connect_with(url: &str, opts: &PgOptions) -> Result<PgStore, StoreError> {
        let mut config = Config::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad postgres url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        config.keepalives(true);
        config.keepalives_idle(opts.tcp_timeout);
        config.tcp_user_timeout(opts.tcp_timeout);
        let mut options = config.get_options().unwrap_or_default().to_string();
        for (name, d) in [
            ("statement_timeout", opts.statement_timeout),
            ("lock_timeout", opts.lock_timeout),
        ] {
            if !options.contains(name) {
                options.push_str(&format!(" -c {name}={}", d.as_millis()));
            }
        }
        config.options(options.trim());
        let mut clients = Vec::new();
        for _ in 0..opts.pool.max(1) {
            clients.push(config.connect(NoTls)?);
        }
        let schema = SCHEMA
            .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace("INTEGER NOT NULL", "BIGINT NOT NULL");
        {
            let c = &mut clients[0];
            // Two nodes starting at once must not race on CREATE TABLE IF NOT EXISTS.
            c.execute("SELECT pg_advisory_lock(4006)", &[])?;
            let r = c
                .batch_execute(&schema)
                .and_then(|()| {
                    c.batch_execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS peer TEXT")
                })
                .and_then(|()| c.batch_execute(SCHEMA_INDEXES));
            c.execute("SELECT pg_advisory_unlock(4006)", &[])?;
            r?;
        }
        Ok(PgStore {
            config,
            idle: Mutex::new(clients),
            ready: Condvar::new(),
            pool_wait: opts.pool_wait,
        })
    }

    /// Takes a connection from the pool, waiting at most the pool wait timeout, and
    /// reconnects it when it was closed.
    fn checkout(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = Instant::now() + self.pool_wait;
        let client = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(c) = idle.pop() {
                    break c;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(StoreError::PoolTimeout(self.pool_wait));
                }
                idle = self
                    .ready
                    .wait_timeout(idle, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let mut pooled = Pooled {
            client: Some(client),
            store: self,
        };
        if pooled.client.as_ref().is_some_and(Client::is_closed) {
            // On failure the closed client goes back (the slot is kept for a later retry).
            pooled.client = Some(self.config.connect(NoTls)?);
        }
        Ok(pooled)
    }

    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pooled = self.checkout()?;
        match pooled.client.as_mut() {
            Some(c) => f(c),
            None => Err(StoreError::PoolTimeout(self.pool_wait)),
        }
    }

    fn give_back(&self, client: Client) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(client);
        self.ready.notify_one();
    }
}

fn load_account(c: &mut impl GenericClient, id: AccountId) -> Result<Option<Account>, StoreError> {
    let Some(row) = c.query_opt(
        "SELECT name, currency, balance, reserved FROM accounts WHERE id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let mut ids = Vec::new();
    for r in c.query(
        "SELECT id_type, id_data FROM subscription_ids WHERE account_id = $1 ORDER BY id_type, id_data",
        &[&id],
    )? {
        let t: i64 = r.get(0);
        let kind = i32::try_from(t)
            .ok()
            .and_then(IdKind::from_code)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription id type {t}")))?;
        ids.push(SubscriberId {
            kind,
            data: r.get(1),
        });
    }
    let currency: i64 = row.get(1);
    Ok(Some(Account {
        id,
        name: row.get(0),
        currency: u32::try_from(currency).unwrap_or(0),
        balance: row.get(2),
        reserved: row.get(3),
        ids,
    }))
}

fn account_of_id(
    c: &mut impl GenericClient,
    id: &SubscriberId,
) -> Result<Option<AccountId>, StoreError> {
    Ok(c.query_opt(
        "SELECT account_id FROM subscription_ids WHERE id_type = $1 AND id_data = $2",
        &[&i64::from(id.kind.code()), &id.data],
    )?
    .map(|r| r.get(0)))
}

fn insert_account(
    tx: &mut ::postgres::Transaction<'_>,
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
    let id: i64 = tx
        .query_one(
            "INSERT INTO accounts (name, currency, balance, reserved) VALUES ($1, $2, $3, 0) RETURNING id",
            &[&account.name, &i64::from(account.currency), &account.balance],
        )?
        .get(0);
    for sid in &account.ids {
        let n = tx.execute(
            "INSERT INTO subscription_ids (id_type, id_data, account_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&i64::from(sid.kind.code()), &sid.data, &id],
        )?;
        if n == 0 {
            return Ok(None);
        }
    }
    Ok(Some(id))
}

impl Store for PgStore {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            match insert_account(&mut tx, account)? {
                Some(id) => {
                    tx.commit()?;
                    Ok(id)
                }
                None => Err(account.duplicate()),
            }
        })
    }

    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.with_client(|c| {
            // Two tries: a concurrent creation of the same id makes the first one lose.
            for _ in 0..2 {
                for sid in &account.ids {
                    if let Some(id) = account_of_id(c, sid)? {
                        return Ok(id);
                    }
                }
                let mut tx = c.transaction()?;
                if let Some(id) = insert_account(&mut tx, account)? {
                    tx.commit()?;
                    return Ok(id);
                }
            }
            Err(StoreError::Duplicate(account.ids[0].to_string()))
        })
    }

    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        self.with_client(|c| match account_of_id(c, id)? {
            Some(a) => load_account(c, a),
            None => Ok(None),
        })
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.with_client(|c| load_account(c, id))
    }

    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let row = tx
                .query_opt(
                    "SELECT balance, reserved FROM accounts WHERE id = $1 FOR UPDATE",
                    &[&id],
                )?
                .ok_or(StoreError::NoSuchAccount(id))?;
            let (balance, reserved): (i64, i64) = (row.get(0), row.get(1));
            let new = balance.checked_add(delta).ok_or_else(|| {
                StoreError::Refused(format!("balance {balance} + {delta} overflows"))
            })?;
            if new < reserved {
                return Err(StoreError::Refused(format!(
                    "balance {new} would be below the reserved {reserved}"
                )));
            }
            tx.execute(
                "UPDATE accounts SET balance = $1 WHERE id = $2",
                &[&new, &id],
            )?;
            tx.execute(
                "INSERT INTO ledger (account_id, kind, amount, at) VALUES ($1, 'adjust', $2, $3)",
                &[&id, &delta, &now_ms],
            )?;
            tx.commit()?;
            Ok(new)
        })
    }

    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT account_id FROM sessions WHERE session_id = $1",
                &[&session_id],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT account_id FROM requests WHERE request_key = $1",
                &[&key],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT session_id FROM sessions WHERE account_id = $1 ORDER BY created_at, session_id",
                &[&id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(|c| {
            let rows = match after {
                None => c.query(
                    "SELECT session_id, account_id, expires_at FROM sessions WHERE expires_at <= $1
                     ORDER BY expires_at, session_id LIMIT $2",
                    &[&now_ms, &limit],
                )?,
                Some(a) => c.query(
                    "SELECT session_id, account_id, expires_at FROM sessions
                     WHERE expires_at <= $1 AND (expires_at, session_id) > ($2, $3)
                     ORDER BY expires_at, session_id LIMIT $4",
                    &[&now_ms, &a.expires_at, &a.session_id, &limit],
                )?,
            };
            Ok(rows
                .iter()
                .map(|r| ExpiredSession {
                    session_id: r.get(0),
                    account: r.get(1),
                    expires_at: r.get(2),
                })
                .collect())
        })
    }

    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.with_client(|c| {
            let mut tx = PgTx(c.transaction()?);
            let closed = batch::close_expired(&mut tx, &super::lock_order(sessions), now_ms)?;
            tx.0.commit()?;
            Ok(closed)
        })
    }

    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        self.with_client(|c| {
            let mut tx = PgTx(c.transaction()?);
            let out = batch::run(&mut tx, batch, now_ms)?;
            if !out.replayed && !out.unknown_session {
                tx.0.commit()?;
            }
            Ok(out)
        })
    }

    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        self.with_client(|c| {
            let mut t = LedgerTotals::default();
            for r in c.query(
                "SELECT kind, COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE account_id = $1 GROUP BY kind",
                &[&id],
            )? {
                let kind: String = r.get(0);
                let sum: i64 = r.get(1);
                match kind.as_str() {
                    "debit" => t.debits = sum,
                    "refund" => t.refunds = sum,
                    _ => t.adjustments += sum,
                }
            }
            Ok(t)
        })
    }

    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.with_client(|c| Ok(c.execute("DELETE FROM requests WHERE at < $1", &[&before_ms])?))
    }

    fn totals(&self) -> Result<super::StoreTotals, StoreError> {
        self.with_client(|c| {
            let r = c.query_one(super::TOTALS_SQL, &[])?;
            Ok(super::StoreTotals {
                open_sessions: r.get(0),
                reserved: r.get(1),
            })
        })
    }
}

struct PgTx<'c>(::postgres::Transaction<'c>);

impl Tx for PgTx<'_> {
    fn lock_account(&mut self, id: AccountId) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self
            .0
            .query_opt(
                "SELECT balance, reserved FROM accounts WHERE id = $1 FOR UPDATE",
                &[&id],
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn set_account(
        &mut self,
        id: AccountId,
        balance: i64,
        reserved: i64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE accounts SET balance = $1, reserved = $2 WHERE id = $3",
            &[&balance, &reserved, &id],
        )?;
        Ok(())
    }

    fn saved_outcome(&mut self, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        Ok(self
            .0
            .query_opt(
                "SELECT account_id, outcome FROM requests WHERE request_key = $1",
                &[&key],
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn save_outcome(
        &mut self,
        key: &str,
        account: AccountId,
        outcome: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO requests (request_key, account_id, outcome, at) VALUES ($1, $2, $3, $4)",
            &[&key, &account, &outcome, &now_ms],
        )?;
        Ok(())
    }

    fn session(&mut self, session: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .0
            .query_opt(
                "SELECT account_id, expires_at, peer FROM sessions WHERE session_id = $1",
                &[&session],
            )?
            .map(|r| SessionRow {
                account: r.get(0),
                expires_at: r.get(1),
                peer: r.get(2),
            }))
    }

    fn upsert_session(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at",
            &[&session, &account, &expires_at, &now_ms, &peer],
        )?;
        Ok(())
    }

    fn debit(&mut self, reference: &str) -> Result<Option<(AccountId, i64, i64)>, StoreError> {
        Ok(self
            .0
            .query_opt(
                "SELECT account_id, amount, refunded FROM debits WHERE reference = $1",
                &[&reference],
            )?
            .map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    fn insert_debit(
        &mut self,
        reference: &str,
        account: AccountId,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO debits (reference, account_id, amount, refunded, at)
             VALUES ($1, $2, $3, 0, $4)",
            &[&reference, &account, &amount, &now_ms],
        )?;
        Ok(())
    }

    fn set_refunded(&mut self, reference: &str, refunded: i64) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE debits SET refunded = $1 WHERE reference = $2",
            &[&refunded, &reference],
        )?;
        Ok(())
    }

    fn touch_session(&mut self, session: &str, expires_at: i64) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE sessions SET expires_at = $1 WHERE session_id = $2",
            &[&expires_at, &session],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, session: &str) -> Result<(), StoreError> {
        self.0
            .execute("DELETE FROM sessions WHERE session_id = $1", &[&session])?;
        Ok(())
    }

    fn reservation(&mut self, session: &str, rg: i64) -> Result<i64, StoreError> {
        Ok(self
            .0
            .query_opt(
                "SELECT amount FROM reservations WHERE session_id = $1 AND rating_group = $2",
                &[&session, &rg],
            )?
            .map(|r| r.get(0))
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
            self.0.execute(
                "DELETE FROM reservations WHERE session_id = $1 AND rating_group = $2",
                &[&session, &rg],
            )?;
        } else {
            self.0.execute(
                "INSERT INTO reservations (session_id, rating_group, account_id, amount)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (session_id, rating_group) DO UPDATE SET amount = excluded.amount",
                &[&session, &rg, &account, &amount],
            )?;
        }
        Ok(())
    }

    fn take_reservations(&mut self, session: &str) -> Result<i64, StoreError> {
        let sum: i64 = self
            .0
            .query_one(
                "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM reservations WHERE session_id = $1",
                &[&session],
            )?
            .get(0);
        self.0.execute(
            "DELETE FROM reservations WHERE session_id = $1",
            &[&session],
        )?;
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
        self.0.execute(
            "INSERT INTO ledger (account_id, session_id, rating_group, kind, amount, request_key, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&account, &session, &rg, &kind, &amount, &key, &now_ms],
        )?;
        Ok(())
    }
}
