-- The rows of one workflow in step order, for the dashboard's workflow page: the columns a
-- step's line shows, without the JSON ones (args, kwargs, result, history) that
-- flow_workflow_tasks.sql returns and that would be decoded for every row of a large group
-- on each live refresh; `marked` is what flow_cancel.sql tests (a cancel reached the row),
-- `stop_requested` says a running row's worker was told to stop it.
-- Params: workflow_id. Index: pq_tasks_workflow_idx. Locks: none.
SELECT id, name, queue, priority, status, run_at, created_at, started_at, finished_at,
       attempts, max_attempts, worker_id, outcome, workflow_id, workflow_step,
       COALESCE(flow ? 'cancelled', false) AS marked,
       cancel_requested_at IS NOT NULL AS stop_requested
FROM {schema}.pq_tasks
WHERE workflow_id = %(workflow_id)s
ORDER BY workflow_step, id
