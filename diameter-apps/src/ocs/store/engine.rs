//! The embedded store at carrier rate: the state in memory, a durable journal, SQLite as
//! the store of record.
//!
//! A charge ([`Store::apply`], [`Store::charge`]) locks the [`MemState`], runs the batch
//! there with the shared semantics of `batch::run`, appends the batch to the [`Journal`]
//! when it changed something, unlocks, and then waits until the journal's syncer has made
//! that record durable (one `fdatasync` for everything appended meanwhile). Records are
//! appended in the order their batches ran, so a batch that saw another's effects is never
//! durable without it; every answer (a replayed outcome or a refusal too) waits for
//! everything appended before it. A batch that fails changes nothing and is not journaled.
//!
//! A checkpoint thread writes the changes to SQLite every
//! [`EngineOptions::checkpoint_interval`] or [`EngineOptions::checkpoint_records`] records,
//! whichever comes first: the current values of changed accounts, sessions, reservations and
//! debits, and the new ledger rows and saved outcomes, in one transaction that also stores
//! the last LSN it covers (table `engine_checkpoint`). Then the journal segments it covers
//! are deleted. Opening ([`Engine::open`]) recovers: SQLite, then the journal records after
//! the stored LSN (so a crash between the SQLite commit and the segment deletion never
//! applies a record twice), then a checkpoint, so anyone reading the SQLite file afterwards
//! sees everything. Only one process may have the store open (a lock on
//! `<db>.journal.lock`); dropping the engine checkpoints once more.
//!
//! The engine's database has no index of the ledger by account: the engine keeps every
//! account's ledger totals in memory (loaded at open), so the index would only cost a B-tree
//! insert per ledger row. [`SqliteStore::open`] (`sqlite+direct://`) puts it back.
//!
//! Nor has it an index of saved outcomes by key hash: that was a random B-tree insert per
//! CCR, and at a sustained 100,000 CCR/s the checkpoint fell behind once the index outgrew
//! the page cache. Each checkpoint writes its outcomes' (hash, row id) pairs as one sorted
//! run instead, merged in the background ([`super::key_runs`]); outcomes that left memory
//! are found by probing the runs.

use super::bulk_insert::insert_rows;
use super::journal::{self, Journal, Record};
use super::key_runs::KeyRuns;
use super::lookup_budget::LookupBudget;
use super::memory::{
    Changes, DebitLookup, MemAccount, MemLimits, MemSession, MemState, OutcomeLookup,
};
use super::sqlite::{key_hash, SqliteStore};
use super::writeback::sync_paced;
use super::{
    lock_order, Account, AccountId, Batch, BatchOutcome, ChargeFuture, Charged, CommitObserver,
    ExpiredSession, IdKind, LedgerTotals, NewAccount, Op, Store, StoreError, StoreTotals,
    SubscriberId,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::options::EngineOptions;

/// The tables holding the LSN of the last checkpoint and where the journal is.
const META_SQL: &str =
    "CREATE TABLE IF NOT EXISTS engine_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), lsn BIGINT NOT NULL); \
     CREATE TABLE IF NOT EXISTS engine_journal (id INTEGER PRIMARY KEY CHECK (id = 1), path TEXT NOT NULL)";

struct Inner {
    state: Mutex<MemState>,
    journal: Journal,
    sql: SqliteStore,
    opts: EngineOptions,
    /// The SQLite files, which the engine makes durable itself (none in memory).
    files: Option<SqliteFiles>,
    /// LSN of the last checkpoint.
    checkpointed: AtomicU64,
    /// One checkpoint at a time.
    checkpointing: Mutex<Checkpointing>,
    /// Wakes the checkpoint thread early (records) or stops it (`true`).
    wake: Mutex<bool>,
    wake_cond: Condvar,
    /// The bound on look-ups of saved outcomes in SQLite.
    lookups: Mutex<LookupBudget>,
}

/// What the checkpoint keeps between two checkpoints.
struct Checkpointing {
    /// Checkpoints since the WAL was last copied into the database.
    since_copy: u32,
    /// The index of saved outcomes.
    runs: KeyRuns,
}

/// The engine (see the module docs).
pub struct Engine {
    inner: Arc<Inner>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Holds the lock of a file store.
    _lock: Option<Mutex<Connection>>,
}

impl Engine {
    /// Opens (or creates) the store in the SQLite file `path`, recovering its journal
    /// (`PATH.journal.*`, next to the database).
    pub fn open(path: &str, opts: EngineOptions) -> Result<Engine, StoreError> {
        Self::open_with_journal(path, None, opts)
    }

    /// [`Engine::open`] with the journal in `journal_dir` (created if missing), for
    /// example on a device of its own so that its syncs do not queue behind SQLite's
    /// writes; `None` keeps it next to the database.
    ///
    /// The database records where its journal is. Opening it with another journal while
    /// the one it used holds changes not yet checkpointed fails (they would be lost), and
    /// so does a journal that cannot be read; after a clean stop the journal may move (the
    /// old segments, all checkpointed, and spare files are removed).
    pub fn open_with_journal(
        path: &str,
        journal_dir: Option<&Path>,
        opts: EngineOptions,
    ) -> Result<Engine, StoreError> {
        let beside = PathBuf::from(format!("{path}.journal"));
        let base = match journal_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!("journal directory {}: {e}", dir.display()))
                })?;
                dir.join(beside.file_name().unwrap_or_default())
            }
            None => beside.clone(),
        };
        // The lock stays next to the database: one engine per database, wherever its
        // journal is.
        let lock = lock_file(&beside)?;
        let sql = SqliteStore::open_file(path)?;
        sql.lock()
            .execute_batch(super::sqlite::NO_LEDGER_BY_ACCOUNT)?;
        let runs = KeyRuns::open(&mut sql.lock())?;
        let files = SqliteFiles::take_over(&sql, path)?;
        let base = absolute(&base)?;
        let checkpoint = checkpoint_lsn(&sql)?;
        leave_previous_journal(&sql, checkpoint, &absolute(&beside)?, &base, path)?;
        let (state, lsn) = recover(&sql, checkpoint, &base, opts.limits)?;
        // Everything recovered goes to SQLite now, then the old segments go.
        let old: Vec<_> = journal::segments(&base)?
            .into_iter()
            .filter(|(start, _)| *start <= lsn)
            .collect();
        let policy = journal::SyncPolicy {
            syncers: opts.journal_syncers,
            overlap_after: opts.journal_overlap_after,
            min_interval: opts.journal_sync_interval,
        };
        let journal = Journal::create(&base, lsn, policy)?;
        let engine = Self::start(state, journal, sql, runs, Some(files), opts, Some(lock))?;
        engine.inner.checkpoint()?;
        engine.inner.sql.lock().execute(
            "INSERT OR REPLACE INTO engine_journal (id, path) VALUES (1, ?1)",
            [base.to_string_lossy()],
        )?;
        for (_, p) in old {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Config(format!("journal {}: {e}", p.display())))
                }
                _ => {}
            }
        }
        Ok(engine)
    }

    /// A private in-memory store (tests and examples): nothing is written to a file.
    pub fn in_memory() -> Result<Engine, StoreError> {
        let sql = SqliteStore::in_memory()?;
        sql.lock()
            .execute_batch(super::sqlite::NO_LEDGER_BY_ACCOUNT)?;
        let runs = KeyRuns::open(&mut sql.lock())?;
        let checkpoint = checkpoint_lsn(&sql)?;
        let (state, lsn) = recover(&sql, checkpoint, Path::new(""), MemLimits::default())?;
        Self::start(
            state,
            Journal::memory(lsn)?,
            sql,
            runs,
            None,
            EngineOptions::default(),
            None,
        )
    }

    fn start(
        state: MemState,
        journal: Journal,
        sql: SqliteStore,
        runs: KeyRuns,
        files: Option<SqliteFiles>,
        opts: EngineOptions,
        lock: Option<Connection>,
    ) -> Result<Engine, StoreError> {
        let lsn = journal.last_lsn();
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            journal,
            sql,
            files,
            opts,
            checkpointed: AtomicU64::new(lsn),
            checkpointing: Mutex::new(Checkpointing {
                since_copy: 0,
                runs,
            }),
            wake: Mutex::new(false),
            wake_cond: Condvar::new(),
            lookups: Mutex::new(LookupBudget::new(opts.sql_lookups_per_s)),
        });
        let i = inner.clone();
        let thread = std::thread::Builder::new()
            .name("ocs-checkpoint".into())
            .spawn(move || i.checkpoints())
            .map_err(|e| StoreError::Config(format!("cannot start the checkpoint: {e}")))?;
        Ok(Engine {
            inner,
            thread: Some(thread),
            _lock: lock.map(Mutex::new),
        })
    }

    /// Writes everything to SQLite now (also done periodically and on drop).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.inner.checkpoint()
    }

    /// Simulates a crash (tests): stops the checkpoints and releases the lock without a
    /// last checkpoint; the rest is leaked.
    #[cfg(test)]
    fn abandon(mut self) {
        *self.inner.wake.lock().unwrap() = true;
        self.inner.wake_cond.notify_all();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        drop(self._lock.take());
        std::mem::forget(self);
    }

    /// The LSN of the last journal record and of the last durable one.
    pub fn lsns(&self) -> (u64, u64) {
        (
            self.inner.journal.last_lsn(),
            self.inner.journal.durable_lsn(),
        )
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        *self.inner.wake.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.inner.wake_cond.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Err(e) = self.inner.checkpoint() {
            tracing::warn!(error = %e, "ocs: last checkpoint failed; the journal keeps the changes");
        }
    }
}

/// Checkpoints into the WAL between two copies into the database file (about 3 s of
/// changes at the default interval, as SQLite's automatic checkpoint of 10,000 pages did).
const CHECKPOINTS_PER_COPY: u32 = 3;

/// The database and WAL files of the engine's SQLite store. Its connection runs with
/// `synchronous=NORMAL` and no automatic WAL checkpoint: a commit does not sync the WAL,
/// the engine does, paced ([`sync_paced`]), and drops a checkpoint's journal segments only
/// once the WAL holding it is synced. Every [`CHECKPOINTS_PER_COPY`] checkpoints the WAL is
/// copied into the database (`wal_checkpoint`) under `OFF`, and the engine makes the
/// orderings SQLite needs to survive a power loss itself, holding the connection's lock
/// throughout: the WAL synced before the copy, the database synced (paced) after it and
/// before any later commit can reuse the WAL. SQLite syncs a restarted WAL's header itself
/// (`NORMAL` again by then; with `OFF` it would skip it, and a write reordered after a WAL
/// restart could corrupt the database). The checkpoint SQLite makes when the connection
/// closes is synced under `NORMAL` too. A process crash loses nothing either way (the
/// pages are in the OS's cache).
struct SqliteFiles {
    db: PathBuf,
    wal: PathBuf,
}

impl SqliteFiles {
    /// Turns SQLite's sync at each commit and its automatic checkpoints off on the store's
    /// connection.
    fn take_over(sql: &SqliteStore, path: &str) -> Result<SqliteFiles, StoreError> {
        let conn = sql.lock();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(SqliteFiles {
            db: PathBuf::from(path),
            wal: PathBuf::from(format!("{path}-wal")),
        })
    }

    /// Makes the last commit durable; every [`CHECKPOINTS_PER_COPY`] calls, copies the WAL
    /// into the database, durably (then `true`).
    fn sync(&self, sql: &SqliteStore, since_copy: &mut u32) -> Result<bool, StoreError> {
        *since_copy += 1;
        if *since_copy < CHECKPOINTS_PER_COPY {
            sync_file(&self.wal)?;
            return Ok(false);
        }
        // The copy keeps SQLite's orderings (the WAL durable before the database is
        // written, the database durable before the WAL is reused) but the syncs are the
        // engine's, paced: SQLite's own sync of the database after the copy wrote back
        // tens of megabytes at once, and the journal's syncs queued behind them. Under the
        // connection's lock nothing commits or reuses the WAL until the copy is durable.
        let conn = sql.lock();
        sync_file(&self.wal)?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        copied?;
        sync_file(&self.db)?;
        *since_copy = 0;
        Ok(true)
    }
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    sync_paced(&open(path)?)
        .map_err(|e| StoreError::Config(format!("cannot sync {}: {e}", path.display())))
}

fn open(path: &Path) -> Result<File, StoreError> {
    File::open(path).map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))
}

/// Takes the lock of the journal `base`: a SQLite database held in an exclusive
/// transaction for the life of the engine (the OS releases it when the process dies).
fn lock_file(base: &Path) -> Result<Connection, StoreError> {
    let mut path = base.as_os_str().to_owned();
    path.push(".lock");
    let conn = Connection::open(PathBuf::from(&path))?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let taken = conn
        .execute_batch("CREATE TABLE IF NOT EXISTS held (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO held VALUES (1);")
        .is_ok();
    if !taken {
        return Err(StoreError::Config(format!(
            "the store {} is open in another process (or another engine)",
            base.with_extension("").display()
        )));
    }
    Ok(conn)
}

fn absolute(path: &Path) -> Result<PathBuf, StoreError> {
    std::path::absolute(path)
        .map_err(|e| StoreError::Config(format!("journal {}: {e}", path.display())))
}

/// The LSN of the last checkpoint recorded in the database (0 for a new one); creates the
/// engine's tables when missing.
fn checkpoint_lsn(sql: &SqliteStore) -> Result<u64, StoreError> {
    let conn = sql.lock();
    conn.execute_batch(META_SQL)?;
    Ok(conn
        .query_row("SELECT lsn FROM engine_checkpoint WHERE id = 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .map_or(0, |l| l.max(0) as u64))
}

/// Checks that the journal the database used before (next to it when none is recorded)
/// holds nothing past the last checkpoint when the store opens with another one, and
/// removes its segments (all checkpointed) and spare files.
fn leave_previous_journal(
    sql: &SqliteStore,
    checkpoint: u64,
    beside: &Path,
    base: &Path,
    db: &str,
) -> Result<(), StoreError> {
    let recorded: Option<String> = sql
        .lock()
        .query_row("SELECT path FROM engine_journal WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let before = recorded.map_or_else(|| beside.to_path_buf(), PathBuf::from);
    if before == base {
        return Ok(());
    }
    let mut pending = 0u64;
    journal::read_segments(&before, |lsn, _| {
        pending += u64::from(lsn > checkpoint);
        Ok(())
    })
    .map_err(|e| {
        StoreError::Config(format!(
            "the store {db} used the journal {} and it cannot be read ({e}); open the \
             store with that journal so that its changes are recovered",
            before.display()
        ))
    })?;
    if pending > 0 {
        return Err(StoreError::Config(format!(
            "the journal {} holds {pending} changes not yet in the store {db}; open the \
             store with that journal so that they are recovered",
            before.display()
        )));
    }
    for p in journal::files(&before)? {
        std::fs::remove_file(&p)
            .map_err(|e| StoreError::Config(format!("journal {}: {e}", p.display())))?;
    }
    Ok(())
}

/// Loads the state from SQLite and replays the journal records after `checkpoint` (the
/// LSN the database holds, [`checkpoint_lsn`]); returns the state and the last LSN.
fn recover(
    sql: &SqliteStore,
    checkpoint: u64,
    base: &Path,
    limits: MemLimits,
) -> Result<(MemState, u64), StoreError> {
    let mut st = load(&sql.lock(), limits, debit_reader(sql))?;
    if base.as_os_str().is_empty() {
        return Ok((st, checkpoint));
    }
    let fallback = |key: &str| sql_outcome(sql, key);
    let mut replayed = 0u64;
    let last = journal::read_segments(base, |lsn, record| {
        if lsn <= checkpoint {
            return Ok(());
        }
        replayed += 1;
        replay(&mut st, record, &fallback);
        Ok(())
    })?;
    if replayed > 0 {
        tracing::info!(records = replayed, checkpoint, "ocs: journal replayed");
    }
    Ok((st, last.max(checkpoint)))
}

/// Applies one journal record to the state (recovery).
fn replay(st: &mut MemState, record: Record, fallback: OutcomeLookup<'_>) {
    let r = match record {
        Record::Batch { now_ms, batch } => st.replay(&batch, now_ms).map(|_| ()),
        Record::AddAccount { id, account } => st
            .check_new_account(&account)
            .map(|()| st.add_account(id, &account)),
        Record::Adjust { id, delta, now_ms } => st.adjust_balance(id, delta, now_ms).map(|_| ()),
        Record::CloseExpired { sessions, now_ms } => {
            st.close_expired(&sessions, now_ms, fallback).map(|_| ())
        }
        Record::Purge { before_ms } => {
            st.purge_requests(before_ms);
            Ok(())
        }
    };
    if let Err(e) = r {
        tracing::error!(error = %e, "ocs: a journal record failed on replay");
    }
}

/// A saved outcome in SQLite, found through its runs ([`super::key_runs`]).
fn sql_outcome(sql: &SqliteStore, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
    super::key_runs::saved_outcome(&sql.read(), key)
}

/// Reads refundable debits back from a file database, on the store's read-only connection
/// ([`MemState::keep_debits_in`]); `None` in memory, where every debit stays loaded.
fn debit_reader(sql: &SqliteStore) -> Option<DebitLookup> {
    let reader = sql.shared_reader()?;
    Some(Box::new(move |reference: &str| {
        let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
        let row = conn
            .prepare_cached(
                "SELECT account_id, amount, refunded, at FROM debits WHERE reference = ?1",
            )?
            .query_row([reference], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        Ok(row)
    }))
}

/// Loads the state from SQLite. With `debits`, refundable debits stay in SQLite and are
/// read back through it when refunded; without, all of them are loaded.
fn load(
    conn: &Connection,
    limits: MemLimits,
    debits: Option<DebitLookup>,
) -> Result<MemState, StoreError> {
    let mut st = MemState::new(limits);
    st.reserve_bounds();
    // The account rows' ledger sums, with the lines written past them added first.
    if let Some((first, last)) = super::ledger_folded::fold_new_lines(conn)? {
        tracing::info!(
            first,
            last,
            "ocs: ledger lines added to their accounts' sums"
        );
    }
    let mut q = conn.prepare(
        "SELECT id, name, currency, balance, reserved, debited, refunded, adjusted FROM accounts",
    )?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            MemAccount {
                name: r.get(1)?,
                currency: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                balance: r.get(3)?,
                reserved: r.get(4)?,
                ids: Vec::new(),
            },
            LedgerTotals {
                debits: r.get(5)?,
                refunds: r.get(6)?,
                adjustments: r.get(7)?,
            },
        ))
    })?;
    for row in rows {
        let (id, a, ledger) = row?;
        st.load_account(id, a);
        if ledger != LedgerTotals::default() {
            st.load_ledger(id, ledger);
        }
    }
    let mut q = conn.prepare(
        "SELECT id_type, id_data, account_id FROM subscription_ids ORDER BY account_id, id_type, id_data",
    )?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, i32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (t, data, account) = row?;
        let kind = IdKind::from_code(t)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription id type {t}")))?;
        st.load_id(SubscriberId::new(kind, data), account);
    }
    let mut q =
        conn.prepare("SELECT session_id, account_id, expires_at, created_at, peer FROM sessions")?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            MemSession {
                account: r.get(1)?,
                expires_at: r.get(2)?,
                created_at: r.get(3)?,
                peer: r.get::<_, Option<String>>(4)?.map(Arc::from),
            },
        ))
    })?;
    for row in rows {
        let (s, row) = row?;
        st.load_session(s, row);
    }
    let mut q =
        conn.prepare("SELECT session_id, rating_group, account_id, amount FROM reservations")?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (s, rg, account, amount) = row?;
        st.load_reservation(s, rg, account, amount);
    }
    match debits {
        Some(lookup) => st.keep_debits_in(lookup),
        None => {
            let mut q =
                conn.prepare("SELECT reference, account_id, amount, refunded, at FROM debits")?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                ))
            })?;
            for row in rows {
                let (reference, d) = row?;
                st.load_debit(reference, d);
            }
        }
    }
    // Only the newest keys, as many as the filter holds (row ids are given in order, with
    // gaps only where rows were purged): reading every retained key took minutes on a large
    // table. The keys before them count as dropped from the filter.
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM requests", [], |r| {
        r.get(0)
    })?;
    let first = last.saturating_sub(i64::try_from(limits.filter_keys).unwrap_or(i64::MAX)) + 1;
    let before: Option<i64> = conn
        .query_row(
            "SELECT at FROM requests WHERE rowid < ?1 ORDER BY rowid DESC LIMIT 1",
            [first],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(at) = before {
        st.request_keys_missing_through(at);
    }
    let mut q =
        conn.prepare("SELECT request_key, at FROM requests WHERE rowid >= ?1 ORDER BY rowid")?;
    let rows = q.query_map([first], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (key, at) = row?;
        st.load_request_key(&key, at);
    }
    Ok(st)
}

/// Writes a checkpoint's changes and its LSN in one transaction, the saved outcomes with
/// their run ([`KeyRuns`]).
fn write_changes(
    conn: &mut Connection,
    c: &Changes,
    lsn: u64,
    runs: &mut KeyRuns,
) -> Result<(), StoreError> {
    // The rows are the engine's state, already checked by its semantics: the foreign-key
    // checks (one index look-up per ledger row and saved answer) are skipped for this
    // transaction only (the pragma takes effect outside a transaction).
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let written = write_changes_tx(conn, c, lsn, runs);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    written
}

fn write_changes_tx(
    conn: &mut Connection,
    c: &Changes,
    lsn: u64,
    runs: &mut KeyRuns,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_rows(&tx, c)?;
    // The saved outcomes, numbered here so that their run can point at them.
    let first_row = runs.next_row;
    insert_rows(
        &tx,
        "INSERT OR FAIL INTO requests (rowid, request_key, key_hash, account_id, outcome, at)",
        6,
        &c.outcomes,
        {
            let mut row = first_row;
            move |s, i, (key, account, text, at)| {
                s.raw_bind_parameter(i, row)?;
                row += 1;
                s.raw_bind_parameter(i + 1, &**key)?;
                s.raw_bind_parameter(i + 2, key_hash(key))?;
                s.raw_bind_parameter(i + 3, account)?;
                s.raw_bind_parameter(i + 4, &**text)?;
                s.raw_bind_parameter(i + 5, at)
            }
        },
    )?;
    let mut pairs: Vec<(i64, i64)> = (first_row..)
        .zip(&c.outcomes)
        .map(|(row, (key, ..))| (key_hash(key), row))
        .collect();
    pairs.sort_unstable();
    runs.write_run(&tx, &pairs)?;
    if let Some(before) = c.purge_before {
        tx.prepare_cached(super::SQLITE_PURGE_REQUESTS)?
            .execute(params![before])?;
        KeyRuns::purge(&tx)?;
    }
    tx.prepare_cached("INSERT OR REPLACE INTO engine_checkpoint (id, lsn) VALUES (1, ?1)")?
        .execute(params![i64::try_from(lsn).unwrap_or(i64::MAX)])?;
    tx.commit()?;
    runs.committed(first_row + c.outcomes.len() as i64);
    Ok(())
}

/// The changed rows, each statement prepared once (and cached across checkpoints).
fn write_rows(tx: &rusqlite::Transaction<'_>, c: &Changes) -> Result<(), StoreError> {
    let mut account = tx.prepare_cached(
        "INSERT INTO accounts (id, name, currency, balance, reserved) VALUES (?1, ?2, ?3, ?4, 0)",
    )?;
    let mut id_row = tx.prepare_cached(
        "INSERT INTO subscription_ids (id_type, id_data, account_id) VALUES (?1, ?2, ?3)",
    )?;
    for (id, a) in &c.new_accounts {
        account.execute(params![id, a.name, i64::from(a.currency), a.balance])?;
        for sid in &a.ids {
            id_row.execute(params![sid.kind.code(), sid.data, id])?;
        }
    }
    let mut update = tx.prepare_cached(
        "UPDATE accounts SET balance = ?1, reserved = ?2, debited = ?3, refunded = ?4,
         adjusted = ?5 WHERE id = ?6",
    )?;
    for a in &c.accounts {
        let l = a.ledger;
        update.execute(params![
            a.balance,
            a.reserved,
            l.debits,
            l.refunds,
            l.adjustments,
            a.id
        ])?;
    }
    let mut upsert_session = tx.prepare_cached(
        "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (session_id) DO UPDATE SET account_id = excluded.account_id,
         expires_at = excluded.expires_at, created_at = excluded.created_at,
         peer = excluded.peer",
    )?;
    let mut delete_session = tx.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?;
    for (s, row) in &c.sessions {
        match row {
            Some(r) => upsert_session.execute(params![
                &**s,
                r.account,
                r.expires_at,
                r.created_at,
                r.peer.as_deref()
            ])?,
            None => delete_session.execute(params![&**s])?,
        };
    }
    let mut delete_holds = tx.prepare_cached("DELETE FROM reservations WHERE session_id = ?1")?;
    let mut insert_hold = tx.prepare_cached(
        "INSERT INTO reservations (session_id, rating_group, account_id, amount)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (s, rows) in &c.reservations {
        if !c.fresh_holds.contains(s) {
            delete_holds.execute(params![&**s])?;
        }
        for (rg, account, amount) in rows {
            insert_hold.execute(params![&**s, rg, account, amount])?;
        }
    }
    let mut upsert_debit = tx.prepare_cached(
        "INSERT INTO debits (reference, account_id, amount, refunded, at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (reference) DO UPDATE SET refunded = excluded.refunded",
    )?;
    for (reference, (account, amount, refunded, at)) in &c.debits {
        upsert_debit.execute(params![reference, account, amount, refunded, at])?;
    }
    insert_rows(
        tx,
        "INSERT OR FAIL INTO ledger (account_id, session_id, rating_group, kind, amount, request_key, at)",
        7,
        &c.ledger,
        |s, i, l| {
            s.raw_bind_parameter(i, l.account)?;
            s.raw_bind_parameter(i + 1, l.session.as_deref())?;
            s.raw_bind_parameter(i + 2, l.rating_group)?;
            s.raw_bind_parameter(i + 3, l.kind)?;
            s.raw_bind_parameter(i + 4, l.amount)?;
            s.raw_bind_parameter(i + 5, l.key.as_deref())?;
            s.raw_bind_parameter(i + 6, l.at)
        },
    )?;
    if !c.ledger.is_empty() {
        // The account rows written above carry the sums of every line so far.
        super::ledger_folded::mark_folded(tx)?;
    }
    Ok(())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, MemState> {
        // Reads go on after a panic; charges do not (see `run_batch`).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outcome(&self, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        sql_outcome(&self.sql, key)
    }

    /// Runs a batch in memory and journals it; returns the outcome and the LSN to wait for.
    fn run_batch(&self, batch: &Batch, now_ms: i64) -> Result<(BatchOutcome, u64), StoreError> {
        let mut st = self.state();
        // A key only SQLite may hold (a duplicate whose answer left memory, or a marked one
        // past the filter) is looked up there without the state's lock: a probe of every
        // run ([`super::key_runs`]) takes about a hundred microseconds. What it found holds
        // unless a checkpoint ended meanwhile: SQLite then had every outcome saved before
        // `checkpointed_seq`, and the later ones stay in memory until the next checkpoint,
        // where the batch looks first. Otherwise the look-up is made again, under the lock.
        let mut probed = None;
        if let (Some(key), true) = (batch.key.as_deref(), st.key_needs_sql(batch)) {
            if !self.lookup_budget().take(now_ms) {
                return Err(StoreError::LookupBudget(self.opts.sql_lookups_per_s));
            }
            let seq = st.checkpointed_seq();
            drop(st);
            let found = self.outcome(key)?;
            st = self.state();
            if st.checkpointed_seq() == seq {
                probed = Some((key, found));
            }
        }
        let fallback = |k: &str| match &probed {
            Some((key, found)) if *key == k => Ok(found.clone()),
            _ => self.outcome(k),
        };
        // A panic in the middle of a batch would have left it half applied.
        if self.journal.failed() || self.state.is_poisoned() {
            return Err(StoreError::Stopped);
        }
        let backlog = self
            .journal
            .last_lsn()
            .saturating_sub(self.checkpointed.load(Ordering::Relaxed));
        if backlog >= self.opts.max_backlog {
            self.wake_cond.notify_one();
            return Err(StoreError::Backlog(backlog));
        }
        let out = st.run(batch, now_ms, &fallback)?;
        let reads_only =
            batch.key.is_none() && batch.ops.iter().all(|o| matches!(o, Op::Check { .. }));
        let lsn = if out.replayed || out.unknown_session || out.clash || reads_only {
            self.journal.last_lsn()
        } else {
            let lsn = self.journal.append_batch(now_ms, batch)?;
            self.note_record(lsn);
            lsn
        };
        Ok((out, lsn))
    }

    fn lookup_budget(&self) -> MutexGuard<'_, LookupBudget> {
        self.lookups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an admin record (under the state lock) and notes it.
    fn append(&self, r: &Record) -> Result<u64, StoreError> {
        let lsn = self.journal.append(r)?;
        self.note_record(lsn);
        Ok(lsn)
    }

    /// Wakes the checkpoint thread once the records since the last checkpoint reach
    /// [`EngineOptions::checkpoint_records`].
    fn note_record(&self, lsn: u64) {
        if lsn.saturating_sub(self.checkpointed.load(Ordering::Relaxed))
            == self.opts.checkpoint_records
        {
            self.wake_cond.notify_one();
        }
    }

    /// Writes the changes since the last checkpoint to SQLite and drops the journal
    /// segments they cover.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let mut cp = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let cp = &mut *cp;
        let started = Instant::now();
        let (changes, seq, lsn, held) = {
            let mut st = self.state();
            let got = Instant::now();
            let (c, seq) = st.take_changes();
            if c.is_empty() && self.journal.last_lsn() == self.checkpointed.load(Ordering::Relaxed)
            {
                return Ok(()); // idle: no new segment either
            }
            (c, seq, self.journal.rotate(), got.elapsed())
        };
        let taken = started.elapsed();
        let written = write_changes(&mut self.sql.lock(), &changes, lsn, &mut cp.runs);
        let committed = started.elapsed();
        if let Err(e) = written {
            self.state().restore_changes(changes);
            return Err(e);
        }
        // Committed but not yet synced: the journal keeps the records until it is (a failed
        // sync is retried by the next checkpoint, whose sync covers these pages too).
        let copied = match &self.files {
            Some(files) => files.sync(&self.sql, &mut cp.since_copy)?,
            None => false,
        };
        tracing::debug!(
            lsn,
            ledger_rows = changes.ledger.len(),
            // Waiting for the state's lock and holding it; charging waits only for the hold.
            locked_us = taken.as_micros() as u64,
            held_us = held.as_micros() as u64,
            commit_ms = (committed - taken).as_millis() as u64,
            sync_ms = (started.elapsed() - committed).as_millis() as u64,
            copied,
            "ocs: checkpoint"
        );
        self.checkpointed.store(lsn, Ordering::Relaxed);
        let mut emptied = changes;
        emptied.clear();
        let mut st = self.state();
        st.checkpointed(seq);
        st.recycle(emptied);
        drop(st);
        self.journal.drop_segments_through(lsn)
    }

    /// Merges runs of saved outcome keys ([`KeyRuns::merge_step`]) for about `budget`, or
    /// until nothing is left to merge.
    fn merge_runs(&self, budget: Duration) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut cp = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        while cp.runs.merge_step(&mut self.sql.lock())? {
            if started.elapsed() >= budget {
                break;
            }
        }
        Ok(())
    }

    /// The checkpoint thread.
    fn checkpoints(&self) {
        super::writeback::lower_thread_priority();
        loop {
            {
                let stop = self.wake.lock().unwrap_or_else(|e| e.into_inner());
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake_cond
                    .wait_timeout(stop, self.opts.checkpoint_interval)
                    .unwrap_or_else(|e| e.into_inner());
                if *stop {
                    return;
                }
            }
            if let Err(e) = self.checkpoint() {
                tracing::warn!(error = %e, "ocs: checkpoint into SQLite failed; retried");
            }
            // Merging runs goes on in steps until half the interval has passed (checked
            // after each step, as the next checkpoint is due by the end of it).
            if let Err(e) = self.merge_runs(self.opts.checkpoint_interval / 2) {
                tracing::warn!(error = %e, "ocs: merging the index of saved outcomes failed; retried");
            }
        }
    }
}

impl Engine {
    /// Creates an account in memory and journals it; returns its id and record's LSN.
    fn create_account(&self, account: &NewAccount) -> Result<(AccountId, u64), StoreError> {
        let i = &self.inner;
        let mut st = i.state();
        st.check_new_account(account)?;
        let id = st.next_account_id();
        st.add_account(id, account);
        let lsn = i.append(&Record::AddAccount {
            id,
            account: account.clone(),
        })?;
        Ok((id, lsn))
    }
}

impl Store for Engine {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let (id, lsn) = self.create_account(account)?;
        self.inner.journal.wait(lsn)?;
        Ok(id)
    }

    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let i = &self.inner;
        let found = {
            let st = i.state();
            account
                .ids
                .iter()
                .find_map(|sid| st.by_id.get(sid).copied())
        };
        match found {
            Some(id) => Ok(id),
            // Not waited for: the creation is durable with (before) the first charge of the
            // account, which waits for every record appended before its own.
            None => self
                .create_account(account)
                .map(|(id, _)| id)
                .or_else(|e| match e {
                    // Created meanwhile by another caller.
                    StoreError::Duplicate(_) => account
                        .ids
                        .iter()
                        .find_map(|sid| i.state().by_id.get(sid).copied())
                        .ok_or(e),
                    e => Err(e),
                }),
        }
    }

    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        let st = self.inner.state();
        Ok(st.by_id.get(id).and_then(|a| st.account(*a)))
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.inner.state().account(id))
    }

    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.inner.state().by_id.get(id).copied())
    }

    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        let i = &self.inner;
        let (new, lsn) = {
            let mut st = i.state();
            let new = st.adjust_balance(id, delta, now_ms)?;
            (new, i.append(&Record::Adjust { id, delta, now_ms })?)
        };
        i.journal.wait(lsn)?;
        Ok(new)
    }

    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .inner
            .state()
            .sessions
            .get(session_id)
            .map(|s| s.account))
    }

    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        let i = &self.inner;
        i.state().request_account(key, &|k| i.outcome(k))
    }

    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        Ok(self.inner.state().sessions_of(id))
    }

    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        Ok(self.inner.state().expired_sessions(now_ms, after, limit))
    }

    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let i = &self.inner;
        let order = lock_order(sessions);
        let (closed, lsn) = {
            let mut st = i.state();
            let closed = st.close_expired(&order, now_ms, &|k| i.outcome(k))?;
            let lsn = if closed.is_empty() {
                i.journal.last_lsn()
            } else {
                i.append(&Record::CloseExpired {
                    sessions: order,
                    now_ms,
                })?
            };
            (closed, lsn)
        };
        i.journal.wait(lsn)?;
        Ok(closed)
    }

    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let (out, lsn) = self.inner.run_batch(batch, now_ms)?;
        self.inner.journal.wait(lsn)?;
        Ok(out)
    }

    fn charge(self: Arc<Self>, batch: Batch, now_ms: i64) -> ChargeFuture {
        // A retransmission whose key only SQLite may hold costs a probe of every run (about
        // a hundred microseconds): on a blocking thread, not on the caller's (a node's I/O
        // thread, which serves every connection on it).
        let probes = batch.possible_duplicate && self.inner.state().key_needs_sql(&batch);
        if probes && !self.inner.lookup_budget().allows(now_ms) {
            // Refused here, before a blocking thread is taken for it.
            let refused = StoreError::LookupBudget(self.inner.opts.sql_lookups_per_s);
            return Box::pin(std::future::ready(Err(refused)));
        }
        if let (true, Ok(rt)) = (probes, tokio::runtime::Handle::try_current()) {
            return Box::pin(async move {
                let engine = self.clone();
                let (out, lsn) = rt
                    .spawn_blocking(move || engine.inner.run_batch(&batch, now_ms))
                    .await
                    .map_err(|_| StoreError::Stopped)??;
                self.inner.journal.wait_async(lsn).await?;
                Ok(out)
            });
        }
        match self.inner.run_batch(&batch, now_ms) {
            Err(e) => Box::pin(std::future::ready(Err(e))),
            Ok((out, lsn)) => {
                let durable = self.inner.journal.wait_async(lsn);
                Box::pin(async move {
                    durable.await?;
                    Ok(out)
                })
            }
        }
    }

    fn charge_now(&self, batch: &Batch, now_ms: i64) -> Option<Result<Charged, StoreError>> {
        Some(
            self.inner
                .run_batch(batch, now_ms)
                .map(|(outcome, lsn)| Charged {
                    outcome,
                    durable: Box::pin(self.inner.journal.wait_async(lsn)),
                }),
        )
    }

    fn lookups_in_memory(&self) -> bool {
        true
    }

    fn producers_idle(&self) {
        self.inner.journal.producers_idle();
    }

    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        Ok(self.inner.state().ledger_totals(id))
    }

    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError> {
        let i = &self.inner;
        let (n, lsn) = {
            let mut st = i.state();
            let n = st.purge_requests(before_ms);
            (n, i.append(&Record::Purge { before_ms })?)
        };
        i.journal.wait(lsn)?;
        Ok(n)
    }

    fn totals(&self) -> Result<StoreTotals, StoreError> {
        Ok(self.inner.state().totals())
    }
    /// One commit per journal sync: the records (charges and operator actions) it made
    /// durable.
    fn observe_commits(&self, observer: CommitObserver) -> bool {
        self.inner.journal.observe(observer);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> SubscriberId {
        SubscriberId::new(IdKind::E164, "491700000001")
    }

    fn debit(key: &str, amount: i64) -> Batch {
        let mut b = Batch::new(1, None);
        b.key = Some(key.into());
        b.ops.push(Op::Debit {
            amount,
            partial: false,
            reference: None,
        });
        b
    }

    fn sql_count(path: &Path, sql: &str) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    /// Opens the store in a fresh directory: the directory, the database, its journal.
    fn fresh() -> (tempfile::TempDir, PathBuf, PathBuf, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocs.db");
        let base = PathBuf::from(format!("{}.journal", path.display()));
        let e = Engine::open(path.to_str().unwrap(), EngineOptions::default()).unwrap();
        (dir, path, base, e)
    }

    /// Opens the store with no memory for saved outcomes (every look-up of an old one goes
    /// to SQLite) and a filter of `filter_keys` keys.
    fn open_without_outcome_memory(path: &Path, filter_keys: usize) -> Engine {
        let opts = EngineOptions {
            limits: MemLimits {
                outcome_bytes: 0,
                filter_keys,
                ..MemLimits::default()
            },
            ..EngineOptions::default()
        };
        Engine::open(path.to_str().unwrap(), opts).unwrap()
    }

    fn reopen(path: &Path) -> Engine {
        Engine::open(path.to_str().unwrap(), EngineOptions::default()).unwrap()
    }

    #[test]
    fn a_charge_is_journaled_and_recovered_after_a_crash() {
        let (_dir, path, base, e) = fresh();
        assert!(matches!(
            Engine::open(path.to_str().unwrap(), EngineOptions::default()),
            Err(StoreError::Config(_))
        ));
        let id = e
            .add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        assert_eq!(id, 1);
        assert_eq!(e.apply(&debit("k1", 100), 5).unwrap().results, vec![100]);
        assert_eq!(e.adjust_balance(1, 50, 6).unwrap(), 950);
        assert_eq!(e.lsns(), (3, 3));
        // Durable in the journal, not yet in SQLite.
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM ledger"), 0);
        e.abandon();
        // Reopen: the journal is replayed and checkpointed; the charge is there once.
        let e = reopen(&path);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 950);
        // Idle checkpoints start no new segment (the charge after them is durable only once
        // the syncer went through any rotation asked before it).
        e.checkpoint().unwrap();
        e.checkpoint().unwrap();
        e.apply(&debit("k9", 0), 7).unwrap();
        assert_eq!(journal::segments(&base).unwrap().len(), 1);
        assert!(e.apply(&debit("k1", 100), 7).unwrap().replayed);
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM ledger"), 2);
        assert_eq!(sql_count(&path, "SELECT balance FROM accounts"), 950);
        assert_eq!(journal::segments(&base).unwrap().len(), 1);
    }

    #[test]
    fn past_the_filter_only_marked_requests_are_looked_up_and_recovery_does_what_ran() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocs.db");
        let open = || open_without_outcome_memory(&path, 2);
        let e = open();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        const MINUTE: i64 = 60_000;
        e.apply(&debit("old", 10), 0).unwrap();
        e.checkpoint().unwrap(); // in SQLite; no longer kept in memory
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            e.apply(&debit(key, 1), (n as i64 + 1) * MINUTE).unwrap();
        }
        // The filter (two keys) dropped the first two minutes: it holds every key saved
        // since the third (the operator sees it as a metric).
        assert_eq!(
            e.totals().unwrap().keys_in_memory_since_ms,
            Some(2 * MINUTE)
        );
        // A retransmission marked with the T flag is looked for in SQLite and answered
        // from its saved outcome.
        let marked = debit("old", 10);
        assert!(marked.possible_duplicate);
        assert!(e.apply(&marked, 3 * MINUTE).unwrap().replayed);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 987);
        // An unmarked request is checked against the filter's window only: new.
        let mut unmarked = debit("old", 10);
        unmarked.possible_duplicate = false;
        assert!(!e.apply(&unmarked, 3 * MINUTE).unwrap().replayed);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 977);
        // A key the filter still holds is found whether marked or not.
        let mut recent = debit("c", 1);
        recent.possible_duplicate = false;
        assert!(e.apply(&recent, 3 * MINUTE).unwrap().replayed);
        // After a crash, the journal's batches are replayed as they ran: the unmarked
        // charge is not turned into a replay by the outcome SQLite holds for its key.
        e.abandon();
        let e = open();
        assert_eq!(e.account(1).unwrap().unwrap().balance, 977);
        // Opening loads only the newest keys, as many as the filter holds ("c" and "old"
        // of the fourth minute): the rows before them are not read (the first one could
        // not be), and the filter counts them as dropped.
        drop(e);
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE requests SET at = 'unreadable' WHERE request_key = 'a'",
                [],
            )
            .unwrap();
        let e = open();
        assert_eq!(
            e.totals().unwrap().keys_in_memory_since_ms,
            Some(3 * MINUTE)
        );
        assert!(e.apply(&debit("b", 1), 4 * MINUTE).unwrap().replayed);
        let mut unmarked = debit("b", 1);
        unmarked.possible_duplicate = false;
        assert!(!e.apply(&unmarked, 4 * MINUTE).unwrap().replayed);
    }

    #[test]
    fn the_engine_keeps_no_ledger_index_by_account_and_the_direct_store_does() {
        let index = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ledger_account'";
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 100), 5).unwrap();
        drop(e);
        assert_eq!(
            sql_count(&path, index),
            0,
            "the engine reads totals from memory"
        );
        let direct = SqliteStore::open(path.to_str().unwrap()).unwrap();
        assert_eq!(
            sql_count(&path, index),
            1,
            "the direct store reads them by SQL"
        );
        assert_eq!(direct.ledger_totals(1).unwrap().debits, 100);
        drop(direct);
        // Back to the engine: dropped again, the totals still right.
        let e = reopen(&path);
        assert_eq!(sql_count(&path, index), 0);
        assert_eq!(e.ledger_totals(1).unwrap().debits, 100);
    }

    #[test]
    fn opening_reads_the_ledger_sums_from_the_account_rows_and_adds_only_newer_lines() {
        let sql = |path: &Path, q: &str| Connection::open(path).unwrap().execute_batch(q).unwrap();
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 100), 5).unwrap();
        e.adjust_balance(1, 40, 6).unwrap();
        drop(e);
        // The checkpoint wrote the sums with the balance, and marked every line folded.
        assert_eq!(sql_count(&path, "SELECT debited FROM accounts"), 100);
        assert_eq!(sql_count(&path, "SELECT adjusted FROM accounts"), 40);
        assert_eq!(
            sql_count(&path, "SELECT last_line FROM ledger_folded"),
            sql_count(&path, "SELECT MAX(id) FROM ledger")
        );
        // Opening does not sum the ledger again: lines it has folded may be gone and the
        // sums stay what the account row says.
        sql(&path, "DELETE FROM ledger");
        let e = reopen(&path);
        let t = e.ledger_totals(1).unwrap();
        assert_eq!((t.debits, t.refunds, t.adjustments), (100, 0, 40));
        drop(e);
        // A line written past the mark (as the direct store writes) is added once.
        sql(
            &path,
            "INSERT INTO ledger (id, account_id, kind, amount, at) VALUES (1000, 1, 'refund', 7, 9)",
        );
        let e = reopen(&path);
        assert_eq!(e.ledger_totals(1).unwrap().refunds, 7);
        drop(e);
        assert_eq!(sql_count(&path, "SELECT refunded FROM accounts"), 7);
        assert_eq!(
            sql_count(&path, "SELECT last_line FROM ledger_folded"),
            1000
        );
        let e = reopen(&path);
        assert_eq!(e.ledger_totals(1).unwrap().refunds, 7, "added once");
        drop(e);
        // A database from before the sums (schema 6): every line is added when it opens.
        sql(
            &path,
            "UPDATE accounts SET debited = 0, refunded = 0, adjusted = 0;
             UPDATE ledger_folded SET last_line = 0;
             INSERT INTO ledger (account_id, kind, amount, at) VALUES (1, 'debit', 100, 5),
                 (1, 'adjust', 40, 6), (1, 'adjust', -15, 7);",
        );
        let e = reopen(&path);
        let t = e.ledger_totals(1).unwrap();
        assert_eq!((t.debits, t.refunds, t.adjustments), (100, 7, 25));
    }

    #[test]
    fn refundable_debits_leave_memory_at_the_checkpoint_and_refunds_read_them_back() {
        use super::super::batch::REFUND_EXCEEDS;
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        let mut b = debit("k1", 100);
        b.ops[0] = Op::Debit {
            amount: 100,
            partial: false,
            reference: Some("r1".into()),
        };
        e.apply(&b, 5).unwrap();
        let refund = |key: &str, amount: i64| {
            let mut b = Batch::new(1, None);
            b.key = Some(key.into());
            b.ops.push(Op::Refund {
                amount,
                reference: "r1".into(),
            });
            b
        };
        let in_memory = |e: &Engine| e.inner.state().debits_in_memory();
        assert_eq!(in_memory(&e), 1);
        e.checkpoint().unwrap();
        assert_eq!(in_memory(&e), 0, "written, so no longer held");
        // A refund reads the debit back; what is left to refund is kept across batches.
        assert_eq!(e.apply(&refund("k2", 30), 6).unwrap().results, vec![30]);
        assert_eq!(
            e.apply(&refund("k3", 80), 7).unwrap().results,
            vec![REFUND_EXCEEDS]
        );
        e.checkpoint().unwrap();
        assert_eq!(in_memory(&e), 0);
        assert_eq!(e.apply(&refund("k4", 50), 8).unwrap().results, vec![50]);
        // After a crash, the journal's refund is replayed on the debit read from SQLite.
        e.abandon();
        let e = reopen(&path);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 980);
        assert_eq!(
            e.apply(&refund("k5", 21), 9).unwrap().results,
            vec![REFUND_EXCEEDS]
        );
        assert_eq!(e.apply(&refund("k6", 20), 10).unwrap().results, vec![20]);
        drop(e);
        assert_eq!(
            sql_count(&path, "SELECT refunded FROM debits WHERE reference = 'r1'"),
            100
        );
    }

    #[test]
    fn saved_outcomes_are_found_by_runs_in_the_engine_and_by_index_in_the_direct_store() {
        let index = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_key_hash'";
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("by-engine", 100), 5).unwrap();
        drop(e);
        assert_eq!(sql_count(&path, index), 0, "no B-tree index: runs");
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM request_runs"), 1);
        let direct = SqliteStore::open(path.to_str().unwrap()).unwrap();
        assert_eq!(sql_count(&path, index), 1);
        assert!(direct.apply(&debit("by-engine", 100), 6).unwrap().replayed);
        assert!(!direct.apply(&debit("by-direct", 50), 7).unwrap().replayed);
        drop(direct);
        // The engine indexes the direct store's rows when it opens, and finds them in
        // SQLite once out of memory (here, with no memory for outcomes at all).
        let e = open_without_outcome_memory(&path, 1_000);
        assert_eq!(sql_count(&path, index), 0);
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM request_runs"), 2);
        for key in ["by-engine", "by-direct"] {
            assert!(e.apply(&debit(key, 1), 8).unwrap().replayed, "{key}");
        }
        assert_eq!(e.account(1).unwrap().unwrap().balance, 850);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_retransmission_found_only_in_sqlite_is_charged_off_the_callers_thread() {
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k", 10), 5).unwrap();
        drop(e);
        let e = Arc::new(open_without_outcome_memory(&path, 1_000));
        let resend = debit("k", 10);
        assert!(e.inner.state().key_needs_sql(&resend));
        let out = e.clone().charge(resend, 6).await.unwrap();
        assert!(out.replayed, "answered from SQLite, charged once");
        // A new key is charged on the caller's thread, as before.
        let out = e.clone().charge(debit("new", 10), 7).await.unwrap();
        assert!(!out.replayed);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 980);
    }

    #[test]
    fn checkpoints_runs_are_merged_and_every_answer_is_still_found_after_a_crash() {
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 100_000, 978))
            .unwrap();
        let n = super::super::key_runs::FANOUT + 1;
        for i in 0..n {
            e.apply(&debit(&format!("k{i}"), 1), 10).unwrap();
            e.checkpoint().unwrap();
        }
        let runs = "SELECT COUNT(*) FROM request_runs";
        assert_eq!(sql_count(&path, runs), n as i64, "one run per checkpoint");
        e.inner.merge_runs(Duration::from_secs(60)).unwrap();
        assert_eq!(sql_count(&path, runs), 2, "eight merged into one");
        e.apply(&debit("last", 1), 10).unwrap();
        e.abandon();
        // Reopened with no memory for answers: every key is found through the runs (the
        // last one's through the journal's replay and the checkpoint at open).
        let e = open_without_outcome_memory(&path, 1_000);
        for i in 0..n {
            let key = format!("k{i}");
            assert!(e.apply(&debit(&key, 1), 20).unwrap().replayed, "{key}");
        }
        assert!(e.apply(&debit("last", 1), 20).unwrap().replayed);
        assert_eq!(
            e.account(1).unwrap().unwrap().balance,
            100_000 - n as i64 - 1
        );
    }

    #[test]
    fn a_checkpoint_of_many_charges_writes_every_row_in_order() {
        let (_dir, path, _base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 100_000, 978))
            .unwrap();
        let n = 133;
        for i in 1..=n {
            e.apply(&debit(&format!("k{i}"), i), 10).unwrap();
        }
        e.checkpoint().unwrap();
        let debits = "SELECT COUNT(*) FROM ledger WHERE kind = 'debit'";
        assert_eq!(sql_count(&path, debits), n);
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM requests"), n);
        let total = "SELECT SUM(amount) FROM ledger WHERE kind = 'debit'";
        assert_eq!(sql_count(&path, total), n * (n + 1) / 2);
        assert_eq!(
            sql_count(&path, "SELECT balance FROM accounts"),
            100_000 - n * (n + 1) / 2
        );
        // In the order charged: each row's key names its amount, ids ascending.
        let out_of_order = "SELECT COUNT(*) FROM ledger a JOIN ledger b ON a.id < b.id
             WHERE a.kind = 'debit' AND b.kind = 'debit' AND a.amount > b.amount";
        assert_eq!(sql_count(&path, out_of_order), 0);
        let matched = "SELECT COUNT(*) FROM ledger WHERE kind = 'debit'
             AND request_key = 'k' || CAST(amount AS TEXT)";
        assert_eq!(sql_count(&path, matched), n);
        // Each saved outcome is found again after a restart: a retransmission replays.
        e.abandon();
        let e = reopen(&path);
        for i in [1, 64, n] {
            assert!(e.apply(&debit(&format!("k{i}"), i), 11).unwrap().replayed);
        }
    }

    #[test]
    fn a_crash_between_the_checkpoint_and_the_segment_deletion_applies_nothing_twice() {
        let (_dir, path, base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 100), 5).unwrap();
        // An adjustment has no idempotency key: only the stored LSN keeps it from a
        // second application.
        e.adjust_balance(1, 7, 6).unwrap();
        let kept: Vec<(PathBuf, Vec<u8>)> = journal::segments(&base)
            .unwrap()
            .into_iter()
            .map(|(_, p)| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        e.checkpoint().unwrap();
        assert_eq!(sql_count(&path, "SELECT balance FROM accounts"), 907);
        e.abandon();
        // The segments as if their deletion never happened.
        for (p, bytes) in &kept {
            std::fs::write(p, bytes).unwrap();
        }
        let e = reopen(&path);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 907);
        assert_eq!(e.ledger_totals(1).unwrap().adjustments, 7);
        drop(e);
        assert_eq!(sql_count(&path, "SELECT balance FROM accounts"), 907);
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM ledger"), 2);
    }

    #[test]
    fn recycled_segments_and_copies_into_the_database_survive_a_crash() {
        let (_dir, path, base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1_000_000, 978))
            .unwrap();
        // Enough checkpoints for spares to be written over and the WAL copied into the
        // database twice; the last charges only in a recycled segment.
        let mut charged = 0;
        for round in 0..8 {
            for n in 0..50 {
                e.apply(&debit(&format!("r{round}-{n}"), 3), 5).unwrap();
                charged += 3;
            }
            if round < 7 {
                e.checkpoint().unwrap();
            }
        }
        assert!(e.inner.journal.spares_reused() >= 3, "spares written over");
        let last = journal::segments(&base).unwrap().pop().unwrap().1;
        assert!(std::fs::metadata(&last).unwrap().len() > 0);
        e.abandon();
        let e = reopen(&path);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 1_000_000 - charged);
        assert!(e.apply(&debit("r7-49", 3), 6).unwrap().replayed);
        drop(e);
        assert_eq!(sql_count(&path, "SELECT COUNT(*) FROM ledger"), 400);
        assert_eq!(
            sql_count(&path, "SELECT balance FROM accounts"),
            1_000_000 - charged
        );
    }

    #[test]
    fn a_journal_in_its_own_directory_is_recovered_there_and_never_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocs.db");
        let db = path.to_str().unwrap();
        let jdir = dir.path().join("fast").join("journal");
        let beside = PathBuf::from(format!("{db}.journal"));
        let moved = jdir.join("ocs.db.journal");
        let opts = EngineOptions::default();
        let e = Engine::open_with_journal(db, Some(&jdir), opts).unwrap();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 100), 5).unwrap();
        assert!(!journal::segments(&moved).unwrap().is_empty());
        assert!(journal::segments(&beside).unwrap().is_empty());
        e.abandon();
        // Opened with its journal elsewhere, the store would lose the debit: refused.
        let Err(StoreError::Config(refused)) = Engine::open(db, opts) else {
            panic!("opened without the journal that holds a change");
        };
        assert!(refused.contains(&*moved.to_string_lossy()), "{refused}");
        assert!(refused.contains("not yet in"), "{refused}");
        // A journal that cannot be read is refused too.
        let away = dir.path().join("away");
        std::fs::rename(dir.path().join("fast"), &away).unwrap();
        let Err(StoreError::Config(unreadable)) = Engine::open(db, opts) else {
            panic!("opened without reading the journal it used");
        };
        assert!(unreadable.contains("cannot be read"), "{unreadable}");
        std::fs::rename(&away, dir.path().join("fast")).unwrap();
        // Opened with it: recovered, and the debit is not charged twice.
        let e = Engine::open_with_journal(db, Some(&jdir), opts).unwrap();
        assert_eq!(e.account(1).unwrap().unwrap().balance, 900);
        assert!(e.apply(&debit("k1", 100), 6).unwrap().replayed);
        drop(e);
        // After a clean stop the journal may move back next to the database; the old
        // segments, all checkpointed, go.
        let e = Engine::open(db, opts).unwrap();
        assert!(journal::files(&moved).unwrap().is_empty());
        assert_eq!(e.account(1).unwrap().unwrap().balance, 900);
        e.apply(&debit("k2", 10), 7).unwrap();
        e.abandon();
        let e = Engine::open(db, opts).unwrap();
        assert_eq!(e.account(1).unwrap().unwrap().balance, 890);
    }

    #[test]
    fn charges_are_refused_while_the_checkpoint_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocs.db");
        let opts = EngineOptions {
            checkpoint_interval: Duration::from_secs(3600),
            checkpoint_records: u64::MAX,
            max_backlog: 3,
            ..EngineOptions::default()
        };
        let e = Engine::open(path.to_str().unwrap(), opts).unwrap();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 1), 0).unwrap();
        e.apply(&debit("k2", 1), 0).unwrap();
        let refused = e.apply(&debit("k3", 1), 0).unwrap_err();
        assert!(matches!(refused, StoreError::Backlog(3)) && refused.is_temporary());
        assert_eq!(e.account(1).unwrap().unwrap().balance, 998);
        e.checkpoint().unwrap();
        assert_eq!(e.apply(&debit("k3", 1), 0).unwrap().results, vec![1]);
    }

    #[test]
    fn a_torn_journal_tail_is_ignored_on_recovery() {
        let (_dir, path, base, e) = fresh();
        e.add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        e.apply(&debit("k1", 100), 5).unwrap();
        e.apply(&debit("k2", 10), 5).unwrap();
        e.abandon();
        let (_, seg) = journal::segments(&base).unwrap().pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        std::fs::write(&seg, &bytes[..bytes.len() - 5]).unwrap();
        let e = reopen(&path);
        // The last debit was torn: as if it never happened (it was never answered).
        assert_eq!(e.account(1).unwrap().unwrap().balance, 900);
        assert!(!e.apply(&debit("k2", 10), 6).unwrap().replayed);
        assert_eq!(e.account(1).unwrap().unwrap().balance, 890);
    }
}
