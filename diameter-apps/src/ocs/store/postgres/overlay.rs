//! The rows a group of batches touches, in memory: [`batch::run`](super::super::batch::run)
//! works on them through [`Tx`], and [`Overlay::changes`] lists what to write back.
//!
//! A batch that fails is undone ([`Overlay::undo`]), like a rolled-back savepoint: the
//! group's other batches keep their changes.

use super::super::batch::{SessionRow, Tx};
use super::super::{AccountId, StoreError};
use std::collections::{BTreeSet, HashMap};

/// A session row as prefetched or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Session {
    pub account: AccountId,
    pub expires_at: i64,
    pub created_at: i64,
    pub peer: Option<String>,
}

/// A saved request outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub account: AccountId,
    pub outcome: String,
    pub at: i64,
}

/// A refundable debit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Debit {
    pub account: AccountId,
    pub amount: i64,
    pub refunded: i64,
    pub at: i64,
}

/// A reservation: its account and amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hold {
    pub account: AccountId,
    pub amount: i64,
}

/// A ledger row to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LedgerRow {
    pub account: AccountId,
    pub session: Option<String>,
    pub rating_group: Option<i64>,
    pub kind: String,
    pub amount: i64,
    pub key: Option<String>,
    pub at: i64,
}

/// The rows read at the start of a group (every row the group's batches can touch).
#[derive(Debug, Default)]
pub(super) struct Rows {
    /// Locked accounts: (balance, reserved).
    pub accounts: HashMap<AccountId, (i64, i64)>,
    pub sessions: HashMap<String, Session>,
    /// By (Session-Id, rating group).
    pub holds: HashMap<(String, i64), Hold>,
    pub requests: HashMap<String, Request>,
    pub debits: HashMap<String, Debit>,
}

/// The previous value of something a batch changed.
enum Undo {
    Account(AccountId, Option<(i64, i64)>),
    Session(String, Option<Option<Session>>),
    Hold((String, i64), Option<Hold>),
    Request(String, Option<Request>),
    Debit(String, Option<Debit>),
}

/// Rows as the group's batches leave them. A missing session or hold means "none".
pub(super) struct Overlay {
    accounts: HashMap<AccountId, (i64, i64)>,
    /// `None`: deleted by this group.
    sessions: HashMap<String, Option<Session>>,
    holds: HashMap<(String, i64), Hold>,
    requests: HashMap<String, Request>,
    debits: HashMap<String, Debit>,
    ledger: Vec<LedgerRow>,
    /// Keys of requests, references of debits created by this group (in order).
    new_requests: Vec<String>,
    new_debits: Vec<String>,
    dirty_accounts: BTreeSet<AccountId>,
    dirty_sessions: BTreeSet<String>,
    dirty_holds: BTreeSet<(String, i64)>,
    dirty_debits: BTreeSet<String>,
    /// Undo log of the running batch, and the list lengths when it started.
    undo: Vec<Undo>,
    mark: (usize, usize, usize),
}

/// What a group writes back: final states of the rows it changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    pub accounts: Vec<(AccountId, i64, i64)>,
    pub upsert_sessions: Vec<(String, Session)>,
    pub delete_sessions: Vec<String>,
    pub upsert_holds: Vec<((String, i64), Hold)>,
    pub delete_holds: Vec<(String, i64)>,
    pub ledger: Vec<LedgerRow>,
    pub requests: Vec<(String, Request)>,
    pub new_debits: Vec<(String, Debit)>,
    /// (reference, refunded) of debits that existed before the group.
    pub refunded: Vec<(String, i64)>,
}

#[cfg(test)]
impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl Overlay {
    /// An overlay over the prefetched rows.
    pub fn new(rows: Rows) -> Overlay {
        Overlay {
            accounts: rows.accounts,
            sessions: rows
                .sessions
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
            holds: rows.holds,
            requests: rows.requests,
            debits: rows.debits,
            ledger: Vec::new(),
            new_requests: Vec::new(),
            new_debits: Vec::new(),
            dirty_accounts: BTreeSet::new(),
            dirty_sessions: BTreeSet::new(),
            dirty_holds: BTreeSet::new(),
            dirty_debits: BTreeSet::new(),
            undo: Vec::new(),
            mark: (0, 0, 0),
        }
    }

    /// Starts a batch: [`Overlay::undo`] goes back to this point.
    pub fn begin(&mut self) {
        self.undo.clear();
        self.mark = (
            self.ledger.len(),
            self.new_requests.len(),
            self.new_debits.len(),
        );
    }

    /// Undoes everything since [`Overlay::begin`] (the batch failed).
    pub fn undo(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Account(id, v) => restore(&mut self.accounts, id, v),
                Undo::Session(s, v) => restore(&mut self.sessions, s, v),
                Undo::Hold(k, v) => restore(&mut self.holds, k, v),
                Undo::Request(k, v) => restore(&mut self.requests, k, v),
                Undo::Debit(r, v) => restore(&mut self.debits, r, v),
            }
        }
        self.ledger.truncate(self.mark.0);
        self.new_requests.truncate(self.mark.1);
        self.new_debits.truncate(self.mark.2);
    }

    /// The final state of every row the group changed (rows set back to their first
    /// value may be listed too: writing them is harmless).
    pub fn changes(mut self) -> Changes {
        let mut c = Changes::default();
        for id in &self.dirty_accounts {
            if let Some(&(b, r)) = self.accounts.get(id) {
                c.accounts.push((*id, b, r));
            }
        }
        for s in &self.dirty_sessions {
            match self.sessions.get(s) {
                Some(Some(row)) => c.upsert_sessions.push((s.clone(), row.clone())),
                _ => c.delete_sessions.push(s.clone()),
            }
        }
        for k in &self.dirty_holds {
            match self.holds.get(k) {
                Some(h) if h.amount != 0 => c.upsert_holds.push((k.clone(), *h)),
                _ => c.delete_holds.push(k.clone()),
            }
        }
        c.ledger = std::mem::take(&mut self.ledger);
        for k in &self.new_requests {
            if let Some(r) = self.requests.get(k) {
                c.requests.push((k.clone(), r.clone()));
            }
        }
        let new: BTreeSet<&String> = self.new_debits.iter().collect();
        for r in &self.new_debits {
            if let Some(d) = self.debits.get(r) {
                c.new_debits.push((r.clone(), d.clone()));
            }
        }
        for r in &self.dirty_debits {
            if let (false, Some(d)) = (new.contains(r), self.debits.get(r)) {
                c.refunded.push((r.clone(), d.refunded));
            }
        }
        c
    }

    fn set_session(&mut self, s: &str, row: Option<Session>) {
        let old = self.sessions.insert(s.to_string(), row);
        self.undo.push(Undo::Session(s.to_string(), old));
        self.dirty_sessions.insert(s.to_string());
    }

    fn set_hold(&mut self, key: (String, i64), hold: Hold) {
        let old = self.holds.insert(key.clone(), hold);
        self.dirty_holds.insert(key.clone());
        self.undo.push(Undo::Hold(key, old));
    }
}

fn restore<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, old: Option<V>) {
    match old {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    };
}

impl Tx for Overlay {
    fn lock_account(&mut self, id: AccountId) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self.accounts.get(&id).copied())
    }

    fn set_account(
        &mut self,
        id: AccountId,
        balance: i64,
        reserved: i64,
    ) -> Result<(), StoreError> {
        let old = self.accounts.insert(id, (balance, reserved));
        self.undo.push(Undo::Account(id, old));
        self.dirty_accounts.insert(id);
        Ok(())
    }

    fn saved_outcome(&mut self, key: &str) -> Result<Option<(AccountId, String)>, StoreError> {
        Ok(self
            .requests
            .get(key)
            .map(|r| (r.account, r.outcome.clone())))
    }

    fn save_outcome(
        &mut self,
        key: &str,
        account: AccountId,
        outcome: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if self.requests.contains_key(key) {
            // Saved already (the database's primary key would refuse it as well).
            return Err(StoreError::Refused(format!("request {key} saved twice")));
        }
        let row = Request {
            account,
            outcome: outcome.to_string(),
            at: now_ms,
        };
        self.requests.insert(key.to_string(), row);
        self.undo.push(Undo::Request(key.to_string(), None));
        self.new_requests.push(key.to_string());
        Ok(())
    }

    fn session(&mut self, session: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(match self.sessions.get(session) {
            Some(Some(s)) => Some(SessionRow {
                account: s.account,
                expires_at: s.expires_at,
                peer: s.peer.clone(),
            }),
            _ => None,
        })
    }

    fn upsert_session(
        &mut self,
        session: &str,
        account: AccountId,
        peer: Option<&str>,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // Like `INSERT ... ON CONFLICT DO UPDATE SET expires_at`: an open session keeps
        // its account, owner and creation time.
        let row = match self.sessions.get(session) {
            Some(Some(s)) => Session {
                expires_at,
                ..s.clone()
            },
            _ => Session {
                account,
                expires_at,
                created_at: now_ms,
                peer: peer.map(str::to_string),
            },
        };
        self.set_session(session, Some(row));
        Ok(())
    }

    fn debit(&mut self, reference: &str) -> Result<Option<(AccountId, i64, i64)>, StoreError> {
        Ok(self
            .debits
            .get(reference)
            .map(|d| (d.account, d.amount, d.refunded)))
    }

    fn insert_debit(
        &mut self,
        reference: &str,
        account: AccountId,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if self.debits.contains_key(reference) {
            return Err(StoreError::Refused(format!(
                "debit reference {reference} exists"
            )));
        }
        let row = Debit {
            account,
            amount,
            refunded: 0,
            at: now_ms,
        };
        self.debits.insert(reference.to_string(), row);
        self.undo.push(Undo::Debit(reference.to_string(), None));
        self.new_debits.push(reference.to_string());
        Ok(())
    }

    fn set_refunded(&mut self, reference: &str, refunded: i64) -> Result<(), StoreError> {
        if let Some(d) = self.debits.get_mut(reference) {
            let old = d.clone();
            d.refunded = refunded;
            self.undo
                .push(Undo::Debit(reference.to_string(), Some(old)));
            self.dirty_debits.insert(reference.to_string());
        }
        Ok(())
    }

    fn touch_session(&mut self, session: &str, expires_at: i64) -> Result<(), StoreError> {
        if let Some(Some(s)) = self.sessions.get(session) {
            let row = Session {
                expires_at,
                ..s.clone()
            };
            self.set_session(session, Some(row));
        }
        Ok(())
    }

    fn delete_session(&mut self, session: &str) -> Result<(), StoreError> {
        if let Some(Some(_)) = self.sessions.get(session) {
            self.set_session(session, None);
        }
        Ok(())
    }

    fn reservation(&mut self, session: &str, rg: i64) -> Result<i64, StoreError> {
        Ok(self
            .holds
            .get(&(session.to_string(), rg))
            .map_or(0, |h| h.amount))
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
                "reservation of {session} would be {amount}"
            )));
        }
        self.set_hold((session.to_string(), rg), Hold { account, amount });
        Ok(())
    }

    fn take_reservations(&mut self, session: &str) -> Result<i64, StoreError> {
        let keys: Vec<(String, i64)> = self
            .holds
            .iter()
            .filter(|(k, h)| k.0 == session && h.amount != 0)
            .map(|(k, _)| k.clone())
            .collect();
        let mut sum = 0i64;
        for k in keys {
            let h = self.holds[&k];
            sum = sum
                .checked_add(h.amount)
                .ok_or_else(|| StoreError::Corrupt(format!("reservations of {session}")))?;
            self.set_hold(k, Hold { amount: 0, ..h });
        }
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
        self.ledger.push(LedgerRow {
            account,
            session: session.map(str::to_string),
            rating_group: rg,
            kind: kind.to_string(),
            amount,
            key: key.map(str::to_string),
            at: now_ms,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        let mut r = Rows::default();
        r.accounts.insert(1, (1000, 100));
        r.sessions.insert(
            "s".into(),
            Session {
                account: 1,
                expires_at: 5,
                created_at: 0,
                peer: Some("pgw".into()),
            },
        );
        r.holds.insert(
            ("s".into(), 7),
            Hold {
                account: 1,
                amount: 100,
            },
        );
        r
    }

    #[test]
    fn a_failed_batch_is_undone_and_the_others_kept() {
        let mut ov = Overlay::new(rows());
        ov.begin();
        ov.set_account(1, 900, 0).unwrap();
        assert_eq!(ov.take_reservations("s").unwrap(), 100);
        ov.delete_session("s").unwrap();
        ov.ledger(1, Some("s"), Some(7), "debit", 100, Some("k1"), 1)
            .unwrap();
        ov.save_outcome("k1", 1, "x", 1).unwrap();
        ov.begin();
        ov.set_account(1, 0, 0).unwrap();
        ov.insert_debit("r", 1, 900, 2).unwrap();
        ov.upsert_session("s", 1, Some("pgw"), 9, 2).unwrap();
        ov.save_outcome("k2", 1, "y", 2).unwrap();
        ov.undo();
        assert_eq!(ov.lock_account(1).unwrap(), Some((900, 0)));
        assert!(ov.session("s").unwrap().is_none());
        assert_eq!(ov.debit("r").unwrap(), None);
        assert!(ov.saved_outcome("k2").unwrap().is_none());
        let c = ov.changes();
        assert_eq!(c.accounts, vec![(1, 900, 0)]);
        assert_eq!(c.delete_sessions, vec!["s".to_string()]);
        assert_eq!(c.delete_holds, vec![("s".to_string(), 7)]);
        assert_eq!(c.ledger.len(), 1);
        assert_eq!(c.requests.len(), 1);
        assert!(c.new_debits.is_empty() && c.upsert_sessions.is_empty());
    }

    #[test]
    fn an_open_session_keeps_its_owner_and_keys_are_saved_once() {
        let mut ov = Overlay::new(rows());
        ov.begin();
        ov.upsert_session("s", 2, Some("other"), 50, 9).unwrap();
        let row = ov.session("s").unwrap().unwrap();
        assert_eq!((row.account, row.expires_at), (1, 50));
        assert_eq!(row.peer.as_deref(), Some("pgw"));
        ov.save_outcome("k", 1, "x", 0).unwrap();
        assert!(ov.save_outcome("k", 1, "x", 0).is_err());
        ov.touch_session("missing", 1).unwrap();
        assert!(ov.session("missing").unwrap().is_none());
        let nothing = Overlay::new(rows()).changes();
        assert!(nothing.is_empty());
    }
}
