-- Pauses one queue for the whole fleet and tells workers at once (NOTIFY 'q:<queue>').
-- Params: queue, channel. Index: primary key of pq_paused_queues. Locks: the new row.
-- Returns a row only when the queue was not paused already.
WITH added AS (
    INSERT INTO {schema}.pq_paused_queues (queue) VALUES (%(queue)s)
    ON CONFLICT (queue) DO NOTHING
    RETURNING queue
)
SELECT queue, pg_notify(%(channel)s, 'q:' || queue) AS notified FROM added
