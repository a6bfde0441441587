-- Rescues the running tasks of lost workers: a worker whose last heartbeat is older than its
-- lease is marked stopped, and every running task of a stopped or vanished worker ends its
-- attempt as 'lost': pending again (now) if attempts remain and retry_on allows 'lost',
-- cancelled if a cancel was requested, else failed with a "worker lost" error.
-- Params: rescuer (worker id of the caller, kept in the history), channel, channel_done.
-- Index: pq_tasks_running_idx (partial on status = 'running'); pq_workers by primary key.
-- Locks: the lost workers' rows; the rescued task rows FOR UPDATE SKIP LOCKED, so concurrent
--   rescuers never rescue one attempt twice. The rescued row's worker_id is cleared, which
--   fences out the lost worker should it come back and try to record that attempt.
-- The lease compares database timestamps only (now() against last_heartbeat_at), so clock
-- skew between hosts plays no part, and max_runtime plays none either.
WITH lost_workers AS (
    UPDATE {schema}.pq_workers
    SET stopped_at = now()
    WHERE stopped_at IS NULL
      AND last_heartbeat_at < now() - lease_seconds * interval '1 second'
    RETURNING id
),
orphans AS (
    SELECT t.id, t.worker_id AS lost_worker
    FROM {schema}.pq_tasks AS t
    LEFT JOIN {schema}.pq_workers AS w ON w.id = t.worker_id
    WHERE t.status = 'running'
      AND (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.id IN (SELECT id FROM lost_workers))
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE {schema}.pq_tasks AS t
SET status = CASE
               WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled'
               WHEN t.attempts < t.max_attempts
                    AND (t.options->'retry_on' IS NULL OR t.options->'retry_on' ? 'lost')
                 THEN 'pending'
               ELSE 'failed' END,
    outcome = 'lost',
    error = format('worker lost: worker %%s stopped heartbeating during attempt %%s of %%s',
                   o.lost_worker, t.attempts, t.max_attempts),
    finished_at = CASE
                    WHEN t.cancel_requested_at IS NULL AND t.attempts < t.max_attempts
                         AND (t.options->'retry_on' IS NULL OR t.options->'retry_on' ? 'lost')
                      THEN NULL
                    ELSE now() END,
    run_at = now(),
    history = t.history || jsonb_build_array(jsonb_build_object(
        'attempt', t.attempts,
        'outcome', 'lost',
        'error', format('worker lost: worker %%s stopped heartbeating', o.lost_worker),
        'worker_id', o.lost_worker,
        'rescued_by', %(rescuer)s::bigint,
        'duration', extract(epoch FROM now() - t.started_at),
        'finished_at', now())),
    worker_id = NULL,
    cancel_requested_at = NULL
FROM orphans AS o
WHERE t.id = o.id
RETURNING t.id, t.name, t.status, t.attempts, o.lost_worker,
          CASE WHEN t.status = 'pending'
               THEN pg_notify(%(channel)s, 't:' || t.queue)
               ELSE pg_notify(%(channel_done)s, t.id::text || ':' || t.status) END AS notified
