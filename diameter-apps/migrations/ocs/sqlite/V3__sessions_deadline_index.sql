-- The Tcc sweep pages through expired sessions by (expires_at, session_id).
DROP INDEX IF EXISTS sessions_expiry;
CREATE INDEX IF NOT EXISTS sessions_deadline ON sessions(expires_at, session_id);
