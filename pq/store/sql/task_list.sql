-- Lists tasks newest first with optional filters, one page at a time (keyset pagination:
-- pass the smallest id of the previous page as before_id).
-- Params: statuses (text[] or NULL), queues (text[] or NULL), name (NULL, an exact task name,
--   or the part after ':' or the last '.'), since (timestamptz or NULL: created at or after),
--   before_id (bigint or NULL), limit.
-- Index: the primary key, walked backwards from before_id; filters are checked on the way,
--   so a page costs about limit / (share of matching rows) row visits. Locks: none.
SELECT * FROM {schema}.pq_tasks
WHERE (%(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
  AND (%(name)s::text IS NULL OR name = %(name)s::text
       OR name LIKE '%%:' || %(name)s::text OR name LIKE '%%.' || %(name)s::text)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
ORDER BY id DESC
LIMIT %(limit)s
