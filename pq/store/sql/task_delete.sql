-- Deletes one task unless it is running (cancel it first). Params: id.
-- Index: primary key. Locks: the row.
DELETE FROM {schema}.pq_tasks WHERE id = %(id)s AND status <> 'running' RETURNING id
