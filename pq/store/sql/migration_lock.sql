-- Serializes concurrent migration runs: a transaction-scoped advisory lock, released at
-- commit or rollback. Params: key (bigint derived from the schema name).
SELECT pg_advisory_xact_lock(%(key)s)
