-- The accounting server (CDF): every record accepted, once (exactly once per
-- Session-Id + Accounting-Record-Type + Accounting-Record-Number), and one charging
-- record per accounting session, merged from its start, interims and stop.
CREATE TABLE IF NOT EXISTS acct_records (
    session_id TEXT NOT NULL,
    record_type INTEGER NOT NULL,
    record_number INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, record_type, record_number)
);
CREATE TABLE IF NOT EXISTS acct_sessions (
    session_id TEXT PRIMARY KEY,
    origin_host TEXT NOT NULL,
    user_name TEXT,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    start_ms INTEGER,
    stop_ms INTEGER,
    records INTEGER NOT NULL,
    input_octets INTEGER NOT NULL DEFAULT 0,
    output_octets INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0
);
