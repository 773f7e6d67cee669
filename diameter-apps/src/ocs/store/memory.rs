//! The in-memory state of the [`super::engine::Engine`]: accounts, sessions, reservations,
//! debits, ledger totals and saved request outcomes, with a [`Tx`] over it.
//!
//! [`MemState::run`] runs a batch with the shared semantics of [`batch::run`]; a batch that
//! fails leaves the state exactly as it was (every change is recorded in an undo log and
//! rolled back). Changes are also remembered for the next checkpoint into SQLite: the keys
//! of changed accounts, sessions and debits (their current values are written), and the
//! ledger rows and saved outcomes to insert ([`MemState::take_changes`]).
//!
//! Saved outcomes ([`super::outcomes`]): recent ones are kept in a log bounded in bytes
//! ([`MemLimits::outcome_bytes`]); every retained key is also in a filter of keyed 64-bit
//! hashes in one-minute buckets ([`MemLimits::filter_keys`]). A key missing from the log
//! but present in the filter is looked up in SQLite; when the filter had to drop keys still
//! retained, so is any key of a request marked as a possible duplicate (the T flag; see
//! [`super::outcomes::KeyCheck`]). Any other key is new and costs no SQL.

use super::batch::{self, Batch, BatchOutcome, SessionRow, Tx};
use super::outcomes::{Inserted, KeyCheck, Outcomes};
use super::{
    Account, AccountId, ExpiredSession, LedgerTotals, NewAccount, StoreError, StoreTotals,
    SubscriberId,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The hasher of the in-memory maps: foldhash, seeded per map (keys such as Session-Ids come
/// from the network, so not an unseeded hash), several times faster than SipHash.
pub(crate) type FastHash = foldhash::fast::RandomState;
/// A `HashMap` with [`FastHash`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastHash>;
/// A `HashSet` with [`FastHash`].
pub(crate) type FastSet<K> = HashSet<K, FastHash>;

/// Default bound of the recent saved outcomes kept in memory: 64 MiB.
pub const DEFAULT_OUTCOME_BYTES: usize = 64 << 20;
/// Default bound of the filter of retained request keys: 4 million keys (about 30 bytes
/// each, so about 120 MiB when full).
pub const DEFAULT_FILTER_KEYS: usize = 4 << 20;
/// Default bound of the open sessions: 1 Mi (see [`MemLimits::sessions`]). A session with
/// one reservation takes about 850 bytes of memory with its CCR-I's saved answer, so
/// about 0.9 GB when full.
pub const DEFAULT_MAX_SESSIONS: usize = 1 << 20;

/// Memory bounds of the embedded store's saved request outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemLimits {
    /// The most bytes of recent saved outcomes kept in memory (default
    /// [`DEFAULT_OUTCOME_BYTES`]); older ones are read from SQLite when asked for.
    pub outcome_bytes: usize,
    /// The most request keys in the filter (default [`DEFAULT_FILTER_KEYS`]); past it the
    /// oldest minute is dropped, and until the retention has passed over it an unknown key
    /// is looked up in SQLite only for a request marked as a possible duplicate
    /// ([`Batch::possible_duplicate`]): an unmarked one is checked against the keys the
    /// filter still holds.
    pub filter_keys: usize,
    /// The most open sessions (default [`DEFAULT_MAX_SESSIONS`]): a request that would
    /// open one more is refused with [`StoreError::SessionLimit`] (temporary: answered
    /// 3004) before anything is charged, so that peers opening sessions they never end
    /// cannot grow the memory without bound. Sessions end with their CCR-T or the Tcc
    /// sweep. Recovery replays what ran, past the bound if it was lowered.
    pub sessions: usize,
}

impl Default for MemLimits {
    fn default() -> Self {
        MemLimits {
            outcome_bytes: DEFAULT_OUTCOME_BYTES,
            filter_keys: DEFAULT_FILTER_KEYS,
            sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

/// An account in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemAccount {
    pub name: String,
    pub currency: u32,
    pub balance: i64,
    pub reserved: i64,
    pub ids: Vec<SubscriberId>,
}

/// A session in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemSession {
    pub account: AccountId,
    pub expires_at: i64,
    pub created_at: i64,
    /// The client that opened it (shared: copying a session copies no string).
    pub peer: Option<Arc<str>>,
}

/// The reservations of one session: (rating group, account, amount).
pub(crate) type Holds = Vec<(i64, AccountId, i64)>;

/// A recorded debit: (account, amount, refunded, at).
pub(crate) type DebitRow = (AccountId, i64, i64, i64);

/// A ledger row waiting for the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LedgerRow {
    pub account: AccountId,
    /// The session (shared with the session map).
    pub session: Option<Arc<str>>,
    pub rating_group: Option<i64>,
    pub kind: &'static str,
    pub amount: i64,
    /// The request key (shared with the saved outcome).
    pub key: Option<Arc<str>>,
    pub at: i64,
}

/// A saved outcome: (key, account, outcome, at).
pub(crate) type OutcomeRow = (Arc<str>, AccountId, Arc<str>, i64);

/// An account's row as a checkpoint writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccountRow {
    pub id: AccountId,
    pub balance: i64,
    pub reserved: i64,
    /// The sums of its ledger lines, those of this checkpoint included.
    pub ledger: LedgerTotals,
}

/// What changed since the last checkpoint, with the current values.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub new_accounts: Vec<(AccountId, NewAccount)>,
    /// The accounts whose amounts or ledger sums changed, with their current values.
    pub accounts: Vec<AccountRow>,
    /// Session-Id and its current row (None: deleted). A session opened and ended since
    /// the last checkpoint is not here: SQLite never had it.
    pub sessions: Vec<(Arc<str>, Option<MemSession>)>,
    /// Session-Id and its current reservations (rating group, account, amount).
    pub reservations: Vec<(Arc<str>, Holds)>,
    /// Sessions that had no row in SQLite at the last checkpoint.
    pub fresh_sessions: FastSet<Arc<str>>,
    /// Sessions that had no reservation rows in SQLite at the last checkpoint (nothing to
    /// delete before writing theirs).
    pub fresh_holds: FastSet<Arc<str>>,
    pub debits: Vec<(String, DebitRow)>,
    pub ledger: Vec<LedgerRow>,
    pub outcomes: Vec<OutcomeRow>,
    /// Delete saved outcomes older than this (after inserting `outcomes`).
    pub purge_before: Option<i64>,
}

impl Changes {
    /// Empties every list, keeping its capacity ([`MemState::recycle`]).
    pub fn clear(&mut self) {
        self.new_accounts.clear();
        self.accounts.clear();
        self.sessions.clear();
        self.reservations.clear();
        self.fresh_sessions.clear();
        self.fresh_holds.clear();
        self.debits.clear();
        self.ledger.clear();
        self.outcomes.clear();
        self.purge_before = None;
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.new_accounts.is_empty()
            && self.accounts.is_empty()
            && self.sessions.is_empty()
            && self.reservations.is_empty()
            && self.debits.is_empty()
            && self.ledger.is_empty()
            && self.outcomes.is_empty()
            && self.purge_before.is_none()
    }
}

/// Looks a saved outcome up in the store of record: (account, outcome).
pub(crate) type OutcomeLookup<'a> =
    &'a dyn Fn(&str) -> Result<Option<(AccountId, String)>, StoreError>;

/// Reads a refundable debit from the store of record by its reference
/// ([`MemState::keep_debits_in`]).
pub(crate) type DebitLookup = Box<dyn FnMut(&str) -> Result<Option<DebitRow>, StoreError> + Send>;

/// The in-memory state (see the module docs). A Session-Id is held once, as an `Arc<str>`
/// shared by the session map, the deadline and account indexes, the reservations and the
/// change sets (interned when the session opens), so charging an open session allocates
/// no key.
pub(crate) struct MemState {
    pub accounts: FastMap<AccountId, MemAccount>,
    /// The sum of the accounts' `reserved`, kept as they change: the reserved-amount
    /// gauge reads it without walking every account under the state's lock.
    reserved_total: i128,
    pub by_id: FastMap<SubscriberId, AccountId>,
    pub sessions: FastMap<Arc<str>, MemSession>,
    /// (expires_at, Session-Id) of every session: the Tcc sweep's index.
    deadlines: BTreeSet<(i64, Arc<str>)>,
    /// Per account: (created_at, Session-Id) of its open sessions ([`MemState::sessions_of`]).
    by_account: FastMap<AccountId, BTreeSet<(i64, Arc<str>)>>,
    /// Per session: (rating group, account, amount).
    reservations: FastMap<Arc<str>, Vec<(i64, AccountId, i64)>>,
    /// Refundable debits: all of them, or with [`MemState::keep_debits_in`] only those
    /// changed since the last checkpoint and those read back for a refund.
    debits: FastMap<String, DebitRow>,
    /// Where debits that left memory are read back from.
    debit_lookup: Option<DebitLookup>,
    ledger: FastMap<AccountId, LedgerTotals>,
    outcomes: Outcomes,
    /// [`MemLimits::sessions`].
    max_sessions: usize,
    next_account: AccountId,
    // Changes since the last checkpoint.
    dirty_accounts: FastSet<AccountId>,
    dirty_sessions: FastSet<Arc<str>>,
    dirty_reservations: FastSet<Arc<str>>,
    /// Of the dirty ones, the sessions without a row in SQLite (see [`Changes`]).
    fresh_sessions: FastSet<Arc<str>>,
    fresh_holds: FastSet<Arc<str>>,
    dirty_debits: FastSet<String>,
    new_accounts: Vec<(AccountId, NewAccount)>,
    pending_ledger: Vec<LedgerRow>,
    pending_outcomes: Vec<OutcomeRow>,
    purge_before: Option<i64>,
    /// The lists of the last checkpoint's changes, emptied, for the next one.
    spare: Changes,
}

/// One change undone when a batch fails.
enum Undo {
    Account(AccountId, i64, i64),
    Session(Arc<str>, Option<MemSession>),
    Reservations(Arc<str>, Option<Vec<(i64, AccountId, i64)>>),
    /// One rating group's reservation before a change: (account, amount), or none.
    Reservation(Arc<str>, i64, Option<(AccountId, i64)>),
    Debit(String, Option<DebitRow>),
    Ledger(AccountId, &'static str, i64),
    Outcome(Arc<str>, Inserted),
}

impl MemState {
    /// An empty state.
    pub fn new(limits: MemLimits) -> Self {
        MemState {
            accounts: FastMap::default(),
            reserved_total: 0,
            by_id: FastMap::default(),
            sessions: FastMap::default(),
            deadlines: BTreeSet::new(),
            by_account: FastMap::default(),
            reservations: FastMap::default(),
            debits: FastMap::default(),
            debit_lookup: None,
            ledger: FastMap::default(),
            outcomes: Outcomes::new(limits),
            max_sessions: limits.sessions,
            next_account: 1,
            dirty_accounts: FastSet::default(),
            dirty_sessions: FastSet::default(),
            dirty_reservations: FastSet::default(),
            fresh_sessions: FastSet::default(),
            fresh_holds: FastSet::default(),
            dirty_debits: FastSet::default(),
            new_accounts: Vec::new(),
            pending_ledger: Vec::new(),
            pending_outcomes: Vec::new(),
            purge_before: None,
            spare: Changes::default(),
        }
    }

    // ---- loading (from the store of record; not recorded as changes) ----

    /// Loads an account.
    pub fn load_account(&mut self, id: AccountId, account: MemAccount) {
        for sid in &account.ids {
            self.by_id.insert(sid.clone(), id);
        }
        self.next_account = self.next_account.max(id + 1);
        self.reserved_total += i128::from(account.reserved);
        if let Some(old) = self.accounts.insert(id, account) {
            self.reserved_total -= i128::from(old.reserved);
        }
    }

    /// Loads a subscription id of an account already loaded.
    pub fn load_id(&mut self, id: SubscriberId, account: AccountId) {
        if let Some(a) = self.accounts.get_mut(&account) {
            a.ids.push(id.clone());
        }
        self.by_id.insert(id, account);
    }

    /// Loads a session.
    pub fn load_session(&mut self, session: String, row: MemSession) {
        let key = self.intern(&session);
        self.put_session(key, row);
    }

    /// Loads a reservation.
    pub fn load_reservation(&mut self, session: String, rg: i64, account: AccountId, amount: i64) {
        let key = self.intern(&session);
        self.reservations
            .entry(key)
            .or_default()
            .push((rg, account, amount));
    }

    // ---- the session indexes ----

    /// The shared key of a Session-Id: the one already held for it, else a new one.
    fn intern(&self, session: &str) -> Arc<str> {
        if let Some((k, _)) = self.sessions.get_key_value(session) {
            return k.clone();
        }
        if let Some((k, _)) = self.reservations.get_key_value(session) {
            return k.clone();
        }
        match self.dirty_sessions.get(session) {
            Some(k) => k.clone(),
            None => Arc::from(session),
        }
    }

    /// A session opened since the last checkpoint and closed again: SQLite never had it,
    /// so the checkpoint has nothing to write for it. Forgotten now, not looked up under
    /// the lock at the checkpoint ([`MemState::take_changes`]).
    fn forget_if_unwritten_session(&mut self, session: &Arc<str>) {
        if !self.sessions.contains_key(session) && self.fresh_sessions.remove(session) {
            self.dirty_sessions.remove(session);
        }
    }

    /// The same for reservations made since the last checkpoint and all released.
    fn forget_if_unwritten_holds(&mut self, session: &Arc<str>) {
        if self.reservations.get(session).is_none_or(Vec::is_empty)
            && self.fresh_holds.remove(session)
        {
            self.dirty_reservations.remove(session);
        }
    }

    /// Inserts or replaces a session, keeping the deadline and account indexes. Only the
    /// index entries that change move: a CCR-U moves the session's deadline, not its place
    /// among its account's sessions.
    fn put_session(&mut self, key: Arc<str>, row: MemSession) {
        let (deadline, owner) = (row.expires_at, (row.account, row.created_at));
        let old = match self.sessions.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, row)),
            None => {
                self.sessions.insert(key.clone(), row);
                None
            }
        };
        let old_deadline = old.as_ref().map(|o| o.expires_at);
        if old_deadline != Some(deadline) {
            if let Some(d) = old_deadline {
                self.deadlines.remove(&(d, key.clone()));
            }
            self.deadlines.insert((deadline, key.clone()));
        }
        let old_owner = old.map(|o| (o.account, o.created_at));
        if old_owner != Some(owner) {
            if let Some((account, created_at)) = old_owner {
                self.unindex_account(account, created_at, &key);
            }
            self.by_account
                .entry(owner.0)
                .or_default()
                .insert((owner.1, key));
        }
    }

    /// Sets an account's balance and reserved amount, keeping the reserved total: the one
    /// place they change after loading. The old pair, or `None` when the account has those
    /// already.
    fn set_amounts(
        &mut self,
        id: AccountId,
        balance: i64,
        reserved: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let a = self
            .accounts
            .get_mut(&id)
            .ok_or(StoreError::NoSuchAccount(id))?;
        let old = (a.balance, a.reserved);
        if old == (balance, reserved) {
            return Ok(None);
        }
        self.reserved_total += i128::from(reserved) - i128::from(old.1);
        a.balance = balance;
        a.reserved = reserved;
        Ok(Some(old))
    }

    /// Removes a session and its index entries.
    fn remove_session(&mut self, session: &str) -> Option<MemSession> {
        let (key, old) = self.sessions.remove_entry(session)?;
        self.deadlines.remove(&(old.expires_at, key.clone()));
        self.unindex_account(old.account, old.created_at, &key);
        Some(old)
    }

    fn unindex_account(&mut self, account: AccountId, created_at: i64, key: &Arc<str>) {
        if let Some(set) = self.by_account.get_mut(&account) {
            set.remove(&(created_at, key.clone()));
            if set.is_empty() {
                self.by_account.remove(&account);
            }
        }
    }

    /// Loads a recorded debit.
    pub fn load_debit(&mut self, reference: String, row: DebitRow) {
        self.debits.insert(reference, row);
    }

    /// Refundable debits held in memory.
    #[cfg(test)]
    pub fn debits_in_memory(&self) -> usize {
        self.debits.len()
    }

    /// Keeps refundable debits in memory only until a checkpoint has written them; a refund
    /// of an older one reads it back through `lookup` (the store of record). Refunds are
    /// rare, and every refundable debit kept for good grew the memory without bound.
    pub fn keep_debits_in(&mut self, lookup: DebitLookup) {
        self.debit_lookup = Some(lookup);
    }

    /// Loads the sums of an account's ledger.
    pub fn load_ledger(&mut self, account: AccountId, totals: LedgerTotals) {
        self.ledger.insert(account, totals);
    }

    /// Loads a saved request key (its outcome stays in SQLite).
    pub fn load_request_key(&mut self, key: &str, at: i64) {
        self.outcomes.commit(key, at);
    }

    /// Notes keys saved through `at` that were not loaded ([`MemState::load_request_key`]):
    /// the filter may miss them, as if it had dropped them.
    pub fn request_keys_missing_through(&mut self, at: i64) {
        self.outcomes.keys_missing_through(at);
    }

    // ---- reads ----

    /// An account with its ids.
    pub fn account(&self, id: AccountId) -> Option<Account> {
        self.accounts.get(&id).map(|a| Account {
            id,
            name: a.name.clone(),
            balance: a.balance,
            reserved: a.reserved,
            currency: a.currency,
            ids: a.ids.clone(),
        })
    }

    /// The account of a saved request key.
    pub fn request_account(
        &self,
        key: &str,
        fallback: OutcomeLookup<'_>,
    ) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .outcomes
            .lookup(key, KeyCheck::Retained, fallback)?
            .map(|(a, _)| a))
    }

    /// The open sessions of an account, oldest first.
    /// (From the account index: no scan of all sessions.)
    pub fn sessions_of(&self, id: AccountId) -> Vec<String> {
        self.by_account
            .get(&id)
            .map(|set| set.iter().map(|(_, k)| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Sessions expired at `now_ms`, after the cursor, at most `limit`.
    pub fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Vec<ExpiredSession> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded((a.expires_at, Arc::from(a.session_id.as_str()))),
            None => Bound::Unbounded,
        };
        self.deadlines
            .range((start, Bound::Unbounded))
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .filter_map(|(at, s)| {
                Some(ExpiredSession {
                    session_id: s.to_string(),
                    account: self.sessions.get(s)?.account,
                    expires_at: *at,
                })
            })
            .collect()
    }

    /// The ledger sums of an account.
    pub fn ledger_totals(&self, id: AccountId) -> LedgerTotals {
        self.ledger.get(&id).copied().unwrap_or_default()
    }

    /// Open sessions and the reserved amount over all accounts.
    pub fn totals(&self) -> StoreTotals {
        StoreTotals {
            open_sessions: self.sessions.len() as i64,
            reserved: i64::try_from(self.reserved_total).unwrap_or(i64::MAX),
            keys_in_memory_since_ms: self.outcomes.complete_since(),
        }
    }

    // ---- changes ----

    /// Runs a batch; on `Err` nothing changed. Its key is looked for past the filter only
    /// when [`Batch::possible_duplicate`] is set (see [`KeyCheck`]).
    pub fn run(
        &mut self,
        batch: &Batch,
        now_ms: i64,
        fallback: OutcomeLookup<'_>,
    ) -> Result<BatchOutcome, StoreError> {
        self.run_checked(batch, now_ms, key_check(batch), fallback)
    }

    /// Whether [`MemState::run`] would look the batch's key up in SQLite.
    pub fn key_needs_sql(&self, batch: &Batch) -> bool {
        batch
            .key
            .as_deref()
            .is_some_and(|k| self.outcomes.needs_fallback(k, key_check(batch)))
    }

    /// Outcomes saved before this sequence number are in SQLite ([`MemState::checkpointed`]);
    /// later ones stay in memory until it passes them.
    pub fn checkpointed_seq(&self) -> u64 {
        self.outcomes.checkpointed_seq
    }

    /// Runs a journaled batch again (recovery): it was new when it ran, so its key is not
    /// looked for ([`KeyCheck::Skip`]).
    pub fn replay(&mut self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        self.run_checked(batch, now_ms, KeyCheck::Skip, &|_| Ok(None))
    }

    fn run_checked(
        &mut self,
        batch: &Batch,
        now_ms: i64,
        check: KeyCheck,
        fallback: OutcomeLookup<'_>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut tx = MemTx::new(self, check, fallback);
        let r = batch::run(&mut tx, batch, now_ms);
        tx.finish(r.is_ok());
        r
    }

    /// Closes expired sessions (the Tcc sweep, `sessions` in lock order); on `Err` nothing
    /// changed.
    pub fn close_expired(
        &mut self,
        sessions: &[(String, AccountId)],
        now_ms: i64,
        fallback: OutcomeLookup<'_>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut tx = MemTx::new(self, KeyCheck::Retained, fallback);
        let r = batch::close_expired(&mut tx, sessions, now_ms);
        tx.finish(r.is_ok());
        r
    }

    /// Checks an account to create: ids present and free, balance not negative.
    pub fn check_new_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        if account.ids.is_empty() {
            return Err(StoreError::Refused(
                "an account needs a subscription id".into(),
            ));
        }
        if account.balance < 0 {
            return Err(StoreError::Refused("negative opening balance".into()));
        }
        let mut seen = FastSet::default();
        if account
            .ids
            .iter()
            .any(|i| self.by_id.contains_key(i) || !seen.insert(i))
        {
            return Err(account.duplicate());
        }
        Ok(())
    }

    /// The id the next new account gets.
    pub fn next_account_id(&self) -> AccountId {
        self.next_account
    }

    /// Creates an account under `id` (checked with [`MemState::check_new_account`]).
    pub fn add_account(&mut self, id: AccountId, account: &NewAccount) {
        let mem = MemAccount {
            name: account.name.clone(),
            currency: account.currency,
            balance: account.balance,
            reserved: 0,
            ids: account.ids.clone(),
        };
        self.load_account(id, mem);
        self.new_accounts.push((id, account.clone()));
    }

    /// Adds `delta` to a balance (an operator adjustment), kept in the ledger.
    pub fn adjust_balance(
        &mut self,
        id: AccountId,
        delta: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let a = self
            .accounts
            .get_mut(&id)
            .ok_or(StoreError::NoSuchAccount(id))?;
        let new = a.balance.checked_add(delta).ok_or_else(|| {
            StoreError::Refused(format!("balance {} + {delta} overflows", a.balance))
        })?;
        if new < a.reserved {
            return Err(StoreError::Refused(format!(
                "balance {new} would be below the reserved {}",
                a.reserved
            )));
        }
        a.balance = new;
        self.dirty_accounts.insert(id);
        add_ledger(self.ledger.entry(id).or_default(), "adjust", delta);
        self.pending_ledger.push(LedgerRow {
            account: id,
            session: None,
            rating_group: None,
            kind: "adjust",
            amount: delta,
            key: None,
            at: now_ms,
        });
        Ok(new)
    }

    /// Forgets saved outcomes older than `before_ms` (here and, at the next checkpoint, in
    /// SQLite); returns how many left memory.
    pub fn purge_requests(&mut self, before_ms: i64) -> u64 {
        self.purge_before = Some(self.purge_before.unwrap_or(before_ms).max(before_ms));
        self.outcomes.purge(before_ms)
    }

    /// Takes what changed since the last call, for a checkpoint; the saved outcomes taken
    /// may be evicted from memory once [`MemState::checkpointed`] is called.
    ///
    /// The lists come from the last [`MemState::recycle`]d changes: after the first
    /// checkpoints neither charging (under the state lock) nor this grows them.
    pub fn take_changes(&mut self) -> (Changes, u64) {
        let mut c = std::mem::take(&mut self.spare);
        std::mem::swap(&mut c.new_accounts, &mut self.new_accounts);
        std::mem::swap(&mut c.ledger, &mut self.pending_ledger);
        std::mem::swap(&mut c.outcomes, &mut self.pending_outcomes);
        c.purge_before = self.purge_before.take();
        for id in self.dirty_accounts.drain() {
            if let Some(a) = self.accounts.get(&id) {
                c.accounts.push(AccountRow {
                    id,
                    balance: a.balance,
                    reserved: a.reserved,
                    ledger: self.ledger.get(&id).copied().unwrap_or_default(),
                });
            }
        }
        std::mem::swap(&mut c.fresh_sessions, &mut self.fresh_sessions);
        std::mem::swap(&mut c.fresh_holds, &mut self.fresh_holds);
        for s in self.dirty_sessions.drain() {
            let row = self.sessions.get(&s).cloned();
            if row.is_some() || !c.fresh_sessions.contains(&s) {
                c.sessions.push((s, row));
            }
        }
        for s in self.dirty_reservations.drain() {
            let rows = self.reservations.get(&s).cloned().unwrap_or_default();
            if !rows.is_empty() || !c.fresh_holds.contains(&s) {
                c.reservations.push((s, rows));
            }
        }
        for r in self.dirty_debits.drain() {
            if let Some(row) = self.debits.get(&r) {
                c.debits.push((r, *row));
            }
        }
        (c, self.outcomes.next_seq())
    }

    /// Sizes the saved outcomes for their bound (a long-lived state: the embedded
    /// engine's), so that charging never waits for their map to grow.
    pub fn reserve_bounds(&mut self) {
        self.outcomes.reserve_bounds();
    }

    /// The saved outcomes up to `seq` (from [`MemState::take_changes`]) are in SQLite.
    pub fn checkpointed(&mut self, seq: u64) {
        self.outcomes.checkpointed(seq);
        if self.debit_lookup.is_some() {
            // The debits not changed since the checkpoint took its changes are in SQLite.
            let dirty = &self.dirty_debits;
            self.debits.retain(|r, _| dirty.contains(r));
        }
    }

    /// Keeps written changes, emptied ([`Changes::clear`], best outside the lock), for
    /// the next [`MemState::take_changes`]. Their capacity is what one checkpoint interval
    /// needed.
    pub fn recycle(&mut self, emptied: Changes) {
        debug_assert!(emptied.is_empty() && emptied.fresh_sessions.is_empty());
        self.spare = emptied;
    }

    /// Puts back changes whose checkpoint failed (they are written with the next one).
    pub fn restore_changes(&mut self, c: Changes) {
        let mut new_accounts = c.new_accounts;
        new_accounts.append(&mut self.new_accounts);
        self.new_accounts = new_accounts;
        let mut ledger = c.ledger;
        ledger.append(&mut self.pending_ledger);
        self.pending_ledger = ledger;
        let mut outcomes = c.outcomes;
        outcomes.append(&mut self.pending_outcomes);
        self.pending_outcomes = outcomes;
        if let Some(p) = c.purge_before {
            self.purge_before = Some(self.purge_before.unwrap_or(p).max(p));
        }
        self.dirty_accounts
            .extend(c.accounts.into_iter().map(|a| a.id));
        for (s, _) in c.sessions {
            let key = self.intern(&s);
            self.dirty_sessions.insert(key);
        }
        for (s, _) in c.reservations {
            let key = self.intern(&s);
            self.dirty_reservations.insert(key);
        }
        self.fresh_sessions.extend(c.fresh_sessions);
        self.fresh_holds.extend(c.fresh_holds);
        self.dirty_debits.extend(c.debits.into_iter().map(|d| d.0));
    }
}

fn add_ledger(t: &mut LedgerTotals, kind: &str, amount: i64) {
    match kind {
        "debit" => t.debits = t.debits.saturating_add(amount),
        "refund" => t.refunds = t.refunds.saturating_add(amount),
        _ => t.adjustments = t.adjustments.saturating_add(amount),
    }
}

/// A transaction over [`MemState`] with an undo log.
struct MemTx<'a> {
    st: &'a mut MemState,
    undo: Vec<Undo>,
    /// The interned key of the last Session-Id asked for (a batch has one session).
    key: Option<Arc<str>>,
    /// The batch's request key, made once for its ledger rows and saved outcome.
    request_key: Option<Arc<str>>,
    /// How far back the batch's key is looked for.
    check: KeyCheck,
    fallback: OutcomeLookup<'a>,
    /// Lengths of the pending ledger rows and outcomes at the start.
    ledger_len: usize,
    outcomes_len: usize,
}

impl<'a> MemTx<'a> {
    fn new(st: &'a mut MemState, check: KeyCheck, fallback: OutcomeLookup<'a>) -> Self {
        let (ledger_len, outcomes_len) = (st.pending_ledger.len(), st.pending_outcomes.len());
        MemTx {
            st,
            undo: Vec::with_capacity(8),
            key: None,
            request_key: None,
            check,
            fallback,
            ledger_len,
            outcomes_len,
        }
    }

    /// Commits (`ok`) or rolls everything back.
    fn finish(self, ok: bool) {
        let MemTx {
            st,
            undo,
            ledger_len,
            outcomes_len,
            ..
        } = self;
        if ok {
            for (key, _, _, at) in &st.pending_outcomes[outcomes_len..] {
                st.outcomes.commit(key, *at);
            }
            for u in &undo {
                match u {
                    Undo::Session(s, _) => st.forget_if_unwritten_session(s),
                    Undo::Reservations(s, _) | Undo::Reservation(s, ..) => {
                        st.forget_if_unwritten_holds(s)
                    }
                    _ => {}
                }
            }
            return;
        }
        st.pending_ledger.truncate(ledger_len);
        st.pending_outcomes.truncate(outcomes_len);
        for u in undo.into_iter().rev() {
            match u {
                Undo::Account(id, b, r) => {
                    // An account of the batch: it exists.
                    let _ = st.set_amounts(id, b, r);
                }
                Undo::Session(s, old) => {
                    st.remove_session(&s);
                    if let Some(old) = old {
                        st.put_session(s, old);
                    }
                }
                Undo::Reservations(s, old) => match old {
                    Some(v) => {
                        st.reservations.insert(s, v);
                    }
                    None => {
                        st.reservations.remove(&s);
                    }
                },
                Undo::Reservation(s, rg, old) => {
                    let v = st.reservations.entry(s.clone()).or_default();
                    let at = v.iter().position(|r| r.0 == rg);
                    match (at, old) {
                        (Some(i), Some((account, amount))) => v[i] = (rg, account, amount),
                        (None, Some((account, amount))) => v.push((rg, account, amount)),
                        (Some(i), None) => {
                            v.swap_remove(i);
                        }
                        (None, None) => {}
                    }
                    if v.is_empty() {
                        st.reservations.remove(&s);
                    }
                }
                Undo::Debit(r, old) => match old {
                    Some(v) => {
                        st.debits.insert(r, v);
                    }
                    None => {
                        st.debits.remove(&r);
                    }
                },
                Undo::Ledger(id, kind, amount) => {
                    if let Some(t) = st.ledger.get_mut(&id) {
                        add_ledger(t, kind, -amount);
                    }
                }
                Undo::Outcome(key, how) => st.outcomes.remove_last(&key, how),
            }
        }
    }

    /// The shared key of `session` (see [`MemState::intern`]), kept for the batch.
    fn key(&mut self, session: &str) -> Arc<str> {
        match &self.key {
            Some(k) if **k == *session => k.clone(),
            _ => {
                let k = self.st.intern(session);
                self.key = Some(k.clone());
                k
            }
        }
    }

    /// The shared copy of the batch's request key.
    fn request_key(&mut self, key: &str) -> Arc<str> {
        match &self.request_key {
            Some(k) if **k == *key => k.clone(),
            _ => {
                let k: Arc<str> = Arc::from(key);
                self.request_key = Some(k.clone());
                k
            }
        }
    }

    /// Records the session's current row for undo and marks it changed; returns its key.
    fn save_session(&mut self, session: &str) -> Arc<str> {
        let key = self.key(session);
        self.undo.push(Undo::Session(
            key.clone(),
            self.st.sessions.get(session).cloned(),
        ));
        if !self.st.dirty_sessions.contains(session) {
            // Not changed since the last checkpoint: SQLite holds what memory holds.
            if !self.st.sessions.contains_key(session) {
                self.st.fresh_sessions.insert(key.clone());
            }
            self.st.dirty_sessions.insert(key.clone());
        }
        key
    }

    /// Marks the session's reservations changed (the caller records the undo); returns
    /// its key.
    fn mark_reservations(&mut self, session: &str) -> Arc<str> {
        let key = self.key(session);
        if !self.st.dirty_reservations.contains(session) {
            if self.st.reservations.get(session).is_none_or(Vec::is_empty) {
                self.st.fresh_holds.insert(key.clone());
            }
            self.st.dirty_reservations.insert(key.clone());
        }
        key
    }

    fn save_debit(&mut self, reference: &str) {
        self.undo.push(Undo::Debit(
            reference.to_string(),
            self.st.debits.get(reference).copied(),
        ));
        if !self.st.dirty_debits.contains(reference) {
            self.st.dirty_debits.insert(reference.to_string());
        }
    }
}

impl Tx for MemTx<'_> {
    fn lock_account(&mut self, id: AccountId) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self.st.accounts.get(&id).map(|a| (a.balance, a.reserved)))
    }

    fn set_account(
        &mut self,
        id: AccountId,
        balance: i64,
        reserved: i64,
    ) -> Result<(), StoreError> {
        if let Some((b, r)) = self.st.set_amounts(id, balance, reserved)? {
            self.undo.push(Undo::Account(id, b, r));
            self.st.dirty_accounts.insert(id);
        }
        Ok(())
    }

    fn saved_outcome(&mut self, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        self.st.outcomes.lookup(key, self.check, self.fallback)
    }

    fn save_outcome(
        &mut self,
        key: &str,
        account: AccountId,
        outcome: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (key, outcome): (Arc<str>, Arc<str>) = (self.request_key(key), outcome.into());
        let how = self.st.outcomes.insert(&key, account, &outcome, now_ms);
        self.undo.push(Undo::Outcome(key.clone(), how));
        self.st
            .pending_outcomes
            .push((key, account, outcome, now_ms));
        Ok(())
    }

    fn session(&mut self, session: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self.st.sessions.get(session).map(|s| SessionRow {
            account: s.account,
            expires_at: s.expires_at,
            peer: s.peer.as_deref().map(str::to_string),
        }))
    }

    fn session_owned_by(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
    ) -> Result<Option<bool>, StoreError> {
        Ok(self
            .st
            .sessions
            .get(session)
            .map(|s| batch::owned_by(s.account, s.peer.as_deref(), account, peer)))
    }

    fn upsert_session(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let full = self.st.sessions.len() >= self.st.max_sessions;
        // A replayed batch opened its session when it ran: it does again.
        if full && self.check != KeyCheck::Skip && !self.st.sessions.contains_key(session) {
            return Err(StoreError::SessionLimit(self.st.max_sessions));
        }
        let key = self.save_session(session);
        let row = match self.st.sessions.get(session) {
            // As in SQL: an existing session only gets the new deadline.
            Some(old) => MemSession {
                expires_at,
                ..old.clone()
            },
            None => MemSession {
                account,
                expires_at,
                created_at: now_ms,
                peer: peer.map(Arc::from),
            },
        };
        self.st.put_session(key, row);
        Ok(())
    }

    fn debit(&mut self, reference: &str) -> Result<Option<(AccountId, i64, i64)>, StoreError> {
        let row = match self.st.debits.get(reference) {
            Some(row) => *row,
            None => {
                // Under the state's lock: a debit leaves memory only once SQLite has its
                // last value, so what is read here is current.
                let Some(lookup) = self.st.debit_lookup.as_mut() else {
                    return Ok(None);
                };
                let Some(row) = lookup(reference)? else {
                    return Ok(None);
                };
                // Kept for the batch (its refund updates it); dropped again if it fails.
                self.undo.push(Undo::Debit(reference.to_string(), None));
                self.st.debits.insert(reference.to_string(), row);
                row
            }
        };
        let (account, amount, refunded, _) = row;
        Ok(Some((account, amount, refunded)))
    }

    fn insert_debit(
        &mut self,
        reference: &str,
        account: AccountId,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if self.st.debits.contains_key(reference) {
            return Err(StoreError::Refused(format!(
                "debit reference {reference} exists"
            )));
        }
        self.save_debit(reference);
        self.st
            .debits
            .insert(reference.to_string(), (account, amount, 0, now_ms));
        Ok(())
    }

    fn set_refunded(&mut self, reference: &str, refunded: i64) -> Result<(), StoreError> {
        self.save_debit(reference);
        if let Some(d) = self.st.debits.get_mut(reference) {
            d.2 = refunded;
        }
        Ok(())
    }

    fn touch_session(&mut self, session: &str, expires_at: i64) -> Result<(), StoreError> {
        let Some(old) = self.st.sessions.get(session).cloned() else {
            return Ok(());
        };
        let key = self.save_session(session);
        self.st.put_session(key, MemSession { expires_at, ..old });
        Ok(())
    }

    fn delete_session(&mut self, session: &str) -> Result<(), StoreError> {
        if !self.st.sessions.contains_key(session) {
            return Ok(());
        }
        self.save_session(session);
        self.st.remove_session(session);
        Ok(())
    }

    fn reservation(&mut self, session: &str, rg: i64) -> Result<i64, StoreError> {
        Ok(self
            .st
            .reservations
            .get(session)
            .and_then(|v| v.iter().find(|r| r.0 == rg))
            .map_or(0, |r| r.2))
    }

    fn set_reservation(
        &mut self,
        session: &str,
        rg: i64,
        account: AccountId,
        amount: i64,
    ) -> Result<(), StoreError> {
        if amount < 0 {
            return Err(StoreError::Corrupt(format!(
                "reservation {amount} of session {session}"
            )));
        }
        let key = self.mark_reservations(session);
        let v = self.st.reservations.entry(key.clone()).or_default();
        let at = v.iter().position(|r| r.0 == rg);
        // Undo keeps the one rating group's old value, not a copy of them all.
        let old = at.map(|i| (v[i].1, v[i].2));
        self.undo.push(Undo::Reservation(key, rg, old));
        match at {
            Some(i) if amount == 0 => {
                v.swap_remove(i);
            }
            Some(i) => v[i] = (rg, account, amount),
            None if amount > 0 => v.push((rg, account, amount)),
            None => {}
        }
        if v.is_empty() {
            self.st.reservations.remove(session);
        }
        Ok(())
    }

    fn take_reservations(&mut self, session: &str) -> Result<i64, StoreError> {
        if !self.st.reservations.contains_key(session) {
            return Ok(0);
        }
        let key = self.mark_reservations(session);
        let v = self.st.reservations.remove(session).unwrap_or_default();
        let sum = v.iter().map(|r| r.2).sum();
        // The removed rows themselves are the undo (no copy).
        self.undo.push(Undo::Reservations(key, Some(v)));
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
        let kind: &'static str = match kind {
            "debit" => "debit",
            "refund" => "refund",
            _ => "adjust",
        };
        add_ledger(self.st.ledger.entry(account).or_default(), kind, amount);
        self.undo.push(Undo::Ledger(account, kind, amount));
        // The account's row carries its ledger sums: the checkpoint writes them.
        self.st.dirty_accounts.insert(account);
        let session = session.map(|s| self.key(s));
        let key = key.map(|k| self.request_key(k));
        self.st.pending_ledger.push(LedgerRow {
            account,
            session,
            rating_group: rg,
            kind,
            amount,
            key,
            at: now_ms,
        });
        Ok(())
    }
}

/// How far back a batch's key is looked for: past the filter only when it is marked as a
/// possible duplicate.
fn key_check(batch: &Batch) -> KeyCheck {
    if batch.possible_duplicate {
        KeyCheck::Retained
    } else {
        KeyCheck::Window
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IdKind, Op};
    use super::*;

    fn no_sql(_: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        Ok(None)
    }

    fn state() -> (MemState, AccountId) {
        let mut st = MemState::new(MemLimits::default());
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, "1")], 1000, 978);
        st.check_new_account(&acc).unwrap();
        let id = st.next_account_id();
        st.add_account(id, &acc);
        (st, id)
    }

    /// A second account (subscriber "2") with `balance`.
    fn second_account(st: &mut MemState, balance: i64) -> AccountId {
        let other = NewAccount::new(vec![SubscriberId::new(IdKind::E164, "2")], balance, 978);
        let id = st.next_account_id();
        st.add_account(id, &other);
        id
    }

    /// A batch opening `session` (until 10) with `want` reserved for `rating_group`.
    fn open_with_hold(id: AccountId, session: &str, rating_group: Option<u32>, want: i64) -> Batch {
        let mut b = Batch::new(id, Some(session.into()));
        b.ops = vec![
            Op::OpenSession { expires_at: 10 },
            Op::Reserve {
                rating_group,
                want,
                block: 0,
            },
        ];
        b
    }

    fn snapshot(st: &MemState) -> String {
        let mut sessions: Vec<_> = st.sessions.iter().collect();
        sessions.sort_by(|a, b| a.0.cmp(b.0));
        let mut res: Vec<_> = st.reservations.iter().collect();
        res.sort_by(|a, b| a.0.cmp(b.0));
        let mut by_account: Vec<_> = st.by_account.iter().collect();
        by_account.sort_by_key(|e| *e.0);
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {}",
            st.accounts.get(&1),
            sessions,
            st.deadlines,
            by_account,
            res,
            st.debits.len(),
            st.ledger_totals(1),
            st.outcomes.in_memory(),
            st.pending_ledger.len(),
            st.pending_outcomes.len(),
        )
    }

    /// `ops`, then the same debit reference twice: the batch fails after all of `ops` ran.
    fn then_fail(mut ops: Vec<Op>) -> Vec<Op> {
        let debit = Op::Debit {
            amount: 1,
            partial: false,
            reference: Some("twice".into()),
        };
        ops.extend([debit.clone(), debit]);
        ops
    }

    /// The reserved total the gauge reads, checked against a walk over every account.
    fn reserved(st: &MemState) -> i64 {
        let walked: i64 = st.accounts.values().map(|a| a.reserved).sum();
        assert_eq!(st.totals().reserved, walked, "kept total and walk differ");
        walked
    }

    /// The deadline and account indexes hold exactly one entry per open session, at its
    /// current values.
    fn assert_indexes(st: &MemState) {
        let deadlines: BTreeSet<(i64, Arc<str>)> = st
            .sessions
            .iter()
            .map(|(k, s)| (s.expires_at, k.clone()))
            .collect();
        assert_eq!(st.deadlines, deadlines);
        let mut by_account: FastMap<AccountId, BTreeSet<(i64, Arc<str>)>> = FastMap::default();
        for (k, s) in &st.sessions {
            by_account
                .entry(s.account)
                .or_default()
                .insert((s.created_at, k.clone()));
        }
        assert_eq!(st.by_account, by_account);
    }

    #[test]
    fn sessions_past_the_bound_are_refused_before_anything_is_charged_but_replayed() {
        let limits = MemLimits {
            sessions: 2,
            ..MemLimits::default()
        };
        let mut st = MemState::new(limits);
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, "1")], 1000, 978);
        let id = st.next_account_id();
        st.add_account(id, &acc);
        st.run(&open_with_hold(id, "s1", None, 100), 0, &no_sql)
            .unwrap();
        st.run(&open_with_hold(id, "s2", None, 100), 0, &no_sql)
            .unwrap();
        let before = snapshot(&st);
        let third = st.run(&open_with_hold(id, "s3", None, 100), 0, &no_sql);
        assert!(
            matches!(third, Err(StoreError::SessionLimit(2))),
            "{third:?}"
        );
        assert!(third.unwrap_err().is_temporary());
        assert_eq!(snapshot(&st), before, "nothing of the refused batch stays");
        // An open session goes on; once one ends, a new one opens.
        st.run(&open_with_hold(id, "s2", None, 50), 1, &no_sql)
            .unwrap();
        let mut close = Batch::new(id, Some("s1".into()));
        close.ops = vec![Op::CloseSession];
        st.run(&close, 2, &no_sql).unwrap();
        st.run(&open_with_hold(id, "s3", None, 100), 3, &no_sql)
            .unwrap();
        // Recovery replays what ran, even past a bound lowered since.
        st.replay(&open_with_hold(id, "s4", None, 100), 4).unwrap();
        assert_eq!(st.sessions.len(), 3);
    }

    #[test]
    fn touches_move_the_deadline_and_keep_the_account_index() {
        let (mut st, id) = state();
        st.run(&open_with_hold(id, "a", Some(1), 100), 0, &no_sql)
            .unwrap();
        st.run(&open_with_hold(id, "b", Some(1), 100), 1, &no_sql)
            .unwrap();
        assert_indexes(&st);
        let mut touch = Batch::new(id, Some("a".into()));
        touch.ops = vec![Op::Touch { expires_at: 50 }];
        st.run(&touch, 2, &no_sql).unwrap();
        assert_indexes(&st);
        assert_eq!(st.sessions["a"].expires_at, 50);
        // A touch undone with its batch puts the old deadline back.
        let mut failing = touch.clone();
        failing.ops = then_fail(vec![Op::Touch { expires_at: 70 }]);
        assert!(st.run(&failing, 3, &no_sql).is_err());
        assert_indexes(&st);
        assert_eq!(st.sessions["a"].expires_at, 50);
        let mut close = Batch::new(id, Some("a".into()));
        close.ops = vec![Op::CloseSession];
        st.run(&close, 4, &no_sql).unwrap();
        assert_indexes(&st);
        assert_eq!(st.sessions.len(), 1);
    }

    #[test]
    fn the_reserved_total_follows_reserves_releases_and_undone_batches() {
        let (mut st, id) = state();
        let id2 = second_account(&mut st, 500);
        assert_eq!(reserved(&st), 0);
        st.run(&open_with_hold(id, "a", Some(1), 300), 0, &no_sql)
            .unwrap();
        st.run(&open_with_hold(id2, "b", None, 200), 0, &no_sql)
            .unwrap();
        assert_eq!(reserved(&st), 500);
        // A batch that reserves more and then fails leaves the total as it was.
        let mut failing = Batch::new(id, Some("a".into()));
        failing.ops = then_fail(vec![Op::Reserve {
            rating_group: Some(2),
            want: 100,
            block: 0,
        }]);
        assert!(st.run(&failing, 1, &no_sql).is_err());
        assert_eq!(reserved(&st), 500);
        // Settling and closing a session releases its hold.
        let mut close = Batch::new(id, Some("a".into()));
        close.ops = vec![
            Op::Settle {
                rating_group: Some(1),
                used_cost: 120,
            },
            Op::CloseSession,
        ];
        st.run(&close, 2, &no_sql).unwrap();
        assert_eq!(reserved(&st), 200);
        assert_eq!(st.totals().open_sessions, 1);
    }

    #[test]
    fn a_failed_batch_leaves_the_state_unchanged() {
        let (mut st, id) = state();
        let mut open = open_with_hold(id, "s", Some(1), 300);
        open.key = Some("k1".into());
        st.run(&open, 0, &no_sql).unwrap();
        let before = snapshot(&st);
        // Settles, debits with a reference, touches, reserves, then overflows a refund's
        // check: nothing of it may stay.
        let mut bad = Batch::new(id, Some("s".into()));
        bad.key = Some("k2".into());
        bad.ops = vec![
            Op::Touch { expires_at: 99 },
            Op::Settle {
                rating_group: Some(1),
                used_cost: 100,
            },
            Op::Debit {
                amount: 50,
                partial: false,
                reference: Some("ref".into()),
            },
            Op::Reserve {
                rating_group: Some(2),
                want: 10,
                block: 0,
            },
            Op::CloseSession,
        ];
        // The same debit reference twice: the last op fails, after all the others ran.
        let mut late = bad.clone();
        late.ops.push(Op::Debit {
            amount: 1,
            partial: false,
            reference: Some("ref".into()),
        });
        assert!(matches!(
            st.run(&late, 5, &no_sql),
            Err(StoreError::Refused(_))
        ));
        assert_eq!(snapshot(&st), before);
        let mut no_session = bad.clone();
        no_session.session = None;
        assert!(st.run(&no_session, 5, &no_sql).is_err());
        assert_eq!(snapshot(&st), before);
        // The same through a balance overflow at the end.
        let mut overflow = bad.clone();
        overflow.ops = vec![
            Op::Touch { expires_at: 77 },
            Op::Debit {
                amount: 10,
                partial: false,
                reference: Some("r2".into()),
            },
        ];
        st.accounts.get_mut(&id).unwrap().reserved = 2000; // corrupt: balance < reserved
        let saved = st.accounts.get(&id).cloned();
        assert!(matches!(
            st.run(&overflow, 5, &no_sql),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(st.accounts.get(&id).cloned(), saved);
        st.accounts.get_mut(&id).unwrap().reserved = 300;
        assert_eq!(snapshot(&st), before);
        // A good batch still works and is recorded once.
        let out = st.run(&bad, 5, &no_sql).unwrap();
        assert_eq!(out.results[1], 100);
        assert_eq!(st.ledger_totals(id).debits, 150);
    }

    #[test]
    fn changes_hold_current_values_and_can_be_put_back() {
        let (mut st, id) = state();
        let mut b = open_with_hold(id, "s", None, 100);
        b.key = Some("k".into());
        st.run(&b, 0, &no_sql).unwrap();
        let (c, seq) = st.take_changes();
        assert_eq!(c.new_accounts.len(), 1);
        let row = AccountRow {
            id,
            balance: 1000,
            reserved: 100,
            ledger: LedgerTotals::default(),
        };
        assert_eq!(c.accounts, vec![row]);
        assert_eq!(c.sessions.len(), 1);
        assert_eq!(c.reservations, vec![(Arc::from("s"), vec![(-1, id, 100)])]);
        assert_eq!(c.outcomes.len(), 1);
        assert_eq!(seq, 1);
        st.restore_changes(c);
        let (c, _) = st.take_changes();
        assert_eq!((c.new_accounts.len(), c.outcomes.len()), (1, 1));
        assert!(st.take_changes().0.is_empty());
    }

    #[test]
    fn written_changes_are_recycled_with_their_capacity() {
        let (mut st, id) = state();
        for i in 0..100 {
            let mut b = open_with_hold(id, &format!("s{i}"), None, 1);
            b.key = Some(format!("k{i}"));
            st.run(&b, 0, &no_sql).unwrap();
        }
        let (mut c, _) = st.take_changes();
        assert_eq!((c.sessions.len(), c.outcomes.len()), (100, 100));
        let (sessions, outcomes) = (c.sessions.capacity(), c.outcomes.capacity());
        c.clear();
        assert!(c.is_empty() && c.fresh_sessions.is_empty());
        st.recycle(c);
        // The lists built at a checkpoint are refilled at the next one; the lists charging
        // fills swap with the recycled ones, so they alternate between two buffers.
        let mut cycle = |name: &str| {
            let mut b = open_with_hold(id, name, None, 1);
            b.key = Some(format!("k{name}"));
            st.run(&b, 0, &no_sql).unwrap();
            let (mut c, _) = st.take_changes();
            assert_eq!((c.sessions.len(), c.outcomes.len()), (1, 1));
            let capacities = (c.sessions.capacity(), c.outcomes.capacity());
            c.clear();
            st.recycle(c);
            capacities
        };
        assert_eq!(cycle("t").0, sessions);
        assert_eq!(cycle("u"), (sessions, outcomes));
    }

    #[test]
    fn a_session_opened_and_ended_between_checkpoints_writes_no_rows() {
        let (mut st, id) = state();
        let open = |name: &str| open_with_hold(id, name, None, 100);
        let close = |name: &str| {
            let mut b = Batch::new(id, Some(name.into()));
            b.ops = vec![
                Op::Settle {
                    rating_group: None,
                    used_cost: 40,
                },
                Op::CloseSession,
            ];
            b
        };
        st.run(&open("s"), 0, &no_sql).unwrap();
        st.run(&close("s"), 1, &no_sql).unwrap();
        // Forgotten when it ended, not looked up under the lock at the checkpoint.
        assert!(!st.dirty_sessions.contains("s") && !st.dirty_reservations.contains("s"));
        assert!(!st.fresh_sessions.contains("s") && !st.fresh_holds.contains("s"));
        st.run(&open("t"), 2, &no_sql).unwrap();
        let (c, _) = st.take_changes();
        // "s" came and went: nothing for SQLite; "t" is new: written, nothing deleted first.
        let sessions: Vec<&str> = c.sessions.iter().map(|(s, _)| &**s).collect();
        assert_eq!(sessions, vec!["t"]);
        assert_eq!(c.reservations, vec![(Arc::from("t"), vec![(-1, id, 100)])]);
        assert!(c.fresh_holds.contains("t"));
        assert_eq!(c.ledger.len(), 1, "the debit of s is still ledgered");
        st.checkpointed(0);
        // "t" is in SQLite now: its end deletes its row and its reservations.
        st.run(&close("t"), 3, &no_sql).unwrap();
        let (c, _) = st.take_changes();
        assert_eq!(c.sessions, vec![(Arc::from("t"), None)]);
        assert_eq!(c.reservations, vec![(Arc::from("t"), vec![])]);
        assert!(!c.fresh_holds.contains("t") && !c.fresh_sessions.contains("t"));
    }

    #[test]
    fn expired_sessions_follow_the_deadline_index() {
        let (mut st, id) = state();
        for (n, at) in [(0, 30), (1, 10), (2, 20)] {
            let mut b = Batch::new(id, Some(format!("s{n}")));
            b.ops = vec![Op::OpenSession { expires_at: at }];
            st.run(&b, 0, &no_sql).unwrap();
        }
        let mut t = Batch::new(id, Some("s1".into()));
        t.ops = vec![Op::Touch { expires_at: 40 }];
        st.run(&t, 0, &no_sql).unwrap();
        let names: Vec<String> = st
            .expired_sessions(35, None, 10)
            .into_iter()
            .map(|e| e.session_id)
            .collect();
        assert_eq!(names, vec!["s2", "s0"]);
        let first = st.expired_sessions(35, None, 1);
        assert_eq!(st.expired_sessions(35, first.last(), 10).len(), 1);
        let closed = st
            .close_expired(&[("s2".into(), id), ("s1".into(), id)], 35, &no_sql)
            .unwrap();
        assert_eq!(closed, vec![("s2".to_string(), 0)]);
        assert_eq!(st.sessions_of(id), vec!["s0", "s1"]);
    }

    #[test]
    fn sessions_of_follows_the_account_index_oldest_first() {
        let (mut st, a) = state();
        let b = second_account(&mut st, 1000);
        for (name, account, now) in [("late", a, 30), ("early", a, 10), ("theirs", b, 20)] {
            let mut open = Batch::new(account, Some(name.into()));
            open.ops = vec![Op::OpenSession { expires_at: 99 }];
            st.run(&open, now, &no_sql).unwrap();
        }
        assert_eq!(st.sessions_of(a), vec!["early", "late"]);
        assert_eq!(st.sessions_of(b), vec!["theirs"]);
        // A refresh keeps the session's place; a failed open leaves no entry.
        let mut touch = Batch::new(a, Some("early".into()));
        touch.ops = vec![Op::Touch { expires_at: 500 }];
        st.run(&touch, 40, &no_sql).unwrap();
        let mut bad = Batch::new(a, Some("new".into()));
        bad.ops = then_fail(vec![Op::OpenSession { expires_at: 99 }]);
        assert!(st.run(&bad, 50, &no_sql).is_err());
        assert_eq!(st.sessions_of(a), vec!["early", "late"]);
        let mut close = Batch::new(a, Some("early".into()));
        close.ops = vec![Op::CloseSession];
        st.run(&close, 60, &no_sql).unwrap();
        assert_eq!(st.sessions_of(a), vec!["late"]);
        assert!(st.sessions_of(7).is_empty());
    }

    #[test]
    fn a_session_id_is_held_once_by_every_index() {
        let (mut st, id) = state();
        let open = open_with_hold(id, "s", Some(1), 100);
        st.run(&open, 0, &no_sql).unwrap();
        let mut update = Batch::new(id, Some("s".into()));
        update.key = Some("u1".into());
        update.ops = vec![
            Op::Touch { expires_at: 20 },
            Op::Settle {
                rating_group: Some(1),
                used_cost: 10,
            },
            Op::Reserve {
                rating_group: Some(1),
                want: 100,
                block: 0,
            },
        ];
        st.run(&update, 1, &no_sql).unwrap();
        // One string shared by: the session map, the deadline and account indexes, the
        // reservations, both change sets, both sets of sessions new since the checkpoint,
        // the debit's ledger row, and `key` here (a copy anywhere would lower the count).
        let key = st.sessions.keys().next().unwrap().clone();
        assert_eq!(Arc::strong_count(&key), 10);
        let row = &st.pending_ledger[0];
        assert!(row.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, &key)));
        // The ledger row and the saved outcome share the request key too.
        let saved = &st.pending_outcomes.last().unwrap().0;
        assert!(row.key.as_ref().is_some_and(|k| Arc::ptr_eq(k, saved)));
        assert!(st.reservations.keys().all(|k| Arc::ptr_eq(k, &key)));
        assert!(st.deadlines.iter().all(|(_, k)| Arc::ptr_eq(k, &key)));
    }
}
