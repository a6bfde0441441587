-- Reads one task by id. Params: id. Index: primary key. Locks: none.
SELECT * FROM {schema}.pq_tasks WHERE id = %(id)s
