-- Per queue and priority: pending due now and scheduled later (counting 'waiting' rows, held
-- by a rate limit or concurrency key, as pending), running, the oldest due
-- task's age, completed and failed in the last 1/5/15 minutes, p50/p95 run time of the
-- attempts that ended in the last 15 minutes (last attempt of each row), whether paused.
-- Params: none.
-- Index: one arm per live status, each on that status's partial index: pending rows through
--   pq_tasks_pending_idx and waiting rows through pq_tasks_waiting_idx (both led by queue,
--   priority, run_at: index-only, already grouped), running rows through pq_tasks_running_idx.
--   A single scan with status IN ('pending', 'waiting', 'running') matches none of their
--   predicates, and the planner read the whole table, finished rows and all (230 ms a call
--   beside 1M finished rows; docs/dashboard.md, "Speed"). Finished rows through
--   pq_tasks_finished_idx (status, finished_at DESC) bounded to 15 minutes. So the cost
--   follows the live rows and the last 15 minutes' ends, never the finished rows kept.
--   Locks: none.
WITH live AS (
    SELECT queue, priority,
           count(*) FILTER (WHERE run_at <= now()) AS due,
           count(*) FILTER (WHERE run_at > now()) AS scheduled,
           0::bigint AS running,
           min(run_at) AS oldest  -- the oldest due one's run_at if it is due at all
    FROM {schema}.pq_tasks
    WHERE status = 'pending'
    GROUP BY queue, priority
    UNION ALL
    -- 'waiting' rows (held by a rate limit or concurrency key) count as pending.
    SELECT queue, priority,
           count(*) FILTER (WHERE run_at <= now()),
           count(*) FILTER (WHERE run_at > now()),
           0, min(run_at)
    FROM {schema}.pq_tasks
    WHERE status = 'waiting'
    GROUP BY queue, priority
    UNION ALL
    SELECT queue, priority, 0, 0, count(*), NULL
    FROM {schema}.pq_tasks
    WHERE status = 'running'
    GROUP BY queue, priority
),
live_counts AS (
    SELECT queue, priority,
           sum(due)::bigint AS due, sum(scheduled)::bigint AS scheduled,
           sum(running)::bigint AS running,
           extract(epoch FROM now() - min(oldest) FILTER (
               WHERE oldest <= now()))::float8 AS oldest_due_age
    FROM live
    GROUP BY queue, priority
),
recent AS (
    SELECT queue, priority,
           count(*) FILTER (WHERE status = 'completed'
                              AND finished_at >= now() - interval '1 minute') AS completed_1m,
           count(*) FILTER (WHERE status = 'completed'
                              AND finished_at >= now() - interval '5 minutes') AS completed_5m,
           count(*) FILTER (WHERE status = 'completed') AS completed_15m,
           count(*) FILTER (WHERE status = 'failed'
                              AND finished_at >= now() - interval '1 minute') AS failed_1m,
           count(*) FILTER (WHERE status = 'failed'
                              AND finished_at >= now() - interval '5 minutes') AS failed_5m,
           count(*) FILTER (WHERE status = 'failed') AS failed_15m,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM finished_at - started_at))::float8 AS p50_runtime,
           percentile_cont(0.95) WITHIN GROUP (
               ORDER BY extract(epoch FROM finished_at - started_at))::float8 AS p95_runtime
    FROM {schema}.pq_tasks
    WHERE status IN ('completed', 'failed')
      AND finished_at >= now() - interval '15 minutes'
    GROUP BY queue, priority
)
SELECT COALESCE(l.queue, r.queue) AS queue,
       COALESCE(l.priority, r.priority) AS priority,
       COALESCE(l.due, 0) AS due, COALESCE(l.scheduled, 0) AS scheduled,
       COALESCE(l.running, 0) AS running, l.oldest_due_age,
       COALESCE(r.completed_1m, 0) AS completed_1m, COALESCE(r.completed_5m, 0) AS completed_5m,
       COALESCE(r.completed_15m, 0) AS completed_15m,
       COALESCE(r.failed_1m, 0) AS failed_1m, COALESCE(r.failed_5m, 0) AS failed_5m,
       COALESCE(r.failed_15m, 0) AS failed_15m,
       r.p50_runtime, r.p95_runtime,
       EXISTS (SELECT 1 FROM {schema}.pq_paused_queues AS p
               WHERE p.queue = COALESCE(l.queue, r.queue)) AS paused
FROM live_counts AS l
FULL JOIN recent AS r ON r.queue = l.queue AND r.priority = l.priority
ORDER BY 1, 2 DESC
