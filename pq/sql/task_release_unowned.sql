-- After a reconnect, ends the attempts this worker holds in the database but not in memory:
-- a claim whose commit happened but whose reply was lost with the connection. Each one ends
-- as 'lost' exactly like a rescue (pending again if attempts remain and retry_on allows
-- 'lost', else failed), so no claimed row stays 'running' forever under a live worker.
-- Params: worker_id, keep (bigint[]: ids of attempts this worker still runs or must record),
--   channel, channel_done.
-- Index: pq_tasks_running_idx (partial on status = 'running', by worker_id).
-- Locks: the released rows, by the update.
UPDATE {schema}.pq_tasks AS t
SET status = CASE
               WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled'
               WHEN t.attempts < t.max_attempts
                    AND (t.options->'retry_on' IS NULL OR t.options->'retry_on' ? 'lost')
                 THEN 'pending'
               ELSE 'failed' END,
    outcome = 'lost',
    error = format('worker lost: worker %%s lost track of attempt %%s of %%s when its database '
                   'connection broke', t.worker_id, t.attempts, t.max_attempts),
    finished_at = CASE
                    WHEN t.cancel_requested_at IS NULL AND t.attempts < t.max_attempts
                         AND (t.options->'retry_on' IS NULL OR t.options->'retry_on' ? 'lost')
                      THEN NULL
                    ELSE now() END,
    run_at = now(),
    history = t.history || jsonb_build_array(jsonb_build_object(
        'attempt', t.attempts,
        'outcome', 'lost',
        'error', 'worker lost track of the attempt when its connection broke',
        'worker_id', t.worker_id,
        'finished_at', now())),
    worker_id = NULL,
    cancel_requested_at = NULL
WHERE t.status = 'running'
  AND t.worker_id = %(worker_id)s
  AND NOT (t.id = ANY(%(keep)s::bigint[]))
RETURNING t.id, t.status,
          CASE WHEN t.status = 'pending'
               THEN pg_notify(%(channel)s, 't:' || t.queue)
               ELSE pg_notify(%(channel_done)s, t.id::text || ':' || t.status) END AS notified
