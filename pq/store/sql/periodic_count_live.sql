-- Counts the runs of one schedule that are pending or running (overlap control). Run after
-- periodic_lock_due in the same transaction, so it sees every task committed before the
-- schedule row was locked.
-- Params: periodic_id. Index: pq_tasks_periodic_live_idx (partial on pending and running).
-- Locks: none.
SELECT count(*) AS n
FROM {schema}.pq_tasks
WHERE periodic_id = %(periodic_id)s AND status IN ('pending', 'running')
