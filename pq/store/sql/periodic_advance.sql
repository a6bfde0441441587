-- Moves a schedule past the tick just handled, in the transaction that inserted its task
-- (or skipped it for overlap).
-- Params: id, next_run, last_run (NULL keeps the old value: the tick was skipped).
-- Index: primary key. Locks: the row, already held FOR UPDATE by periodic_lock_due.
UPDATE {schema}.pq_periodic
SET next_run = %(next_run)s,
    last_run = COALESCE(%(last_run)s::timestamptz, last_run),
    updated_at = now()
WHERE id = %(id)s
RETURNING id
