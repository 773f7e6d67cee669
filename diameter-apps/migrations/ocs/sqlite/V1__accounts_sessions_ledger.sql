-- The first OCS schema (before versioned migrations). IF NOT EXISTS: a database made by an
-- older version already has these tables and is recorded as migrated from here on.
CREATE TABLE IF NOT EXISTS accounts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT    NOT NULL DEFAULT '',
    currency  INTEGER NOT NULL,
    balance   BIGINT  NOT NULL,
    reserved  BIGINT  NOT NULL DEFAULT 0,
    CHECK (reserved >= 0 AND balance >= reserved)
);
CREATE TABLE IF NOT EXISTS subscription_ids (
    id_type    INTEGER NOT NULL,
    id_data    TEXT    NOT NULL,
    account_id BIGINT  NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (id_type, id_data)
);
CREATE INDEX IF NOT EXISTS subscription_ids_account ON subscription_ids(account_id);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT   PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account_id);
CREATE TABLE IF NOT EXISTS reservations (
    session_id   TEXT   NOT NULL,
    rating_group BIGINT NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (session_id, rating_group)
);
CREATE TABLE IF NOT EXISTS ledger (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
