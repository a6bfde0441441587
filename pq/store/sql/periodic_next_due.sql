-- Seconds until the next active schedule is due (negative when one is overdue; NULL when
-- there is none), so the worker sleeps exactly until then.
-- Params: queues, priorities (as in periodic_lock_due: NULL for all). Index: pq_periodic_due_idx (partial on active, ordered by next_run).
-- Locks: none.
SELECT EXTRACT(EPOCH FROM (min(next_run) - now()))::double precision AS seconds
FROM {schema}.pq_periodic
WHERE active AND orphaned_at IS NULL
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
  AND (%(priorities)s::smallint[] IS NULL OR priority = ANY(%(priorities)s::smallint[]))
