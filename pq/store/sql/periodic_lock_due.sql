-- Locks up to `limit` due schedules for this worker's tick transaction.
-- Params: limit, queues (text[] or NULL for all), priorities (smallint[] or NULL for all):
-- a worker ticks only the schedules whose tasks it could run itself. Returns the rows plus the database's clock (db_now), which is the only clock
-- the tick maths uses, so workers with skewed clocks still agree.
-- Index: pq_periodic_due_idx (partial on active, ordered by next_run).
-- Locks: FOR UPDATE SKIP LOCKED: a schedule another worker is ticking is skipped, and once
--   that worker commits, its row's next_run is in the future, so a tick is taken exactly
--   once however many workers run this at the same moment. The lock is held until the
--   transaction that inserts the tick's task and advances next_run commits.
SELECT p.*, now() AS db_now
FROM {schema}.pq_periodic AS p
WHERE p.active
  AND p.orphaned_at IS NULL
  AND p.next_run <= now()
  AND (%(queues)s::text[] IS NULL OR p.queue = ANY(%(queues)s::text[]))
  AND (%(priorities)s::smallint[] IS NULL OR p.priority = ANY(%(priorities)s::smallint[]))
ORDER BY p.next_run
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
