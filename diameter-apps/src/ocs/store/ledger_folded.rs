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
/// last line, in one transaction. Returns the ids of the lines added (first, last), if any.
pub(super) fn fold_new_lines(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let (last, newest): (i64, i64) = tx.query_row(
        "SELECT last_line, (SELECT COALESCE(MAX(id), 0) FROM ledger) FROM ledger_folded",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if newest <= last {
        return Ok(None);
    }
    // The kinds as `memory::add_ledger` counts them: anything but a debit or a refund
    // is an adjustment.
    tx.execute(
        "UPDATE accounts SET debited = debited + t.d, refunded = refunded + t.r,
             adjusted = adjusted + t.a
         FROM (SELECT account_id,
                   SUM(CASE kind WHEN 'debit' THEN amount ELSE 0 END) AS d,
                   SUM(CASE kind WHEN 'refund' THEN amount ELSE 0 END) AS r,
                   SUM(CASE WHEN kind IN ('debit', 'refund') THEN 0 ELSE amount END) AS a
               FROM ledger WHERE id > ?1 AND id <= ?2 GROUP BY account_id) AS t
         WHERE accounts.id = t.account_id",
        [last, newest],
    )?;
    tx.execute("UPDATE ledger_folded SET last_line = ?1", [newest])?;
    tx.commit()?;
    Ok(Some((last + 1, newest)))
}

/// Records that the account rows' sums cover every ledger line written so far.
pub(super) fn mark_folded(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE ledger_folded SET last_line = (SELECT COALESCE(MAX(id), last_line) FROM ledger)",
    )?
    .execute([])?;
    Ok(())
}
