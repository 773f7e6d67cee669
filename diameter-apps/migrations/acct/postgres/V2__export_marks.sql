-- JSON-line export at least once, deduplicated: which node closed the session (writes its
-- line) and whether the line was written.
ALTER TABLE acct_sessions ADD COLUMN IF NOT EXISTS closed_by TEXT;
ALTER TABLE acct_sessions ADD COLUMN IF NOT EXISTS exported BIGINT NOT NULL DEFAULT 0;
UPDATE acct_sessions SET exported = 1 WHERE closed = 1;
CREATE INDEX IF NOT EXISTS acct_sessions_unexported ON acct_sessions (closed_by)
    WHERE closed = 1 AND exported = 0;
