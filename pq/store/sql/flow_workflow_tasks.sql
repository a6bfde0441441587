-- The rows of one workflow in step order (what its handle reads).
-- Params: workflow_id. Index: pq_tasks_workflow_idx. Locks: none.
SELECT * FROM {schema}.pq_tasks
WHERE workflow_id = %(workflow_id)s
ORDER BY workflow_step, id
