-- Reads one task by its client id. Params: client_id. Index: the unique client_id index.
-- Locks: none.
SELECT * FROM {schema}.pq_tasks WHERE client_id = %(client_id)s
