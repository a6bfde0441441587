-- Marks a worker stopped on a clean shutdown. Params: id. Locks: the worker's row.
UPDATE {schema}.pq_workers SET stopped_at = now() WHERE id = %(id)s
