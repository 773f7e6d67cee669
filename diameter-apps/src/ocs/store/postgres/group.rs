//! One group transaction on PostgreSQL, in two pipelined round trips:
//!
//! 1. `BEGIN`, the group's accounts locked in id order, and then, in one statement, the
//!    sessions, reservations, saved outcomes and debits the group can touch. The accounts
//!    of [`Keys::accounts`] are waited for (`FOR UPDATE`); those of [`Keys::unless_held`]
//!    are taken only if free (`SKIP LOCKED`), and the batches on one another transaction
//!    holds are left for a later group. A group waits only in its first statement, for
//!    accounts in id order, so two groups or two nodes never deadlock on accounts;
//! 2. the work runs in memory ([`Overlay`]); then the changed rows are written back with
//!    one statement (a data-modifying `WITH` part per table with rows to write, `UNNEST`
//!    arrays) and `COMMIT`.
//!
//! A serialization failure or deadlock retries the whole group on fresh rows; any other
//! failure ends it (`ROLLBACK`), and a transaction that outlives its deadline drops its
//! connection (the server rolls it back).

use super::overlay::{Changes, Overlay};
use super::PgOptions;
use crate::ocs::store::memory::MemSession;
use crate::ocs::store::{AccountId, Batch, Op, StoreError};
use deadpool_postgres::{Object, Pool, PoolError};
use futures_util::future::join_all;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error as PgError, Row};

/// The keys of every row a group can touch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Keys {
    /// Sorted, unique: the lock order. Locked, waiting for other transactions.
    pub accounts: Vec<AccountId>,
    /// Sorted, unique, none of `accounts`: locked only if no other transaction holds them
    /// (`SKIP LOCKED`); the batches on one that is held wait for a later group.
    pub unless_held: Vec<AccountId>,
    pub sessions: Vec<String>,
    pub requests: Vec<String>,
    pub debits: Vec<String>,
}

impl Keys {
    /// The keys of a group of batches, each with whether its account may be skipped when
    /// another transaction holds it.
    pub fn of_batches<'a>(batches: impl IntoIterator<Item = (&'a Batch, bool)>) -> Keys {
        let mut k = Keys::default();
        for (b, may_skip) in batches {
            match may_skip {
                true => k.unless_held.push(b.account),
                false => k.accounts.push(b.account),
            }
            k.sessions.extend(b.session.iter().cloned());
            k.requests.extend(b.key.iter().cloned());
            for op in &b.ops {
                match op {
                    Op::Refund { reference, .. } => k.debits.push(reference.clone()),
                    // A new reference that exists already fails its batch, not the group.
                    Op::Debit {
                        reference: Some(reference),
                        ..
                    } => k.debits.push(reference.clone()),
                    _ => {}
                }
            }
        }
        k.normalize();
        k
    }

    /// Whether a batch on `account` waits for a later group when this one did not get its
    /// lock.
    pub fn may_skip(&self, account: AccountId) -> bool {
        self.unless_held.binary_search(&account).is_ok()
    }

    /// Sorts and removes duplicates; an account to wait for is not also one to skip.
    pub fn normalize(&mut self) {
        self.accounts.sort_unstable();
        self.accounts.dedup();
        self.unless_held.sort_unstable();
        self.unless_held.dedup();
        let wait = &self.accounts;
        self.unless_held.retain(|a| wait.binary_search(a).is_err());
        for v in [&mut self.sessions, &mut self.requests, &mut self.debits] {
            v.sort_unstable();
            v.dedup();
        }
    }
}

const LOCK_ACCOUNTS: &str = "SELECT id, balance, reserved FROM accounts WHERE id = ANY($1) \
     ORDER BY id FOR UPDATE";
/// The accounts no other transaction holds: a group does not wait behind another node's
/// group for some of its batches (see [`Keys::unless_held`]).
const LOCK_FREE_ACCOUNTS: &str = "SELECT id, balance, reserved FROM accounts \
     WHERE id = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED";
/// Every other row a group can touch, in one statement (one parse, bind and executor
/// start instead of four), read after the locks: the sessions and reservations of the
/// group's sessions, its saved outcomes and its debits. Each part walks its own index; one
/// row shape for all, `kind` telling which part a row comes from.
const ROWS: &str = "\
     SELECT 0::int2 AS kind, session_id AS key, account_id, expires_at AS n1, \
       created_at AS n2, NULL::bigint AS n3, peer AS t FROM sessions \
       WHERE session_id = ANY($1) \
     UNION ALL SELECT 1::int2, session_id, account_id, rating_group, amount, NULL, NULL \
       FROM reservations WHERE session_id = ANY($1) \
     UNION ALL SELECT 2::int2, request_key, account_id, at, NULL, NULL, outcome \
       FROM requests WHERE request_key = ANY($2) \
     UNION ALL SELECT 3::int2, reference, account_id, amount, refunded, at, NULL \
       FROM debits WHERE reference = ANY($3)";

/// Which part of [`ROWS`] a row comes from.
const ROW_SESSION: i16 = 0;
const ROW_HOLD: i16 = 1;
const ROW_REQUEST: i16 = 2;
const ROW_DEBIT: i16 = 3;

/// The statements of a group transaction, reads then the write-back with every part
/// (tests check their plans).
#[cfg(test)]
pub(super) fn statements() -> Vec<String> {
    let all = write_back_sql((1 << WRITE_PARTS.len()) - 1).to_owned();
    vec![
        LOCK_ACCOUNTS.into(),
        LOCK_FREE_ACCOUNTS.into(),
        ROWS.into(),
        all,
    ]
}

/// The parts of the write-back statement: each a data-modifying `WITH` part (they run once
/// each, to completion, whether read or not), with `#` for its parameters, in order. Every
/// write of a group goes in one statement made of the parts it needs (one parse, plan and
/// executor start instead of one per table; a part with nothing to write is left out, as
/// it would still open its table and indexes). The parts touch disjoint rows: a session or
/// reservation is either deleted or written, a debit either inserted or its refund updated.
const WRITE_PARTS: [&str; 9] = [
    "acc AS (UPDATE accounts AS a SET balance = u.b, reserved = u.r \
       FROM UNNEST(#::bigint[], #::bigint[], #::bigint[]) AS u(id, b, r) WHERE a.id = u.id)",
    "del_ses AS (DELETE FROM sessions WHERE session_id = ANY(#::text[]))",
    "ses AS (INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer) \
       SELECT * FROM UNNEST(#::text[], #::bigint[], #::bigint[], #::bigint[], #::text[]) \
       ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at)",
    "del_hol AS (DELETE FROM reservations AS r USING UNNEST(#::text[], #::bigint[]) AS d(s, g) \
       WHERE r.session_id = d.s AND r.rating_group = d.g)",
    "hol AS (INSERT INTO reservations (session_id, rating_group, account_id, amount) \
       SELECT * FROM UNNEST(#::text[], #::bigint[], #::bigint[], #::bigint[]) \
       ON CONFLICT (session_id, rating_group) DO UPDATE SET amount = excluded.amount)",
    "led AS (INSERT INTO ledger \
       (account_id, session_id, rating_group, kind, amount, request_key, at) \
       SELECT * FROM UNNEST(#::bigint[], #::text[], #::bigint[], #::text[], \
       #::bigint[], #::text[], #::bigint[]))",
    "req AS (INSERT INTO requests (request_key, account_id, outcome, at) \
       SELECT * FROM UNNEST(#::text[], #::bigint[], #::text[], #::bigint[]))",
    "deb AS (INSERT INTO debits (reference, account_id, amount, refunded, at) \
       SELECT * FROM UNNEST(#::text[], #::bigint[], #::bigint[], #::bigint[], #::bigint[]))",
    "refd AS (UPDATE debits AS d SET refunded = u.refunded \
       FROM UNNEST(#::text[], #::bigint[]) AS u(reference, refunded) \
       WHERE d.reference = u.reference)",
];

/// The write-back statement of the parts in `parts` (bit i: `WRITE_PARTS[i]`), its
/// parameters numbered in order; made once per set of parts.
fn write_back_sql(parts: usize) -> &'static str {
    static MADE: [OnceLock<String>; 1 << WRITE_PARTS.len()] =
        [const { OnceLock::new() }; 1 << WRITE_PARTS.len()];
    MADE[parts].get_or_init(|| {
        let mut n = 0;
        let used = WRITE_PARTS
            .iter()
            .enumerate()
            .filter(|(i, _)| parts & (1 << i) != 0)
            .map(|(_, part)| {
                part.split('#')
                    .enumerate()
                    .map(|(k, piece)| match k {
                        0 => piece.to_owned(),
                        _ => {
                            n += 1;
                            format!("${n}{piece}")
                        }
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>();
        format!("WITH {} SELECT 1", used.join(", "))
    })
}

/// Takes a pooled connection, within the pool wait.
pub(super) async fn checkout(pool: &Pool, opts: &PgOptions) -> Result<Object, StoreError> {
    pool.get().await.map_err(|e| match e {
        PoolError::Timeout(_) => StoreError::PoolTimeout(opts.pool_wait),
        PoolError::Backend(e) => StoreError::Postgres(e),
        PoolError::Closed => StoreError::Stopped,
        other => StoreError::Config(format!("postgres pool: {other}")),
    })
}

/// A connection inside a transaction: dropped before the transaction ended (a deadline
/// passed, the task was cancelled), it leaves the pool and closes, and the server rolls the
/// transaction back; it never goes back to the pool in the middle of one.
struct InTx {
    conn: Option<Object>,
}

impl InTx {
    fn conn(&self) -> &Object {
        self.conn.as_ref().expect("connection present until drop")
    }

    /// The transaction ended: the connection may go back to the pool.
    fn done(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for InTx {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            drop(Object::take(c));
        }
    }
}

/// Whether the group may run again: the server rolled it back for a conflict with another
/// transaction (a serialization failure, a deadlock, or a row another node inserted since
/// the group read, such as the same request key saved for another account: the rerun reads
/// it and handles it per batch).
fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(e) => e
            .code()
            .is_some_and(|c| matches!(c.code(), "40001" | "40P01" | "23505")),
        _ => false,
    }
}

/// Runs `work` in one transaction over the rows of `keys` (see the module docs), retrying
/// conflicts, bounded by [`PgOptions::transaction_timeout`]. An `Err` from `work` rolls
/// back and is returned as is.
pub(super) async fn in_group<T>(
    pool: &Pool,
    opts: &PgOptions,
    keys: &Keys,
    mut work: impl FnMut(&mut Overlay) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        let once = tokio::time::timeout(
            opts.transaction_timeout,
            attempt_group(pool, opts, keys, &mut work),
        )
        .await;
        match once {
            Ok(Err(e)) if retryable(&e) && attempt < opts.retries => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "ocs: group conflict, retrying");
            }
            Ok(r) => return r,
            Err(_) => return Err(StoreError::Timeout(opts.transaction_timeout)),
        }
    }
}

async fn attempt_group<T>(
    pool: &Pool,
    opts: &PgOptions,
    keys: &Keys,
    work: &mut impl FnMut(&mut Overlay) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let conn = checkout(pool, opts).await?;
    let tx = InTx { conn: Some(conn) };
    let result = transaction(tx.conn(), keys, work).await;
    if result.is_err() {
        // A statement failed (the transaction is aborted) or `work` refused: end it.
        tx.conn().batch_execute("ROLLBACK").await?;
    }
    tx.done();
    result
}

async fn transaction<T>(
    c: &Object,
    keys: &Keys,
    work: &mut impl FnMut(&mut Overlay) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut overlay = prefetch(c, keys).await?;
    let out = work(&mut overlay)?;
    write_back(c, &overlay.changes()).await?;
    Ok(out)
}

/// `step`, or nothing when there is nothing to read (an unpolled query sends nothing).
fn unless_empty(empty: bool, step: Step<'_, Vec<Row>>) -> Step<'_, Vec<Row>> {
    if empty {
        Box::pin(async { Ok(Vec::new()) })
    } else {
        step
    }
}

/// `BEGIN` and the reads, pipelined (one round trip once the statements are prepared).
async fn prefetch(c: &Object, keys: &Keys) -> Result<Overlay, PgError> {
    let (lock, lock_free, rows) = tokio::try_join!(
        c.prepare_cached(LOCK_ACCOUNTS),
        c.prepare_cached(LOCK_FREE_ACCOUNTS),
        c.prepare_cached(ROWS),
    )?;
    let pa: [Param<'_>; 1] = [&keys.accounts];
    let pf: [Param<'_>; 1] = [&keys.unless_held];
    let pr: [Param<'_>; 3] = [&keys.sessions, &keys.requests, &keys.debits];
    let no_rows = keys.sessions.is_empty() && keys.requests.is_empty() && keys.debits.is_empty();
    // The locks come first: the rows read after them are what the lock holders committed.
    let steps: Vec<Step<'_, Vec<Row>>> = vec![
        Box::pin(async { c.batch_execute("BEGIN").await.map(|()| Vec::new()) }),
        unless_empty(keys.accounts.is_empty(), Box::pin(c.query(&lock, &pa))),
        unless_empty(
            keys.unless_held.is_empty(),
            Box::pin(c.query(&lock_free, &pf)),
        ),
        unless_empty(no_rows, Box::pin(c.query(&rows, &pr))),
    ];
    let mut out = pipeline(steps).await?.into_iter().skip(1);
    let mut next = || out.next().unwrap_or_default();
    let (acc, free, rows) = (next(), next(), next());
    let mut ov = Overlay::new();
    for r in acc.into_iter().chain(free) {
        ov.load_account(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
    }
    for r in rows {
        let (key, account): (String, AccountId) = (r.try_get(1)?, r.try_get(2)?);
        let n = |i| {
            r.try_get::<_, Option<i64>>(i)
                .map(Option::unwrap_or_default)
        };
        match r.try_get::<_, i16>(0)? {
            ROW_SESSION => {
                let s = MemSession {
                    account,
                    expires_at: n(3)?,
                    created_at: n(4)?,
                    peer: r.try_get::<_, Option<&str>>(6)?.map(Into::into),
                };
                ov.load_session(key, s);
            }
            ROW_HOLD => ov.load_hold(key, n(3)?, account, n(4)?),
            ROW_REQUEST => {
                let outcome = r.try_get::<_, Option<String>>(6)?.unwrap_or_default();
                ov.load_request(key, account, outcome, n(3)?);
            }
            ROW_DEBIT => ov.load_debit(key, (account, n(3)?, n(4)?, n(5)?)),
            _ => {}
        }
    }
    Ok(ov)
}

/// One statement of a pipeline.
type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T, PgError>> + Send + 'a>>;

/// Sends the statements back to back (the futures are polled in order, and tokio-postgres
/// sends a request when first polled) and waits for all: one round trip. The error is the
/// first statement's that failed (the later ones then fail as "transaction aborted").
async fn pipeline<T>(steps: Vec<Step<'_, T>>) -> Result<Vec<T>, PgError> {
    join_all(steps).await.into_iter().collect()
}

/// A statement parameter.
type Param<'a> = &'a (dyn ToSql + Sync);
type Texts = Vec<String>;
type Ints = Vec<i64>;
type OptTexts = Vec<Option<String>>;

/// The changes as column arrays (the parameters of the bulk statements).
#[derive(Default)]
struct Columns {
    acc: (Ints, Ints, Ints),
    del_sessions: Texts,
    ses: (Texts, Ints, Ints, Ints, OptTexts),
    del_holds: (Texts, Ints),
    holds: (Texts, Ints, Ints, Ints),
    ledger: (
        Ints,
        OptTexts,
        Vec<Option<i64>>,
        Texts,
        Ints,
        OptTexts,
        Ints,
    ),
    requests: (Texts, Ints, Texts, Ints),
    debits: (Texts, Ints, Ints, Ints, Ints),
    refunded: (Texts, Ints),
}

impl Columns {
    fn of(ch: &Changes) -> Columns {
        let mut c = Columns::default();
        for &(id, b, r) in &ch.accounts {
            c.acc.0.push(id);
            c.acc.1.push(b);
            c.acc.2.push(r);
        }
        c.del_sessions = ch.delete_sessions.clone();
        for (s, row) in &ch.upsert_sessions {
            c.ses.0.push(s.clone());
            c.ses.1.push(row.account);
            c.ses.2.push(row.expires_at);
            c.ses.3.push(row.created_at);
            c.ses.4.push(row.peer.as_deref().map(str::to_owned));
        }
        for (s, g) in &ch.delete_holds {
            c.del_holds.0.push(s.clone());
            c.del_holds.1.push(*g);
        }
        for ((s, g), (account, amount)) in &ch.upsert_holds {
            c.holds.0.push(s.clone());
            c.holds.1.push(*g);
            c.holds.2.push(*account);
            c.holds.3.push(*amount);
        }
        for l in &ch.ledger {
            c.ledger.0.push(l.account);
            c.ledger.1.push(l.session.as_deref().map(str::to_owned));
            c.ledger.2.push(l.rating_group);
            c.ledger.3.push(l.kind.to_string());
            c.ledger.4.push(l.amount);
            c.ledger.5.push(l.key.as_deref().map(str::to_owned));
            c.ledger.6.push(l.at);
        }
        for (k, account, outcome, at) in &ch.requests {
            c.requests.0.push(k.to_string());
            c.requests.1.push(*account);
            c.requests.2.push(outcome.to_string());
            c.requests.3.push(*at);
        }
        for (r, (account, amount, refunded, at)) in &ch.new_debits {
            c.debits.0.push(r.clone());
            c.debits.1.push(*account);
            c.debits.2.push(*amount);
            c.debits.3.push(*refunded);
            c.debits.4.push(*at);
        }
        for (r, v) in &ch.refunded {
            c.refunded.0.push(r.clone());
            c.refunded.1.push(*v);
        }
        c
    }
}

/// The write-back ([`write_back_sql`]) and `COMMIT`, pipelined (one round trip once
/// prepared); only `COMMIT` when the group changed nothing (every batch a replay).
async fn write_back(c: &Object, ch: &Changes) -> Result<(), PgError> {
    let cols = Columns::of(ch);
    // Each part of `WRITE_PARTS`, in the same order: whether it has rows, and its
    // parameters.
    let parts: [(bool, Vec<Param<'_>>); 9] = [
        (
            !cols.acc.0.is_empty(),
            vec![&cols.acc.0, &cols.acc.1, &cols.acc.2],
        ),
        (!cols.del_sessions.is_empty(), vec![&cols.del_sessions]),
        (
            !cols.ses.0.is_empty(),
            vec![
                &cols.ses.0,
                &cols.ses.1,
                &cols.ses.2,
                &cols.ses.3,
                &cols.ses.4,
            ],
        ),
        (
            !cols.del_holds.0.is_empty(),
            vec![&cols.del_holds.0, &cols.del_holds.1],
        ),
        (
            !cols.holds.0.is_empty(),
            vec![&cols.holds.0, &cols.holds.1, &cols.holds.2, &cols.holds.3],
        ),
        (
            !cols.ledger.0.is_empty(),
            vec![
                &cols.ledger.0,
                &cols.ledger.1,
                &cols.ledger.2,
                &cols.ledger.3,
                &cols.ledger.4,
                &cols.ledger.5,
                &cols.ledger.6,
            ],
        ),
        (
            !cols.requests.0.is_empty(),
            vec![
                &cols.requests.0,
                &cols.requests.1,
                &cols.requests.2,
                &cols.requests.3,
            ],
        ),
        (
            !cols.debits.0.is_empty(),
            vec![
                &cols.debits.0,
                &cols.debits.1,
                &cols.debits.2,
                &cols.debits.3,
                &cols.debits.4,
            ],
        ),
        (
            !cols.refunded.0.is_empty(),
            vec![&cols.refunded.0, &cols.refunded.1],
        ),
    ];
    let used = parts
        .iter()
        .enumerate()
        .filter(|(_, (rows, _))| *rows)
        .fold(0, |bits, (i, _)| bits | 1 << i);
    let params: Vec<Param<'_>> = parts
        .into_iter()
        .filter(|(rows, _)| *rows)
        .flat_map(|(_, p)| p)
        .collect();
    let statement = match used {
        0 => None,
        _ => Some(c.prepare_cached(write_back_sql(used)).await?),
    };
    let mut steps: Vec<Step<'_, u64>> = Vec::with_capacity(2);
    if let Some(st) = &statement {
        steps.push(Box::pin(c.execute(st, &params)));
    }
    steps.push(Box::pin(async {
        c.batch_execute("COMMIT").await.map(|()| 0)
    }));
    pipeline(steps).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_unique() {
        let mut a = Batch::new(7, Some("s2".into()));
        a.key = Some("k".into());
        a.ops.push(Op::Refund {
            amount: 1,
            reference: "r".into(),
        });
        let mut b = Batch::new(3, Some("s1".into()));
        b.key = Some("k".into());
        let mut c = Batch::new(7, None);
        c.ops.push(Op::Debit {
            amount: 1,
            partial: false,
            reference: Some("new".into()),
        });
        let k = Keys::of_batches([(&a, false), (&b, false), (&c, false)]);
        assert_eq!(k.accounts, vec![3, 7]);
        assert!(k.unless_held.is_empty());
        assert_eq!(k.sessions, vec!["s1".to_string(), "s2".into()]);
        assert_eq!(k.requests, vec!["k".to_string()]);
        assert_eq!(k.debits, vec!["new".to_string(), "r".into()]);
    }

    #[test]
    fn the_write_back_numbers_the_parameters_of_the_parts_it_has() {
        let all = write_back_sql((1 << WRITE_PARTS.len()) - 1);
        assert!(
            all.contains("$33::bigint[]") && !all.contains("$34"),
            "{all}"
        );
        assert!(!all.contains('#'));
        // The ledger and requests parts alone: their 7 + 4 parameters, from $1.
        let two = write_back_sql(1 << 5 | 1 << 6);
        assert!(two.starts_with("WITH led AS (INSERT INTO ledger"), "{two}");
        assert!(two.contains("req AS") && !two.contains("acc AS"), "{two}");
        assert!(
            two.contains("$11::bigint[]") && !two.contains("$12"),
            "{two}"
        );
        assert!(two.ends_with(" SELECT 1"));
    }

    #[test]
    fn an_account_waited_for_once_is_never_skipped() {
        let (a, b, c) = (
            Batch::new(7, None),
            Batch::new(3, None),
            Batch::new(9, None),
        );
        // 7 is in the group twice: once as a batch that already waited a group.
        let k = Keys::of_batches([(&a, true), (&b, true), (&a, false), (&c, true)]);
        assert_eq!(k.accounts, vec![7]);
        assert_eq!(k.unless_held, vec![3, 9]);
        assert!(!k.may_skip(7));
        assert!(k.may_skip(3) && k.may_skip(9));
    }
}
