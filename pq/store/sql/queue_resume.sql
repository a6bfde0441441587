-- Resumes one paused queue; tells workers (NOTIFY 'q:<queue>' to drop the pause, then
-- 't:<queue>' so idle ones claim what waited). Params: queue, channel.
-- Index: primary key of pq_paused_queues. Locks: the deleted row.
-- Returns a row only when the queue was paused.
WITH removed AS (
    DELETE FROM {schema}.pq_paused_queues WHERE queue = %(queue)s RETURNING queue
)
SELECT queue,
       pg_notify(%(channel)s, 'q:' || queue) AS notified_pause,
       pg_notify(%(channel)s, 't:' || queue) AS notified_due
FROM removed
