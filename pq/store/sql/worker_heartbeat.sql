-- A worker's heartbeat round in one statement (one commit): proves the worker is alive, and
-- reads what it would otherwise ask in statements of their own every heartbeat: the paused
-- queues (the fallback for a missed 'q:' notice) and, with cancels true, its running tasks
-- that someone asked to cancel (the fallback for a missed 'c:<id>' notice).
-- Params: id, cancels (boolean).
-- Index: pq_workers primary key; pq_tasks_running_idx for the cancels; pq_paused_queues is a
--   tiny table (one row per paused queue).
-- Locks: the worker's row. alive is false when the row is gone or stopped (the worker was
--   declared lost).
WITH beat AS (
    UPDATE {schema}.pq_workers SET last_heartbeat_at = now()
    WHERE id = %(id)s AND stopped_at IS NULL
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM beat) AS alive,
       ARRAY(SELECT queue FROM {schema}.pq_paused_queues ORDER BY queue) AS paused,
       ARRAY(SELECT id FROM {schema}.pq_tasks
             WHERE %(cancels)s AND worker_id = %(id)s AND status = 'running'
               AND cancel_requested_at IS NOT NULL) AS cancel_requested
