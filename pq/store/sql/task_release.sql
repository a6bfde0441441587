-- Hands back rows a worker claimed ahead but never started (it is stopping, or their queue
-- was paused): pending again as if never claimed, the attempt counter restored, and idle
-- workers of their queues woken.
-- Params: rows (json text: array of {id, attempt, worker_id}: the worker id each was claimed
--         with), channel.
-- Fencing: only a row still running that attempt for this worker changes (a row rescued or
--   cancelled meanwhile is left alone).
-- Cancel: a row whose cancel was requested while it was held (the worker stopped before the
--   notice reached it) ends 'cancelled' here, never having run: cancel() said True, and a
--   pending row would run on the next worker.
-- Locks: the updated rows, by primary key.
WITH held AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(id bigint, attempt integer, worker_id bigint)
)
UPDATE {schema}.pq_tasks AS t
SET status = CASE WHEN t.cancel_requested_at IS NULL THEN 'pending' ELSE 'cancelled' END,
    outcome = CASE WHEN t.cancel_requested_at IS NULL THEN t.outcome ELSE 'cancelled' END,
    finished_at = CASE WHEN t.cancel_requested_at IS NULL THEN t.finished_at ELSE now() END,
    cancel_requested_at = NULL,
    attempts = t.attempts - 1,
    worker_id = NULL,
    started_at = NULL
FROM held AS h
WHERE t.id = h.id
  AND t.attempts = h.attempt
  AND t.worker_id = h.worker_id
  AND t.status = 'running'
RETURNING t.id,
          CASE WHEN t.status = 'pending' THEN pg_notify(%(channel)s, 't:' || t.queue) END AS notified
