-- Doctor: the sessions whose open transaction holds back vacuum (the oldest first): while
-- one is open, no row deleted or updated after it started can be vacuumed, in any table.
-- Only sessions of this database (and those of none: WAL senders, background workers) count:
-- a transaction in another database does not hold back vacuum of this one's tables.
-- Params: none. Index: none. Locks: none.
SELECT pid, datname AS database, usename AS "user", state,
       GREATEST(age(backend_xmin), age(backend_xid)) AS xmin_age,
       EXTRACT(EPOCH FROM now() - xact_start)::float8 AS open_seconds,
       left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
FROM pg_catalog.pg_stat_activity
WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
  AND pid <> pg_catalog.pg_backend_pid()
  AND (datname = pg_catalog.current_database() OR datname IS NULL)
ORDER BY GREATEST(age(backend_xmin), age(backend_xid)) DESC
LIMIT 3
