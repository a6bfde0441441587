-- Hands back rows a worker claimed ahead but never started (it is stopping, or their queue
-- was paused): pending again as if never claimed, the attempt counter restored, and idle
-- workers of their queues woken.
-- Params: rows (json text: array of {id, attempt, worker_id}: the worker id each was claimed
--         with), channel.
-- Fencing: only a row still running that attempt for this worker changes (a row rescued or
--   cancelled meanwhile is left alone).
-- Locks: the updated rows, by primary key.
WITH held AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(id bigint, attempt integer, worker_id bigint)
)
UPDATE {schema}.pq_tasks AS t
SET status = 'pending',
    attempts = t.attempts - 1,
    worker_id = NULL,
    started_at = NULL
FROM held AS h
WHERE t.id = h.id
  AND t.attempts = h.attempt
  AND t.worker_id = h.worker_id
  AND t.status = 'running'
RETURNING t.id, pg_notify(%(channel)s, 't:' || t.queue) AS notified
