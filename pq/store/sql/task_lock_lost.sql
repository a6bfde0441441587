-- Finds the running attempts of lost workers, for the caller to end as 'lost' through
-- task_finish in the same transaction. A worker whose last heartbeat is older than its lease
-- is marked stopped first; then every running task of a stopped or vanished worker is
-- locked and returned.
-- Params: none.
-- Index: pq_tasks_running_idx (partial on status = 'running'); pq_workers by primary key.
-- Locks: the lost workers' rows; the task rows FOR UPDATE SKIP LOCKED, so two rescuers never
--   take the same attempt, and a row another transaction holds is left for the next round.
-- The lease compares database timestamps only (now() against last_heartbeat_at), so clock
-- skew between hosts plays no part, and max_runtime plays none either.
WITH lost_workers AS (
    UPDATE {schema}.pq_workers
    SET stopped_at = now()
    WHERE stopped_at IS NULL
      AND last_heartbeat_at < now() - lease_seconds * interval '1 second'
    RETURNING id
)
SELECT t.*, extract(epoch FROM now() - t.started_at) AS running_seconds
FROM {schema}.pq_tasks AS t
LEFT JOIN {schema}.pq_workers AS w ON w.id = t.worker_id
WHERE t.status = 'running'
  AND (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.id IN (SELECT id FROM lost_workers))
FOR UPDATE OF t SKIP LOCKED
