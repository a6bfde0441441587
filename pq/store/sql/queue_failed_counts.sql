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
              WHERE t.status = 'failed' AND t.queue = q.queue
              LIMIT %(cap)s + 1) AS capped) AS failed
FROM queues AS q
WHERE q.queue IS NOT NULL
ORDER BY q.queue
