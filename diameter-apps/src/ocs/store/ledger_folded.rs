//! The ledger sums each account row carries (`debited`, `refunded`, `adjusted`), and the
//! last ledger line they cover (`ledger_folded.last_line`, schema version 7).
//!
//! The embedded store writes an account's sums with its balance at each checkpoint, in
//! the transaction that writes the ledger lines, and then [`mark_folded`]. Lines written
//! by other means (the direct store, or every line of a database from before version 7)
//! lie past the mark: [`fold_new_lines`] adds them when the embedded store opens. Opening
//! then reads one row per account instead of sorting the whole ledger, which is never
//! purged. This relies on ledger lines never being deleted, so that ids only grow.

use super::StoreError;
use rusqlite::Connection;

/// Adds the ledger lines past the mark to their accounts' sums and moves the mark to the
/// last line, in one transaction. Returns how many lines were added.
pub(super) fn fold_new_lines(conn: &Connection) -> Result<u64, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let last: i64 = tx.query_row("SELECT last_line FROM ledger_folded", [], |r| r.get(0))?;
    let lines: i64 = tx.query_row("SELECT COUNT(*) FROM ledger WHERE id > ?1", [last], |r| {
        r.get(0)
    })?;
    if lines > 0 {
        tx.execute(
            "UPDATE accounts SET debited = debited + t.d, refunded = refunded + t.r,
                 adjusted = adjusted + t.a
             FROM (SELECT account_id,
                       SUM(CASE kind WHEN 'debit' THEN amount ELSE 0 END) AS d,
                       SUM(CASE kind WHEN 'refund' THEN amount ELSE 0 END) AS r,
                       SUM(CASE WHEN kind IN ('debit', 'refund') THEN 0 ELSE amount END) AS a
                   FROM ledger WHERE id > ?1 GROUP BY account_id) AS t
             WHERE accounts.id = t.account_id",
            [last],
        )?;
        mark_folded(&tx)?;
    }
    tx.commit()?;
    Ok(u64::try_from(lines).unwrap_or(0))
}

/// Records that the account rows' sums cover every ledger line written so far.
pub(super) fn mark_folded(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE ledger_folded SET last_line = (SELECT COALESCE(MAX(id), last_line) FROM ledger)",
    )?
    .execute([])?;
    Ok(())
}
