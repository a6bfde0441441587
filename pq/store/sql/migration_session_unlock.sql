-- Releases the lock of migration_session_try_lock.sql. Params: key.
SELECT pg_advisory_unlock(%(key)s)
