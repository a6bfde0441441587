-- The last row a task_browse walk of %(window)s rows back from before_id reaches (its id and
-- creation time), or nothing when fewer rows remain: where the next page starts.
-- Params: before_id (bigint or NULL), window. Index: the primary key, walked backwards over
-- at most one window (an index-only scan where the visibility map allows). Locks: none.
SELECT id, created_at
FROM {schema}.pq_tasks
WHERE %(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint
ORDER BY id DESC
OFFSET %(window)s - 1
LIMIT 1
