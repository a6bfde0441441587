-- Counts pending tasks (due or not), including 'waiting' ones (held by a rate limit or a
-- concurrency key). Params: none. Index: pq_tasks_pending_idx, pq_tasks_waiting_idx. Locks: none.
SELECT count(*) AS n FROM {schema}.pq_tasks WHERE status IN ('pending', 'waiting')
