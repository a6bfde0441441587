-- Failed tasks per queue, each count stopping at %(cap)s + 1 (the caller shows "cap+"):
-- the queues come from a skip scan of pq_tasks_failed_queue_idx (one index probe per queue
-- that has failed tasks), and each count reads at most cap + 1 entries of that index.
-- Params: cap. Index: pq_tasks_failed_queue_idx (partial: failed rows only), index-only where
--   the visibility map allows. Locks: none.
WITH RECURSIVE queues AS (
    (SELECT queue FROM {schema}.pq_tasks WHERE status = 'failed' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT t.queue FROM {schema}.pq_tasks AS t
            WHERE t.status = 'failed' AND t.queue > q.queue
            ORDER BY t.queue LIMIT 1)
    FROM queues AS q
    WHERE q.queue IS NOT NULL
)
SELECT q.queue,
       (SELECT count(*)
        FROM (SELECT 1 FROM {schema}.pq_tasks AS t
              -- A range ordered by queue, not queue = q.queue: on a table the visibility map
              -- does not vouch for (a busy queue's) the planner took a bitmap scan for the
              -- equality, which collects every failed entry of the queue before LIMIT applies
              -- (20 ms for 80,000, growing with them), or a seq scan. Under this ORDER BY
              -- (dropped for an equality, which fixes the queue) the ordered index scan needs
              -- no sort and stops at cap + 1; a bitmap or seq scan would sort them all first.
              WHERE t.status = 'failed' AND t.queue >= q.queue AND t.queue <= q.queue
              ORDER BY t.queue
              LIMIT %(cap)s + 1) AS capped) AS failed
FROM queues AS q
WHERE q.queue IS NOT NULL
ORDER BY q.queue
