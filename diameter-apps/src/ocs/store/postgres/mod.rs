//! PostgreSQL store for several OCS nodes sharing accounts.
//!
//! Async underneath: tokio-postgres connections in a deadpool pool, driven by a small tokio
//! runtime the store owns (so the blocking [`Store`] methods work from any thread, async
//! tasks included: they hand the work to that runtime and wait on a channel).
//!
//! Charging uses group commit ([`Store::charge`], and [`Store::apply`] on top of it):
//! batches queue up, and a committer takes everything queued (up to
//! [`PgOptions::max_group`]) into one transaction, see [`group`]: the group's accounts are
//! locked in id order with `SELECT ... FOR UPDATE` (`SKIP LOCKED` for the accounts it need
//! not wait for: see [`committer`]), its rows read in the same pipelined round trip, every
//! batch runs in memory with the shared [`super::batch::run`] (a failing batch undone alone,
//! like a savepoint), and the changes are written back with one statement and committed in
//! a second round trip. Several groups are in flight at once on different
//! connections; the row locks keep two groups, or two nodes, from overspending an account
//! (the schema's `CHECK (balance >= reserved)` backs this).
//!
//! The schema is versioned with refinery (`migrations/ocs/postgres`, history table
//! `ocs_schema_history`); a database made before migrations existed is taken over.
//! TLS: see [`tls`] (`sslmode`, `sslrootcert` in the URL).

mod group;
mod overlay;
mod tls;

pub(crate) use self::tls::SyncConnector;

use self::group::{checkout, in_group, Keys};
use super::batch::{Batch, BatchOutcome};
use super::{
    Account, AccountId, ChargeFuture, CommitObserver, ExpiredSession, IdKind, LedgerTotals,
    NewAccount, Store, StoreError, StoreTotals, SubscriberId,
};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};

mod embedded {
    refinery::embed_migrations!("migrations/ocs/postgres");
}

/// The refinery history table of the OCS schema.
const HISTORY_TABLE: &str = "ocs_schema_history";

use super::options::{PgOptions, AUTO_GROUPS_LOCAL, AUTO_GROUPS_REMOTE};

impl PgOptions {
    /// Groups in flight at once.
    fn groups_in_flight(&self) -> usize {
        self.groups.min(self.pool.saturating_sub(1)).max(1)
    }

    /// These options with [`PgOptions::groups`] chosen from the database's address when it
    /// is 0 (the default): [`AUTO_GROUPS_LOCAL`] on this machine, else [`AUTO_GROUPS_REMOTE`].
    fn with_groups_for(mut self, config: &tokio_postgres::Config) -> Self {
        if self.groups == 0 {
            self.groups = if on_this_machine(config) {
                AUTO_GROUPS_LOCAL
            } else {
                AUTO_GROUPS_REMOTE
            };
        }
        self
    }
}

/// Whether the database is on this machine: every address connected to is a loopback one
/// (the `hostaddr`s, which libpq connects to instead of the hosts, when one is given for
/// every host), or else every host is a Unix socket, `localhost` or a loopback address. No
/// host at all counts as remote (the choice that was the default before).
fn on_this_machine(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    let local_host = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
    if !addrs.is_empty() && addrs.len() >= hosts.len() {
        return addrs.iter().all(|a| a.is_loopback());
    }
    !hosts.is_empty() && hosts.iter().all(local_host)
}

/// What the store's tasks share.
struct Shared {
    pool: Pool,
    opts: PgOptions,
    groups: AtomicU64,
    batches: AtomicU64,
    /// Batches put off to a later group (their account was held elsewhere).
    put_off: AtomicU64,
    /// Told of each group's commit ([`Store::observe_commits`]).
    observer: OnceLock<CommitObserver>,
}

/// A batch waiting for its group.
struct Job {
    batch: Batch,
    now_ms: i64,
    reply: Reply,
    /// It was put off by a group that did not get its account's lock: its next group
    /// waits for the lock (see [`committer`]).
    put_off: bool,
}

/// Where a batch's outcome goes: an awaiting task ([`Store::charge`]) or a blocked thread
/// ([`Store::apply`]).
enum Reply {
    Task(oneshot::Sender<Result<BatchOutcome, StoreError>>),
    Thread(std::sync::mpsc::SyncSender<Result<BatchOutcome, StoreError>>),
}

impl Reply {
    fn send(self, r: Result<BatchOutcome, StoreError>) {
        // A caller that went away (timed out, cancelled) needs no answer.
        let _ = match self {
            Reply::Task(tx) => tx.send(r).map_err(drop),
            Reply::Thread(tx) => tx.try_send(r).map_err(drop),
        };
    }
}

/// PostgreSQL-backed [`Store`] (see the module docs).
pub struct PgStore {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Job>,
    handle: tokio::runtime::Handle,
    /// Shut down (in the background: safe inside async code) when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let (groups, batches) = self.stats();
        let put_off = self.put_off();
        tracing::info!(
            groups,
            batches,
            put_off,
            "ocs: postgres group commit stopped"
        );
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on `handle` and waits for it from a plain thread (never `block_on`: this
/// may be called from inside another runtime).
fn wait<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or(Err(StoreError::Stopped))
}

fn build_config(url: &str, opts: &PgOptions) -> Result<tokio_postgres::Config, StoreError> {
    let mut config = tokio_postgres::Config::from_str(url)
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
    // Each statement planned once per connection (a plan per execution was about a quarter
    // of PostgreSQL's CPU per CCR, the 10-part write-back above all), and that plan uses the
    // indexes. A generic plan costed while the tables were small or empty prefers sequential
    // scans, and they stay as the tables grow (seen at 60,000 saved requests: p99 1.4-4 s);
    // with sequential scans off, every look-up of the store (each has an index) plans as an
    // index scan whatever the tables' sizes. A statement with no usable index still runs.
    for (name, value) in [
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
    ] {
        if !options.contains(name) {
            options.push_str(&format!(" -c {name}={value}"));
        }
    }
    config.options(options.trim());
    Ok(config)
}

fn build_pool(
    config: tokio_postgres::Config,
    tls: &tls::TlsParams,
    opts: &PgOptions,
) -> Result<Pool, StoreError> {
    let mc = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls::client_config(tls)? {
        Some(c) => {
            Manager::from_config(config, tokio_postgres_rustls::MakeRustlsConnect::new(c), mc)
        }
        None => Manager::from_config(config, tokio_postgres::NoTls, mc),
    };
    Pool::builder(manager)
        .max_size(opts.pool.max(1))
        .wait_timeout(Some(opts.pool_wait))
        .create_timeout(Some(opts.connect_timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Config(format!("postgres pool: {e}")))
}

/// Brings the schema to the newest version; two nodes starting at once take turns.
async fn migrate(pool: &Pool, opts: &PgOptions) -> Result<(), StoreError> {
    let mut conn = checkout(pool, opts).await?;
    let client: &mut tokio_postgres::Client = &mut conn;
    client.execute("SELECT pg_advisory_lock(4006)", &[]).await?;
    let r = embedded::migrations::runner()
        .set_migration_table_name(HISTORY_TABLE)
        .run_async(client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock(4006)", &[])
        .await?;
    let report = r.map_err(|e| StoreError::Config(format!("postgres schema migration: {e}")))?;
    for m in report.applied_migrations() {
        tracing::info!(
            version = m.version(),
            name = m.name(),
            "ocs: postgres schema migrated"
        );
    }
    Ok(())
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

    /// Connects (one connection at first, the pool grows on demand), brings the schema up
    /// to date and starts the group committer. `url` is a libpq URL
    /// (`postgresql://user@%2Ftmp%2Fdir:5432/db` for a Unix socket,
    /// `...?sslmode=verify-full&sslrootcert=ca.pem` for TLS) or key-value string
    /// (`host=/tmp/dir port=5432 user=postgres`).
    pub fn connect_with(url: &str, opts: &PgOptions) -> Result<PgStore, StoreError> {
        let (plain, tls) = tls::split_url(url)?;
        let config = build_config(&plain, opts)?;
        let opts = &opts.clone().with_groups_for(&config);
        tracing::info!(
            groups = opts.groups,
            "ocs: postgres group transactions in flight"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads.max(1))
            .thread_name("ocs-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Config(format!("cannot start the postgres runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let o = opts.clone();
        let pool = wait(&handle, async move {
            let pool = build_pool(config, &tls, &o)?;
            migrate(&pool, &o).await?;
            Ok(pool)
        })?;
        let shared = Arc::new(Shared {
            pool,
            opts: opts.clone(),
            groups: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            put_off: AtomicU64::new(0),
            observer: OnceLock::new(),
        });
        let (queue, jobs) = mpsc::unbounded_channel();
        handle.spawn(committer(shared.clone(), jobs));
        Ok(PgStore {
            shared,
            queue,
            handle,
            runtime: Some(runtime),
        })
    }

    /// (groups committed, batches in them) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.shared.groups.load(Ordering::Relaxed),
            self.shared.batches.load(Ordering::Relaxed),
        )
    }

    /// Batches put off to a later group so far, because another transaction held their
    /// account's lock (see the module docs).
    pub fn put_off(&self) -> u64 {
        self.shared.put_off.load(Ordering::Relaxed)
    }

    /// Runs a look-up or operator action on the store's runtime, bounded by
    /// [`PgOptions::transaction_timeout`], and waits for it.
    fn run<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Shared>) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let limit = self.shared.opts.transaction_timeout;
        let fut = f(self.shared.clone());
        wait(&self.handle, async move {
            tokio::time::timeout(limit, fut)
                .await
                .unwrap_or(Err(StoreError::Timeout(limit)))
        })
    }

    fn enqueue(&self, batch: Batch, now_ms: i64, reply: Reply) {
        // A closed queue drops the job, and with it `reply`: the receiver sees `Stopped`.
        let _ = self.queue.send(Job {
            batch,
            now_ms,
            reply,
            put_off: false,
        });
    }
}

/// Takes the queued batches in groups (see the module docs); stops when the store is
/// dropped.
///
/// A group does not wait behind another transaction (another node's group, mostly) for
/// the lock of an account some of its batches need: it locks those accounts with
/// `SKIP LOCKED`, charges the batches whose accounts it got, and puts the others off to the
/// front of the next group, which waits for their locks. One busy account then delays its
/// own batches by at most one group, not every batch of the group. The batches put off at
/// once are at most those of the groups in flight ([`PgOptions::max_group`] each).
async fn committer(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(shared.opts.groups_in_flight()));
    let max = shared.opts.max_group.max(1);
    let (put_off, mut again) = mpsc::unbounded_channel::<Job>();
    loop {
        // Wait for a free slot first: batches that arrive meanwhile join the next group.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = tokio::select! {
            biased;
            Some(j) = again.recv() => j,
            j = jobs.recv() => match j {
                Some(j) => j,
                None => return,
            },
        };
        // Batches put off come first, in their order.
        let mut group = vec![first];
        while group.len() < max {
            match again.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        while group.len() < max {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let (shared, put_off) = (shared.clone(), put_off.clone());
        tokio::spawn(async move {
            // A lone batch waits for its lock: there is nothing to go on with meanwhile.
            let may_skip = group.len() > 1;
            let batches: Vec<(&Batch, i64, bool)> = group
                .iter()
                .map(|j| (&j.batch, j.now_ms, may_skip && !j.put_off))
                .collect();
            let started = Instant::now();
            let results = apply_group(&shared, &batches).await;
            drop(batches);
            let charged = results.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
            if let (Some(observe), true) = (shared.observer.get(), charged > 0) {
                observe(charged, started.elapsed());
            }
            // Counted before any answer goes out, so that a caller who has its answer sees
            // its batch in the counts.
            let done = results.iter().filter(|r| r.is_some()).count() as u64;
            shared.groups.fetch_add(1, Ordering::Relaxed);
            shared.batches.fetch_add(done, Ordering::Relaxed);
            shared
                .put_off
                .fetch_add(group.len() as u64 - done, Ordering::Relaxed);
            for (mut job, r) in group.into_iter().zip(results) {
                match r {
                    Some(r) => job.reply.send(r),
                    None => {
                        job.put_off = true;
                        // Queued before the slot is free, so that the next group has it.
                        if let Err(e) = put_off.send(job) {
                            e.0.reply.send(Err(StoreError::Stopped));
                        }
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Runs batches in one group transaction: one result per batch, `None` for a batch put off
/// (the third of each triple says it may be: see [`committer`]); a failure of the whole
/// transaction is every batch's ([`StoreError::Group`] when there are several).
async fn apply_group(
    shared: &Shared,
    batches: &[(&Batch, i64, bool)],
) -> Vec<Option<Result<BatchOutcome, StoreError>>> {
    let keys = Keys::of_batches(batches.iter().map(|b| (b.0, b.2)));
    let r = in_group(&shared.pool, &shared.opts, &keys, |ov| {
        Ok(batches
            .iter()
            .map(|(b, now, _)| {
                let held_elsewhere = keys.may_skip(b.account) && !ov.has_account(b.account);
                (!held_elsewhere).then(|| ov.run(b, *now))
            })
            .collect::<Vec<_>>())
    })
    .await;
    match r {
        Ok(v) => v,
        Err(e) if batches.len() == 1 => vec![Some(Err(e))],
        Err(e) => {
            let e = Arc::new(e);
            batches
                .iter()
                .map(|_| Some(Err(StoreError::Group(e.clone()))))
                .collect()
        }
    }
}

async fn load_account(c: &ClientWrapper, id: AccountId) -> Result<Option<Account>, StoreError> {
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
    let (row, ids) = tokio::try_join!(
        c.query_opt(
            "SELECT name, currency, balance, reserved FROM accounts WHERE id = $1",
            &p,
        ),
        c.query(
            "SELECT id_type, id_data FROM subscription_ids WHERE account_id = $1 \
             ORDER BY id_type, id_data",
            &p,
        )
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut list = Vec::new();
    for r in ids {
        let t: i64 = r.try_get(0)?;
        let kind = i32::try_from(t)
            .ok()
            .and_then(IdKind::from_code)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription id type {t}")))?;
        list.push(SubscriberId {
            kind,
            data: r.try_get(1)?,
        });
    }
    let currency: i64 = row.try_get(1)?;
    Ok(Some(Account {
        id,
        name: row.try_get(0)?,
        currency: u32::try_from(currency).unwrap_or(0),
        balance: row.try_get(2)?,
        reserved: row.try_get(3)?,
        ids: list,
    }))
}

async fn account_of_id(
    c: &ClientWrapper,
    id: &SubscriberId,
) -> Result<Option<AccountId>, StoreError> {
    let st = c
        .prepare_cached(
            "SELECT account_id FROM subscription_ids WHERE id_type = $1 AND id_data = $2",
        )
        .await?;
    Ok(c.query_opt(&st, &[&i64::from(id.kind.code()), &id.data])
        .await?
        .map(|r| r.get(0)))
}

/// Inserts an account in its own transaction; `None` when one of its ids exists.
async fn insert_account(
    c: &mut deadpool_postgres::Object,
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
    let tx = c.transaction().await?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO accounts (name, currency, balance, reserved) VALUES ($1, $2, $3, 0) \
             RETURNING id",
            &[
                &account.name,
                &i64::from(account.currency),
                &account.balance,
            ],
        )
        .await?
        .get(0);
    for sid in &account.ids {
        let n = tx
            .execute(
                "INSERT INTO subscription_ids (id_type, id_data, account_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&i64::from(sid.kind.code()), &sid.data, &id],
            )
            .await?;
        if n == 0 {
            // Dropping the transaction rolls it back.
            return Ok(None);
        }
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// One row's first column, by a cached statement.
async fn one_value<T>(
    s: &Shared,
    sql: &'static str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<T>, StoreError>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    let c = checkout(&s.pool, &s.opts).await?;
    let st = c.prepare_cached(sql).await?;
    match c.query_opt(&st, params).await? {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

impl Store for PgStore {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let account = account.clone();
        self.run(|s| async move {
            let mut c = checkout(&s.pool, &s.opts).await?;
            insert_account(&mut c, &account)
                .await?
                .ok_or_else(|| account.duplicate())
        })
    }

    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        let account = account.clone();
        self.run(|s| async move {
            let mut c = checkout(&s.pool, &s.opts).await?;
            // Two tries: a concurrent creation of the same id makes the first one lose.
            for _ in 0..2 {
                for sid in &account.ids {
                    if let Some(id) = account_of_id(&c, sid).await? {
                        return Ok(id);
                    }
                }
                if let Some(id) = insert_account(&mut c, &account).await? {
                    return Ok(id);
                }
            }
            Err(StoreError::Duplicate(account.ids[0].to_string()))
        })
    }

    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        let id = id.clone();
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            match account_of_id(&c, &id).await? {
                Some(a) => load_account(&c, a).await,
                None => Ok(None),
            }
        })
    }

    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        let id = id.clone();
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            account_of_id(&c, &id).await
        })
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            load_account(&c, id).await
        })
    }

    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        let keys = Keys {
            accounts: vec![id],
            ..Keys::default()
        };
        self.run(|s| async move {
            in_group(&s.pool, &s.opts, &keys, |ov| {
                ov.adjust_balance(id, delta, now_ms)
            })
            .await
        })
    }

    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        let session = session_id.to_string();
        self.run(|s| async move {
            one_value(
                &s,
                "SELECT account_id FROM sessions WHERE session_id = $1",
                &[&session],
            )
            .await
        })
    }

    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        let key = key.to_string();
        self.run(|s| async move {
            one_value(
                &s,
                "SELECT account_id FROM requests WHERE request_key = $1",
                &[&key],
            )
            .await
        })
    }

    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            let rows = c
                .query(
                    "SELECT session_id FROM sessions WHERE account_id = $1 \
                     ORDER BY created_at, session_id",
                    &[&id],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.cloned();
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            // Both walk the index on (expires_at, session_id).
            let rows = match after {
                None => {
                    let st = c
                        .prepare_cached(
                            "SELECT session_id, account_id, expires_at FROM sessions \
                             WHERE expires_at <= $1 ORDER BY expires_at, session_id LIMIT $2",
                        )
                        .await?;
                    c.query(&st, &[&now_ms, &limit]).await?
                }
                Some(a) => {
                    let st = c
                        .prepare_cached(
                            "SELECT session_id, account_id, expires_at FROM sessions \
                             WHERE expires_at <= $1 AND (expires_at, session_id) > ($2, $3) \
                             ORDER BY expires_at, session_id LIMIT $4",
                        )
                        .await?;
                    c.query(&st, &[&now_ms, &a.expires_at, &a.session_id, &limit])
                        .await?
                }
            };
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ExpiredSession {
                    session_id: r.try_get(0)?,
                    account: r.try_get(1)?,
                    expires_at: r.try_get(2)?,
                });
            }
            Ok(out)
        })
    }

    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let order = super::lock_order(sessions);
        let mut keys = Keys {
            accounts: order.iter().map(|s| s.1).collect(),
            sessions: order.iter().map(|s| s.0.clone()).collect(),
            ..Keys::default()
        };
        keys.normalize();
        self.run(|s| async move {
            in_group(&s.pool, &s.opts, &keys, |ov| {
                ov.close_expired(&order, now_ms)
            })
            .await
        })
    }

    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        // A plain channel (`blocking_recv` would panic inside async code).
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.enqueue(batch.clone(), now_ms, Reply::Thread(reply));
        answer.recv().unwrap_or(Err(StoreError::Stopped))
    }

    fn charge(self: Arc<Self>, batch: Batch, now_ms: i64) -> ChargeFuture {
        let (reply, answer) = oneshot::channel();
        self.enqueue(batch, now_ms, Reply::Task(reply));
        Box::pin(async move { answer.await.unwrap_or(Err(StoreError::Stopped)) })
    }

    /// One transaction for the batches given, each undone alone when it fails (see
    /// [`Store::apply_group`]). The committer forms groups itself, several in flight, so
    /// [`Store::groups`] stays `false`: a [`super::GroupCommit`] in front would only
    /// serialize them.
    fn apply_group(&self, batches: &[(&Batch, i64)]) -> Vec<Result<BatchOutcome, StoreError>> {
        let owned: Vec<(Batch, i64)> = batches.iter().map(|(b, n)| ((*b).clone(), *n)).collect();
        let n = owned.len();
        let shared = self.shared.clone();
        // Each attempt of the transaction is bounded (`in_group`), and the attempts are few.
        let r = wait(&self.handle, async move {
            // None put off: every account is waited for.
            let refs: Vec<(&Batch, i64, bool)> =
                owned.iter().map(|(b, n)| (b, *n, false)).collect();
            Ok(apply_group(&shared, &refs).await)
        });
        match r {
            Ok(v) => v
                .into_iter()
                .map(|r| r.unwrap_or(Err(StoreError::Stopped)))
                .collect(),
            Err(e) => {
                let e = Arc::new(e);
                (0..n).map(|_| Err(StoreError::Group(e.clone()))).collect()
            }
        }
    }

    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            let mut t = LedgerTotals::default();
            for r in c
                .query(
                    "SELECT kind, COALESCE(SUM(amount), 0)::BIGINT FROM ledger \
                     WHERE account_id = $1 GROUP BY kind",
                    &[&id],
                )
                .await?
            {
                let kind: String = r.try_get(0)?;
                let sum: i64 = r.try_get(1)?;
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
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            Ok(
                c.execute("DELETE FROM requests WHERE at < $1", &[&before_ms])
                    .await?,
            )
        })
    }

    fn totals(&self) -> Result<StoreTotals, StoreError> {
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            let r = c.query_one(super::TOTALS_SQL, &[]).await?;
            Ok(StoreTotals {
                open_sessions: r.try_get(0)?,
                reserved: r.try_get(1)?,
                keys_in_memory_since_ms: None,
            })
        })
    }

    /// Reports each group transaction as one commit: the charges it made durable, and
    /// how long its transaction took.
    fn observe_commits(&self, observer: CommitObserver) -> bool {
        self.shared.observer.set(observer).is_ok()
    }
}

#[cfg(test)]
impl PgStore {
    /// The plans a pooled connection uses for the group transaction's statements
    /// (`EXPLAIN EXECUTE` of each, prepared on that connection, arguments NULL).
    pub(crate) fn group_plans(&self) -> Result<Vec<String>, StoreError> {
        self.run(|s| async move {
            let c = checkout(&s.pool, &s.opts).await?;
            let mut plans = Vec::new();
            for (i, sql) in group::statements().iter().enumerate() {
                let params = (1..).take_while(|n| sql.contains(&format!("${n}"))).count();
                let args = vec!["NULL"; params].join(", ");
                let script = format!(
                    "PREPARE plan_{i} AS {sql}; EXPLAIN EXECUTE plan_{i}({args}); \
                     DEALLOCATE plan_{i}"
                );
                let mut plan = String::new();
                for m in c.simple_query(&script).await? {
                    if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                        plan.push_str(r.get(0).unwrap_or_default());
                        plan.push('\n');
                    }
                }
                plans.push(plan);
            }
            Ok(plans)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_get_timeouts_and_index_plans_unless_the_url_sets_them() {
        let opts = PgOptions::default();
        let config = build_config("postgresql://u@localhost/db", &opts).unwrap();
        let options = config.get_options().unwrap();
        assert!(options.contains("-c statement_timeout=3000"), "{options}");
        assert!(options.contains("-c lock_timeout=2000"), "{options}");
        assert!(
            options.contains("-c plan_cache_mode=force_generic_plan"),
            "{options}"
        );
        assert!(options.contains("-c enable_seqscan=off"), "{options}");
        let url = "postgresql://u@localhost/db?options=-c%20plan_cache_mode%3Dauto";
        let options = build_config(url, &opts)
            .unwrap()
            .get_options()
            .unwrap()
            .to_string();
        assert!(options.contains("plan_cache_mode=auto"), "{options}");
        assert!(!options.contains("force_generic_plan"), "{options}");
        assert!(options.contains("-c enable_seqscan=off"), "{options}");
    }

    #[test]
    fn groups_in_flight_default_to_one_on_this_machine_and_two_across_a_network() {
        let groups = |url: &str, set: usize| {
            let opts = PgOptions {
                groups: set,
                ..PgOptions::default()
            };
            let config = build_config(url, &opts).unwrap();
            opts.with_groups_for(&config).groups
        };
        for local in [
            "postgresql://u@%2Ftmp%2Fpg:5432/db",
            "host=/var/run/postgresql user=u",
            "postgresql://u@localhost/db",
            "postgresql://u@127.0.0.1:5433/db",
            "postgresql://u@[::1]/db",
            "host=db.example.net hostaddr=127.0.0.1 user=u",
        ] {
            assert_eq!(groups(local, 0), AUTO_GROUPS_LOCAL, "{local}");
        }
        for remote in [
            "postgresql://u@db.example.net/db",
            "postgresql://u@10.0.0.5/db",
            "postgresql://u@localhost,db.example.net/db",
            "host=localhost hostaddr=10.0.0.5 user=u",
        ] {
            assert_eq!(groups(remote, 0), AUTO_GROUPS_REMOTE, "{remote}");
        }
        // A configured value is kept.
        assert_eq!(groups("postgresql://u@localhost/db", 3), 3);
        assert_eq!(groups("postgresql://u@db.example.net/db", 1), 1);
    }
}
