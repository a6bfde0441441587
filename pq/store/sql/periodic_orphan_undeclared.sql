-- Marks the schedules that code once declared but declares no more (run when a worker starts
-- and has written its own declarations). An orphaned schedule keeps its row, but the tick
-- engine skips it, so no task is enqueued for code that is gone.
-- Params: names (text[]), keys (text[]): the (name, key) pairs the code declares, pairwise.
-- Index: none (pq_periodic is small: one row per schedule). Locks: the rows it marks.
UPDATE {schema}.pq_periodic AS p
SET orphaned_at = now(), updated_at = now()
WHERE p.declared_in_code
  AND p.orphaned_at IS NULL
  AND (p.name, p.key) NOT IN (
      SELECT d.name, d.key FROM unnest(%(names)s::text[], %(keys)s::text[]) AS d(name, key))
RETURNING p.name, p.key
