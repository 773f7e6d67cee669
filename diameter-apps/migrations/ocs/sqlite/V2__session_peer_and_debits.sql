-- Sessions are owned by the peer that opened them; refunds go against a recorded debit.
-- (A database made before migrations that already has `peer` is recorded as past this
-- version without running it: SQLite has no ADD COLUMN IF NOT EXISTS.)
ALTER TABLE sessions ADD COLUMN peer TEXT;
CREATE TABLE IF NOT EXISTS debits (
    reference  TEXT   PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount     BIGINT NOT NULL CHECK (amount > 0),
    refunded   BIGINT NOT NULL DEFAULT 0,
    at         BIGINT NOT NULL,
    CHECK (refunded >= 0 AND refunded <= amount)
);
