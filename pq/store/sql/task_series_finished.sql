-- Counts the tasks that ended in each minute since %(since)s, by status (the dashboard's
-- throughput and failure charts). Params: since. Index: pq_tasks_finished_idx
-- (status, finished_at DESC), one range scan per final status, so rows older than the window
-- are never read however many there are. (One branch per status on purpose: a single
-- `status IN (all three)` equals the index's predicate, so the planner drops it from the
-- index condition and scans the whole index.) Locks: none.
SELECT date_trunc('minute', finished_at) AS minute, 'completed' AS status, count(*) AS n
FROM {schema}.pq_tasks
WHERE status = 'completed' AND finished_at >= %(since)s
GROUP BY 1
UNION ALL
SELECT date_trunc('minute', finished_at), 'failed', count(*)
FROM {schema}.pq_tasks
WHERE status = 'failed' AND finished_at >= %(since)s
GROUP BY 1
UNION ALL
SELECT date_trunc('minute', finished_at), 'cancelled', count(*)
FROM {schema}.pq_tasks
WHERE status = 'cancelled' AND finished_at >= %(since)s
GROUP BY 1
