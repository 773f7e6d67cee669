//! Account storage of the OCS: balances, reservations, sessions and a ledger.
//!
//! A [`Store`] holds accounts identified by one or more Subscription-Ids (type + data), each
//! with a balance in integer minor units of one currency. Charging happens in [`Batch`]es: a
//! list of [`Op`]s on one account that run in one database transaction with the account row
//! locked, so concurrent sessions (on one node or on several nodes sharing PostgreSQL) never
//! take the available balance below zero. A batch may carry an idempotency key (the server
//! uses Session-Id, CC-Request-Type and CC-Request-Number): the outcome is saved in the same
//! transaction, and a batch with a key already seen returns the saved outcome without
//! charging again, so a retransmitted request is charged once, even across a crash.
//!
//! Backends: [`Engine`] (the default, `sqlite://`: the state in memory, a durable journal,
//! a SQLite file created on first start as the store of record), [`SqliteStore`]
//! (`sqlite+direct://`: a SQLite transaction per batch, WAL) and [`PgStore`] (PostgreSQL
//! for several nodes: async pool, group commit, `SELECT ... FOR UPDATE` on the accounts).
//!
//! Balance model: `balance` is what the account holds; `reserved` is the sum of the open
//! reservations; `available = balance - reserved` is never negative (a `CHECK` in the schema
//! backs the code). Debits lower `balance` (and release the reservation they settle). All
//! arithmetic on money is checked: an overflow is refused, never wrapped.
//!
//! Refunds: a direct debit may be recorded under a random reference (table `debits`, with
//! the amount refunded so far); [`Op::Refund`] credits only against such a reference of the
//! same account, never more than it has left, in the batch's transaction.
//!
//! Sessions record the peer that opened them; a batch from another peer or for another
//! account cannot open, update or close them ([`Batch::peer`]).
//!
//! Faults: [`StoreError::is_temporary`] tells failures worth retrying elsewhere (timeouts,
//! an exhausted pool, serialization failures, lost connections, a busy SQLite file) from
//! permanent ones. [`PgStore`] bounds every wait ([`PgOptions`]).
//!
//! ```
//! use diameter_apps::ocs::store::{open, Batch, IdKind, NewAccount, Op, SubscriberId};
//!
//! let store = open("sqlite::memory:").unwrap();
//! let alice = SubscriberId::new(IdKind::E164, "491701234567");
//! let id = store.add_account(&NewAccount::new(vec![alice.clone()], 1000, 978)).unwrap();
//! let mut batch = Batch::new(id, Some("s1".into()));
//! batch.ops.push(Op::OpenSession { expires_at: 60_000 });
//! batch.ops.push(Op::Reserve { rating_group: Some(1), want: 300, block: 100 });
//! let out = store.apply(&batch, 0).unwrap();
//! assert_eq!(out.results, vec![0, 300]);
//! assert_eq!(store.find_account(&alice).unwrap().unwrap().available(), 700);
//! ```

mod accounts_file;
mod batch;
#[cfg(feature = "sqlite")]
mod bulk_insert;
#[cfg(feature = "sqlite")]
mod engine;
pub mod group;
mod journal;
#[cfg(feature = "sqlite")]
mod key_runs;
#[cfg(feature = "sqlite")]
mod ledger_folded;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod lookup_budget;
mod memory;
mod options;
mod outcome_log;
mod outcomes;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod wake_relay;
#[cfg(feature = "sqlite")]
mod writeback;

pub use self::accounts_file::{load_accounts_file, parse_accounts, AccountEntry, AccountsFile};
pub use self::batch::{Batch, BatchOutcome, Op, REFUND_EXCEEDS, REFUND_OVERFLOW, REFUND_UNKNOWN};
#[cfg(feature = "sqlite")]
pub use self::engine::Engine;
pub use self::group::GroupCommit;
pub use self::journal::{DEFAULT_OVERLAP_AFTER, DEFAULT_SYNCERS, DEFAULT_SYNC_INTERVAL};
pub use self::memory::{
    MemLimits, DEFAULT_FILTER_KEYS, DEFAULT_MAX_SESSIONS, DEFAULT_OUTCOME_BYTES,
};
pub use self::options::{
    EngineOptions, PgOptions, AUTO_GROUPS_LOCAL, AUTO_GROUPS_REMOTE, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_CHECKPOINT_RECORDS, DEFAULT_MAX_BACKLOG, DEFAULT_SQL_LOOKUPS_PER_S,
};
#[cfg(feature = "postgres")]
pub use self::postgres::PgStore;
#[cfg(feature = "postgres")]
pub(crate) use self::postgres::SyncConnector;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;

use std::fmt;
use std::sync::Arc;

/// Row id of an account.
pub type AccountId = i64;

/// The kind of a Subscription-Id (the values of Subscription-Id-Type, RFC 4006 §8.47).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// END_USER_E164 (0): an MSISDN.
    E164,
    /// END_USER_IMSI (1).
    Imsi,
    /// END_USER_SIP_URI (2).
    SipUri,
    /// END_USER_NAI (3).
    Nai,
    /// END_USER_PRIVATE (4).
    Private,
}

impl IdKind {
    /// The Subscription-Id-Type value on the wire.
    pub fn code(self) -> i32 {
        match self {
            IdKind::E164 => 0,
            IdKind::Imsi => 1,
            IdKind::SipUri => 2,
            IdKind::Nai => 3,
            IdKind::Private => 4,
        }
    }

    /// The kind for a Subscription-Id-Type value.
    pub fn from_code(code: i32) -> Option<IdKind> {
        Some(match code {
            0 => IdKind::E164,
            1 => IdKind::Imsi,
            2 => IdKind::SipUri,
            3 => IdKind::Nai,
            4 => IdKind::Private,
            _ => return None,
        })
    }

    /// The name used in the accounts file: `e164`, `imsi`, `sip`, `nai`, `private`.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::E164 => "e164",
            IdKind::Imsi => "imsi",
            IdKind::SipUri => "sip",
            IdKind::Nai => "nai",
            IdKind::Private => "private",
        }
    }

    /// Parses a name of [`IdKind::name`] (also `msisdn`, `sip_uri`, case-insensitive).
    pub fn parse(name: &str) -> Option<IdKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "e164" | "msisdn" => IdKind::E164,
            "imsi" => IdKind::Imsi,
            "sip" | "sip_uri" | "sipuri" => IdKind::SipUri,
            "nai" => IdKind::Nai,
            "private" => IdKind::Private,
            _ => return None,
        })
    }
}

/// A Subscription-Id: its type and data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId {
    /// Subscription-Id-Type.
    pub kind: IdKind,
    /// Subscription-Id-Data.
    pub data: String,
}

impl SubscriberId {
    /// A subscriber id of the given kind.
    pub fn new(kind: IdKind, data: impl Into<String>) -> Self {
        SubscriberId {
            kind,
            data: data.into(),
        }
    }

    /// Parses `kind:data`, such as `e164:491701234567` or `sip:sip:alice@example.net`.
    pub fn parse(s: &str) -> Option<SubscriberId> {
        let (kind, data) = s.split_once(':')?;
        if data.is_empty() {
            return None;
        }
        Some(SubscriberId::new(IdKind::parse(kind)?, data))
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.data)
    }
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Row id.
    pub id: AccountId,
    /// Free-form name (may be empty).
    pub name: String,
    /// What the account holds, in minor units.
    pub balance: i64,
    /// Sum of the open reservations, in minor units.
    pub reserved: i64,
    /// ISO 4217 numeric currency code (978 = EUR).
    pub currency: u32,
    /// The Subscription-Ids that select this account.
    pub ids: Vec<SubscriberId>,
}

impl Account {
    /// What can still be reserved or debited: `balance - reserved`.
    pub fn available(&self) -> i64 {
        self.balance - self.reserved
    }
}

/// An account to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    /// Free-form name.
    pub name: String,
    /// Subscription-Ids (at least one).
    pub ids: Vec<SubscriberId>,
    /// Opening balance in minor units.
    pub balance: i64,
    /// ISO 4217 numeric currency code.
    pub currency: u32,
}

impl NewAccount {
    /// An unnamed account.
    pub fn new(ids: Vec<SubscriberId>, balance: i64, currency: u32) -> Self {
        NewAccount {
            name: String::new(),
            ids,
            balance,
            currency,
        }
    }

    /// The error for an account one of whose ids already belongs to another account.
    pub(crate) fn duplicate(&self) -> StoreError {
        let ids: Vec<String> = self.ids.iter().map(|i| i.to_string()).collect();
        StoreError::Duplicate(ids.join(", "))
    }
}

/// Sums of the ledger of one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Everything debited (session usage and direct debits).
    pub debits: i64,
    /// Everything refunded (REFUND_ACCOUNT).
    pub refunds: i64,
    /// Operator adjustments (top-ups positive, corrections negative).
    pub adjustments: i64,
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The account does not exist.
    #[error("no account with id {0}")]
    NoSuchAccount(AccountId),
    /// A Subscription-Id already belongs to an account.
    #[error("subscription id {0} already belongs to an account")]
    Duplicate(String),
    /// An operation was refused (for example an adjustment below the reserved amount).
    #[error("refused: {0}")]
    Refused(String),
    /// A bad store URL or accounts file.
    #[error("{0}")]
    Config(String),
    /// Stored data that cannot be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// No pooled database connection became free within the pool wait timeout.
    #[error("no database connection free within {0:?}")]
    PoolTimeout(std::time::Duration),
    /// A failure shared by every batch of a group commit (the group's transaction could not
    /// begin or commit): temporary when the underlying error is.
    #[error("{0}")]
    Group(Arc<StoreError>),
    /// The group committer is gone (the store is shutting down).
    #[error("the store's committer stopped")]
    Stopped,
    /// The schema could not be brought up to date when the store was opened.
    #[error("{0}")]
    Migration(String),
    /// The store URL names a backend this build leaves out: the name of the diameter-apps
    /// feature that compiles it in (`sqlite`, `postgres`).
    #[error("the {0} store backend is not compiled in (diameter-apps feature `{0}`)")]
    BackendNotBuilt(&'static str),
    /// The database did not finish a call or transaction within this bound.
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The embedded store's checkpoint into SQLite is this many journal records behind
    /// ([`EngineOptions::max_backlog`]); charges wait until it catches up.
    #[error("the checkpoint into SQLite is {0} records behind")]
    Backlog(u64),
    /// The embedded store's look-ups of saved outcomes in SQLite are over their bound
    /// ([`EngineOptions::sql_lookups_per_s`], a second); nothing was charged.
    #[error("more than {0} look-ups of saved answers in SQLite a second")]
    LookupBudget(u32),
    /// The embedded store holds its most open sessions ([`MemLimits::sessions`]); the
    /// request that would open another was refused, nothing charged.
    #[error("{0} sessions are open, the most this store keeps")]
    SessionLimit(usize),
}

impl StoreError {
    /// Whether the failure is temporary (a timeout, an exhausted pool, a serialization
    /// failure or deadlock, a lost connection, a busy or locked SQLite file): the request
    /// may succeed if sent again, here or at another server. The OCS answers these with
    /// 3004 DIAMETER_TOO_BUSY (E bit) so that clients fail over; everything else (bad data,
    /// constraint violations, a refused operation) is permanent and answered 5012.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::PoolTimeout(_)
            | StoreError::Stopped
            | StoreError::Timeout(_)
            | StoreError::Backlog(_)
            | StoreError::LookupBudget(_)
            | StoreError::SessionLimit(_) => true,
            StoreError::Group(e) => e.is_temporary(),
            #[cfg(feature = "sqlite")]
            StoreError::Sqlite(e) => sqlite_temporary(e),
            #[cfg(feature = "postgres")]
            StoreError::Postgres(e) => postgres_temporary(e),
            StoreError::NoSuchAccount(_)
            | StoreError::Duplicate(_)
            | StoreError::Refused(_)
            | StoreError::Config(_)
            | StoreError::Corrupt(_)
            | StoreError::Migration(_)
            | StoreError::BackendNotBuilt(_) => false,
        }
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_temporary(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// PostgreSQL: by SQLSTATE (PostgreSQL manual, appendix A), or,
/// without one, a connection that failed, closed or timed out.
#[cfg(feature = "postgres")]
fn postgres_temporary(e: &::postgres::Error) -> bool {
    if let Some(state) = e.code() {
        let code = state.code();
        return matches!(
            code,
            // serialization_failure, deadlock_detected, lock_not_available,
            // query_canceled (statement_timeout), admin/crash shutdown, cannot_connect_now,
            // idle_in_transaction_session_timeout
            "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "25P03"
        ) || code.starts_with("08") // connection exception
            || code.starts_with("53"); // insufficient resources (too many connections, ...)
    }
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Connect errors and client-side timeouts carry no SQLSTATE and no io::Error.
    let text = e.to_string();
    text.contains("timeout") || text.contains("error connecting")
}

/// The storage an OCS charges against. Implementations are safe to share between threads;
/// every method is blocking (call it from `spawn_blocking` in async code).
pub trait Store: Send + Sync + 'static {
    /// Creates an account; fails with [`StoreError::Duplicate`] when one of its ids exists.
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError>;

    /// Returns the account of the first id that exists, or creates the account (a lab's
    /// `--auto-provision`, or loading an accounts file without touching known balances).
    /// Safe against a concurrent creation of the same id.
    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError>;

    /// The account a Subscription-Id selects.
    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError>;

    /// An account by row id.
    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// Adds `delta` (negative for a correction) to the balance, recorded in the ledger as an
    /// adjustment; refused when the balance would fall below the reserved amount.
    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError>;

    /// The account of an open session.
    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError>;

    /// The account of a request whose outcome is saved under `key` (a retransmission of a
    /// request that closed its session still finds its account this way).
    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError>;

    /// The open sessions of an account.
    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError>;

    /// Sessions whose supervision deadline (`expires_at`, ms since the epoch) is at or
    /// before `now_ms`, in (deadline, Session-Id) order, after the cursor `after` when given,
    /// at most `limit` (served by the index on the deadline).
    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError>;

    /// Closes the given sessions in one transaction when they are still expired at
    /// `now_ms`, releasing their reservations; returns the sessions closed with the amounts
    /// released. One session that cannot be closed fails the whole call (the caller splits
    /// the list to find it).
    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// Runs a batch in one transaction (see [`Batch`]).
    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError>;

    /// Applies a batch without blocking the caller's thread: the future resolves once the
    /// batch's outcome is durable. The default runs [`Store::apply`] on tokio's blocking pool.
    fn charge(self: Arc<Self>, batch: Batch, now_ms: i64) -> ChargeFuture {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.apply(&batch, now_ms))
                .await
                .unwrap_or(Err(StoreError::Stopped))
        })
    }

    /// Applies a batch at once when this store can (its state in memory, a log made
    /// durable by group commit): the outcome now, and a future that resolves once it is
    /// durable (`Err`: it never will be). The caller must not report the outcome before
    /// then. `None`: this store cannot; use [`Store::charge`]. A store answers `None`
    /// for every batch or for none.
    fn charge_now(&self, _batch: &Batch, _now_ms: i64) -> Option<Result<Charged, StoreError>> {
        None
    }

    /// Runs several batches (each with its own `now_ms`), returning one result per batch in
    /// order. A backend that can ([`Store::groups`]) runs them in one transaction, each
    /// batch inside its own savepoint (a failing batch rolls back only its own work), and
    /// commits once: every `Ok` is durable when this returns, and one failure to commit
    /// fails them all ([`StoreError::Group`]). The default runs [`Store::apply`] per batch.
    fn apply_group(&self, batches: &[(&Batch, i64)]) -> Vec<Result<BatchOutcome, StoreError>> {
        batches.iter().map(|(b, now)| self.apply(b, *now)).collect()
    }

    /// Whether the look-ups ([`Store::account_id`], [`Store::session_account`],
    /// [`Store::request_account`], [`Store::ensure_account`] of a known account) are answered
    /// from memory, so that async code may call them without `spawn_blocking`.
    fn lookups_in_memory(&self) -> bool {
        false
    }

    /// Called when a thread charging through [`Store::charge_now`] is about to wait for
    /// work: a store that groups charges may commit what it holds now rather than wait
    /// for more to join. Default: nothing.
    fn producers_idle(&self) {}

    /// Whether [`Store::apply_group`] commits a group in one transaction (then a
    /// [`GroupCommit`] in front of the store pays one commit, one fsync, per group).
    fn groups(&self) -> bool {
        false
    }

    /// The id of the account a Subscription-Id selects (without loading the account).
    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.find_account(id)?.map(|a| a.id))
    }

    /// Sums of the ledger of an account.
    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError>;

    /// Deletes saved request outcomes older than `before_ms`; returns how many.
    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Open sessions and the amount reserved over all accounts (the OCS's gauges).
    fn totals(&self) -> Result<StoreTotals, StoreError>;

    /// Reports the store's own commits to `observer` (charges made durable, and how long
    /// that took) and returns `true`, for a store that groups charges by itself: the
    /// embedded store, one call per journal sync. Others return `false`; their callers
    /// time each call (or group) as one commit.
    fn observe_commits(&self, observer: CommitObserver) -> bool {
        let _ = observer;
        false
    }
}

/// Told of each commit of a store that groups charges itself
/// ([`Store::observe_commits`]): the charges it made durable, and how long it took.
pub type CommitObserver = std::sync::Arc<dyn Fn(usize, std::time::Duration) + Send + Sync>;

/// The future of [`Store::charge`].
pub type ChargeFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<BatchOutcome, StoreError>> + Send + 'static>,
>;

/// A batch applied at once ([`Store::charge_now`]): its outcome, and when it is durable.
pub struct Charged {
    /// The batch's outcome, not to be reported before `durable` resolves.
    pub outcome: BatchOutcome,
    /// Resolves once the outcome is durable (`Err`: it never will be).
    pub durable: DurableFuture,
}

/// The future of [`Charged::durable`].
pub type DurableFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'static>>;

/// What [`Store::totals`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Open sessions.
    pub open_sessions: i64,
    /// Reserved over all accounts, minor units.
    pub reserved: i64,
    /// The embedded store's filter of request keys holds every key saved since this time
    /// (ms since the epoch): an unmarked request is checked for a duplicate against those
    /// (see [`Batch::possible_duplicate`]). `None`: it holds every retained key, or the
    /// store looks every key up in SQL.
    pub keys_in_memory_since_ms: Option<i64>,
}

/// The query of [`Store::totals`] (the same SQL on both backends).
pub(crate) const TOTALS_SQL: &str = "SELECT (SELECT COUNT(*) FROM sessions), \
     (SELECT CAST(COALESCE(SUM(reserved), 0) AS BIGINT) FROM accounts)";

/// The purge of saved outcomes older than `?1` on SQLite: every row before the first one
/// whose `at` is not older (in insertion order, which is time order but for clock steps)
/// goes; a row inserted after a younger one is kept until a later purge, never dropped early.
/// It reads only the rows it deletes and one more, without an index on `at`.
pub(crate) const SQLITE_PURGE_REQUESTS: &str = "DELETE FROM requests WHERE rowid < COALESCE( \
     (SELECT rowid FROM requests WHERE at >= ?1 ORDER BY rowid LIMIT 1), \
     (SELECT MAX(rowid) + 1 FROM requests))";

/// An expired session as listed by [`Store::expired_sessions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredSession {
    /// Session-Id.
    pub session_id: String,
    /// Its account.
    pub account: AccountId,
    /// Its Tcc deadline, ms since the epoch.
    pub expires_at: i64,
}

/// The (Session-Id, account) pairs of `sessions`, sorted by account (the lock order of
/// [`Store::close_expired`]).
pub(crate) fn lock_order(sessions: &[ExpiredSession]) -> Vec<(String, AccountId)> {
    let mut v: Vec<(String, AccountId)> = sessions
        .iter()
        .map(|s| (s.session_id.clone(), s.account))
        .collect();
    v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    v
}

/// Opens a store from a URL: `sqlite://PATH` (or a bare path; `sqlite::memory:` for a
/// private in-memory database), `postgres://...` / `postgresql://...` (libpq URL or
/// `postgres:host=... user=...` key-value form). Creates the schema when missing.
///
/// A SQLite store is the [`Engine`] (state in memory, a durable journal `PATH.journal.*`,
/// SQLite as the store of record; it recovers the journal on open, so the file is
/// complete afterwards); `sqlite://PATH?journal_dir=DIR` puts the journal in `DIR`, for
/// example on a device of its own. `sqlite+direct://PATH` (`sqlite+direct::memory:`) is the SQL-only
/// [`SqliteStore`], one SQLite transaction per batch.
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &PgOptions::default())
}

/// [`open`] with the pool size and timeouts of a PostgreSQL store.
pub fn open_with(url: &str, pg: &PgOptions) -> Result<Arc<dyn Store>, StoreError> {
    open_with_engine(url, pg, &EngineOptions::default())
}

/// [`open_with`] with the settings of the embedded store ([`Engine`], `sqlite://`).
pub fn open_with_engine(
    url: &str,
    pg: &PgOptions,
    engine: &EngineOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(url, pg);
    }
    if let Some(kv) = url.strip_prefix("postgres:") {
        return open_postgres(kv, pg);
    }
    open_sqlite(url, engine)
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str, pg: &PgOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(PgStore::connect_with(url, pg)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_: &str, _: &PgOptions) -> Result<Arc<dyn Store>, StoreError> {
    Err(StoreError::BackendNotBuilt("postgres"))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &str, _: &EngineOptions) -> Result<Arc<dyn Store>, StoreError> {
    Err(StoreError::BackendNotBuilt("sqlite"))
}

#[cfg(feature = "sqlite")]
fn open_sqlite(url: &str, engine: &EngineOptions) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(direct) = url.strip_prefix("sqlite+direct:") {
        // The SQL-only path: every batch is a SQLite transaction (no memory state).
        if direct == ":memory:" {
            return Ok(Arc::new(SqliteStore::in_memory()?));
        }
        let path = direct.strip_prefix("//").unwrap_or(direct);
        if path.is_empty() {
            return Err(StoreError::Config(format!(
                "bad store url `{}`",
                crate::redact::store_url(url)
            )));
        }
        return Ok(Arc::new(SqliteStore::open(path)?));
    }
    if url == "sqlite::memory:" {
        return Ok(Arc::new(Engine::in_memory()?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() {
        return Err(StoreError::Config(format!(
            "bad store url `{}`",
            crate::redact::store_url(url)
        )));
    }
    let (path, journal_dir) = split_journal_dir(path, url)?;
    Ok(Arc::new(Engine::open_with_journal(
        path,
        journal_dir.map(std::path::Path::new),
        *engine,
    )?))
}

/// Checks a store URL's parameters without opening it, with the error [`open`] would
/// give: `journal_dir=DIR` is the one parameter of a `sqlite://` store.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(path) => split_journal_dir(path, url).map(drop),
        None => Ok(()),
    }
}

/// `PATH?journal_dir=DIR`: the embedded store with its journal in `DIR` (see
/// [`Engine::open_with_journal`]).
fn split_journal_dir<'a>(
    path: &'a str,
    url: &str,
) -> Result<(&'a str, Option<&'a str>), StoreError> {
    let Some((path, query)) = path.split_once('?') else {
        return Ok((path, None));
    };
    match query.split_once('=') {
        Some(("journal_dir", dir)) if !dir.is_empty() && !path.is_empty() => Ok((path, Some(dir))),
        _ => Err(StoreError::Config(format!(
            "store url `{}` has an unknown parameter: a sqlite:// store takes one, journal_dir=DIR",
            crate::redact::store_url(url)
        ))),
    }
}

/// Loads an accounts file into a store: accounts whose first id exists keep their balance.
/// Returns how many entries were processed.
pub fn load_accounts(store: &dyn Store, file: &AccountsFile) -> Result<usize, StoreError> {
    for entry in &file.accounts {
        store.ensure_account(&entry.to_new_account(file.currency)?)?;
    }
    Ok(file.accounts.len())
}

/// Encodes an optional rating group for the store (`-1` for "no rating group").
pub(crate) fn rg_key(rating_group: Option<u32>) -> i64 {
    rating_group.map(i64::from).unwrap_or(-1)
}

/// The store tests, on the engine (`sqlite::memory:`) and on the SQL-only store.
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests;
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
#[path = "tests.rs"]
#[allow(clippy::duplicate_mod)] // the same tests on the other backend
mod tests_direct;

/// A build without a backend refuses its URLs by name (run with `--no-default-features`).
#[cfg(all(test, not(all(feature = "sqlite", feature = "postgres"))))]
mod backend_not_built {
    use super::*;

    #[test]
    #[cfg(not(feature = "sqlite"))]
    fn a_sqlite_url_names_the_missing_feature() {
        for url in [
            "sqlite::memory:",
            "sqlite://x.db",
            "sqlite+direct::memory:",
            "x.db",
        ] {
            let e = open(url).err().expect("no sqlite backend");
            assert!(
                matches!(e, StoreError::BackendNotBuilt("sqlite")),
                "{url}: {e}"
            );
            assert!(e.to_string().contains("feature `sqlite`"), "{e}");
        }
    }

    #[test]
    #[cfg(not(feature = "postgres"))]
    fn a_postgres_url_names_the_missing_feature() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "postgres:host=h",
        ] {
            let e = open(url).err().expect("no postgres backend");
            assert!(
                matches!(e, StoreError::BackendNotBuilt("postgres")),
                "{url}: {e}"
            );
            assert!(!e.is_temporary());
        }
    }
}
