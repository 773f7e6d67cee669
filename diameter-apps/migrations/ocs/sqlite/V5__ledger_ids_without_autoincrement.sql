-- Ledger ids come from SQLite's ordinary rowid choice (the largest id + 1) instead of
-- AUTOINCREMENT, which read and rewrote a `sqlite_sequence` row on every inserted line (a
-- quarter of the checkpoint's SQLite instructions per CCR). Ledger lines are never deleted,
-- so the ids still only grow and are never reused. The table is rebuilt with its rows.
CREATE TABLE ledger_v5 (
    id           INTEGER PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    session_id   TEXT,
    rating_group BIGINT,
    kind         TEXT   NOT NULL,
    amount       BIGINT NOT NULL,
    request_key  TEXT,
    at           BIGINT NOT NULL
);
INSERT INTO ledger_v5 (id, account_id, session_id, rating_group, kind, amount, request_key, at)
    SELECT id, account_id, session_id, rating_group, kind, amount, request_key, at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v5 RENAME TO ledger;
CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id);
DELETE FROM sqlite_sequence WHERE name IN ('ledger', 'ledger_v5');
