//! The embedded store's index of saved outcomes by key: sorted runs of (key hash, row id)
//! pairs, written sequentially, instead of a B-tree index.
//!
//! Every checkpoint saves one outcome per CCR. Indexed by `requests.key_hash`, each of
//! those rows was a random insert into a B-tree that soon outgrew the page cache: at
//! 100,000 CCR/s a checkpoint dirtied most of the index's leaf pages, the WAL grew past a
//! gigabyte and after about two minutes the checkpoint fell behind the charges. Here a
//! checkpoint writes its outcomes' pairs once, sorted by hash, as a new run (level 0) in
//! the same transaction as the rows; so every saved row is covered by a run as soon as it
//! is in SQLite. When a level holds [`FANOUT`] runs, they are merged into one run of the
//! next level, a bounded number of pairs per transaction ([`KeyRuns::merge_step`]), so a
//! look-up probes a few runs per level (one chunk of each), whatever the table's size.
//!
//! A run is stored as chunks of at most about [`CHUNK_PAIRS`] pairs (a database page),
//! each row keyed by the run and its first hash; pairs of one hash are never split
//! between two chunks, so a probe reads the one chunk whose first hash is the greatest not
//! above the hash looked for. The hash is [`key_hash`] (FNV-1a, stable as it is stored);
//! the key itself is compared on the row.
//!
//! A run becomes visible with its row in `request_runs`: a merge writes its chunks over
//! several transactions and then, in one, adds that row and removes its sources. A crash
//! in between leaves chunks of a run that has no row; opening removes them. Rows that no
//! run covers (written by the direct store, `sqlite+direct://`, which keeps the B-tree
//! index) get a run when the engine opens the database.

use super::sqlite::key_hash;
use super::{AccountId, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Statement, Transaction};

/// The runs' tables.
pub(crate) const RUNS_SQL: &str = "\
    CREATE TABLE IF NOT EXISTS request_runs (
        id        INTEGER PRIMARY KEY,
        level     INTEGER NOT NULL,
        first_row INTEGER NOT NULL,
        last_row  INTEGER NOT NULL,
        pairs     INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS request_run_chunks (
        run        INTEGER NOT NULL,
        first_hash INTEGER NOT NULL,
        pairs      BLOB    NOT NULL
    );
    CREATE INDEX IF NOT EXISTS request_run_chunks_by_hash
        ON request_run_chunks (run, first_hash);";

/// The B-tree index of saved outcomes by key hash, which the direct store uses and the
/// engine drops.
pub(crate) const REQUESTS_BY_KEY_HASH: &str =
    "CREATE INDEX IF NOT EXISTS requests_key_hash ON requests(key_hash)";

/// Drops [`REQUESTS_BY_KEY_HASH`] (the engine's database).
const NO_REQUESTS_BY_KEY_HASH: &str = "DROP INDEX IF EXISTS requests_key_hash";

/// Pairs per chunk, about: 240 pairs of 16 bytes fit in a 4 KiB page with the row's
/// header. A chunk grows past it only to keep the pairs of one hash together.
pub(crate) const CHUNK_PAIRS: usize = 240;

/// Runs of one level merged into one of the next.
pub(crate) const FANOUT: usize = 8;

/// Pairs a merge writes per transaction, at most (about 1 MiB of chunks).
pub(crate) const MERGE_STEP_PAIRS: usize = 64 * 1024;

/// Rows per run made when the engine opens a database whose rows no run covers.
const OPEN_RUN_ROWS: i64 = 1 << 20;

/// A (key hash, row id) pair.
type Pair = (i64, i64);

/// The runs' writer, held by the checkpoint: ids of new runs and rows, and the merge in
/// progress.
pub(crate) struct KeyRuns {
    /// Id of the next run (never reused, so chunks a failed merge left are never taken
    /// for another run's).
    next_run: i64,
    /// Row id of the next saved outcome.
    pub(crate) next_row: i64,
    merge: Option<Merge>,
    /// [`MERGE_STEP_PAIRS`] (smaller in tests).
    step_pairs: usize,
}

/// A merge of runs of one level into one run of the next.
struct Merge {
    out: i64,
    level: i64,
    sources: Vec<i64>,
    cursors: Vec<Cursor>,
    first_row: i64,
    last_row: i64,
    /// Merged pairs not yet written (less than a chunk, or a hash not yet complete).
    pending: Vec<Pair>,
    written: i64,
}

/// Reads one run chunk by chunk, in hash order.
struct Cursor {
    run: i64,
    /// First hash of the chunk last read (`None`: none read yet).
    last_first: Option<i64>,
    buf: Vec<Pair>,
    pos: usize,
    done: bool,
}

impl KeyRuns {
    /// Prepares the engine's database: the runs' tables, no B-tree index by key hash, no
    /// chunks of unfinished runs, and a run for the saved outcomes no run covers.
    pub(crate) fn open(conn: &mut Connection) -> Result<KeyRuns, StoreError> {
        conn.execute_batch(RUNS_SQL)?;
        conn.execute_batch(NO_REQUESTS_BY_KEY_HASH)?;
        conn.execute(
            "DELETE FROM request_run_chunks WHERE run NOT IN (SELECT id FROM request_runs)",
            [],
        )?;
        let next_run: i64 = conn.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM request_runs",
            [],
            |r| r.get(0),
        )?;
        let covered: i64 = conn.query_row(
            "SELECT COALESCE(MAX(last_row), 0) FROM request_runs",
            [],
            |r| r.get(0),
        )?;
        let last_row: i64 =
            conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM requests", [], |r| {
                r.get(0)
            })?;
        let mut runs = KeyRuns {
            next_run,
            next_row: last_row.max(covered) + 1,
            merge: None,
            step_pairs: MERGE_STEP_PAIRS,
        };
        // In runs of at most OPEN_RUN_ROWS rows, each committed: memory stays bounded on
        // a large table, and a crash keeps what was done (the runs cover a prefix).
        let mut after = covered;
        while after < last_row {
            let tx = conn.transaction()?;
            let mut pairs: Vec<Pair> = tx
                .prepare(
                    "SELECT key_hash, rowid FROM requests WHERE rowid > ?1 \
                     AND key_hash IS NOT NULL ORDER BY rowid LIMIT ?2",
                )?
                .query_map(params![after, OPEN_RUN_ROWS], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            let Some(&(_, last)) = pairs.last() else {
                break;
            };
            after = last;
            pairs.sort_unstable();
            tracing::info!(
                rows = pairs.len(),
                up_to_row = last,
                "ocs: indexing saved outcomes written without the engine"
            );
            runs.write_run(&tx, &pairs)?;
            tx.commit()?;
        }
        Ok(runs)
    }

    /// Writes a level-0 run of `pairs` (sorted) in `tx`, the transaction that writes their
    /// rows (then [`KeyRuns::committed`], once it commits).
    pub(crate) fn write_run(
        &mut self,
        tx: &Transaction<'_>,
        pairs: &[Pair],
    ) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let id = self.take_run_id();
        let (first_row, last_row) = pairs.iter().fold((i64::MAX, i64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let mut insert = tx.prepare_cached(
            "INSERT INTO request_run_chunks (run, first_hash, pairs) VALUES (?1, ?2, ?3)",
        )?;
        let mut rest = pairs;
        while !rest.is_empty() {
            let n = chunk_len(rest);
            insert_chunk(&mut insert, id, &rest[..n])?;
            rest = &rest[n..];
        }
        tx.prepare_cached(
            "INSERT INTO request_runs (id, level, first_row, last_row, pairs) VALUES (?1, 0, ?2, ?3, ?4)",
        )?
        .execute(params![id, first_row, last_row, pairs.len() as i64])?;
        Ok(())
    }

    /// The checkpoint that took row ids up to `next_row` (excluded) committed.
    pub(crate) fn committed(&mut self, next_row: i64) {
        self.next_row = self.next_row.max(next_row);
    }

    fn take_run_id(&mut self) -> i64 {
        let id = self.next_run;
        self.next_run += 1;
        id
    }

    /// Removes the runs that cover only rows the purge deleted (in its transaction).
    pub(crate) fn purge(tx: &Transaction<'_>) -> Result<(), StoreError> {
        let first_kept: i64 = tx.query_row(
            "SELECT COALESCE(MIN(rowid), 9223372036854775807) FROM requests",
            [],
            |r| r.get(0),
        )?;
        tx.prepare_cached(
            "DELETE FROM request_run_chunks WHERE run IN \
             (SELECT id FROM request_runs WHERE last_row < ?1)",
        )?
        .execute([first_kept])?;
        tx.prepare_cached("DELETE FROM request_runs WHERE last_row < ?1")?
            .execute([first_kept])?;
        Ok(())
    }

    /// Does one step of the merge in progress, or starts one when a level is full: at most
    /// [`MERGE_STEP_PAIRS`] pairs, in a transaction of its own. Returns whether more merge
    /// work is due. On an error the merge is abandoned (its chunks removed, or by the next
    /// open) and started again later.
    pub(crate) fn merge_step(&mut self, conn: &mut Connection) -> Result<bool, StoreError> {
        let r = self.try_merge_step(conn);
        if r.is_err() {
            if let Some(m) = self.merge.take() {
                let _ = conn.execute("DELETE FROM request_run_chunks WHERE run = ?1", [m.out]);
            }
        }
        r
    }

    fn try_merge_step(&mut self, conn: &mut Connection) -> Result<bool, StoreError> {
        if self.merge.is_none() {
            let Some((level, sources)) = full_level(conn)? else {
                return Ok(false);
            };
            let (first_row, last_row) = conn.query_row(
                &format!(
                    "SELECT MIN(first_row), MAX(last_row) FROM request_runs WHERE id IN ({})",
                    ids(&sources)
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            self.merge = Some(Merge {
                out: self.take_run_id(),
                level: level + 1,
                cursors: sources.iter().map(|&run| Cursor::new(run)).collect(),
                sources,
                first_row,
                last_row,
                pending: Vec::new(),
                written: 0,
            });
        }
        let tx = conn.transaction()?;
        let m = self.merge.as_mut().expect("a merge");
        let finished = m.step(&tx, self.step_pairs)?;
        if finished {
            let list = ids(&m.sources);
            tx.execute(
                "INSERT INTO request_runs (id, level, first_row, last_row, pairs) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![m.out, m.level, m.first_row, m.last_row, m.written],
            )?;
            tx.execute(
                &format!("DELETE FROM request_run_chunks WHERE run IN ({list})"),
                [],
            )?;
            tx.execute(
                &format!("DELETE FROM request_runs WHERE id IN ({list})"),
                [],
            )?;
        }
        tx.commit()?;
        if finished {
            self.merge = None;
            return Ok(full_level(conn)?.is_some());
        }
        Ok(true)
    }
}

impl Merge {
    /// Merges up to `max` pairs and writes the complete chunks; returns whether the
    /// sources are exhausted (and everything written).
    fn step(&mut self, tx: &Transaction<'_>, max: usize) -> Result<bool, StoreError> {
        let mut insert = tx.prepare_cached(
            "INSERT INTO request_run_chunks (run, first_hash, pairs) VALUES (?1, ?2, ?3)",
        )?;
        let mut merged = 0;
        loop {
            // The smallest head among the cursors (a handful: a linear scan).
            let mut best: Option<(usize, Pair)> = None;
            for (i, c) in self.cursors.iter_mut().enumerate() {
                if let Some(p) = c.peek(tx)? {
                    if best.is_none_or(|(_, b)| p < b) {
                        best = Some((i, p));
                    }
                }
            }
            let Some((i, pair)) = best else {
                // Sources exhausted: the rest goes out as the last chunk.
                while !self.pending.is_empty() {
                    let n = chunk_len(&self.pending);
                    insert_chunk(&mut insert, self.out, &self.pending[..n])?;
                    self.pending.drain(..n);
                }
                return Ok(true);
            };
            self.cursors[i].pos += 1;
            self.pending.push(pair);
            self.written += 1;
            merged += 1;
            // A chunk is complete once a pair of another hash follows it.
            if self.pending.len() > CHUNK_PAIRS {
                let n = chunk_len(&self.pending);
                if n < self.pending.len() {
                    insert_chunk(&mut insert, self.out, &self.pending[..n])?;
                    self.pending.drain(..n);
                }
            }
            if merged >= max {
                return Ok(false);
            }
        }
    }
}

impl Cursor {
    fn new(run: i64) -> Cursor {
        Cursor {
            run,
            last_first: None,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// The next pair, reading the next chunk when this one is used up.
    fn peek(&mut self, tx: &Transaction<'_>) -> Result<Option<Pair>, StoreError> {
        while self.pos == self.buf.len() && !self.done {
            let next: Option<(i64, Vec<u8>)> = match self.last_first {
                None => tx
                    .prepare_cached(
                        "SELECT first_hash, pairs FROM request_run_chunks WHERE run = ?1 \
                         ORDER BY first_hash LIMIT 1",
                    )?
                    .query_row([self.run], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
                Some(after) => tx
                    .prepare_cached(
                        "SELECT first_hash, pairs FROM request_run_chunks WHERE run = ?1 \
                         AND first_hash > ?2 ORDER BY first_hash LIMIT 1",
                    )?
                    .query_row([self.run, after], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
            };
            match next {
                // Its run purged meanwhile: what is left of it is not needed.
                None => self.done = true,
                Some((first, blob)) => {
                    self.last_first = Some(first);
                    self.buf = decode(&blob)?;
                    self.pos = 0;
                }
            }
        }
        Ok(self.buf.get(self.pos).copied())
    }
}

/// The oldest [`FANOUT`] runs of the lowest level that has that many.
fn full_level(conn: &Connection) -> Result<Option<(i64, Vec<i64>)>, StoreError> {
    let level: Option<i64> = conn
        .prepare_cached(
            "SELECT level FROM request_runs GROUP BY level HAVING COUNT(*) >= ?1 \
             ORDER BY level LIMIT 1",
        )?
        .query_row([FANOUT as i64], |r| r.get(0))
        .optional()?;
    let Some(level) = level else {
        return Ok(None);
    };
    let sources = conn
        .prepare_cached("SELECT id FROM request_runs WHERE level = ?1 ORDER BY id LIMIT ?2")?
        .query_map([level, FANOUT as i64], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(Some((level, sources)))
}

/// How many of `pairs` (sorted) the next chunk takes: [`CHUNK_PAIRS`] (or all, if fewer),
/// and more only so as not to split the pairs of one hash.
fn chunk_len(pairs: &[Pair]) -> usize {
    let mut n = CHUNK_PAIRS.min(pairs.len());
    while n < pairs.len() && pairs[n].0 == pairs[n - 1].0 {
        n += 1;
    }
    n
}

/// Writes one chunk of run `run` (`pairs` sorted, not empty).
fn insert_chunk(insert: &mut Statement<'_>, run: i64, pairs: &[Pair]) -> Result<(), StoreError> {
    insert.execute(params![run, pairs[0].0, encode(pairs)])?;
    Ok(())
}

fn ids(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn encode(pairs: &[Pair]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 16);
    for (h, row) in pairs {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&row.to_le_bytes());
    }
    out
}

fn decode(blob: &[u8]) -> Result<Vec<Pair>, StoreError> {
    if !blob.len().is_multiple_of(16) {
        return Err(StoreError::Corrupt(format!(
            "a chunk of saved outcome keys has {} bytes",
            blob.len()
        )));
    }
    Ok(blob
        .chunks_exact(16)
        .map(|c| {
            let h = i64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
            let row = i64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
            (h, row)
        })
        .collect())
}

/// The saved outcome of `key` (the first saved, as the direct store's look-up): the
/// candidate rows from one chunk of every run, then the key compared on each.
pub(crate) fn saved_outcome(
    conn: &Connection,
    key: &str,
) -> Result<Option<(AccountId, String)>, StoreError> {
    let h = key_hash(key);
    let mut rows = Vec::new();
    {
        let mut probe = conn.prepare_cached(
            "SELECT c.pairs FROM request_runs r JOIN request_run_chunks c ON c.rowid = \
             (SELECT rowid FROM request_run_chunks WHERE run = r.id AND first_hash <= ?1 \
              ORDER BY first_hash DESC LIMIT 1)",
        )?;
        let mut chunks = probe.query([h])?;
        while let Some(chunk) = chunks.next()? {
            let pairs = decode(&chunk.get::<_, Vec<u8>>(0)?)?;
            let at = pairs.partition_point(|p| p.0 < h);
            rows.extend(pairs[at..].iter().take_while(|p| p.0 == h).map(|p| p.1));
        }
    }
    rows.sort_unstable();
    let mut read = conn
        .prepare_cached("SELECT request_key, account_id, outcome FROM requests WHERE rowid = ?1")?;
    for row in rows {
        let found: Option<(String, AccountId, String)> = read
            .query_row([row], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if let Some((k, account, outcome)) = found {
            if k == key {
                return Ok(Some((account, outcome)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE requests (request_key TEXT NOT NULL, key_hash INTEGER, \
             account_id BIGINT NOT NULL, outcome TEXT NOT NULL, at BIGINT NOT NULL)",
        )
        .unwrap();
        conn
    }

    /// Saves `keys` as one checkpoint does: rows numbered by `runs`, and their run.
    fn checkpoint(conn: &mut Connection, runs: &mut KeyRuns, keys: &[String]) {
        let tx = conn.transaction().unwrap();
        let first = runs.next_row;
        let mut pairs = Vec::new();
        for (row, key) in (first..).zip(keys) {
            tx.execute(
                "INSERT INTO requests (rowid, request_key, key_hash, account_id, outcome, at) \
                 VALUES (?1, ?2, ?3, 1, ?2, 0)",
                params![row, key, key_hash(key)],
            )
            .unwrap();
            pairs.push((key_hash(key), row));
        }
        pairs.sort_unstable();
        runs.write_run(&tx, &pairs).unwrap();
        tx.commit().unwrap();
        runs.committed(first + keys.len() as i64);
    }

    fn found(conn: &Connection, key: &str) -> bool {
        saved_outcome(conn, key)
            .unwrap()
            .is_some_and(|(_, outcome)| outcome == key)
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn keys(from: usize, n: usize) -> Vec<String> {
        (from..from + n).map(|i| format!("session;{i};1")).collect()
    }

    #[test]
    fn every_key_is_found_through_its_runs_before_and_after_merges() {
        let mut conn = db();
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        let per_run = 250; // more than a chunk
        let n_runs = FANOUT * FANOUT + 3;
        for r in 0..n_runs {
            checkpoint(&mut conn, &mut runs, &keys(r * per_run, per_run));
        }
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM request_runs"),
            n_runs as i64
        );
        let all = keys(0, n_runs * per_run);
        assert!(all.iter().step_by(7).all(|k| found(&conn, k)));
        assert!(!found(&conn, "session;never;1"));
        while runs.merge_step(&mut conn).unwrap() {}
        // 67 runs of level 0 became one of level 2 and three of level 0.
        let levels: Vec<(i64, i64)> = conn
            .prepare("SELECT level, COUNT(*) FROM request_runs GROUP BY level ORDER BY level")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(levels, vec![(0, 3), (2, 1)]);
        assert_eq!(
            count(&conn, "SELECT SUM(pairs) FROM request_runs"),
            all.len() as i64
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM request_run_chunks WHERE run NOT IN (SELECT id FROM request_runs)"
            ),
            0,
            "the merged runs' chunks are gone"
        );
        assert!(all.iter().all(|k| found(&conn, k)), "every key, merged");
        assert!(!found(&conn, "session;never;1"));
    }

    #[test]
    fn the_pairs_of_one_hash_stay_in_one_chunk_and_the_key_decides() {
        let mut conn = db();
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        // Decoy rows under the hash of "wanted", more than two chunks of them, in runs
        // that get merged; the row of "wanted" itself comes last.
        let h = key_hash("wanted");
        for run in 0..FANOUT {
            let tx = conn.transaction().unwrap();
            let first = runs.next_row;
            let mut pairs = Vec::new();
            for row in first..first + 300 {
                let decoy = format!("decoy{row}");
                tx.execute(
                    "INSERT INTO requests (rowid, request_key, key_hash, account_id, outcome, at) \
                     VALUES (?1, ?2, ?3, 1, ?2, 0)",
                    params![row, decoy, key_hash(&decoy)],
                )
                .unwrap();
                // Half of each run's pairs claim the hash of "wanted".
                pairs.push((if row % 2 == 0 { h } else { key_hash(&decoy) }, row));
            }
            pairs.sort_unstable();
            runs.write_run(&tx, &pairs).unwrap();
            tx.commit().unwrap();
            runs.committed(first + 300);
            assert!(!found(&conn, "wanted"), "run {run}: only decoys");
        }
        checkpoint(&mut conn, &mut runs, &["wanted".to_string()]);
        assert!(found(&conn, "wanted"));
        while runs.merge_step(&mut conn).unwrap() {}
        let chunks: Vec<Vec<u8>> = conn
            .prepare(
                "SELECT pairs FROM request_run_chunks WHERE run = \
                 (SELECT id FROM request_runs WHERE level = 1)",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let of_h: Vec<usize> = chunks
            .iter()
            .map(|c| decode(c).unwrap().iter().filter(|p| p.0 == h).count())
            .filter(|&n| n > 0)
            .collect();
        assert_eq!(
            of_h,
            vec![FANOUT * 150],
            "the merged pairs of one hash, in one chunk"
        );
        assert!(found(&conn, "wanted"));
        assert!(found(&conn, "decoy5"));
        assert_eq!(chunk_len(&[(1, 1), (1, 2), (2, 3)]), 3);
    }

    #[test]
    fn a_merge_cut_short_by_a_crash_leaves_nothing_behind() {
        let mut conn = db();
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        runs.step_pairs = 500;
        for r in 0..FANOUT {
            checkpoint(&mut conn, &mut runs, &keys(r * 200, 200));
        }
        assert!(runs.merge_step(&mut conn).unwrap(), "one step of several");
        let orphans = "SELECT COUNT(*) FROM request_run_chunks WHERE run NOT IN (SELECT id FROM request_runs)";
        assert!(count(&conn, orphans) > 0, "chunks written, the run not yet");
        let all = keys(0, FANOUT * 200);
        assert!(
            all.iter().all(|k| found(&conn, k)),
            "the sources still serve"
        );
        // The process dies here; the next open removes the half-written run.
        drop(runs);
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        assert_eq!(count(&conn, orphans), 0);
        assert!(all.iter().all(|k| found(&conn, k)));
        // Rows are numbered on after the ones saved, runs likewise.
        checkpoint(&mut conn, &mut runs, &keys(10_000, 10));
        while runs.merge_step(&mut conn).unwrap() {}
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM request_runs"), 2);
        assert!(all.iter().chain(&keys(10_000, 10)).all(|k| found(&conn, k)));
    }

    #[test]
    fn rows_saved_without_runs_are_indexed_on_open_and_purged_runs_go() {
        let mut conn = db();
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        checkpoint(&mut conn, &mut runs, &keys(0, 50));
        // The direct store appends rows of its own, without runs.
        for key in keys(50, 50) {
            conn.execute(
                "INSERT INTO requests (request_key, key_hash, account_id, outcome, at) \
                 VALUES (?1, ?2, 1, ?1, 0)",
                params![key, key_hash(&key)],
            )
            .unwrap();
        }
        assert!(!found(&conn, &keys(50, 1)[0]));
        let mut runs = KeyRuns::open(&mut conn).unwrap();
        assert!(keys(0, 100).iter().all(|k| found(&conn, k)));
        assert_eq!(runs.next_row, 101);
        checkpoint(&mut conn, &mut runs, &keys(100, 50));
        // A purge of the first 100 rows takes the two runs that cover only them.
        let tx = conn.transaction().unwrap();
        tx.execute("DELETE FROM requests WHERE rowid <= 100", [])
            .unwrap();
        KeyRuns::purge(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM request_runs"), 1);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM request_run_chunks WHERE run NOT IN (SELECT id FROM request_runs)"),
            0
        );
        assert!(keys(100, 50).iter().all(|k| found(&conn, k)));
        assert!(!found(&conn, &keys(0, 1)[0]));
    }
}
