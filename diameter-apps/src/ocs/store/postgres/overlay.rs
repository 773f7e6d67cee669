//! The rows a group transaction touches, in memory: the engine's [`MemState`] loaded with
//! the group's prefetched rows, so the charging semantics and their checks run on the same
//! `Tx` as the embedded store ([`MemState::run`]: a batch that fails is undone alone, the
//! group's other batches keep their changes).
//!
//! What to write back comes from the change list `MemState` keeps
//! ([`MemState::take_changes`]), set against what was loaded: a session or reservation
//! changed is written or deleted, a debit inserted or its refund updated.

use super::super::batch::{Batch, BatchOutcome};
use super::super::memory::{DebitRow, LedgerRow, MemAccount, MemLimits, MemSession, MemState};
use super::super::{AccountId, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The group's rows in memory (see the module docs).
pub(super) struct Overlay {
    mem: MemState,
    /// Saved outcomes read from the database: (account, outcome).
    requests: HashMap<String, (AccountId, String)>,
    /// Accounts, sessions and reservations as read: rows left as they were are not
    /// written back.
    loaded_accounts: HashMap<AccountId, (i64, i64)>,
    loaded_sessions: HashMap<String, MemSession>,
    /// Per session: (rating group, account, amount).
    loaded_holds: HashMap<String, Vec<(i64, AccountId, i64)>>,
    /// References of the debits read.
    loaded_debits: HashSet<String>,
}

/// What a group writes back: the final state of every row it changed, in key order (two
/// groups writing the same rows take their locks in the same order).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// (id, balance, reserved).
    pub accounts: Vec<(AccountId, i64, i64)>,
    pub upsert_sessions: Vec<(String, MemSession)>,
    pub delete_sessions: Vec<String>,
    /// ((Session-Id, rating group), (account, amount)).
    pub upsert_holds: Vec<((String, i64), (AccountId, i64))>,
    pub delete_holds: Vec<(String, i64)>,
    pub ledger: Vec<LedgerRow>,
    /// (key, account, outcome, at).
    pub requests: Vec<(Arc<str>, AccountId, Arc<str>, i64)>,
    /// Debits recorded by this group.
    pub new_debits: Vec<(String, DebitRow)>,
    /// (reference, refunded) of debits that existed before the group.
    pub refunded: Vec<(String, i64)>,
}

impl Changes {
    /// Whether there is nothing to write.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl Overlay {
    /// An empty overlay (nothing loaded yet).
    pub fn new() -> Overlay {
        Overlay {
            mem: MemState::new(MemLimits::default()),
            requests: HashMap::new(),
            loaded_accounts: HashMap::new(),
            loaded_sessions: HashMap::new(),
            loaded_holds: HashMap::new(),
            loaded_debits: HashSet::new(),
        }
    }

    /// Loads a locked account.
    pub fn load_account(&mut self, id: AccountId, balance: i64, reserved: i64) {
        self.loaded_accounts.insert(id, (balance, reserved));
        let account = MemAccount {
            name: String::new(),
            currency: 0,
            balance,
            reserved,
            ids: Vec::new(),
        };
        self.mem.load_account(id, account);
    }

    /// Whether the account was loaded (locked by this group).
    pub fn has_account(&self, id: AccountId) -> bool {
        self.loaded_accounts.contains_key(&id)
    }

    /// Loads a session.
    pub fn load_session(&mut self, session: String, row: MemSession) {
        self.loaded_sessions.insert(session.clone(), row.clone());
        self.mem.load_session(session, row);
    }

    /// Loads a reservation.
    pub fn load_hold(&mut self, session: String, rg: i64, account: AccountId, amount: i64) {
        self.loaded_holds
            .entry(session.clone())
            .or_default()
            .push((rg, account, amount));
        self.mem.load_reservation(session, rg, account, amount);
    }

    /// Loads a saved request outcome.
    pub fn load_request(&mut self, key: String, account: AccountId, outcome: String, at: i64) {
        self.mem.load_request_key(&key, at);
        self.requests.insert(key, (account, outcome));
    }

    /// Loads a recorded debit.
    pub fn load_debit(&mut self, reference: String, row: DebitRow) {
        self.loaded_debits.insert(reference.clone());
        self.mem.load_debit(reference, row);
    }

    /// Runs a batch; on `Err` it left nothing behind.
    pub fn run(&mut self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let requests = &self.requests;
        self.mem
            .run(batch, now_ms, &|k| Ok(requests.get(k).cloned()))
    }

    /// Closes expired sessions (`sessions` in lock order); on `Err` nothing changed.
    pub fn close_expired(
        &mut self,
        sessions: &[(String, AccountId)],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let requests = &self.requests;
        self.mem
            .close_expired(sessions, now_ms, &|k| Ok(requests.get(k).cloned()))
    }

    /// Adds `delta` to a loaded account's balance, kept in the ledger.
    pub fn adjust_balance(
        &mut self,
        id: AccountId,
        delta: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.mem.adjust_balance(id, delta, now_ms)
    }

    /// The final state of every row the group changed; a row set back to the value it
    /// was read with (a reservation settled and granted again alike) is left out.
    pub fn changes(mut self) -> Changes {
        let (mem, _) = self.mem.take_changes();
        let mut c = Changes {
            ledger: mem.ledger,
            requests: mem.outcomes,
            ..Changes::default()
        };
        for a in mem.accounts {
            let (id, b, r) = (a.id, a.balance, a.reserved);
            if self.loaded_accounts.get(&id) != Some(&(b, r)) {
                c.accounts.push((id, b, r));
            }
        }
        c.accounts.sort_unstable();
        for (s, row) in mem.sessions {
            match (row, self.loaded_sessions.get(&*s)) {
                (Some(row), Some(old)) if row == *old => {}
                (Some(row), _) => c.upsert_sessions.push((s.to_string(), row)),
                (None, Some(_)) => c.delete_sessions.push(s.to_string()),
                (None, None) => {}
            }
        }
        c.upsert_sessions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        c.delete_sessions.sort_unstable();
        for (s, holds) in mem.reservations {
            let loaded = self.loaded_holds.get(&*s).map(Vec::as_slice).unwrap_or(&[]);
            for &(rg, _, _) in loaded {
                if !holds.iter().any(|h| h.0 == rg) {
                    c.delete_holds.push((s.to_string(), rg));
                }
            }
            for h in holds {
                if !loaded.contains(&h) {
                    c.upsert_holds.push(((s.to_string(), h.0), (h.1, h.2)));
                }
            }
        }
        c.upsert_holds.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        c.delete_holds.sort_unstable();
        for (r, row) in mem.debits {
            if self.loaded_debits.contains(&r) {
                c.refunded.push((r, row.2));
            } else {
                c.new_debits.push((r, row));
            }
        }
        c.new_debits.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        c.refunded.sort_unstable();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::Op;
    use super::*;

    /// Account 1 (1000, reserving 100) with session "s" holding 100 in rating group 7.
    fn overlay() -> Overlay {
        let mut ov = Overlay::new();
        ov.load_account(1, 1000, 100);
        let row = MemSession {
            account: 1,
            expires_at: 5,
            created_at: 0,
            peer: Some("pgw".into()),
        };
        ov.load_session("s".into(), row);
        ov.load_hold("s".into(), 7, 1, 100);
        ov
    }

    fn batch(session: &str, key: &str, ops: Vec<Op>) -> Batch {
        let mut b = Batch::new(1, Some(session.into()));
        b.key = Some(key.into());
        b.ops = ops;
        b
    }

    #[test]
    fn a_failed_batch_is_undone_and_the_others_kept() {
        let mut ov = overlay();
        let settle = Op::Settle {
            rating_group: Some(7),
            used_cost: 100,
        };
        ov.run(&batch("s", "k1", vec![settle, Op::CloseSession]), 1)
            .unwrap();
        // Opens a session, debits, then fails on a second debit of the same reference.
        let debit = |amount| Op::Debit {
            amount,
            partial: false,
            reference: Some("r".into()),
        };
        let bad = vec![Op::OpenSession { expires_at: 9 }, debit(10), debit(1)];
        assert!(ov.run(&batch("t", "k2", bad), 2).is_err());
        let c = ov.changes();
        assert_eq!(c.accounts, vec![(1, 900, 0)]);
        assert_eq!(c.delete_sessions, vec!["s".to_string()]);
        assert_eq!(c.delete_holds, vec![("s".to_string(), 7)]);
        assert_eq!(c.ledger.len(), 1);
        assert_eq!(c.requests.len(), 1);
        assert_eq!(&*c.requests[0].0, "k1");
        assert!(c.new_debits.is_empty() && c.upsert_sessions.is_empty());
        assert!(c.upsert_holds.is_empty());
    }

    #[test]
    fn a_saved_outcome_read_is_replayed_not_charged() {
        let mut ov = overlay();
        let reserve = Op::Reserve {
            rating_group: Some(7),
            want: 50,
            block: 0,
        };
        let first = ov.run(&batch("s", "k", vec![reserve.clone()]), 1).unwrap();
        let saved = ov.changes().requests[0].2.to_string();
        let mut again = overlay();
        again.load_request("k".into(), 1, saved, 1);
        let replay = again.run(&batch("s", "k", vec![reserve]), 2).unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.results, first.results);
        assert!(again.changes().is_empty());
    }

    #[test]
    fn writes_follow_what_was_loaded() {
        let mut ov = overlay();
        ov.load_debit("old".into(), (1, 40, 0, 0));
        // A new session opened and closed inside the group needs no delete; a reservation
        // moved to another rating group deletes the old one.
        let ops = vec![
            Op::Settle {
                rating_group: Some(7),
                used_cost: 0,
            },
            Op::Reserve {
                rating_group: Some(8),
                want: 30,
                block: 0,
            },
            Op::Refund {
                amount: 10,
                reference: "old".into(),
            },
            Op::Debit {
                amount: 5,
                partial: false,
                reference: Some("new".into()),
            },
        ];
        ov.run(&batch("s", "k1", ops), 1).unwrap();
        let open = vec![Op::OpenSession { expires_at: 9 }];
        ov.run(&batch("n", "k2", open), 1).unwrap();
        ov.run(&batch("n", "k3", vec![Op::CloseSession]), 1)
            .unwrap();
        let c = ov.changes();
        assert!(c.delete_sessions.is_empty(), "{c:?}");
        assert_eq!(c.delete_holds, vec![("s".to_string(), 7)]);
        assert_eq!(c.upsert_holds, vec![(("s".to_string(), 8), (1, 30))]);
        assert_eq!(c.refunded, vec![("old".to_string(), 10)]);
        assert_eq!(c.new_debits.len(), 1);
        assert_eq!(c.new_debits[0].0, "new");
        assert_eq!(c.requests.len(), 3);
    }

    #[test]
    fn rows_left_as_they_were_read_are_not_written() {
        let mut ov = overlay();
        // Settles 100 (used nothing) and reserves 100 again: account and reservation
        // unchanged; the session's deadline unchanged too.
        let ops = vec![
            Op::Touch { expires_at: 5 },
            Op::Settle {
                rating_group: Some(7),
                used_cost: 0,
            },
            Op::Reserve {
                rating_group: Some(7),
                want: 100,
                block: 0,
            },
        ];
        ov.run(&batch("s", "k", ops), 1).unwrap();
        let c = ov.changes();
        assert!(c.accounts.is_empty() && c.upsert_holds.is_empty(), "{c:?}");
        assert!(c.upsert_sessions.is_empty() && c.delete_holds.is_empty());
        assert_eq!(c.requests.len(), 1);
    }

    #[test]
    fn an_adjustment_is_checked_and_kept_in_the_ledger() {
        let mut ov = overlay();
        assert!(ov.adjust_balance(1, -950, 1).is_err());
        assert!(ov.adjust_balance(2, 1, 1).is_err());
        assert_eq!(ov.adjust_balance(1, 50, 1).unwrap(), 1050);
        let c = ov.changes();
        assert_eq!(c.accounts, vec![(1, 1050, 100)]);
        assert_eq!(c.ledger.len(), 1);
        assert_eq!(c.ledger[0].kind, "adjust");
    }
}
