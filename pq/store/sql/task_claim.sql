-- Claims up to `limit` due pending tasks for one worker in a single statement.
-- Params: queues (text[]), priorities (smallint[] or NULL for all), limit, worker_id.
-- Index: pq_tasks_claim_idx (partial on status = 'pending', ordered priority DESC, run_at, id),
--        so the scan stays short however many finished rows exist.
-- Locks: FOR UPDATE SKIP LOCKED: concurrent workers skip rows another claim holds instead of
--        waiting, and no row is claimed twice. The attempt counter starts the new attempt,
--        and worker_id + attempts fence every later write of this attempt.
WITH next AS (
    SELECT id
    FROM {schema}.pq_tasks
    WHERE status = 'pending'
      AND run_at <= now()
      AND queue = ANY(%(queues)s::text[])
      AND (%(priorities)s::smallint[] IS NULL OR priority = ANY(%(priorities)s::smallint[]))
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.pq_tasks AS t
SET status = 'running',
    attempts = t.attempts + 1,
    worker_id = %(worker_id)s,
    started_at = now(),
    finished_at = NULL
FROM next
WHERE t.id = next.id
RETURNING t.*
