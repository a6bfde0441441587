-- The groups of due waiting rows a worker may start (one per rate key and concurrency key),
-- best first, with their strictest limits. Run by the flow claim (and, with limit 1, by the
-- ordinary claim to ask whether any are due); never reads pending rows.
-- Params: queues (text[]), priorities (smallint[] or NULL), limit.
-- Index: pq_tasks_waiting_idx (queue, priority, run_at, id), partial on status = 'waiting'
--   (0002). Every read is a range of it, as in task_claim.sql, so rows of other queues, of
--   priorities this worker does not take, or not yet due are never read (a flat condition
--   on run_at would walk every waiting row of the worker's queues, due or not):
--   * levels: the (queue, priority) pairs to visit: the worker's own priorities in each
--     queue, or (for all priorities) the distinct priorities waiting in each queue, found by
--     a loose index scan (one probe per queue and priority, however many rows each has);
--   * per level, the due rows: the range ends at the first row not yet due.
--   Grouping still reads every due waiting row of the worker's queues (and its heap row, for
--   the keys): those are the rows it ranks.
-- Locks: none.
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
    -- An array unnested: the planner takes it for about 10 levels, where the recursive CTE
    -- counts as 101, and multiplies every level's cost by it (a total past jit_above_cost
    -- makes a session with JIT on spend far longer compiling than running).
    SELECT w.queue, p.priority
    FROM wanted AS w
    CROSS JOIN LATERAL unnest(COALESCE(
        %(priorities)s::smallint[],
        ARRAY(SELECT f.priority FROM found AS f WHERE f.queue = w.queue)
    )) AS p (priority)
),
due AS (
    -- Grouped per level: a subquery that aggregates is run once per level on its own range
    -- (a plain one would be flattened into a join, which may read every waiting row).
    SELECT g.*
    FROM levels AS l
    CROSS JOIN LATERAL (
        SELECT rate_key, concurrency_key,
               max(priority) AS priority,
               min(run_at) AS run_at,
               min((options->'rate_limit'->>'count')::integer) AS rate_count,
               max((options->'rate_limit'->>'seconds')::double precision) AS rate_seconds,
               min(concurrency_limit) AS concurrency_limit
        FROM {schema}.pq_tasks
        WHERE status = 'waiting'
          AND queue = l.queue
          AND priority = l.priority
          AND run_at <= now()
        GROUP BY rate_key, concurrency_key
    ) AS g
)
SELECT rate_key, concurrency_key,
       min(rate_count) AS rate_count,
       max(rate_seconds) AS rate_seconds,
       min(concurrency_limit) AS concurrency_limit
FROM due
GROUP BY rate_key, concurrency_key
ORDER BY max(priority) DESC, min(run_at)
LIMIT %(limit)s
