-- One page of the dashboard's task list, newest first: walks back from before_id over at
-- most %(window)s rows and returns up to %(limit)s of them that match the filters. The walk
-- stops at whichever comes first (the outer LIMIT, or the inner one on the window), so a page
-- costs at most one window of rows whatever the filters: a filter that matches nothing does
-- not walk the whole table. task_browse_end says where a short page's walk stopped, for the
-- next page to go on from.
-- Params: before_id (bigint or NULL), window, statuses (text[] or NULL), queues (text[] or
--   NULL), name (NULL, the full task name, or the part after ':' or the last '.'), since
--   (timestamptz or NULL: created at or after), limit.
-- Index: the primary key, one backward index scan from before_id (no join: a join back by id
--   let the planner merge-join against a second scan from the newest row). A LIMIT bounds the
--   walk, not a row_number() window: the window aggregate cost twice the scan itself on 1M
--   rows (benchmarks/bench_dashboard.py). Locks: none.
SELECT *
FROM (
    SELECT *
    FROM {schema}.pq_tasks
    WHERE %(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint
    ORDER BY id DESC
    LIMIT %(window)s
) AS w
WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
  AND (%(name)s::text IS NULL OR name = %(name)s::text
       OR name LIKE '%%:' || %(name)s::text OR name LIKE '%%.' || %(name)s::text)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
ORDER BY id DESC
LIMIT %(limit)s
