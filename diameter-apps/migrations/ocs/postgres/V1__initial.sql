-- The OCS schema on PostgreSQL. `IF NOT EXISTS` throughout: a database made before
-- migrations existed (same tables, no refinery history) is taken over as version 1.
CREATE TABLE IF NOT EXISTS accounts (
    id        BIGSERIAL PRIMARY KEY,
    name      TEXT   NOT NULL DEFAULT '',
    currency  BIGINT NOT NULL,
    balance   BIGINT NOT NULL,
    reserved  BIGINT NOT NULL DEFAULT 0,
    CHECK (reserved >= 0 AND balance >= reserved)
);
CREATE TABLE IF NOT EXISTS subscription_ids (
    id_type    BIGINT NOT NULL,
    id_data    TEXT   NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (id_type, id_data)
);
CREATE INDEX IF NOT EXISTS subscription_ids_account ON subscription_ids(account_id);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT   PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    peer       TEXT
);
-- Databases from before session owners were recorded.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS peer TEXT;
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account_id);
-- The Tcc sweep walks this index in (deadline, Session-Id) order.
DROP INDEX IF EXISTS sessions_expiry;
CREATE INDEX IF NOT EXISTS sessions_deadline ON sessions(expires_at, session_id);
CREATE TABLE IF NOT EXISTS reservations (
    session_id   TEXT   NOT NULL,
    rating_group BIGINT NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (session_id, rating_group)
);
CREATE TABLE IF NOT EXISTS ledger (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    session_id   TEXT,
    rating_group BIGINT,
    kind         TEXT   NOT NULL,
    amount       BIGINT NOT NULL,
    request_key  TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id);
CREATE TABLE IF NOT EXISTS requests (
    request_key TEXT   PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    outcome     TEXT   NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_at ON requests(at);
CREATE TABLE IF NOT EXISTS debits (
    reference  TEXT   PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount     BIGINT NOT NULL CHECK (amount > 0),
    refunded   BIGINT NOT NULL DEFAULT 0,
    at         BIGINT NOT NULL,
    CHECK (refunded >= 0 AND refunded <= amount)
);
