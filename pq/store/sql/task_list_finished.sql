-- Lists finished tasks of one status, newest first. Params: status, limit.
-- Index: pq_tasks_finished_idx (status, finished_at DESC). Locks: none.
SELECT * FROM {schema}.pq_tasks
WHERE status = %(status)s
ORDER BY finished_at DESC NULLS LAST, id DESC
LIMIT %(limit)s
