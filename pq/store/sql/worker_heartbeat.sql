-- Proves a worker is alive. Params: id. Index: primary key. Locks: the worker's row.
-- Returns nothing when the row is gone or stopped (the worker was declared lost).
UPDATE {schema}.pq_workers SET last_heartbeat_at = now()
WHERE id = %(id)s AND stopped_at IS NULL
RETURNING id
