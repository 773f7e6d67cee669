-- Each account carries the sums of its ledger lines by kind, so that opening the embedded
-- store reads one row per account instead of sorting the whole ledger, which is never
-- purged and grows with every charge. The sums cover the lines up to
-- `ledger_folded.last_line`: the embedded store writes them with each checkpoint, in the
-- transaction that writes the lines, and adds the lines past that id (written by the
-- direct store, or every line of a database from before this version) when it opens.
-- Ledger lines are never deleted, so their ids only grow.
ALTER TABLE accounts ADD COLUMN debited  BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN adjusted BIGINT NOT NULL DEFAULT 0;
CREATE TABLE ledger_folded (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_line INTEGER NOT NULL
);
INSERT INTO ledger_folded (id, last_line) VALUES (1, 0);
