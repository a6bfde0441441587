-- Puts rows just written by a bulk COPY (same transaction, so no one has seen them) under
-- flow control: 'waiting' with their rate key and concurrency key.
-- Params: ids (bigint[]), rate_key, concurrency_key, concurrency_limit.
-- Index: primary key. Locks: the given rows (new, uncommitted).
UPDATE {schema}.pq_tasks
SET status = 'waiting', rate_key = %(rate_key)s, concurrency_key = %(concurrency_key)s,
    concurrency_limit = %(concurrency_limit)s
WHERE id = ANY(%(ids)s::bigint[])
