-- Claims up to `limit` due waiting rows of one (rate key, concurrency key) group, oldest
-- first (FIFO per key within a priority), after the flow claim took the group's locks.
-- Params: queues, priorities, rate_key, concurrency_key (each NULL for "none"), limit,
--   worker_id, started_at (the clock the rate bucket recorded).
-- Index: pq_tasks_waiting_idx (queue, priority, run_at, id), partial on 'waiting' (0002):
--   rows of other queues are never read. Locks: FOR UPDATE SKIP LOCKED, then the claimed rows; the
--   attempt counter and worker_id fence later writes exactly as task_claim.sql does.
WITH next AS (
    SELECT id
    FROM {schema}.pq_tasks
    WHERE status = 'waiting'
      AND run_at <= now()
      AND queue = ANY(%(queues)s::text[])
      AND (%(priorities)s::smallint[] IS NULL OR priority = ANY(%(priorities)s::smallint[]))
      AND rate_key IS NOT DISTINCT FROM %(rate_key)s::text
      AND concurrency_key IS NOT DISTINCT FROM %(concurrency_key)s::text
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.pq_tasks AS t
SET status = 'running',
    attempts = t.attempts + 1,
    worker_id = %(worker_id)s,
    started_at = COALESCE(%(started_at)s::timestamptz, now()),
    finished_at = NULL
FROM next
WHERE t.id = next.id
RETURNING t.*
