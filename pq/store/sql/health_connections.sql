-- Doctor: client connections to the server and to this database, and the server's limit.
-- Params: none. Index: none. Locks: none.
SELECT count(*) AS server,
       count(*) FILTER (WHERE datname = current_database()) AS this_database,
       count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_transaction,
       current_setting('max_connections')::int AS max_connections
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend'
