-- Lists applied migration versions (call migration_table_exists first).
-- Params: none. Index: primary key. Locks: none.
SELECT version FROM {schema}.pq_migrations ORDER BY version
