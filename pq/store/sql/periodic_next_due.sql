-- Seconds until the next active schedule is due (negative when one is overdue; NULL when
-- there is none), so the worker sleeps exactly until then.
-- Params: none. Index: pq_periodic_due_idx (partial on active, ordered by next_run).
-- Locks: none.
SELECT EXTRACT(EPOCH FROM (min(next_run) - now()))::double precision AS seconds
FROM {schema}.pq_periodic
WHERE active AND orphaned_at IS NULL
