-- Doctor: the sessions whose open transaction holds back vacuum (the oldest first): while
-- one is open, no row deleted or updated after it started can be vacuumed, in any table.
-- Params: none. Index: none. Locks: none.
SELECT pid, datname AS database, usename AS "user", state,
       GREATEST(age(backend_xmin), age(backend_xid)) AS xmin_age,
       EXTRACT(EPOCH FROM now() - xact_start)::float8 AS open_seconds,
       left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
FROM pg_catalog.pg_stat_activity
WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
  AND pid <> pg_catalog.pg_backend_pid()
ORDER BY GREATEST(age(backend_xmin), age(backend_xid)) DESC
LIMIT 3
