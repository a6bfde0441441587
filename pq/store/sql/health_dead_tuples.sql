-- Doctor: live and dead tuples of pq's tables and when autovacuum last ran on each.
-- Params: schema. Index: none (statistics views). Locks: none.
SELECT relname AS name, n_live_tup AS live, n_dead_tup AS dead,
       GREATEST(last_autovacuum, last_vacuum) AS vacuumed_at
FROM pg_catalog.pg_stat_user_tables
WHERE schemaname = %(schema)s AND relname LIKE 'pq\_%%'
ORDER BY n_dead_tup DESC
