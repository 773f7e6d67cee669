-- Saved outcomes are purged by age in insertion (rowid) order: every row before the first
-- one young enough is older than the cutoff, so no index on `at` is kept up to date for it.
DROP INDEX IF EXISTS requests_at;
