-- Counts tasks with the filters of task_list (what `pq retry --failed` or `pq purge` is about
-- to touch, so the operator confirms a number). Params: statuses (text[] or NULL), queues
-- (text[] or NULL), name (NULL, exact, or the part after ':' or the last '.').
-- Index: pq_tasks_pending_idx for pending, pq_tasks_finished_idx for ended statuses.
-- Locks: none.
SELECT count(*) AS n FROM {schema}.pq_tasks
WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
  AND (%(name)s::text IS NULL OR name = %(name)s::text
       OR name LIKE '%%:' || %(name)s::text OR name LIKE '%%.' || %(name)s::text)
