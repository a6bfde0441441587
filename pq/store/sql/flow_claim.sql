-- Claims up to `limit` due waiting rows of one (rate key, concurrency key) group, oldest
-- first (FIFO per key within a priority), after the flow claim took the group's locks.
-- Params: queues, priorities, rate_key, concurrency_key (each NULL for "none"), limit,
--   worker_id, started_at (the clock the rate bucket recorded).
-- Index: pq_tasks_waiting_idx (queue, priority, run_at, id), partial on 'waiting' (0002),
--   read in ranges as flow_waiting_keys.sql does: levels (queue, priority) highest priority
--   first, per level the due rows in (run_at, id) order, ending at the first row not yet due
--   and stopping once `limit` rows of the group are found. Rows of other queues, untaken
--   priorities or not yet due are never read; due rows of other groups are stepped over.
-- Locks: FOR UPDATE SKIP LOCKED in each range, then the claimed rows (by primary key, as in
--   task_claim.sql); the attempt counter and worker_id fence later writes exactly as
--   task_claim.sql does.
WITH RECURSIVE wanted AS (
    SELECT DISTINCT queue FROM unnest(%(queues)s::text[]) AS queue
),
found (queue, priority) AS (
    SELECT w.queue, top.priority
    FROM wanted AS w
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.pq_tasks
        WHERE status = 'waiting' AND queue = w.queue
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
        WHERE status = 'waiting' AND queue = f.queue AND priority < f.priority
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
            WHERE status = 'waiting'
              AND queue = w.queue
              AND priority = level.priority
              AND run_at <= now()
              AND rate_key IS NOT DISTINCT FROM %(rate_key)s::text
              AND concurrency_key IS NOT DISTINCT FROM %(concurrency_key)s::text
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
    started_at = COALESCE(%(started_at)s::timestamptz, now()),
    finished_at = NULL
WHERE t.id = ANY (ARRAY(SELECT id FROM next))
RETURNING t.*
