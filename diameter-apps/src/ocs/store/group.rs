//! Group commit: one transaction, one commit (one fsync), for every batch that arrives
//! while the previous commit is in progress.
//!
//! [`GroupCommit`] wraps a [`Store`]. [`Store::apply`] hands the batch to a dedicated
//! committer thread and blocks until the batch is committed. The committer takes the first
//! waiting batch and everything queued behind it (up to a maximum group size), runs them
//! with [`Store::apply_group`] (one transaction, a savepoint per batch, one commit) and then
//! wakes every waiter with its own result. Under light load a group is one batch and waits
//! for nothing; under load, the batches that queue up during one commit share the next, so
//! the number of fsyncs per second stays bounded while the throughput grows with the load.
//!
//! Every other method goes straight to the wrapped store.

use super::{
    Account, AccountId, Batch, BatchOutcome, ExpiredSession, LedgerTotals, NewAccount, Store,
    StoreError, StoreTotals, SubscriberId,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// Default largest group.
pub const DEFAULT_MAX_GROUP: usize = 256;

struct Job {
    batch: Batch,
    now_ms: i64,
    reply: SyncSender<Result<BatchOutcome, StoreError>>,
}

#[derive(Default)]
struct Stats {
    groups: AtomicU64,
    batches: AtomicU64,
}

/// A [`Store`] whose batches are committed in groups by a committer thread (see the module
/// docs). Dropping it stops the committer once the queued batches are done.
pub struct GroupCommit {
    inner: Arc<dyn Store>,
    queue: Mutex<Sender<Job>>,
    stats: Arc<Stats>,
}

impl GroupCommit {
    /// Puts a committer in front of `inner`; a group holds at most `max_group` batches.
    pub fn new(inner: Arc<dyn Store>, max_group: usize) -> Result<GroupCommit, StoreError> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let (store, st) = (inner.clone(), stats.clone());
        std::thread::Builder::new()
            .name("ocs-committer".into())
            .spawn(move || committer(store, rx, max_group.max(1), st))
            .map_err(|e| StoreError::Config(format!("cannot start the committer: {e}")))?;
        Ok(GroupCommit {
            inner,
            queue: Mutex::new(tx),
            stats,
        })
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// (groups committed, batches in them) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.groups.load(Ordering::Relaxed),
            self.stats.batches.load(Ordering::Relaxed),
        )
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        let (groups, batches) = self.stats();
        tracing::info!(groups, batches, "ocs: group commit stopped");
    }
}

fn committer(store: Arc<dyn Store>, rx: Receiver<Job>, max_group: usize, stats: Arc<Stats>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_group);
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while jobs.len() < max_group {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let group: Vec<(&Batch, i64)> = jobs.iter().map(|j| (&j.batch, j.now_ms)).collect();
        // A panic rolls the group's transaction back; its waiters see `Stopped` (temporary:
        // answered 3004) and the committer goes on with the next group.
        let results = catch_unwind(AssertUnwindSafe(|| store.apply_group(&group)));
        drop(group);
        stats.groups.fetch_add(1, Ordering::Relaxed);
        stats
            .batches
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        match results {
            Ok(results) => {
                let mut results = results.into_iter();
                for job in jobs.drain(..) {
                    let r = results.next().unwrap_or(Err(StoreError::Stopped));
                    let _ = job.reply.send(r);
                }
            }
            Err(_) => {
                tracing::error!(
                    batches = jobs.len(),
                    "ocs: store panicked in a group commit"
                );
                jobs.clear();
            }
        }
    }
}

impl Store for GroupCommit {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.inner.add_account(account)
    }

    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.inner.ensure_account(account)
    }

    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        self.inner.find_account(id)
    }

    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        self.inner.account_id(id)
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.inner.account(id)
    }

    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        self.inner.adjust_balance(id, delta, now_ms)
    }

    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        self.inner.session_account(session_id)
    }

    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        self.inner.request_account(key)
    }

    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        self.inner.sessions_of(id)
    }

    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        self.inner.expired_sessions(now_ms, after, limit)
    }

    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner.close_expired(sessions, now_ms)
    }

    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            batch: batch.clone(),
            now_ms,
            reply,
        };
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Stopped)?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }

    fn apply_group(&self, batches: &[(&Batch, i64)]) -> Vec<Result<BatchOutcome, StoreError>> {
        self.inner.apply_group(batches)
    }

    fn groups(&self) -> bool {
        self.inner.groups()
    }

    fn totals(&self) -> Result<StoreTotals, StoreError> {
        self.inner.totals()
    }

    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        self.inner.ledger_totals(id)
    }

    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.inner.purge_requests(before_ms)
    }
}
