-- Deletes up to `limit` tasks of one queue in one status (never running ones: cancel those).
-- Params: queue, status, limit. Index: pq_tasks_pending_idx for pending rows (partial,
--   led by queue), pq_tasks_finished_idx for ended ones.
-- Locks: the deleted rows, FOR UPDATE SKIP LOCKED: a row a worker is claiming right now is
--   left alone (it runs), and each batch is its own short transaction.
WITH target AS (
    SELECT id FROM {schema}.pq_tasks
    WHERE queue = %(queue)s AND status = %(status)s AND status <> 'running'
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {schema}.pq_tasks AS t USING target WHERE t.id = target.id RETURNING 1
)
SELECT count(*) AS n FROM deleted
