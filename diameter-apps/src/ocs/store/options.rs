//! The settings of the backends, compiled whether or not the backend is (`sqlite`,
//! `postgres` features), so that configuration code builds either way.

pub use super::lookup_budget::DEFAULT_SQL_LOOKUPS_PER_S;
use super::memory::MemLimits;
use super::{DEFAULT_OVERLAP_AFTER, DEFAULT_SYNCERS, DEFAULT_SYNC_INTERVAL};
use std::time::Duration;

/// Default [`EngineOptions::checkpoint_interval`]: 1 s.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Default [`EngineOptions::checkpoint_records`]: 100,000.
pub const DEFAULT_CHECKPOINT_RECORDS: u64 = 100_000;
/// Default [`EngineOptions::max_backlog`]: 2,000,000 records.
pub const DEFAULT_MAX_BACKLOG: u64 = 2_000_000;

/// Settings of the embedded store `Engine` (`sqlite://`); `EngineOptions::default()` gives the documented defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineOptions {
    /// The longest time between checkpoints into SQLite (default
    /// [`DEFAULT_CHECKPOINT_INTERVAL`]). Longer: fewer SQLite writes (a session opened and
    /// closed between two checkpoints is never written), a longer journal to replay.
    pub checkpoint_interval: Duration,
    /// A checkpoint starts early after this many journal records (default
    /// [`DEFAULT_CHECKPOINT_RECORDS`]).
    pub checkpoint_records: u64,
    /// Memory bounds of the saved request outcomes (see [`MemLimits`]).
    pub limits: MemLimits,
    /// Threads writing and syncing the journal, whose `fdatasync`s overlap (default
    /// [`DEFAULT_SYNCERS`]).
    pub journal_syncers: usize,
    /// A second journal `fdatasync` starts while one is in flight only once that one has
    /// run this long (default [`DEFAULT_OVERLAP_AFTER`]): one sync at a time on a
    /// fast disk, overlapping syncs on a slow one.
    pub journal_overlap_after: Duration,
    /// The least time between the starts of two journal `fdatasync`s when none is in
    /// flight (default [`DEFAULT_SYNC_INTERVAL`]): under load, records gather into fewer,
    /// larger syncs (less CPU and disk per CCR); an answer waits at most this much longer,
    /// and no longer than until the node's I/O threads have charged all they read
    /// ([`super::Store::producers_idle`]).
    pub journal_sync_interval: Duration,
    /// The most journal records not yet checkpointed into SQLite (default
    /// [`DEFAULT_MAX_BACKLOG`]): past it (SQLite failing or slower than the load) charges
    /// are refused with a temporary error (answered 3004) instead of growing the memory
    /// and the journal without bound.
    pub max_backlog: u64,
    /// The most look-ups of saved outcomes in SQLite a second, up to one second's worth at
    /// once (default [`DEFAULT_SQL_LOOKUPS_PER_S`]; 0: no bound). Only a duplicate whose
    /// answer has left memory, or a T-flagged request past the key filter, needs one, at
    /// about a hundred microseconds each; beyond the bound such a request is refused with
    /// a temporary error (answered 3004) before anything is charged, so that a peer
    /// replaying old requests cannot take the node's CPU.
    pub sql_lookups_per_s: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            checkpoint_records: DEFAULT_CHECKPOINT_RECORDS,
            limits: MemLimits::default(),
            journal_syncers: DEFAULT_SYNCERS,
            journal_overlap_after: DEFAULT_OVERLAP_AFTER,
            journal_sync_interval: DEFAULT_SYNC_INTERVAL,
            max_backlog: DEFAULT_MAX_BACKLOG,
            sql_lookups_per_s: DEFAULT_SQL_LOOKUPS_PER_S,
        }
    }
}

/// Group transactions in flight by default ([`PgOptions::groups`] 0) when every host of the
/// database's URL is on this machine (a Unix socket, `localhost`, a loopback address): one.
/// Round trips are cheap there, so a second group in flight hides little and costs the
/// shared CPUs: two nodes on a local PostgreSQL at half rate (4,000 CCR/s each, README's
/// 2-CPU VM, four pairs alternated) had p99 14.1–17.6 ms with one group against 18.7–61.9
/// ms with two, PostgreSQL 99–102 against 118–124 µs and the nodes 43–45 against 49–52 µs
/// of CPU per CCR.
pub const AUTO_GROUPS_LOCAL: usize = 1;
/// Group transactions in flight by default for a database across a network: two, so that
/// one group's round trips overlap the other's.
pub const AUTO_GROUPS_REMOTE: usize = 2;

/// Timeouts, pool size and group commit of the PostgreSQL store `PgStore`; `PgOptions::default()` gives the
/// documented defaults. A database that stops answering must not hang the OCS: every wait
/// is bounded, and the OCS answers the request 3004 DIAMETER_TOO_BUSY so that the client
/// fails over.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Connections in the pool (default 8): group transactions, look-ups and operator
    /// actions share them.
    pub pool: usize,
    /// Group transactions in flight at once, at most `pool - 1` so that a connection stays
    /// free for look-ups. Fewer, larger groups cost the database less per batch; more
    /// overlap the round trips. Default 0: chosen from the database's address, see
    /// [`AUTO_GROUPS_LOCAL`] and [`AUTO_GROUPS_REMOTE`].
    pub groups: usize,
    /// Threads of the store's runtime, which drives the pooled connections (default 1).
    /// One thread makes fewer cross-thread wake-ups than two: on the README's 2-CPU VM
    /// the node's CPU per CCR fell from 67–68 to 63–64 µs at 8,000 CCR/s on two nodes.
    pub threads: usize,
    /// How long a request waits for a free pooled connection before failing with
    /// [`super::StoreError::PoolTimeout`] (default 2 s).
    pub pool_wait: Duration,
    /// Timeout of each connection attempt (default 3 s; a `connect_timeout` in the URL
    /// wins).
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` of every statement (default 3 s).
    pub statement_timeout: Duration,
    /// Server-side `lock_timeout`: the longest wait for a row lock, such as an account
    /// locked by another node's transaction (default 2 s).
    pub lock_timeout: Duration,
    /// TCP keepalive idle time and `tcp_user_timeout` of TCP connections: a peer that stops
    /// acknowledging is declared dead after this long (default 10 s).
    pub tcp_timeout: Duration,
    /// Client-side bound of one store call or group transaction attempt, pool wait included
    /// (default 5 s): past it the call fails with [`super::StoreError::Timeout`] (temporary) and a
    /// transaction's connection is closed, which rolls it back. Covers a server that stops
    /// answering altogether, where the server-side timeouts cannot fire.
    pub transaction_timeout: Duration,
    /// The most batches one group transaction takes (default 256).
    pub max_group: usize,
    /// How often a group is run again after a serialization failure or deadlock
    /// (default 3).
    pub retries: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool: 8,
            groups: 0,
            threads: 1,
            pool_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(3),
            lock_timeout: Duration::from_secs(2),
            tcp_timeout: Duration::from_secs(10),
            transaction_timeout: Duration::from_secs(5),
            max_group: 256,
            retries: 3,
        }
    }
}
