-- The groups of due waiting rows a worker may start (one per rate key and concurrency key),
-- best first, with their strictest limits. Run by the flow claim only, never by the ordinary
-- claim. Params: queues (text[]), priorities (smallint[] or NULL), limit.
-- Index: pq_tasks_waiting_idx (queue, priority, run_at, id), partial on status = 'waiting'
--   (0002): rows of other queues are never read. Locks: none.
SELECT rate_key, concurrency_key,
       min((options->'rate_limit'->>'count')::integer) AS rate_count,
       max((options->'rate_limit'->>'seconds')::double precision) AS rate_seconds,
       min(concurrency_limit) AS concurrency_limit
FROM {schema}.pq_tasks
WHERE status = 'waiting'
  AND run_at <= now()
  AND queue = ANY(%(queues)s::text[])
  AND (%(priorities)s::smallint[] IS NULL OR priority = ANY(%(priorities)s::smallint[]))
GROUP BY rate_key, concurrency_key
ORDER BY max(priority) DESC, min(run_at)
LIMIT %(limit)s
