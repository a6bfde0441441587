-- Lists workers that are registered and not stopped, plus those stopped after `since`,
-- newest first, with the ids of the tasks each is running.
-- state: 'alive' (heartbeat within its lease), 'lost' (heartbeat older than its lease, or
--   stopped by a rescuer: its last heartbeat was a lease or more before its stop), 'stopped'
--   (deregistered cleanly).
-- Params: since (timestamptz). Index: pq_tasks_running_idx for the running ids; pq_workers
--   is small (stopped rows are pruned after a day). Locks: none.
SELECT w.id, w.host, w.pid, w.version, w.queues, w.priorities, w.concurrency,
       w.lease_seconds, w.started_at, w.last_heartbeat_at, w.stopped_at,
       extract(epoch FROM now() - w.last_heartbeat_at)::float8 AS heartbeat_age,
       CASE
         WHEN w.stopped_at IS NULL
              AND w.last_heartbeat_at >= now() - w.lease_seconds * interval '1 second'
           THEN 'alive'
         WHEN w.stopped_at IS NULL THEN 'lost'
         WHEN w.stopped_at - w.last_heartbeat_at >= w.lease_seconds * interval '1 second'
           THEN 'lost'
         ELSE 'stopped'
       END AS state,
       COALESCE((SELECT array_agg(t.id ORDER BY t.id) FROM {schema}.pq_tasks AS t
                 WHERE t.worker_id = w.id AND t.status = 'running'), '{}') AS running
FROM {schema}.pq_workers AS w
WHERE w.stopped_at IS NULL OR w.stopped_at >= %(since)s::timestamptz
ORDER BY w.id DESC
