-- Users, their profile entries and their AORs with registration state (RFC 4740).
-- IF NOT EXISTS: a database made before versioned migrations already has them.
CREATE TABLE IF NOT EXISTS sip_users (
    user_name             TEXT   PRIMARY KEY,
    realm                 TEXT   NOT NULL,
    ha1_md5               TEXT,
    ha1_sha256            TEXT,
    visited_networks      TEXT   NOT NULL DEFAULT '',
    cap_mandatory         TEXT   NOT NULL DEFAULT '',
    cap_optional          TEXT   NOT NULL DEFAULT '',
    cap_servers           TEXT   NOT NULL DEFAULT '',
    unregistered_services BIGINT NOT NULL DEFAULT 0,
    acct_servers          TEXT   NOT NULL DEFAULT '',
    cc_servers            TEXT   NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sip_user_data (
    user_name TEXT   NOT NULL,
    position  BIGINT NOT NULL,
    data_type TEXT   NOT NULL,
    contents  BYTEA  NOT NULL,
    PRIMARY KEY (user_name, position)
);
CREATE TABLE IF NOT EXISTS sip_aors (
    aor_key            TEXT   PRIMARY KEY,
    aor                TEXT   NOT NULL,
    user_name          TEXT   NOT NULL,
    position           BIGINT NOT NULL,
    state              TEXT   NOT NULL DEFAULT 'not_registered',
    server_uri         TEXT,
    pending_server_uri TEXT,
    diameter_host      TEXT,
    diameter_realm     TEXT,
    supported_types    TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sip_aors_user ON sip_aors(user_name);
