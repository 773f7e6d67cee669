-- Saved outcomes are found by a 64-bit hash of their key (FNV-1a, computed by the store)
-- through an integer index, instead of a unique index on the key's text: the checkpoint
-- writes one outcome per CCR, and keeping the text index cost more than the row itself.
-- The key is still compared on every look-up. Rows keep their ids (the purge goes by id).
-- `key_hash` of the rows copied here is filled in by the store when it opens.
CREATE TABLE requests_v6 (
    request_key TEXT   NOT NULL,
    key_hash    INTEGER,
    account_id  BIGINT NOT NULL,
    outcome     TEXT   NOT NULL,
    at          BIGINT NOT NULL
);
INSERT INTO requests_v6 (rowid, request_key, account_id, outcome, at)
    SELECT rowid, request_key, account_id, outcome, at FROM requests ORDER BY rowid;
DROP TABLE requests;
ALTER TABLE requests_v6 RENAME TO requests;
CREATE INDEX IF NOT EXISTS requests_key_hash ON requests(key_hash);
