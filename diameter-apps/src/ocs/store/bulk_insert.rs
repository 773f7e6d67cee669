//! Rows inserted many to a statement: `INSERT … VALUES (…), (…), …` with [`ROWS`] rows
//! instead of one statement per row. The checkpoint writes a saved outcome and about one
//! ledger line per CCR; SQLite's fixed cost per statement (binding, stepping, resetting)
//! was most of what each row cost.
//!
//! A statement that writes several rows and may abort midway (`INSERT` or `OR REPLACE`
//! with NOT NULL or CHECK constraints) makes SQLite keep a statement journal of every page
//! it touches, spilled to a temporary file past 64 KiB: one `pwrite` per page. Use `OR
//! FAIL` (an error fails the checkpoint's transaction, which is rolled back whole) or `OR
//! IGNORE`, which need none.

use rusqlite::{Statement, Transaction};

/// Rows per multi-row statement.
const ROWS: usize = 32;

/// Inserts `rows` with `head` (`INSERT INTO t (a, b)`, `cols` columns): [`ROWS`] at a
/// time, then the rest one by one. `bind` binds one row's values from the 1-based
/// parameter index it is given. Rows are inserted in order.
pub(crate) fn insert_rows<T>(
    tx: &Transaction<'_>,
    head: &str,
    cols: usize,
    rows: &[T],
    mut bind: impl FnMut(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut full = rows.chunks_exact(ROWS);
    if full.len() > 0 {
        let mut many = tx.prepare_cached(&statement(head, cols, ROWS))?;
        for chunk in &mut full {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut many, 1 + i * cols, row)?;
            }
            many.raw_execute()?;
        }
    }
    let rest = full.remainder();
    if !rest.is_empty() {
        let mut one = tx.prepare_cached(&statement(head, cols, 1))?;
        for row in rest {
            bind(&mut one, 1, row)?;
            one.raw_execute()?;
        }
    }
    Ok(())
}

/// `head VALUES (?, …), …`: `rows` groups of `cols` parameters.
fn statement(head: &str, cols: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; cols].join(", "));
    format!("{head} VALUES {}", vec![group; rows].join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn every_row_is_inserted_in_order_across_full_and_partial_statements() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
            .unwrap();
        for n in [0, 1, ROWS - 1, ROWS, ROWS + 1, 3 * ROWS + 5] {
            let rows: Vec<(i64, String)> =
                (0..n as i64).map(|i| (i * 7, format!("r{i}"))).collect();
            let tx = conn.transaction().unwrap();
            tx.execute("DELETE FROM t", []).unwrap();
            insert_rows(&tx, "INSERT INTO t (a, b)", 2, &rows, |s, at, (a, b)| {
                s.raw_bind_parameter(at, a)?;
                s.raw_bind_parameter(at + 1, b)
            })
            .unwrap();
            tx.commit().unwrap();
            let got: Vec<(i64, String)> = conn
                .prepare("SELECT a, b FROM t ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(got, rows, "{n} rows");
        }
    }

    #[test]
    fn statements_have_one_parameter_per_value() {
        assert_eq!(
            statement("INSERT INTO t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
