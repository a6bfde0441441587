-- The running tasks of one worker that someone asked to cancel (the polling fallback for a
-- missed 'c:<id>' notification). Params: worker_id. Index: pq_tasks_running_idx. Locks: none.
SELECT id FROM {schema}.pq_tasks
WHERE worker_id = %(worker_id)s AND status = 'running' AND cancel_requested_at IS NOT NULL
