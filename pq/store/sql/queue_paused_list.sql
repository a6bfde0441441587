-- Lists the paused queues, with when each was paused. Params: none.
-- Index: none (one row per paused queue: a tiny table). Locks: none.
SELECT queue, paused_at FROM {schema}.pq_paused_queues ORDER BY queue
