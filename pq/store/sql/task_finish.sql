-- Records the end of many attempts in one statement (one per worker loop turn).
-- Params: rows (json text: array of {id, attempt, worker_id, status, outcome, error, result,
--         retry_at, record}), channel_done, channel (new work: a row pending again and due,
--         such as a promoted upsert version, wakes idle workers).
--   status is the row's next status ('completed', 'failed', 'cancelled', or 'pending' for a
--   retry at retry_at); record is the attempt's history entry.
-- Fencing: only a row still running the same attempt for the same worker changes, so a late
--   writer (a worker presumed lost, a run that outlived its cancel) changes nothing; the ids
--   returned are the rows that did change.
-- Upsert: a version parked on the row while it ran replaces it now and becomes pending.
-- Cancel: a row whose cancel was requested while it ran ends 'cancelled' unless it completed
--   (never 'failed', never retried), whatever the attempt's own outcome was.
-- Flow control: a retry of a rate-limited or key-limited row goes back to 'waiting'; the
--   end of a key-limited row sends 'w:<queue>' (the next task of its key may start).
-- Workflows: a batch holding a chain step or chord member is written by flow_finish.sql
--   instead: this statement plus the links. The UPDATE of both is the same text (a unit test
--   keeps them in step), so tasks outside workflows pay nothing for them.
-- Waiters: the done NOTIFY goes out only when a session waits for task ends (it holds the
--   shared lock of channel_done_wait.sql, so our try of one slot fails); a NOTIFY nobody
--   waits for would still wake every listening session of the database. Params: done_key.
-- Locks: the updated rows, by primary key; the first free done slot's advisory lock, to commit.
WITH finished AS (
    SELECT *
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        id bigint, attempt integer, worker_id bigint, status text, outcome text,
        error text, result jsonb, retry_at timestamptz, record jsonb)
),
awaited AS (  -- a volatile call: evaluated once, before the update
    -- the first free slot is ours to commit; all 16 taken means a waiter holds them shared
    -- (or 16 finishes run at once: one NOTIFY too many, harmless)
    SELECT NOT EXISTS (
        SELECT FROM generate_series(0, 15) AS s
        WHERE pg_try_advisory_xact_lock(%(done_key)s::integer, (pg_backend_pid() + s) %% 16)
    ) AS anyone
)
UPDATE {schema}.pq_tasks AS t
SET status      = CASE WHEN t.parked IS NOT NULL THEN 'pending'
                       WHEN t.cancel_requested_at IS NOT NULL AND f.status <> 'completed'
                       THEN 'cancelled'
                       WHEN f.status = 'pending'
                            AND (t.rate_key IS NOT NULL OR t.concurrency_key IS NOT NULL)
                       THEN 'waiting'
                       ELSE f.status END,
    outcome     = CASE WHEN t.parked IS NULL AND t.cancel_requested_at IS NOT NULL
                            AND f.status <> 'completed' THEN 'cancelled'
                       ELSE f.outcome END,
    error       = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.error END,
    result      = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.result END,
    finished_at = CASE WHEN t.parked IS NOT NULL THEN NULL
                       WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
                       ELSE now() END,
    run_at      = CASE
                    WHEN t.parked IS NOT NULL THEN COALESCE((t.parked->>'run_at')::timestamptz, now())
                    WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN f.retry_at
                    ELSE t.run_at END,
    history     = t.history || jsonb_build_array(f.record),
    worker_id   = NULL,
    cancel_requested_at = NULL,
    name         = COALESCE(t.parked->>'name', t.name),
    queue        = COALESCE(t.parked->>'queue', t.queue),
    priority     = COALESCE((t.parked->>'priority')::smallint, t.priority),
    args         = COALESCE(t.parked->'args', t.args),
    kwargs       = COALESCE(t.parked->'kwargs', t.kwargs),
    options      = COALESCE(t.parked->'options', t.options),
    max_attempts = COALESCE((t.parked->>'max_attempts')::integer, t.max_attempts),
    attempts     = CASE WHEN t.parked IS NOT NULL THEN 0 ELSE t.attempts END,
    parked       = NULL
FROM finished AS f CROSS JOIN awaited AS w
WHERE t.id = f.id
  AND t.attempts = f.attempt
  AND t.worker_id = f.worker_id
  AND t.status = 'running'
RETURNING 'done' AS kind, t.id, t.status, t.queue,
          CASE WHEN w.anyone THEN pg_notify(%(channel_done)s, t.id::text || ':' || t.status)
          END AS notified_done,
          CASE WHEN t.status IN ('pending', 'waiting') AND t.run_at <= now()
               THEN pg_notify(%(channel)s, CASE t.status WHEN 'waiting' THEN 'w:' ELSE 't:' END
                                           || t.queue)
               -- a key-limited task ended: the next one of its key may start now
               WHEN t.concurrency_key IS NOT NULL THEN pg_notify(%(channel)s, 'w:' || t.queue)
          END AS notified_due
