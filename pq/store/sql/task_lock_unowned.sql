-- After a reconnect, finds the attempts this worker holds in the database but not in memory
-- (a claim that committed but whose reply was lost with the connection), for the caller to
-- end as 'lost' through task_finish in the same transaction.
-- Params: worker_id, keep (bigint[]: ids of attempts this worker still runs or must record).
-- Index: pq_tasks_running_idx (partial on status = 'running', by worker_id).
-- Locks: the returned rows, FOR UPDATE.
SELECT t.*, extract(epoch FROM now() - t.started_at) AS running_seconds
FROM {schema}.pq_tasks AS t
WHERE t.worker_id = %(worker_id)s
  AND t.status = 'running'
  AND NOT (t.id = ANY(%(keep)s::bigint[]))
FOR UPDATE
