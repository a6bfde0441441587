-- Counts the tasks that ended in each minute since %(since)s, by status (the dashboard's
-- throughput and failure charts). Params: since. Index: pq_tasks_finished_idx
-- (status, finished_at DESC): one range scan per final status, so the rows older than the
-- window are never read however many there are. Locks: none.
SELECT date_trunc('minute', finished_at) AS minute, status, count(*) AS n
FROM {schema}.pq_tasks
WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at >= %(since)s
GROUP BY 1, 2
ORDER BY 1
