-- Accounting records a client could not deliver, kept for later delivery (RFC 6733 §8.2).
CREATE TABLE IF NOT EXISTS acct_spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    record BLOB NOT NULL
);
