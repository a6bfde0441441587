-- Serializes migration runs across the autocommit statements of a no-transaction migration
-- (CREATE INDEX CONCURRENTLY): a session-level advisory lock, on the same key as
-- migration_lock.sql so either excludes the other. Tried, not waited for: the caller polls
-- (see pq/store/migrate.py). Released by migration_session_unlock.sql or when the
-- connection closes. Params: key (bigint derived from the schema name).
SELECT pg_try_advisory_lock(%(key)s) AS locked
