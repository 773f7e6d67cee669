-- The accounting server (CDF) on PostgreSQL, shared by several nodes: every record
-- accepted, once (exactly once per Session-Id + Accounting-Record-Type +
-- Accounting-Record-Number), and one charging record per accounting session, merged from
-- its start, interims and stop, with the Rf Service-Context-Id and Service-Information
-- (JSON) of TS 32.299 §6.2.2. The same tables as migrations/acct/sqlite V2 + V3.
CREATE TABLE IF NOT EXISTS acct_records (
    session_id    TEXT   NOT NULL,
    record_type   BIGINT NOT NULL,
    record_number BIGINT NOT NULL,
    received_ms   BIGINT NOT NULL,
    PRIMARY KEY (session_id, record_type, record_number)
);
CREATE TABLE IF NOT EXISTS acct_sessions (
    session_id                 TEXT   PRIMARY KEY,
    origin_host                TEXT   NOT NULL,
    user_name                  TEXT,
    first_ms                   BIGINT NOT NULL,
    last_ms                    BIGINT NOT NULL,
    start_ms                   BIGINT,
    stop_ms                    BIGINT,
    records                    BIGINT NOT NULL,
    input_octets               BIGINT NOT NULL DEFAULT 0,
    output_octets              BIGINT NOT NULL DEFAULT 0,
    closed                     BIGINT NOT NULL DEFAULT 0,
    service_context_id         TEXT,
    service_information        TEXT,
    service_information_number BIGINT
);
