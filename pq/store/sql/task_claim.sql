-- Claims up to `limit` due pending tasks for one worker in a single statement, best first
-- (priority DESC, run_at, id) across the worker's queues.
-- Params: queues (text[]), priorities (smallint[] or NULL for all), limit, worker_id.
-- Index: pq_tasks_pending_idx (queue, priority, run_at, id), partial on status = 'pending'.
--   Every read is a short range of it, so a claim costs the same with a million rows in other
--   queues, scheduled for later, of priorities this worker does not take, or finished:
--   * levels: the priorities to visit, highest first: the worker's own list, or (for all
--     priorities) the distinct priorities pending in its queues, found by a loose index scan
--     (one probe per queue and priority, however many rows each has);
--   * at each level, per queue, the due rows in (run_at, id) order: the range ends at the
--     first row not yet due.
--   The cost grows with the number of distinct priorities pending in the worker's queues (a
--   handful in practice), not with the number of rows.
-- Locks: FOR UPDATE SKIP LOCKED in each (level, queue) range: concurrent workers skip rows
--   another claim holds instead of waiting, and no row is claimed twice. Levels are visited
--   highest first and the visit stops once `limit` rows are found, so lower levels are not
--   locked. With several queues, the level reached locks up to `limit` rows of each and the
--   best `limit` of them are claimed; the others unlock when this statement commits.
--   The rows are updated by primary key (ANY of an array: a join would let a generic plan,
--   which cannot tell how many rows `next` holds, hash the whole table). The attempt
--   counter starts the new attempt, and worker_id + attempts fence every later
--   write of this attempt.
WITH RECURSIVE wanted AS (
    SELECT DISTINCT queue FROM unnest(%(queues)s::text[]) AS queue
),
found (queue, priority) AS (
    SELECT w.queue, top.priority
    FROM wanted AS w
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.pq_tasks
        WHERE status = 'pending' AND queue = w.queue
        ORDER BY priority DESC
        LIMIT 1
    ) AS top
    WHERE %(priorities)s::smallint[] IS NULL
    UNION ALL
    SELECT f.queue, lower_one.priority
    FROM found AS f
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.pq_tasks
        WHERE status = 'pending' AND queue = f.queue AND priority < f.priority
        ORDER BY priority DESC
        LIMIT 1
    ) AS lower_one
),
levels AS (
    SELECT priority FROM found
    UNION
    SELECT unnest(%(priorities)s::smallint[])
),
next AS (
    SELECT picked.id
    FROM (SELECT priority FROM levels ORDER BY priority DESC) AS level
    CROSS JOIN LATERAL (
        SELECT due.id
        FROM wanted AS w
        CROSS JOIN LATERAL (
            SELECT id, run_at
            FROM {schema}.pq_tasks
            WHERE status = 'pending'
              AND queue = w.queue
              AND priority = level.priority
              AND run_at <= now()
            ORDER BY run_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) AS due
        ORDER BY due.run_at, due.id
        LIMIT %(limit)s
    ) AS picked
    LIMIT %(limit)s
)
UPDATE {schema}.pq_tasks AS t
SET status = 'running',
    attempts = t.attempts + 1,
    worker_id = %(worker_id)s,
    started_at = now(),
    finished_at = NULL
WHERE t.id = ANY (ARRAY(SELECT id FROM next))
RETURNING t.*
