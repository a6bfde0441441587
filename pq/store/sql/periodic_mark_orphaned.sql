-- Marks one schedule orphaned: its function can no longer be imported, so its ticks would
-- only fail. It produces no ticks until schedule() or a worker's declarations revive it.
-- Params: id. Index: primary key. Locks: the row (already held by the tick transaction).
UPDATE {schema}.pq_periodic
SET orphaned_at = now(), updated_at = now()
WHERE id = %(id)s
RETURNING id
