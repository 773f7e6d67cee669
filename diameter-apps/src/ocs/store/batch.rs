//! Charging batches: the operations and their semantics, shared by every backend.

use super::{rg_key, AccountId, StoreError};

/// One operation of a [`Batch`]. Each yields one number in [`BatchOutcome::results`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Opens (or refreshes) the batch's session with a supervision deadline (ms). Yields 0.
    OpenSession {
        /// Tcc deadline, ms since the epoch.
        expires_at: i64,
    },
    /// Moves the session's supervision deadline. Yields 0.
    Touch {
        /// Tcc deadline, ms since the epoch.
        expires_at: i64,
    },
    /// Settles the reservation of a rating group: debits `used_cost` (from the reservation,
    /// then from the available balance, never below zero) and releases the rest. Yields the
    /// amount debited.
    Settle {
        /// Rating group (None: the session-level reservation).
        rating_group: Option<u32>,
        /// Price of the used units.
        used_cost: i64,
    },
    /// Reserves up to `want` for a rating group, in whole multiples of `block` (the price of
    /// one unit block; 0 = any amount), as the available balance allows. Yields the amount
    /// reserved (added to any reservation the rating group already has).
    Reserve {
        /// Rating group (None: session level).
        rating_group: Option<u32>,
        /// Amount wanted.
        want: i64,
        /// Granularity.
        block: i64,
    },
    /// Releases every reservation of the session and closes it. Yields the amount released.
    CloseSession,
    /// Like [`Op::CloseSession`], but only when the session's deadline is at or before
    /// `now_ms` (another node may have refreshed it). Yields the amount released, or -1 when
    /// the session was not expired.
    CloseIfExpired {
        /// The current time, ms since the epoch.
        now_ms: i64,
    },
    /// Debits `amount` at once (event charging). With `partial`, debits what is available
    /// when that is less; otherwise nothing. Yields the amount debited. With a `reference`
    /// (a fresh random value, see [`Op::Refund`]), a debit is recorded under it so that it can
    /// be refunded later; the reference is returned in [`BatchOutcome::references`].
    Debit {
        /// Amount to debit.
        amount: i64,
        /// Whether a partial debit is acceptable.
        partial: bool,
        /// Records the debit as refundable under this reference.
        reference: Option<String>,
    },
    /// Credits `amount` back against the earlier debit recorded under `reference`
    /// (REFUND_ACCOUNT). Yields the amount credited, or one of [`REFUND_UNKNOWN`] (no such
    /// debit of this account), [`REFUND_EXCEEDS`] (more than debited and not yet refunded)
    /// or [`REFUND_OVERFLOW`] (the balance would overflow); then nothing changes.
    Refund {
        /// Amount to credit.
        amount: i64,
        /// The reference of the debit.
        reference: String,
    },
    /// Checks whether `amount` is available, changing nothing. Yields 1 or 0.
    Check {
        /// Amount to check.
        amount: i64,
    },
}

/// [`Op::Refund`] result: no debit of the batch's account has this reference.
pub const REFUND_UNKNOWN: i64 = -2;
/// [`Op::Refund`] result: the amount exceeds what the debit left to refund.
pub const REFUND_EXCEEDS: i64 = -3;
/// [`Op::Refund`] result: the balance would overflow.
pub const REFUND_OVERFLOW: i64 = -4;

/// Operations on one account run in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The account (locked for the transaction).
    pub account: AccountId,
    /// The session the operations belong to (reservations are per session and rating group).
    pub session: Option<String>,
    /// When set, the session must exist and belong to `account` and `peer`; otherwise
    /// nothing runs and [`BatchOutcome::unknown_session`] is set.
    pub require_session: bool,
    /// The client (Diameter peer) the request came from: [`Op::OpenSession`] records it as
    /// the session's owner, and a session opened by another peer (or for another account) is
    /// refused ([`BatchOutcome::clash`]). `None` matches any owner (operator actions).
    pub peer: Option<String>,
    /// Idempotency key: a batch with a key seen before returns the saved outcome.
    pub key: Option<String>,
    /// The request was marked as a possible duplicate (the T flag, RFC 6733 §3). The
    /// embedded store looks for the key of an unmarked request among the keys its filter
    /// holds (every key of the last minutes: `engine_filter_keys`), and for a marked one
    /// among every retained outcome (RFC 6733 Appendix C). `true` in [`Batch::new`]: the
    /// whole retention unless the caller knows the request is not marked. SQL stores
    /// always look everywhere.
    pub possible_duplicate: bool,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl Batch {
    /// An empty batch without a key.
    pub fn new(account: AccountId, session: Option<String>) -> Self {
        Batch {
            account,
            session,
            require_session: false,
            peer: None,
            key: None,
            possible_duplicate: true,
            ops: Vec::new(),
        }
    }
}

/// What a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One number per operation (see [`Op`]).
    pub results: Vec<i64>,
    /// Balance after the batch.
    pub balance: i64,
    /// Reserved amount after the batch.
    pub reserved: i64,
    /// The batch's key had been seen: this is the saved outcome and nothing ran now.
    pub replayed: bool,
    /// [`Batch::require_session`] was set and the session is not open (or not this
    /// account's and peer's).
    pub unknown_session: bool,
    /// [`Op::OpenSession`] found the session open for another account or peer, or the
    /// batch's key was saved for another account: nothing ran.
    pub clash: bool,
    /// One per operation: the debit reference recorded by an [`Op::Debit`], else empty.
    pub references: Vec<String>,
}

impl BatchOutcome {
    /// Available balance after the batch.
    pub fn available(&self) -> i64 {
        self.balance - self.reserved
    }

    fn encode(&self) -> String {
        // One allocation: `results;balance;reserved[;references]`. Integers through `itoa`:
        // `write!` cost about a thousand instructions per CCR here.
        let mut digits = itoa::Buffer::new();
        let mut s = String::with_capacity(12 * self.results.len() + 24);
        for (i, r) in self.results.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(digits.format(*r));
        }
        s.push(';');
        s.push_str(digits.format(self.balance));
        s.push(';');
        s.push_str(digits.format(self.reserved));
        if self.references.iter().any(|r| !r.is_empty()) {
            // References are hex: no `,` or `;`.
            s.push(';');
            for (i, r) in self.references.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(r);
            }
        }
        s
    }

    fn decode(s: &str) -> Result<BatchOutcome, StoreError> {
        let bad = || StoreError::Corrupt(format!("saved outcome `{s}`"));
        let mut parts = s.split(';');
        let rs = parts.next().ok_or_else(bad)?;
        let balance = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let reserved = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let mut results = Vec::new();
        for r in rs.split(',').filter(|r| !r.is_empty()) {
            results.push(r.parse().map_err(|_| bad())?);
        }
        let references = match parts.next() {
            Some(refs) => refs.split(',').map(str::to_string).collect(),
            None => Vec::new(),
        };
        Ok(BatchOutcome {
            results,
            balance,
            reserved,
            replayed: true,
            unknown_session: false,
            clash: false,
            references,
        })
    }
}

/// A session as stored: its account, Tcc deadline and owner (`None` for sessions opened
/// before owners were recorded).
pub(crate) struct SessionRow {
    pub account: AccountId,
    pub expires_at: i64,
    pub peer: Option<String>,
}

impl SessionRow {
    /// Whether the session belongs to `account` and (when both are known) `peer`.
    fn owned_by(&self, account: AccountId, peer: Option<&str>) -> bool {
        owned_by(self.account, self.peer.as_deref(), account, peer)
    }
}

/// Whether a session of `owner_account` opened by `owner_peer` belongs to `account` and
/// (when both peers are known) `peer`.
pub(crate) fn owned_by(
    owner_account: AccountId,
    owner_peer: Option<&str>,
    account: AccountId,
    peer: Option<&str>,
) -> bool {
    owner_account == account
        && match (owner_peer, peer) {
            (Some(owner), Some(p)) => owner == p,
            _ => true,
        }
}

/// Checked arithmetic on money: an overflow is refused, never wrapped.
fn checked(v: Option<i64>, what: &str) -> Result<i64, StoreError> {
    v.ok_or_else(|| StoreError::Refused(format!("{what} would overflow")))
}

/// Primitive operations inside one open transaction; the backends implement this.
pub(crate) trait Tx {
    /// Locks the account row; returns (balance, reserved).
    fn lock_account(&mut self, id: AccountId) -> Result<Option<(i64, i64)>, StoreError>;
    fn set_account(&mut self, id: AccountId, balance: i64, reserved: i64)
        -> Result<(), StoreError>;
    /// (account, outcome) saved under a request key.
    fn saved_outcome(&mut self, key: &str) -> Result<Option<(AccountId, String)>, StoreError>;
    fn save_outcome(
        &mut self,
        key: &str,
        account: AccountId,
        outcome: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// (account, expires_at, owner peer) of a session.
    fn session(&mut self, session: &str) -> Result<Option<SessionRow>, StoreError>;
    /// Whether the session is open and belongs to `account` and `peer` (see
    /// `SessionRow::owned_by`); `None` when it is not open. A backend may answer without
    /// copying the row.
    fn session_owned_by(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
    ) -> Result<Option<bool>, StoreError> {
        Ok(self.session(session)?.map(|r| r.owned_by(account, peer)))
    }
    fn upsert_session(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// (account, amount, refunded) of a recorded debit.
    fn debit(&mut self, reference: &str) -> Result<Option<(AccountId, i64, i64)>, StoreError>;
    fn insert_debit(
        &mut self,
        reference: &str,
        account: AccountId,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    fn set_refunded(&mut self, reference: &str, refunded: i64) -> Result<(), StoreError>;
    fn touch_session(&mut self, session: &str, expires_at: i64) -> Result<(), StoreError>;
    fn delete_session(&mut self, session: &str) -> Result<(), StoreError>;
    fn reservation(&mut self, session: &str, rg: i64) -> Result<i64, StoreError>;
    /// Sets a reservation (deletes it when `amount` is 0).
    fn set_reservation(
        &mut self,
        session: &str,
        rg: i64,
        account: AccountId,
        amount: i64,
    ) -> Result<(), StoreError>;
    /// Deletes every reservation of a session; returns their sum.
    fn take_reservations(&mut self, session: &str) -> Result<i64, StoreError>;
    #[allow(clippy::too_many_arguments)]
    fn ledger(
        &mut self,
        account: AccountId,
        session: Option<&str>,
        rg: Option<i64>,
        kind: &str,
        amount: i64,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// The reservations of the batch's session as the batch changes them: each is read at most
/// once and written once, when the batch ends (or before the session's reservations are
/// taken), so a settle-then-reserve of one rating group (a CCR-U) costs one read and one
/// write instead of two each.
#[derive(Default)]
struct Holds {
    /// (rating group, amount, changed).
    known: Vec<(i64, i64, bool)>,
}

impl Holds {
    fn get(&mut self, tx: &mut dyn Tx, session: &str, rg: i64) -> Result<i64, StoreError> {
        if let Some(&(_, amount, _)) = self.known.iter().find(|k| k.0 == rg) {
            return Ok(amount);
        }
        let amount = tx.reservation(session, rg)?;
        self.known.push((rg, amount, false));
        Ok(amount)
    }

    /// Sets a rating group's reservation (after [`Holds::get`] read it).
    fn set(&mut self, rg: i64, amount: i64) {
        match self.known.iter_mut().find(|k| k.0 == rg) {
            Some(k) => *k = (rg, amount, true),
            None => self.known.push((rg, amount, true)),
        }
    }

    /// Writes the changed reservations and forgets them all.
    fn flush(
        &mut self,
        tx: &mut dyn Tx,
        session: &str,
        account: AccountId,
    ) -> Result<(), StoreError> {
        for (rg, amount, changed) in self.known.drain(..) {
            if changed {
                tx.set_reservation(session, rg, account, amount)?;
            }
        }
        Ok(())
    }
}

/// Runs a batch inside an open transaction. The caller commits on `Ok`, rolls back on `Err`.
pub(crate) fn run(tx: &mut dyn Tx, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
    let (mut balance, mut reserved) = tx
        .lock_account(batch.account)?
        .ok_or(StoreError::NoSuchAccount(batch.account))?;
    let refused = |clash: bool| BatchOutcome {
        balance,
        reserved,
        unknown_session: !clash,
        clash,
        ..BatchOutcome::default()
    };
    if let Some(key) = &batch.key {
        if let Some((account, saved)) = tx.saved_outcome(key)? {
            // The same key for another account is not a retransmission.
            if account != batch.account {
                return Ok(refused(true));
            }
            return BatchOutcome::decode(&saved);
        }
    }
    let session = batch.session.as_deref();
    let peer = batch.peer.as_deref();
    if batch.require_session {
        let open = match session {
            Some(s) => tx.session_owned_by(s, batch.account, peer)? == Some(true),
            None => false,
        };
        if !open {
            return Ok(refused(false));
        }
    }
    // A session belongs to the account and the client that opened it: opening it again
    // from elsewhere changes nothing.
    if batch
        .ops
        .iter()
        .any(|op| matches!(op, Op::OpenSession { .. }))
    {
        if let Some(s) = session {
            if tx.session_owned_by(s, batch.account, peer)? == Some(false) {
                return Ok(refused(true));
            }
        }
    }
    let need_session =
        || session.ok_or_else(|| StoreError::Refused("operation needs a session".to_string()));
    let key = batch.key.as_deref();
    let mut results = Vec::with_capacity(batch.ops.len());
    let mut references = Vec::with_capacity(batch.ops.len());
    let mut holds = Holds::default();
    for op in &batch.ops {
        let mut reference = String::new();
        let r = match op {
            Op::OpenSession { expires_at } => {
                tx.upsert_session(need_session()?, batch.account, peer, *expires_at, now_ms)?;
                0
            }
            Op::Touch { expires_at } => {
                tx.touch_session(need_session()?, *expires_at)?;
                0
            }
            Op::Settle {
                rating_group,
                used_cost,
            } => {
                let s = need_session()?;
                let rg = rg_key(*rating_group);
                let held = holds.get(tx, s, rg)?;
                let can = checked(held.checked_add(balance - reserved), "a settlement")?;
                let debit = (*used_cost).max(0).min(can);
                balance = checked(balance.checked_sub(debit), "the balance")?;
                reserved = checked(reserved.checked_sub(held), "the reservation")?;
                if held != 0 {
                    holds.set(rg, 0);
                }
                if debit > 0 {
                    tx.ledger(
                        batch.account,
                        Some(s),
                        Some(rg),
                        "debit",
                        debit,
                        key,
                        now_ms,
                    )?;
                }
                debit
            }
            Op::Reserve {
                rating_group,
                want,
                block,
            } => {
                let s = need_session()?;
                let rg = rg_key(*rating_group);
                let mut grant = (*want).max(0).min(balance - reserved);
                if *block > 0 {
                    grant = grant / block * block;
                }
                if grant > 0 {
                    let held = holds.get(tx, s, rg)?;
                    let total = checked(held.checked_add(grant), "the reservation")?;
                    holds.set(rg, total);
                    reserved = checked(reserved.checked_add(grant), "the reservation")?;
                }
                grant
            }
            Op::CloseSession => {
                let s = need_session()?;
                holds.flush(tx, s, batch.account)?;
                let released = tx.take_reservations(s)?;
                reserved = checked(reserved.checked_sub(released), "the reservation")?;
                tx.delete_session(s)?;
                released
            }
            Op::CloseIfExpired { now_ms: at } => {
                let s = need_session()?;
                match tx.session(s)? {
                    Some(row) if row.expires_at <= *at => {
                        holds.flush(tx, s, batch.account)?;
                        let released = tx.take_reservations(s)?;
                        reserved = checked(reserved.checked_sub(released), "the reservation")?;
                        tx.delete_session(s)?;
                        released
                    }
                    _ => -1,
                }
            }
            Op::Debit {
                amount,
                partial,
                reference: r,
            } => {
                let available = balance - reserved;
                let amount = (*amount).max(0);
                let debit = if available >= amount {
                    amount
                } else if *partial {
                    available.max(0)
                } else {
                    0
                };
                if debit > 0 {
                    balance = checked(balance.checked_sub(debit), "the balance")?;
                    tx.ledger(batch.account, session, None, "debit", debit, key, now_ms)?;
                    if let Some(r) = r {
                        tx.insert_debit(r, batch.account, debit, now_ms)?;
                        reference = r.clone();
                    }
                }
                debit
            }
            Op::Refund {
                amount,
                reference: r,
            } => {
                let amount = (*amount).max(0);
                match tx.debit(r)? {
                    Some((account, debited, refunded)) if account == batch.account => {
                        let left = debited.saturating_sub(refunded);
                        match balance.checked_add(amount) {
                            _ if amount > left => REFUND_EXCEEDS,
                            None => REFUND_OVERFLOW,
                            Some(new) => {
                                if amount > 0 {
                                    balance = new;
                                    tx.set_refunded(r, refunded + amount)?;
                                    tx.ledger(
                                        batch.account,
                                        session,
                                        None,
                                        "refund",
                                        amount,
                                        key,
                                        now_ms,
                                    )?;
                                }
                                amount
                            }
                        }
                    }
                    _ => REFUND_UNKNOWN,
                }
            }
            Op::Check { amount } => i64::from(balance - reserved >= *amount),
        };
        results.push(r);
        references.push(reference);
    }
    if reserved < 0 || balance < reserved {
        return Err(StoreError::Corrupt(format!(
            "account {} would have balance {balance} and reserved {reserved}",
            batch.account
        )));
    }
    if let Some(s) = session {
        holds.flush(tx, s, batch.account)?;
    }
    tx.set_account(batch.account, balance, reserved)?;
    let outcome = BatchOutcome {
        results,
        balance,
        reserved,
        replayed: false,
        unknown_session: false,
        clash: false,
        references,
    };
    if let Some(key) = key {
        tx.save_outcome(key, batch.account, &outcome.encode(), now_ms)?;
    }
    Ok(outcome)
}

/// Closes expired sessions in one transaction (the Tcc sweep): each session still expired
/// at `now_ms` has its reservations released and is deleted. Accounts are locked in
/// ascending id order (`sessions` must be sorted by account), so two sweeping nodes cannot
/// deadlock. Returns the sessions closed with the amounts released.
pub(crate) fn close_expired(
    tx: &mut dyn Tx,
    sessions: &[(String, AccountId)],
    now_ms: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut closed = Vec::new();
    for (s, account) in sessions {
        let Some((balance, reserved)) = tx.lock_account(*account)? else {
            continue;
        };
        match tx.session(s)? {
            Some(row) if row.expires_at <= now_ms && row.account == *account => {}
            _ => continue,
        }
        let released = tx.take_reservations(s)?;
        tx.delete_session(s)?;
        let reserved = reserved
            .checked_sub(released)
            .filter(|r| *r >= 0 && balance >= *r)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "session {s}: releasing {released} from account {account} reserving {reserved}"
                ))
            })?;
        tx.set_account(*account, balance, reserved)?;
        closed.push((s.clone(), released));
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_round_trip() {
        let o = BatchOutcome {
            results: vec![1, -1, 300],
            balance: 700,
            reserved: 200,
            replayed: true,
            unknown_session: false,
            clash: false,
            references: vec![String::new(), "00ff".into(), String::new()],
        };
        assert_eq!(BatchOutcome::decode(&o.encode()).unwrap(), o);
        let empty = BatchOutcome {
            replayed: true,
            ..BatchOutcome::default()
        };
        assert_eq!(BatchOutcome::decode(&empty.encode()).unwrap(), empty);
        let plain = BatchOutcome {
            results: vec![5, -1],
            balance: 9,
            reserved: 2,
            ..BatchOutcome::default()
        };
        // The saved text, as earlier versions wrote it into SQLite.
        assert_eq!(plain.encode(), "5,-1;9;2");
        assert!(BatchOutcome::decode("x;1").is_err());
    }
}
