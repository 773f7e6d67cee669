-- JSON-line export at least once, deduplicated: which node closed the session (writes its
-- line) and whether the line was written. Sessions closed before this version were
-- exported when they closed.
ALTER TABLE acct_sessions ADD COLUMN closed_by TEXT;
ALTER TABLE acct_sessions ADD COLUMN exported INTEGER NOT NULL DEFAULT 0;
UPDATE acct_sessions SET exported = 1 WHERE closed = 1;
CREATE INDEX IF NOT EXISTS acct_sessions_unexported ON acct_sessions (closed_by)
    WHERE closed = 1 AND exported = 0;
