-- 0007: each queue's failed tasks, counted on the dashboard's overview (the ones an operator
-- may want to retry). The index holds failed rows only, so other rows never pay for it, and
-- the count reads the index alone, at most a bounded number of entries per queue
-- (queue_failed_counts.sql). Building it reads pq_tasks once, while the migration holds it.
CREATE INDEX IF NOT EXISTS pq_tasks_failed_queue_idx
    ON {schema}.pq_tasks (queue) WHERE status = 'failed';
